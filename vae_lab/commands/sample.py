"""``vae-lab sample``: draw z ~ p(z), decode, and let the data module write the result.

``sample.mode=mean`` writes E[x|z] (the smooth images most implementations show), ``sample.mode=sample``
a draw x ~ p(x|z) (what the model actually generates). Unset: the data module's natural choice (mean
for images, draws for tables). Images: ``<output>.pt`` and a PNG grid; tables: a CSV.
"""

import logging
from pathlib import Path

import torch
from omegaconf import DictConfig

from vae_lab.commands.from_checkpoint import choose_device, load_checkpoint_run, output_path

log = logging.getLogger(__name__)

SAMPLES_PER_PASS = 10_000


def sample(cfg: DictConfig) -> list[Path]:
    """Decode `n` prior draws; returns the files written."""
    mode, count = cfg.sample.mode, cfg.n  # checked by config_schema.SampleCommandSettings
    device = choose_device(cfg.device)
    run = load_checkpoint_run(cfg)
    mode = mode or run.datamodule.default_sample_mode
    output = output_path(cfg, run, f"samples_{mode}")
    vae = run.vae.to(device).eval()
    torch.manual_seed(cfg.seed)
    x = torch.cat([vae.sample(min(SAMPLES_PER_PASS, count - start), mode).cpu() for start in range(0, count, SAMPLES_PER_PASS)])
    paths = run.datamodule.write_samples(x, output)
    for path in paths:
        log.info("wrote %s", path)
    return paths


def task(cfg: DictConfig) -> None:
    sample(cfg)
