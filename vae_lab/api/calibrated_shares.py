"""What ``sample.calibrate`` does: a table's samples get the training rows' share of its missing cells (``missing``,
the default) or of every discrete state (``all``: each category, 0/1 value and point mass too), or as decoded (``none``).

The offsets (``models.share_calibration``) are fitted to CALIBRATION_DRAWS draws of the prior the samples come
from (the model's own or the fitted one), decoded once, with their own seeded random stream (so they are the same
every time, and the samples' stream is untouched), and to the shares of the run's training rows, which the checkpoint
keeps (``TableSchema.slot_means``: no training file is read). Fitting them takes one decoding pass, well under a
second for a table, so they are fitted at each call rather than kept. A conditional model is not calibrated: the
conditions asked set the shares.

Why ``missing`` by default: on 24 real tables (docs/results.md), calibrating the missing states brought the
samples' missing shares to the training rows' (VietNamH -0.042 -> -0.001), while calibrating every state moved
detection by +0.005 on average with losses on some tables (modechoice 0.66 -> 0.60).
"""

from typing import Literal

import torch
from torch import nn

from vae_lab.data.csv_table import CSVDataModule
from vae_lab.errors import ConfigError
from vae_lab.models.share_calibration import share_offsets, training_shares
from vae_lab.trained_run import TrainedRun

Calibration = Literal["missing", "all", "none"]
CALIBRATIONS = ("missing", "all", "none")
DEFAULT_CALIBRATION: Calibration = "missing"  # sample.calibrate's default, and what vae-lab eval's fidelity samples with
CALIBRATION_DRAWS = 20_000
CALIBRATION_SEED = 0


@torch.inference_mode()
def calibrated_offsets(run: TrainedRun, prior: nn.Module | None, calibrate: str) -> torch.Tensor | None:
    """Offsets (*param_shape,) for ``VAE.sample`` that give z ~ `prior` (None: the model's own) the training rows'
    shares of the likelihood's states that `calibrate` names, or None where there are none (``none``, images, a table
    without missing cells under ``missing``) or the model is conditional."""
    if calibrate not in CALIBRATIONS:
        raise ConfigError(
            f"sample.calibrate must be missing (the training share of missing cells), all (of every category, 0/1 value, point mass "
            f"and missing state) or none (the shares as decoded), got {calibrate!r}"
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
