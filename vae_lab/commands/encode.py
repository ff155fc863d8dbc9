"""``vae-lab encode``: the posterior q(z|x) = N(mean, diag(exp(log_var))) of every example of a split.

Writes an .npz with ``mean`` and ``log_var`` (n, latent_dim) float32, ``y`` (n,) labels (-1 where the
data has none), ``index`` (n,) row numbers in the split, and ``layer_dims``, the width of each stochastic
layer (z_1 first; one entry for a one-layer VAE), for plots and downstream models. A hierarchical VAE's
columns are its layers side by side, each layer's q(z_l | z_{l+1}, x) taken with the layers above at their means.
"""

import logging
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from vae_lab.atomic_files import replace_atomically
from vae_lab.commands.from_checkpoint import choose_device, load_checkpoint_run, output_path

log = logging.getLogger(__name__)


def encode(cfg: DictConfig) -> Path:
    """Encode the split (``Run.encode``) and write the .npz; returns its path."""
    device = choose_device(cfg.device)
    run = load_checkpoint_run(cfg).to(device)
    split = run.datamodule.split(cfg.split)
    output = output_path(cfg, run, f"latents_{cfg.split}.npz")
    mean, log_var = run.encode(cfg.split, cfg.batch_size)
    arrays = {"mean": mean.numpy(), "log_var": log_var.numpy(), "y": split.y.numpy(), "index": np.arange(len(split))}
    arrays["layer_dims"] = np.array(run.vae.layer_dims)
    replace_atomically(output, lambda file: np.savez(file, **arrays))  # type: ignore[arg-type]  # numpy stubs mistype **arrays  # a file object: numpy adds no suffix
    log.info("wrote %s: %d examples x %d latent dimensions (%s split)", output, len(split), run.vae.latent_dim, cfg.split)
    return output


def task(cfg: DictConfig) -> None:
    encode(cfg)
