"""``vae-lab impute ckpt_path=PATH input=FILE.csv output=FILE.csv``: fill the missing cells of a CSV.

The model and the preprocessing fitted in training come from the checkpoint (the training CSV is
not needed). Each row is encoded with its missing cells masked and decoded (``models.imputation``: at
the posterior mean, or averaged over ``draws`` posterior draws; refined ``iterations`` times), and
only the missing cells of the modelled columns are filled. Every other cell, including dropped and target columns and values never
seen in training (warned about), is written back as the same text. The output appears atomically.
"""

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig

from vae_lab.commands.from_checkpoint import choose_device, load_checkpoint_run
from vae_lab.data.cell_values import FLOAT
from vae_lab.data.csv_file import read_csv_text, write_csv_atomically
from vae_lab.data.csv_table import CSVDataModule
from vae_lab.errors import CheckpointError, ConfigError
from vae_lab.models.imputation import impute
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
    frame, counts = impute_table(
        datamodule, run.vae, cfg.input, cfg.encoding or datamodule.encoding, cfg.draws, cfg.iterations, cfg.batch_size, cfg.seed, device
    )
    write_csv_atomically(frame, cfg.output)
    log.info("filled %d missing cells in %d rows (%s) -> %s", sum(counts.values()), len(frame),
             ", ".join(f"{name} {count}" for name, count in counts.items() if count) or "none", cfg.output)  # fmt: skip
    return {"rows": len(frame), "filled": counts, "output": str(Path(cfg.output))}


def impute_table(
    datamodule: CSVDataModule, vae: VAE, path: str | Path, encoding: str, draws: int, iterations: int, batch_size: int, seed: int, device: Any
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The table at `path` with its missing cells filled, and the count filled per modelled column."""
    schema = datamodule.fitted_schema()
    table = read_csv_text(path, encoding, datamodule.delimiter)
    encoded = schema.transform(table, str(path))
    x = torch.from_numpy(encoded.x)
    mask = torch.ones_like(x, dtype=torch.bool) if encoded.mask is None else torch.from_numpy(encoded.mask)
    vae = vae.to(device)
    generator = torch.Generator().manual_seed(seed)
    filled = torch.cat([
        impute(vae, x[i : i + batch_size].to(device), mask[i : i + batch_size].to(device), draws, iterations, generator).cpu()
        for i in range(0, len(x), batch_size)
    ])  # fmt: skip
    values = schema.inverse(filled)
    frame = table.to_pandas()
    for i, column in enumerate(schema.columns):
        rows = encoded.missing[:, i]
        if rows.any():
            frame[column.name] = frame[column.name].astype(object)
            plain_float = column.format.type == FLOAT and not column.format.decorated
            frame.loc[rows, column.name] = [cell_text(value, plain_float) for value in values[column.name][rows]]
    return frame, {column.name: int(encoded.missing[:, i].sum()) for i, column in enumerate(schema.columns)}


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
