"""``vae-lab encode``: the posterior q(z|x) = N(mean, diag(exp(log_var))) of every example of a split.

Writes an .npz with ``mean`` and ``log_var`` (n, latent_dim) float32, ``y`` (n,) labels (-1 where the
data has none) and ``index`` (n,) row numbers in the split, for plots and downstream models.
"""

import logging
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from vae_lab.atomic_files import replace_atomically
from vae_lab.commands.from_checkpoint import choose_device, load_checkpoint_run, output_path

log = logging.getLogger(__name__)


def encode(cfg: DictConfig) -> Path:
    """Encode the split and write the .npz; returns its path."""
    device = choose_device(cfg.device)
    run = load_checkpoint_run(cfg)
    split = run.datamodule.split(cfg.split)
    output = output_path(cfg, run, f"latents_{cfg.split}.npz")
    encoder = run.vae.encoder.to(device).eval()
    means, log_vars = [], []
    with torch.inference_mode():
        for x in split.x_batches(cfg.batch_size):
            mean, log_var = encoder(x.to(device))
            means.append(mean.float().cpu())
            log_vars.append(log_var.float().cpu())
    arrays = {"mean": torch.cat(means).numpy(), "log_var": torch.cat(log_vars).numpy(), "y": split.y.numpy(), "index": np.arange(len(split))}
    replace_atomically(output, lambda file: np.savez(file, **arrays))  # type: ignore[arg-type]  # numpy stubs mistype **arrays  # a file object: numpy adds no suffix
    log.info("wrote %s: %d examples x %d latent dimensions (%s split)", output, len(split), run.vae.latent_dim, cfg.split)
    return output


def task(cfg: DictConfig) -> None:
    encode(cfg)
