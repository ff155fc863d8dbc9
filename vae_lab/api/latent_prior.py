"""What ``sample.prior`` draws z from: the model's own prior, or a Gaussian mixture fitted to the aggregate posterior.

``sample.prior=fitted`` (``Run.sample(..., prior="fitted")``) fits ``models.fitted_prior.GaussianMixture`` to
FIT_POINTS draws of the aggregate posterior q(z) = (1/N) sum_n q(z|x_n) of the training rows (a row drawn
uniformly, then z ~ q(z|x) of it), with full covariances and each number of components of COMPONENT_CANDIDATES,
and keeps the one that gives the highest log-likelihood to VALIDATION_POINTS draws of the validation rows' q(z) if
it beats the model's own p(z) there by more than two standard errors over the validation rows; else the model's own
(a table of a hundred rows has a lumpy aggregate posterior that a mixture follows too closely, and too few
validation rows to tell). The fit is seeded (FIT_SEED), so it is the same every time; it is kept beside the
checkpoint it was fitted to (``checkpoints/epoch034-step001400.ckpt`` -> ``epoch034-step001400.latent_prior.pt``):
tensors and plain values only, read with ``torch.load(weights_only=True)``, and fitted again when the checkpoint
has changed since. It is p(z), for unconditional models of one latent layer.
"""

import logging
from pathlib import Path
from typing import Any, Literal

import torch

from vae_lab.atomic_files import replace_atomically
from vae_lab.errors import ConfigError
from vae_lab.models.fitted_prior import Covariance, GaussianMixture, chosen_mixture
from vae_lab.trained_run import TrainedRun

log = logging.getLogger(__name__)

LatentPrior = Literal["model", "fitted"]
PRIORS = ("model", "fitted")
FIT_POINTS = 10_000
VALIDATION_POINTS = 5_000
COMPONENT_CANDIDATES = (1, 2, 4, 8, 16, 32)
FIT_SEED = 0
COVARIANCE: Covariance = "full"
ENCODE_BATCH = 1000


def latent_prior(run: TrainedRun, prior: str) -> GaussianMixture | None:
    """The prior to draw z from: None for the model's own p(z) (``"model"``, or ``"fitted"`` where no mixture fits the
    validation rows better), else the fitted mixture."""
    if prior not in PRIORS:
        raise ConfigError(f"sample.prior must be model (the model's own p(z)) or fitted (a mixture fitted to the training rows' posteriors), got {prior!r}")
    if prior == "model":
        return None
    if run.vae.condition_dim:
        raise ConfigError(
            "sample.prior=fitted fits p(z) to the posteriors of all training rows, and this model is conditional (model.condition): "
            "its samples would not follow the asked conditions; use sample.prior=model (its p(z|c))"
        )
    if len(run.vae.layer_dims) > 1:
        raise ConfigError("sample.prior=fitted fits a prior to one latent layer, and this model is a hierarchy (hierarchy=ladder); use sample.prior=model")
    return kept_or_fitted(run)


def kept_or_fitted(run: TrainedRun) -> GaussianMixture | None:
    """The prior kept beside the run's checkpoint if it was chosen for this very checkpoint, else a new choice, then kept:
    a fitted mixture, or None for the model's own p(z)."""
    path = fitted_prior_path(run.path)
    fitted_to = checkpoint_identity(run)
    if path.is_file():
        kept = read_kept(path)
        if kept.get("fitted_to") == fitted_to:
            return None if kept["mixture"] is None else GaussianMixture(**kept["mixture"])
        log.info("%s was not fitted to this state of %s; fitting it again", path.name, run.path.name)
    mixture, scores = chosen_prior(run)
    log.info(
        "sample.prior=fitted: %s (validation log-likelihood per candidate: %s); kept in %s",
        "the model's own prior" if mixture is None else f"a mixture of {mixture.components}",
        ", ".join(f"{candidate}: {score:.3f}" for candidate, score in scores.items()),
        path,
    )
    content = {"mixture": None if mixture is None else mixture.state_dict(), "fitted_to": fitted_to, "validation_log_likelihood": scores}
    try:
        replace_atomically(path, lambda file: torch.save(content, file))
    except OSError as error:
        log.warning("could not keep the fitted prior in %s (%s); it will be fitted again next time", path, error)
    return mixture


def read_kept(path: Path) -> dict[str, Any]:
    """The content of a kept prior file, or {} (with a warning) when it cannot be read: it is then fitted again."""
    try:
        kept = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many types for truncated or foreign files; weights_only runs nothing
        log.warning("%s cannot be read (%s: %s); fitting the prior again", path, type(error).__name__, error)
        return {}
    return kept if isinstance(kept, dict) else {}


def fitted_prior_path(checkpoint: Path) -> Path:
    """Where the prior fitted to `checkpoint` is kept: beside it, ``<name>.latent_prior.pt``."""
    return checkpoint.with_name(f"{checkpoint.stem}.latent_prior.pt")


def checkpoint_identity(run: TrainedRun) -> dict[str, Any]:
    """What tells a checkpoint's later state from this one: its training step and epoch, its file's size, and how the prior is fitted."""
    return {
        "epoch": run.epoch,
        "global_step": run.global_step,
        "checkpoint_bytes": run.path.stat().st_size,
        "fit": {"points": FIT_POINTS, "validation_points": VALIDATION_POINTS, "candidates": list(COMPONENT_CANDIDATES), "seed": FIT_SEED, "margin": "2 SE"},
    }


def chosen_prior(run: TrainedRun) -> tuple[GaussianMixture | None, dict[str | int, float]]:
    """The mixture fitted to the training rows' aggregate posterior that fits the validation rows' best, where it fits
    them clearly better than the model's own p(z) (``clearly_better``), else None; and the validation log-likelihood per
    candidate ("model", then each number of components)."""
    if not len(run.datamodule.split("val")):
        raise ConfigError("sample.prior=fitted chooses its number of components on the validation rows, and this run has none (data.val_size=0)")
    generator = torch.Generator().manual_seed(FIT_SEED)
    train, _ = aggregate_posterior_draws(run, "train", FIT_POINTS, generator)
    validation, rows = aggregate_posterior_draws(run, "val", VALIDATION_POINTS, generator)
    mixture, scores = chosen_mixture(train, validation, COMPONENT_CANDIDATES, COVARIANCE, FIT_SEED)
    with torch.inference_mode():
        own = run.vae.prior.log_prob(validation.to(next(run.vae.parameters()).device, torch.float32)).double().cpu()
    candidates: dict[str | int, float] = {"model": own.mean().item()}
    candidates.update(scores.items())
    return (mixture if clearly_better(mixture.log_prob(validation) - own, rows) else None), candidates


def clearly_better(gain: torch.Tensor, rows: torch.Tensor) -> bool:
    """Whether a prior fits the validation rows better than another by more than two standard errors: gain (draws,) is
    the difference of their log-densities at each draw, rows (draws,) the validation row each draw came from. The
    draws of a row are averaged first, so a handful of validation rows (a table of a hundred rows has ten) gives a
    wide error, and the model's own prior is kept unless the mixture's advantage is more than the rows' noise."""
    present, row = torch.unique(rows, return_inverse=True)
    per_row = torch.zeros(len(present), dtype=gain.dtype).index_add_(0, row, gain) / torch.bincount(row).to(gain.dtype)
    if len(per_row) < 2:
        return False
    return bool(per_row.mean() > 2 * per_row.std() / len(per_row) ** 0.5)


@torch.inference_mode()
def aggregate_posterior_draws(run: TrainedRun, split: str, count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` draws of (1/N) sum_n q(z|x_n) over the split's rows: a row uniformly, then z ~ q(z|x) of it; the draws
    (count, latent_dim) float64 and the row each came from (count,)."""
    device = next(run.vae.parameters()).device
    means, log_vars = [], []
    for x in run.datamodule.split(split).x_batches(ENCODE_BATCH):
        mean, log_var = run.vae.posterior_parameters(x.to(device))
        means.append(mean.double().cpu())
        log_vars.append(log_var.double().cpu())
    mean, log_var = torch.cat(means), torch.cat(log_vars)
    row = torch.randint(len(mean), (count,), generator=generator)
    noise = torch.randn(count, mean.shape[1], generator=generator, dtype=mean.dtype)
    return mean[row] + torch.exp(0.5 * log_var[row]) * noise, row
