"""``vae-lab sample``: draw z ~ p(z), decode, and let the data module write the result.

``sample.mode=mean`` writes E[x|z] (the smooth images most implementations show), ``sample.mode=sample``
a draw x ~ p(x|z) (what the model actually generates). Unset: the data module's natural choice (mean
for images, draws for tables). Images: ``<output>.pt`` and a PNG grid; tables: a file in the training
file's format and dialect (``samples_sample.csv``, ``.csv.gz``, ``.parquet``, ...).

A conditional model samples given what is asked: ``condition.label=7`` (``condition.label=all``: `n`
for each label, a grid row per label), ``condition.weather=rain`` and more columns at once, or
``condition_file=FILE.csv`` with one row of condition columns per wanted sample. Asked nothing, it draws
the conditions of training rows. Tables keep the condition columns as given.

``sample.prior=fitted`` draws z from a Gaussian mixture fitted to the training rows' posteriors instead of the
model's own prior (``sample.prior=model``) where it fits the validation rows' clearly better: fitted once per checkpoint,
kept beside it (``api.latent_prior``).
"""

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from vae_lab.commands.from_checkpoint import choose_device, load_checkpoint_run, output_path

log = logging.getLogger(__name__)


def sample(cfg: DictConfig) -> list[Path]:
    """Decode `n` prior draws (from ``sample.prior``; given the asked conditions, ``Run.sample_given``); returns the files the data module wrote."""
    device = choose_device(cfg.device)
    run = load_checkpoint_run(cfg).to(device)
    mode = cfg.sample.mode or run.datamodule.default_sample_mode  # checked by config_schema.SampleCommandSettings
    request = OmegaConf.to_container(cfg.condition) if cfg.get("condition") else {}
    output = output_path(cfg, run, f"samples_{mode}")
    x, given = run.sample_given(cfg.n, mode, cfg.seed, request, cfg.get("condition_file"), cfg.sample.prior, cfg.sample.calibrate)  # type: ignore[arg-type]
    paths = run.write_samples(x, output, given)
    for path in paths:
        log.info("wrote %s", path)
    return paths


def task(cfg: DictConfig) -> None:
    sample(cfg)
