"""``vae-lab impute ckpt_path=PATH input=FILE.csv output=FILE.csv``: fill the missing cells of a CSV.

The model and the preprocessing fitted in training come from the checkpoint (the training CSV is
not needed). Each row is encoded with its missing cells masked and decoded (``models.imputation``: at
the posterior mean, or averaged over ``mean_draws`` posterior draws; refined ``iterations`` times), and
only the missing cells of the modelled columns are filled. ``draws=M`` (multiple imputation) instead
writes M completed copies of the table, one after the other with a ``draw`` column (1..M) last, each
drawn from p(missing | observed) (``multiple_imputations``: ``steps`` steps of a Markov chain per copy).
A conditional model reads its condition columns from the input. Every other cell, including dropped and target columns and values never
seen in training (warned about), is written back as the same text. The output appears atomically.
"""

import logging
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig

from vae_lab.commands.from_checkpoint import choose_device, load_checkpoint_run
from vae_lab.config_schema import ImputationSettings
from vae_lab.data.cell_values import FLOAT
from vae_lab.data.csv_file import read_csv_text, write_csv_atomically
from vae_lab.data.csv_table import CSVDataModule
from vae_lab.data.table_schema import TableSchema
from vae_lab.errors import CheckpointError, ConfigError
from vae_lab.models.imputation import impute, multiple_imputations
from vae_lab.models.vae import VAE

log = logging.getLogger(__name__)


def impute_csv(cfg: DictConfig) -> dict[str, Any]:
    """Fill the missing cells of ``cfg.input`` into ``cfg.output``; returns counts of what was filled."""
    for key in ("ckpt_path", "input", "output"):
        if not cfg.get(key):
            raise ConfigError(f"vae-lab impute needs {key}=...: usage: vae-lab impute ckpt_path=MODEL.ckpt input=IN.csv output=OUT.csv")
    device = choose_device(cfg.device)
    run = load_checkpoint_run(cfg)  # as eval, sample and encode rebuild it
    datamodule = run.datamodule
    if not isinstance(datamodule, CSVDataModule):
        raise CheckpointError(f"{cfg.ckpt_path} is a model of data '{datamodule.name}'; vae-lab impute needs a model trained with data=csv")
    fill = ImputationSettings(**{setting.name: cfg[setting.name] for setting in fields(ImputationSettings)})  # checked by config_schema
    frame, counts = impute_table(datamodule, run.vae, cfg.input, cfg.encoding or datamodule.encoding, fill, device)
    write_csv_atomically(frame, cfg.output)
    log.info("filled %d missing cells in %d rows (%s) -> %s", sum(counts.values()), len(frame),
             ", ".join(f"{name} {count}" for name, count in counts.items() if count) or "none", cfg.output)  # fmt: skip
    return {"rows": len(frame), "filled": counts, "output": str(Path(cfg.output))}


def impute_table(
    datamodule: CSVDataModule, vae: VAE, path: str | Path, encoding: str, settings: ImputationSettings, device: Any
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The table at `path` with its missing cells filled (or `settings.draws` filled copies, one after the
    other, with a ``draw`` column), and the count of missing cells per modelled column."""
    schema = datamodule.fitted_schema()
    table = read_csv_text(path, encoding, datamodule.delimiter)
    encoded = schema.transform(table, str(path))
    x = torch.from_numpy(encoded.x)
    mask = torch.ones_like(x, dtype=torch.bool) if encoded.mask is None else torch.from_numpy(encoded.mask)
    conditions = datamodule.conditions
    condition = None if conditions is None else conditions.one_hot(torch.from_numpy(encoded.condition_codes))
    vae = vae.to(device)
    copies = [written_copy(table.to_pandas(), schema, encoded.missing, filled) for filled in filled_rows(vae, x, mask, condition, settings, device)]
    if settings.draws:
        copies = [copy.assign(draw=number) for number, copy in enumerate(copies, start=1)]
    return pd.concat(copies, ignore_index=True), {column.name: int(encoded.missing[:, i].sum()) for i, column in enumerate(schema.columns)}


def filled_rows(vae: VAE, x: torch.Tensor, mask: torch.Tensor, condition: torch.Tensor | None, settings: ImputationSettings, device: Any) -> list[torch.Tensor]:
    """Model rows x (n, width) with unobserved cells filled: [one fill], or `settings.draws` sampled copies."""
    generator = torch.Generator().manual_seed(settings.seed)
    batch_size = settings.batch_size if not settings.draws else max(1, min(settings.batch_size, 100_000 // settings.draws))
    filled = []
    with torch.random.fork_rng():
        torch.manual_seed(settings.seed)  # the likelihood's draws
        for i in range(0, len(x), batch_size):
            rows, observed = x[i : i + batch_size].to(device), mask[i : i + batch_size].to(device)
            given = None if condition is None else condition[i : i + batch_size].to(device)
            if settings.draws:
                filled.append(multiple_imputations(vae, rows, observed, settings.draws, settings.steps, settings.iterations, given, generator).cpu())
            else:
                filled.append(impute(vae, rows, observed, settings.mean_draws, settings.iterations, generator, given).cpu()[None])
    return list(torch.cat(filled, dim=1))


def written_copy(frame: pd.DataFrame, schema: TableSchema, missing: np.ndarray, filled: torch.Tensor) -> pd.DataFrame:
    """`frame` (the input as text) with the missing cells of the modelled columns set from model rows `filled` (n, width)."""
    values = schema.inverse(filled)
    for i, column in enumerate(schema.columns):
        rows = missing[:, i]
        if rows.any():
            frame[column.name] = frame[column.name].astype(object)
            plain_float = column.format.type == FLOAT and not column.format.decorated
            frame.loc[rows, column.name] = [cell_text(value, plain_float) for value in values[column.name][rows]]
    return frame


def cell_text(value: Any, is_float: bool) -> str:
    """A filled value as CSV text: integers as integers, floats in their shortest exact form, labels as they are."""
    if pd.isna(value):
        return ""
    if is_float:
        return repr(float(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def task(cfg: DictConfig) -> None:
    impute_csv(cfg)
