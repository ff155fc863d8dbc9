"""What ``sample.calibrate`` does: a table's samples get the training rows' share of every discrete state (``all``,
the default: each category, 0/1 value, point mass and missing cell), of its missing cells only (``missing``), or the
shares as decoded (``none``).

The offsets (``models.share_calibration``) are fitted to CALIBRATION_DRAWS draws of the prior the samples come
from (the model's own or the fitted one), decoded once, with their own seeded random stream (so they are the same
every time, and the samples' stream is untouched), and to the shares of the run's training rows, which the checkpoint
keeps (``TableSchema.slot_means``: no training file is read). Fitting them takes one decoding pass (the decodes of
sampling CALIBRATION_DRAWS rows), so they are fitted at each call rather than kept. A conditional model is not calibrated: the
conditions asked set the shares.

Why ``all`` by default: on 24 real tables with two trainings each (docs/results.md), it raised held-out detection
on average (0.666 -> 0.671, 0.687 -> 0.692) and pair trends, brought the missing shares to the training rows'
(VietNamH -0.042 -> -0.001) and the point masses at a minimum that had 1 to 3 points too many of the samples to
their share (MedExp's `lpi` +2.69 -> +0.71 points); ``missing`` alone left detection where it was.
"""

from typing import Literal, get_args

import torch
from torch import nn

from vae_lab.data.csv_table import CSVDataModule
from vae_lab.errors import ConfigError
from vae_lab.models.share_calibration import share_offsets, training_shares
from vae_lab.trained_run import TrainedRun

Calibration = Literal["all", "missing", "none"]
CALIBRATIONS: tuple[str, ...] = get_args(Calibration)
DEFAULT_CALIBRATION: Calibration = "all"  # sample.calibrate's default, and what vae-lab eval's fidelity samples with
CALIBRATION_DRAWS = 20_000
CALIBRATION_SEED = 0


@torch.inference_mode()
def calibrated_offsets(run: TrainedRun, prior: nn.Module | None, calibrate: str) -> torch.Tensor | None:
    """Offsets (*param_shape,) for ``VAE.sample`` that give z ~ `prior` (None: the model's own) the training rows'
    shares of the likelihood's states that `calibrate` names, or None where there are none (``none``, images, a table
    without missing cells under ``missing``) or the model is conditional."""
    if calibrate not in CALIBRATIONS:
        raise ConfigError(
            f"sample.calibrate must be all (the training rows' share of every category, 0/1 value, point mass and missing cell), "
            f"missing (of the missing cells only) or none (the shares as decoded), got {calibrate!r}"
        )
    vae = run.module.vae
    states = [state for state in vae.likelihood.discrete_states() if calibrate == "all" or (calibrate == "missing" and state.missing)]
    if not states or vae.condition_dim or not isinstance(run.datamodule, CSVDataModule):
        return None
    targets = training_shares(states, torch.from_numpy(run.datamodule.fitted_schema().slot_means()))
    device = next(vae.parameters()).device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(CALIBRATION_SEED)
        z = vae.prior_latents(CALIBRATION_DRAWS, device) if prior is None else prior.sample(CALIBRATION_DRAWS, device)
        params = vae.generative(z).cpu()
    return share_offsets(params, states, targets)
