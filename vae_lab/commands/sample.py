"""``vae-lab sample``: draw z ~ p(z), decode, and let the data module write the result.

``sample.mode=mean`` writes E[x|z] (the smooth images most implementations show), ``sample.mode=sample``
a draw x ~ p(x|z) (what the model actually generates). Unset: the data module's natural choice (mean
for images, draws for tables). Images: ``<output>.pt`` and a PNG grid; tables: a CSV.

A conditional model samples given what is asked: ``condition.label=7`` (``condition.label=all``: `n`
for each label, a grid row per label), ``condition.weather=rain`` and more columns at once, or
``condition_file=FILE.csv`` with one row of condition columns per wanted sample. Asked nothing, it draws
the conditions of training rows. Tables keep the condition columns as given.
"""

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from vae_lab.commands.from_checkpoint import choose_device, load_checkpoint_run, output_path
from vae_lab.data.csv_file import read_csv_text
from vae_lab.data.in_memory import InMemoryDataModule
from vae_lab.errors import ConfigError
from vae_lab.models.vae import VAE

log = logging.getLogger(__name__)

SAMPLES_PER_PASS = 10_000


def sample(cfg: DictConfig) -> list[Path]:
    """Decode `n` prior draws (given the asked conditions); returns the files written."""
    mode, count = cfg.sample.mode, cfg.n  # checked by config_schema.SampleCommandSettings
    device = choose_device(cfg.device)
    run = load_checkpoint_run(cfg)
    mode = mode or run.datamodule.default_sample_mode
    request = OmegaConf.to_container(cfg.condition) if cfg.get("condition") else {}
    condition, given = asked_conditions(run.datamodule, request, cfg.get("condition_file"), count, cfg.seed)  # type: ignore[arg-type]
    output = output_path(cfg, run, f"samples_{mode}")
    x = draw(run.vae.to(device).eval(), len(condition) if condition is not None else count, mode, condition, cfg.seed)
    paths = run.datamodule.write_samples(x, output, given)
    for path in paths:
        log.info("wrote %s", path)
    return paths


def draw(vae: VAE, count: int, mode: str, condition: torch.Tensor | None, seed: int | None) -> torch.Tensor:
    """`count` samples (given condition (count, width) or None), decoded in passes of SAMPLES_PER_PASS: (count, *data_shape)."""
    if seed is not None:
        torch.manual_seed(seed)
    samples = []
    for start in range(0, count, SAMPLES_PER_PASS):
        given = None if condition is None else condition[start : start + SAMPLES_PER_PASS]
        samples.append(vae.sample(min(SAMPLES_PER_PASS, count - start), mode, given).cpu())
    return torch.cat(samples)


def asked_conditions(
    datamodule: InMemoryDataModule, request: Mapping[str, Any], condition_file: str | None, count: int, seed: int
) -> tuple[torch.Tensor | None, dict[str, list[str]] | None]:
    """The conditions to sample with, (rows, width), and their values by name (None, None for an unconditional
    model): as asked (``Conditions.requested``), one per row of `condition_file`, or drawn from the training rows."""
    conditions = datamodule.conditions
    if conditions is None:
        if request or condition_file:
            raise ConfigError("this model is unconditional: condition.* and condition_file need a model trained with model.condition=...")
        return None, None
    request = dict(request)
    if condition_file:
        table = read_csv_text(Path(condition_file).expanduser(), "utf-8", None)
        request |= {name: [str(cell) for cell in table.column(name).to_pylist()] for name in conditions.names if name in table.column_names}
        count = table.num_rows
    if request:
        return conditions.requested(request, count)
    condition = datamodule.draw_conditions(count, seed)
    assert condition is not None
    return condition, conditions.values(conditions.codes(condition))


def task(cfg: DictConfig) -> None:
    sample(cfg)
