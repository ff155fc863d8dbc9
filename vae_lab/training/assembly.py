"""Builds the model's pieces from a composed Hydra config: data module, VAE, optimizer, scheduler, KL schedule.

Config groups mirror the code: ``conf/encoder/mlp.yaml`` builds ``vae_lab.models.encoders.MLPEncoder``.
Shapes are never in the config: they come from the data module (``data_shape``) and the likelihood
(``param_shape``, what the decoder must output). The training plan is ``VAEModule.from_config``; the
Trainer, its callbacks and loggers are the run's (``vae_lab.build``).
"""

import copy
import inspect
import logging
import math
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf, read_write

from vae_lab.config_schema import leaf_keys
from vae_lab.data.in_memory import InMemoryDataModule
from vae_lab.errors import ConfigError, VaeLabError
from vae_lab.models.hierarchical import HierarchicalVAE
from vae_lab.models.vae import VAE
from vae_lab.training.kl_schedules import KLSchedule

log = logging.getLogger(__name__)
NARROWEST_HIDDEN_LAYER = 8
SIZED_GROUPS = ("encoder", "decoder", "hierarchy")  # the groups whose ``hidden_sizes`` model.rows_per_hidden_unit caps


def build(config: DictConfig, **kwargs: Any) -> Any:
    """hydra.utils.instantiate, turning a bad config value into a ConfigError naming the config node."""
    try:
        return instantiate(config, **kwargs)
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, VaeLabError):
            raise cause from None
        target = config.get("_target_", "?") if isinstance(config, DictConfig) else "?"
        key = config._get_full_key(None) if isinstance(config, DictConfig) else "?"
        raise ConfigError(f"{key} ({target}) refuses its settings: {cause or error}") from None


def constructor_parameters(config: DictConfig) -> set[str] | None:
    """Names the constructor of ``config._target_`` takes; None if it cannot be found (``build`` says why)."""
    try:
        return set(inspect.signature(get_class(config._target_)).parameters)
    except (ImportError, ValueError):
        return None


def build_accepting(config: DictConfig, **candidates: Any) -> Any:
    """`build(config)` with those of `candidates` that the target's constructor takes.

    Lets a config choose between classes with different needs (a VampPrior uses the encoder and the
    data shape, the standard normal prior only the latent size) without special cases here.
    """
    parameters = constructor_parameters(config)
    return build(config, **{k: v for k, v in candidates.items() if parameters is None or k in parameters})


def build_datamodule(cfg: DictConfig, state: dict[str, Any] | None = None) -> InMemoryDataModule:
    """The data module with its data loaded (so ``data_shape`` is known).

    state: a ``state_dict()`` saved in a checkpoint (e.g. a fitted preprocessor), restored before loading.
    """
    datamodule = build(cfg.data)
    datamodule.condition_on(cfg.model.get("condition"))
    if state:
        datamodule.load_state_dict(state)
    datamodule.setup()
    return datamodule


def widest_hidden_layer(train_rows: int, rows_per_hidden_unit: float) -> int:
    """The power of two nearest train_rows / rows_per_hidden_unit (in log scale), at least ``NARROWEST_HIDDEN_LAYER``."""
    units = max(train_rows / rows_per_hidden_unit, 1.0)
    return max(NARROWEST_HIDDEN_LAYER, 2 ** round(math.log2(units)))


def sized_for_rows(cfg: DictConfig, train_rows: int | None) -> DictConfig:
    """`cfg` with the ``hidden_sizes`` of its encoder, decoder and hierarchy capped at ``widest_hidden_layer`` when
    ``model.rows_per_hidden_unit`` is set and the training rows are known; unchanged otherwise.

    A network as wide for 100 rows as for 10,000 learns the 100 by heart: on the shared tables of a few hundred rows,
    128-unit layers gave samples nearer the training rows than held-out rows 60 to 69% of the time, 8 to 16-unit ones
    53 to 57% (docs/results.md#tables-against-tvae)."""
    rows_per_unit = cfg.model.get("rows_per_hidden_unit")
    if rows_per_unit is None or train_rows is None:
        return cfg
    widest = widest_hidden_layer(train_rows, rows_per_unit)
    sized = copy.deepcopy(cfg)
    for group in SIZED_GROUPS:
        node = sized.get(group)
        if isinstance(node, DictConfig) and node.get("hidden_sizes"):
            configured = list(node.hidden_sizes)
            with read_write(node):
                node.hidden_sizes = [min(int(size), widest) for size in configured]
            if node.hidden_sizes != configured:
                log.info("%s hidden layers %s for %d training rows (model.rows_per_hidden_unit=%g; configured %s)",
                         group, list(node.hidden_sizes), train_rows, rows_per_unit, configured)  # fmt: skip
    return sized


def build_vae(cfg: DictConfig, data_shape: tuple[int, ...], likelihood_kwargs: dict[str, Any] | None = None, condition_dim: int = 0,
              train_rows: int | None = None) -> VAE:  # fmt: skip
    """likelihood_kwargs: what the data module tells the likelihood (``datamodule.likelihood_kwargs()``);
    condition_dim: the width of its condition vectors (``datamodule.condition_dim``), 0 for an unconditional VAE;
    train_rows: how many training rows there are, which sizes the hidden layers (``sized_for_rows``)."""
    cfg = sized_for_rows(cfg, train_rows)
    latent_dim = cfg.model.latent_dim  # >= 1: config_schema.ModelSettings
    likelihood_kwargs = likelihood_kwargs or {}
    accepted = constructor_parameters(cfg.likelihood)
    if accepted is not None and not set(likelihood_kwargs) <= accepted:
        raise ConfigError(
            f"likelihood {cfg.likelihood._target_} cannot model data {cfg.data._target_}, which describes its "
            f"{', '.join(likelihood_kwargs)} to the likelihood; use the likelihood made for it (likelihood=tabular for data=csv)"
        )
    likelihood = build(cfg.likelihood, data_shape=data_shape, **likelihood_kwargs)
    conditioned = {"condition_dim": condition_dim} if condition_dim else {}
    for group in ("encoder", "decoder"):
        if conditioned and "condition_dim" not in (constructor_parameters(cfg[group]) or {"condition_dim"}):
            raise ConfigError(f"{group} {cfg[group]._target_} takes no condition_dim, so it cannot serve model.condition={cfg.model.condition}")
    encoder = build(cfg.encoder, data_shape=data_shape, latent_dim=latent_dim, **conditioned)
    decoder = build(cfg.decoder, latent_dim=latent_dim, output_shape=likelihood.param_shape, **conditioned)
    if cfg.get("hierarchy") is None:
        prior = build_accepting(cfg.prior, latent_dim=latent_dim, encoder=encoder, data_shape=data_shape, condition_dim=condition_dim)
        vae = VAE(encoder, decoder, likelihood, prior)
    else:
        ladder = build(cfg.hierarchy, latent_dim=latent_dim, condition_dim=condition_dim)
        prior = build_top_prior(cfg.prior, ladder.layer_dims[-1], condition_dim)
        vae = HierarchicalVAE(encoder, decoder, likelihood, prior, ladder)
    return vae.compile_math() if cfg.model.get("compile") else vae


def build_top_prior(config: DictConfig, latent_dim: int, condition_dim: int) -> Any:
    """p(z_L) of a hierarchy's top layer; a prior that needs the encoder (the VampPrior) cannot be one."""
    if "encoder" in (constructor_parameters(config) or set()):
        raise ConfigError(
            f"prior {config._target_} mixes the encoder's posteriors, which are z_1's, but a hierarchy's prior is over its "
            "top layer; use prior=standard_normal (or prior=mixture_of_gaussians, prior=conditional) with hierarchy=ladder"
        )
    return build_accepting(config, latent_dim=latent_dim, condition_dim=condition_dim)


def build_optimizer(node: DictConfig) -> Any:
    """The optimizer partial, tried once on a stand-in parameter: a value torch refuses (``optimizer.lr=-1``)
    is one ConfigError naming the group's settings now, not a traceback when training starts."""
    factory = build(node)
    try:
        factory([torch.nn.Parameter(torch.zeros(1))])
    except (ValueError, TypeError, RuntimeError) as error:
        settings = ", ".join(f"optimizer.{key!s}={value}" for key, value in node.items() if not str(key).startswith("_"))
        raise ConfigError(f"optimizer ({node._target_}) refuses its settings {settings}: {error}") from None
    return factory


TRIED_SCHEDULER_STEPS = 3


def build_scheduler(node: DictConfig, optimizer: DictConfig) -> dict[str, Any]:
    """The Lightning scheduler dict, its scheduler built and stepped on a stand-in optimizer: a value that fails in
    the first steps (``scheduler.scheduler.T_max=0``) is one ConfigError naming the group's settings now, not a
    traceback after an epoch. Values torch accepts stay accepted (a loss they make diverge is TrainingDiverged)."""
    config = build(node)
    try:
        scheduler = config["scheduler"](build_optimizer(optimizer)([torch.nn.Parameter(torch.zeros(1))]))
        for _ in range(TRIED_SCHEDULER_STEPS):
            scheduler.optimizer.step()
            scheduler.step(0.0) if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) else scheduler.step()
    except (ArithmeticError, ValueError, TypeError, RuntimeError, KeyError) as error:
        settings = ", ".join(f"scheduler.{key}={OmegaConf.select(node, key)}" for key in leaf_keys(node) if not key.rpartition(".")[2].startswith("_"))
        problem = f"{type(error).__name__}: {error}" if isinstance(error, ArithmeticError) else str(error)
        raise ConfigError(f"scheduler ({node.scheduler._target_}) fails in its first steps with {settings} ({problem}); check these values") from None
    return config


def build_kl_schedule(cfg: DictConfig) -> KLSchedule:
    """The KL weight schedule (``model/kl_schedule`` group), reaching ``model.beta``."""
    node = cfg.model.kl_schedule
    if not isinstance(node, DictConfig):
        raise ConfigError(
            f"model.kl_schedule={node} sets a value, but a schedule is a config group: choose it with "
            f"model/kl_schedule={node} (options: constant, linear_warmup, cyclical)"
        )
    if "_target_" not in node:
        raise ConfigError("model.kl_schedule names nothing to build (it has no _target_); choose a schedule with model/kl_schedule=NAME "
                          "(options: constant, linear_warmup, cyclical)")  # fmt: skip
    schedule = build(node, beta=cfg.model.beta)
    if not isinstance(schedule, KLSchedule):
        raise ConfigError(f"model.kl_schedule._target_={node._target_} builds a {type(schedule).__name__}, not a KL schedule; "
                          "choose one with model/kl_schedule=NAME (options: constant, linear_warmup, cyclical)")  # fmt: skip
    return schedule
