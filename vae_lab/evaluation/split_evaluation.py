"""Evaluate a VAE on a split: the numbers papers report, and what the ELBO hides.

All values are nats per example, averaged over the split:

- ``elbo``, ``recon_loss``, ``kl``: the ELBO and its terms, averaged over ``elbo_samples`` draws;
- ``log_likelihood``: the importance-sampled estimate of log p(x) with K = ``iwae_samples``;
  ``nll`` = -log_likelihood; ``bits_per_dim`` = nll / (D ln 2) for D data dimensions;
- ``gap`` = log_likelihood - elbo, an estimate of KL(q(z|x) || p(z|x));
- ``kl_per_dim``, ``active_units``: latent usage (``latent_usage``); ``layer_dims``, ``kl_per_layer`` and
  ``active_units_per_layer``: the same for each stochastic layer, z_1 first (one entry for a one-layer VAE);
- ``amortization_gap`` = ELBO(refined q) - ELBO(amortized q) and ``approximation_gap`` =
  log_likelihood - ELBO(refined q), on the first ``refine_examples`` examples (``amortization_gap``);
- ``fidelity``: how close samples from the prior are to the data (``sample_fidelity``).

Every Monte Carlo draw is owned by its example (``example_noise``), so the numbers depend on the
seed only: not on the memory budget, the batching or the device.
"""

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from omegaconf import OmegaConf

from vae_lab.config_schema import AtLeastOne, NonNegative, NonNegativeInt, Positive, validated
from vae_lab.data.in_memory import InMemoryDataModule, Split
from vae_lab.errors import ConfigError
from vae_lab.evaluation.amortization_gap import refine_posterior
from vae_lab.evaluation.example_noise import example_noise
from vae_lab.evaluation.importance_sampling import importance_sampled_log_likelihood
from vae_lab.evaluation.latent_usage import latent_usage
from vae_lab.evaluation.memory_budget import decodes_per_pass, pass_shape
from vae_lab.evaluation.sample_fidelity import fidelity_given, sample_fidelity
from vae_lab.models.vae import VAE

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 30.0
# Where compiling the model's math pays for itself in an evaluation on a CPU (benchmarks/eval_iwae.py, the
# pytorch_examples model, K = 5000, 2 threads, denormals flushed as every command does): on the first 1,000
# test digits (5 x 10^6 decodes) the compiled and the eager command take the same CPU time (39 CPU-s; the
# log-likelihood phase 29 against 33), compiling's few CPU-seconds just repaid; beyond, compiled wins.
COMPILE_FROM_DECODES = 5_000_000


@dataclass(frozen=True)
class EvalSettings:
    """What to compute and how hard (``eval.*`` in conf/eval.yaml)."""

    iwae_samples: AtLeastOne = 1000
    elbo_samples: AtLeastOne = 10
    active_unit_threshold: NonNegative = 0.01
    refine_examples: NonNegativeInt = 100
    refine_steps: NonNegativeInt = 500
    refine_lr: Positive = 0.03
    refine_mc_samples: AtLeastOne = 1
    fidelity_samples: NonNegativeInt = 10000
    max_examples: AtLeastOne | None = None
    memory_budget_mb: Positive | None = None
    seed: int = 0

    @classmethod
    def from_config(cls, node: Any, seed: int) -> "EvalSettings":
        """The settings of the ``eval`` node (a config node or plain dict), checked (config_schema): a bad or unknown key,
        or a node that is not one of settings (``eval=null``), is a ConfigError."""
        if OmegaConf.is_config(node):
            node = OmegaConf.to_container(node)
        if not isinstance(node, dict):
            raise ConfigError(f"eval={node!r}: eval is the node of evaluation settings (conf/eval.yaml), e.g. eval.iwae_samples=5000")
        unknown = sorted(set(node) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown eval settings: {', '.join(unknown)}; see conf/eval.yaml")
        return validated(cls, {**node, "seed": seed}, "eval")


@dataclass
class SplitEvaluation:
    """The metrics of one split (nats per example unless named otherwise)."""

    split: str
    examples: int
    data_dims: int
    elbo: float
    recon_loss: float
    kl: float
    log_likelihood: float
    log_likelihood_std_error: float | None  # over examples: how much another draw of the split would move it
    kl_per_dim: list[float]
    active_units: int
    active_unit_threshold: float
    layer_dims: list[int]
    kl_per_layer: list[float]
    active_units_per_layer: list[int]
    amortization_gap: float | None
    approximation_gap: float | None
    refine: dict[str, Any]
    fidelity: dict[str, Any] = field(default_factory=dict)
    fidelity_per_condition: dict[str, Any] = field(default_factory=dict)  # conditional VAEs: see the data module's
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each phase
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # this process's CPU time in each phase (all threads)

    @property
    def nll(self) -> float:
        return -self.log_likelihood

    @property
    def bits_per_dim(self) -> float:
        return self.nll / (self.data_dims * math.log(2))

    @property
    def gap(self) -> float:
        """log_likelihood - elbo: an estimate of KL(q(z|x) || p(z|x)) averaged over the split."""
        return self.log_likelihood - self.elbo

    @classmethod
    def from_dict(cls, content: dict[str, Any]) -> "SplitEvaluation":
        """The evaluation `to_dict` wrote (eval.json's content)."""
        return cls(**{field.name: content[field.name] for field in fields(cls)})

    def metrics(self) -> dict[str, float]:
        """The scalar metrics, for loggers."""
        names = ("elbo", "recon_loss", "kl", "log_likelihood", "nll", "bits_per_dim", "gap", "active_units", "amortization_gap", "approximation_gap")
        scalars = {name: float(getattr(self, name)) for name in names if getattr(self, name) is not None}
        per_layer = {f"kl_layer/{layer}": kl for layer, kl in enumerate(self.kl_per_layer, start=1)}
        per_layer |= {f"active_units_layer/{layer}": float(units) for layer, units in enumerate(self.active_units_per_layer, start=1)}
        return scalars | per_layer

    def to_dict(self) -> dict[str, Any]:
        """Everything, headline numbers first (eval.json)."""
        content = asdict(self)
        first = {
            "split": self.split,
            "examples": self.examples,
            "log_likelihood": self.log_likelihood,
            "nll": self.nll,
            "bits_per_dim": self.bits_per_dim,
            "elbo": self.elbo,
            "gap": self.gap,
        }
        return first | content


def compilation_pays_off(examples: int, settings: EvalSettings, device: torch.device) -> bool:
    """True where compiling the model's math is measured to make this evaluation faster (``compile=auto``):
    a CPU evaluation of at least COMPILE_FROM_DECODES decodes (examples x K). Not measured on a GPU."""
    return device.type == "cpu" and examples * settings.iwae_samples >= COMPILE_FROM_DECODES


def examples_to_evaluate(data: Split, settings: EvalSettings) -> int:
    """How many of `data`'s examples the evaluation reads (the first ``max_examples``, or all)."""
    return len(data) if settings.max_examples is None else min(settings.max_examples, len(data))


def evaluate_split(
    vae: VAE,
    datamodule: InMemoryDataModule,
    split: str,
    settings: EvalSettings,
    device: torch.device | str = "cpu",
    sample_offsets: torch.Tensor | None = None,
) -> SplitEvaluation:
    """Every metric of the module docstring for `split` (``train``, ``val`` or ``test``); the fidelity's unconditional
    samples are decoded with `sample_offsets` added to the likelihood's parameters (``VAE.sample``; None: as decoded).

    Moves `vae` to `device` and puts it in eval mode.
    """
    device = torch.device(device)
    vae = vae.to(device).eval()
    data = datamodule.split(split)
    count = examples_to_evaluate(data, settings)
    if count == 0:
        raise ConfigError(f"split '{split}' has no examples to evaluate")
    data = data.rows(torch.arange(count))
    seconds: dict[str, float] = {}
    cpu_seconds: dict[str, float] = {}

    with _timed(seconds, cpu_seconds, "elbo"):
        elbo, recon_loss, kl = elbo_per_example(vae, data, settings, device)
    with _timed(seconds, cpu_seconds, "log_likelihood"):
        log_likelihood = log_likelihood_per_example(vae, data, settings, device)
    with _timed(seconds, cpu_seconds, "latent_usage"), torch.inference_mode():
        batches = ((rows.x.to(device), _to(device, rows.condition)[0]) for _, rows in data.batches(decodes_per_pass(vae, device, settings.memory_budget_mb)))
        usage = latent_usage(vae, batches, settings.active_unit_threshold)
    with _timed(seconds, cpu_seconds, "refine"):
        refined = _refine(vae, data, settings, device, elbo, log_likelihood)
    with _timed(seconds, cpu_seconds, "fidelity"):
        fidelity = _fidelity(vae, datamodule, split, min(settings.fidelity_samples, len(datamodule.split(split))), settings, device, sample_offsets)
    with _timed(seconds, cpu_seconds, "fidelity_per_condition"):
        fidelity_per_condition = _fidelity_per_condition(vae, datamodule, split, settings, device)

    return SplitEvaluation(
        split=split,
        examples=count,
        data_dims=math.prod(data.data_shape),
        elbo=elbo.mean().item(),
        recon_loss=recon_loss.mean().item(),
        kl=kl.mean().item(),
        log_likelihood=log_likelihood.mean().item(),
        log_likelihood_std_error=(log_likelihood.std() / math.sqrt(count)).item() if count > 1 else None,
        kl_per_dim=usage.kl_per_dim,
        active_units=usage.active_units,
        active_unit_threshold=settings.active_unit_threshold,
        layer_dims=list(vae.layer_dims),
        kl_per_layer=usage.kl_per_layer,
        active_units_per_layer=usage.active_units_per_layer,
        amortization_gap=refined.get("amortization_gap"),
        approximation_gap=refined.get("approximation_gap"),
        refine={key: value for key, value in refined.items() if not key.endswith("_gap")},
        fidelity=fidelity,
        fidelity_per_condition=fidelity_per_condition,
        seconds=seconds,
        cpu_seconds=cpu_seconds,
    )


@contextmanager
def _timed(seconds: dict[str, float], cpu_seconds: dict[str, float], name: str) -> Iterator[None]:
    started, cpu_started = time.perf_counter(), time.process_time()
    yield
    seconds[name] = round(time.perf_counter() - started, 2)
    cpu_seconds[name] = round(time.process_time() - cpu_started, 2)


def _batches(data: Split, size: int):
    """(index, x, mask, condition) over `data` in order, `size` rows at a time, on the CPU."""
    for index, rows in data.batches(size):
        yield index, rows.x, rows.mask, rows.condition


def _to(device: torch.device, *tensors: torch.Tensor | None):
    return [None if t is None else t.to(device) for t in tensors]


@torch.inference_mode()
def elbo_per_example(vae: VAE, data: Split, settings: EvalSettings, device: torch.device | str = "cpu"):
    """Per-example ELBO, recon_loss and kl (n,) in float64, averaged over `elbo_samples` draws."""
    device = torch.device(device)
    elbo, recon_loss, kl = (torch.empty(len(data), dtype=torch.float64) for _ in range(3))
    for index, x, mask, condition in _batches(data, decodes_per_pass(vae, device, settings.memory_budget_mb)):
        elbo[index], recon_loss[index], kl[index] = _elbo_terms_of_batch(vae, index, x, mask, condition, settings, device)
    return elbo, recon_loss, kl


@torch.inference_mode()
def _elbo_terms_of_batch(
    vae: VAE, index: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None, condition: torch.Tensor | None, settings: EvalSettings, device: torch.device
):
    """ELBO, recon_loss and kl of one batch (batch,) in float64 on the CPU; `index` keys each example's draws."""
    x, mask, condition = _to(device, x, mask, condition)
    noise = example_noise(index, settings.elbo_samples, vae.latent_dim, settings.seed, "importance_samples").to(device, x.dtype)
    terms = [vae.elbo_terms(x, mask, eps, condition) for eps in noise]
    recon_loss = torch.stack([t.recon_loss for t in terms]).double().mean(0).cpu()
    kl = torch.stack([t.kl for t in terms]).double().mean(0).cpu()
    return -(recon_loss + kl), recon_loss, kl


@torch.inference_mode()
def log_likelihood_per_example(vae: VAE, data: Split, settings: EvalSettings, device: torch.device | str = "cpu") -> torch.Tensor:
    """Per-example importance-sampled log p(x): (n,) float64."""
    device = torch.device(device)
    samples = settings.iwae_samples
    batch_size, chunk_size = pass_shape(samples, decodes_per_pass(vae, device, settings.memory_budget_mb))
    log.info("log-likelihood: K=%d importance samples, %d examples x %d samples per pass", samples, batch_size, chunk_size)
    result = torch.empty(len(data), dtype=torch.float64)
    last_report = time.perf_counter()
    for index, x, mask, condition in _batches(data, batch_size):
        x, mask, condition = _to(device, x, mask, condition)
        noise = example_noise(index, samples, vae.latent_dim, settings.seed, "importance_samples").to(device, x.dtype)
        result[index] = importance_sampled_log_likelihood(vae, x, samples, chunk_size, mask, noise, condition).double().cpu()
        if time.perf_counter() - last_report > PROGRESS_EVERY_S:
            last_report = time.perf_counter()
            log.info("log-likelihood: %d/%d examples", index[-1].item() + 1, len(data))
    return result


def _refine(vae: VAE, data: Split, settings: EvalSettings, device: torch.device, elbo: torch.Tensor, log_likelihood: torch.Tensor) -> dict[str, Any]:
    """Amortization and approximation gaps on the first `refine_examples` examples."""
    count = min(settings.refine_examples, len(data))
    described = {"examples": count, "steps": settings.refine_steps, "lr": settings.refine_lr, "mc_samples": settings.refine_mc_samples}
    if count == 0:
        return described
    refined_elbo = torch.empty(count, dtype=torch.float64)
    batch_size = max(1, decodes_per_pass(vae, device, settings.memory_budget_mb, with_gradients=True) // settings.refine_mc_samples)
    subset = data.rows(torch.arange(count))
    for index, x, mask, condition in _batches(subset, batch_size):
        device_x, device_mask, device_condition = _to(device, x, mask, condition)
        refined = refine_posterior(
            vae, device_x, index, settings.refine_steps, settings.refine_lr, settings.refine_mc_samples, settings.seed, device_mask, device_condition
        )
        refined_elbo[index] = _elbo_terms_of_batch(refined, index, x, mask, condition, settings, device)[0]
    amortized, likelihood = elbo[:count], log_likelihood[:count]
    return described | {
        "amortization_gap": (refined_elbo - amortized).mean().item(),
        "approximation_gap": (likelihood - refined_elbo).mean().item(),
        "elbo_amortized": amortized.mean().item(),
        "elbo_refined": refined_elbo.mean().item(),
        "log_likelihood": likelihood.mean().item(),
    }


def _fidelity(
    vae: VAE, datamodule: InMemoryDataModule, split: str, count: int, settings: EvalSettings, device: torch.device, offsets: torch.Tensor | None
) -> dict[str, Any]:
    """The data module's comparison of `count` draws x ~ p(x|z, c), z ~ p(z|c) with the real split; a conditional
    VAE draws its conditions c from the training rows (``draw_conditions``)."""
    if count == 0:
        return {}
    samples = draw_samples(vae, count, datamodule.draw_conditions(count, settings.seed), "sample", settings, device, offsets)
    return sample_fidelity(datamodule, samples, split)


def _fidelity_per_condition(vae: VAE, datamodule: InMemoryDataModule, split: str, settings: EvalSettings, device: torch.device) -> dict[str, Any]:
    """The fidelity of samples given each value of the condition (``sample_fidelity.fidelity_given``), for a conditional VAE."""
    if datamodule.conditions is None or settings.fidelity_samples == 0:
        return {}
    mode = datamodule.default_sample_mode  # images: E[x|z, c], as a classifier sees real images; tables: draws
    return fidelity_given(datamodule, lambda condition: draw_samples(vae, len(condition), condition, mode, settings, device), split, settings.fidelity_samples)


def draw_samples(
    vae: VAE, count: int, condition: torch.Tensor | None, mode: str, settings: EvalSettings, device: torch.device, offsets: torch.Tensor | None = None
) -> torch.Tensor:
    """`count` samples of p(x|z, c), z ~ p(z|c) (condition (count, width), or None), on the CPU, seeded with
    ``settings.seed``: draws (`mode` ``sample``) or means (``mean``), with `offsets` (``VAE.sample``)."""
    devices = [device] if device.type == "cuda" else []
    batch_size = decodes_per_pass(vae, device, settings.memory_budget_mb)
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(settings.seed)
        return torch.cat([
            vae.sample(min(batch_size, count - start), mode, None if condition is None else condition[start : start + batch_size], offsets=offsets).cpu()
            for start in range(0, count, batch_size)
        ])  # fmt: skip
