"""Builds a run's pieces from a composed Hydra config: data module, VAE, training plan, loggers, trainer.

Config groups mirror the code: ``conf/encoder/mlp.yaml`` builds ``vae_lab.models.encoders.MLPEncoder``.
Shapes are never in the config: they come from the data module (``data_shape``) and the likelihood
(``param_shape``, what the decoder must output).
"""

import inspect
from typing import Any

import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

from vae_lab.data.in_memory import InMemoryDataModule
from vae_lab.errors import ConfigError, VaeLabError
from vae_lab.models.vae import VAE
from vae_lab.training.module import VAEModule
from vae_lab.wandb_setup import wandb_init_kwargs


def build(config: DictConfig, **kwargs: Any) -> Any:
    """hydra.utils.instantiate, turning a bad config value into a ConfigError naming the config node."""
    try:
        return instantiate(config, **kwargs)
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, VaeLabError):
            raise cause from None
        target = config.get("_target_", "?") if isinstance(config, DictConfig) else "?"
        raise ConfigError(f"cannot build {target}: {cause or error}") from None


def build_accepting(config: DictConfig, **candidates: Any) -> Any:
    """`build(config)` with those of `candidates` that the target's constructor takes.

    Lets a config choose between classes with different needs (a VampPrior uses the encoder and the
    data shape, the standard normal prior only the latent size) without special cases here.
    """
    parameters = inspect.signature(get_class(config._target_)).parameters
    return build(config, **{name: value for name, value in candidates.items() if name in parameters})


def build_datamodule(cfg: DictConfig, state: dict[str, Any] | None = None) -> InMemoryDataModule:
    """The data module with its data loaded (so ``data_shape`` is known).

    state: a ``state_dict()`` saved in a checkpoint (e.g. a fitted preprocessor), restored before loading.
    """
    datamodule = build(cfg.data)
    if state:
        datamodule.load_state_dict(state)
    datamodule.setup()
    return datamodule


def build_vae(cfg: DictConfig, data_shape: tuple[int, ...]) -> VAE:
    latent_dim = cfg.model.latent_dim
    if latent_dim < 1:
        raise ConfigError(f"model.latent_dim must be >= 1, got {latent_dim}")
    likelihood = build(cfg.likelihood, data_shape=data_shape)
    encoder = build(cfg.encoder, data_shape=data_shape, latent_dim=latent_dim)
    return VAE(
        encoder=encoder,
        decoder=build(cfg.decoder, latent_dim=latent_dim, output_shape=likelihood.param_shape),
        likelihood=likelihood,
        prior=build_accepting(cfg.prior, latent_dim=latent_dim, encoder=encoder, data_shape=data_shape),
    )


def build_module(cfg: DictConfig, data_shape: tuple[int, ...]) -> VAEModule:
    """The training plan around a freshly initialised VAE."""
    return VAEModule(
        build_vae(cfg, data_shape),
        optimizer=build(cfg.optimizer),
        scheduler=build(cfg.scheduler) if cfg.get("scheduler") else None,
        beta=cfg.model.beta,
        recon_weight=cfg.model.recon_weight,
        eval_seed=cfg.seed,
    )


def build_callbacks(cfg: DictConfig) -> list[Callback]:
    return [build(node) for node in (cfg.get("callbacks") or {}).values() if node is not None]


def build_loggers(cfg: DictConfig) -> list[Logger]:
    loggers = []
    for node in (cfg.get("logger") or {}).values():
        if node is None:
            continue
        is_wandb = node.get("_target_", "").endswith("WandbLogger")
        loggers.append(build(node, **(wandb_init_kwargs(cfg) if is_wandb else {})))
    return loggers


def build_trainer(cfg: DictConfig, callbacks: list[Callback], loggers: list[Logger]) -> L.Trainer:
    trainer = build(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for logger in trainer.loggers:
        logger.log_hyperparams(resolved)  # the resolved config is the run's config (W&B, hparams.yaml)
    return trainer
