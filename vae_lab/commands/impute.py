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

from vae_lab.checkpoints import load_run
from vae_lab.data.cell_values import FLOAT
from vae_lab.data.csv_file import read_csv_text, write_csv_atomically
from vae_lab.data.csv_table import CSVDataModule
from vae_lab.errors import CheckpointError, ConfigError
from vae_lab.models.imputation import impute

log = logging.getLogger(__name__)


def impute_csv(cfg: DictConfig) -> dict[str, Any]:
    """Fill the missing cells of ``cfg.input`` into ``cfg.output``; returns counts of what was filled."""
    for key in ("ckpt_path", "input", "output"):
        if not cfg.get(key):
            raise ConfigError(f"vae-lab impute needs {key}=...: usage: vae-lab impute ckpt_path=MODEL.ckpt input=IN.csv output=OUT.csv")
    if cfg.draws < 0 or cfg.iterations < 1 or cfg.batch_size < 1:
        raise ConfigError(
            f"impute needs draws >= 0, iterations >= 1 and batch_size >= 1, "
            f"got draws={cfg.draws}, iterations={cfg.iterations}, batch_size={cfg.batch_size}"
        )
    _, datamodule, module = load_run(cfg.ckpt_path)
    if not isinstance(datamodule, CSVDataModule):
        raise CheckpointError(f"{cfg.ckpt_path} is a model of data '{datamodule.name}'; vae-lab impute needs a model trained with data=csv")
    schema = datamodule.fitted_schema()
    source = str(cfg.input)
    table = read_csv_text(cfg.input, cfg.encoding or datamodule.encoding, datamodule.delimiter)
    encoded = schema.transform(table, source)
    x = torch.from_numpy(encoded.x)
    mask = torch.ones_like(x, dtype=torch.bool) if encoded.mask is None else torch.from_numpy(encoded.mask)
    vae = module.vae.to(cfg.device)
    generator = torch.Generator().manual_seed(cfg.seed)
    filled = torch.cat([
        impute(vae, x[i : i + cfg.batch_size].to(cfg.device), mask[i : i + cfg.batch_size].to(cfg.device), cfg.draws, cfg.iterations, generator).cpu()
        for i in range(0, len(x), cfg.batch_size)
    ])  # fmt: skip
    values = schema.inverse(filled)
    frame = table.to_pandas()
    for i, column in enumerate(schema.columns):
        rows = encoded.missing[:, i]
        if rows.any():
            frame[column.name] = frame[column.name].astype(object)
            plain_float = column.format.type == FLOAT and not column.format.decorated
            frame.loc[rows, column.name] = [cell_text(value, plain_float) for value in values[column.name][rows]]
    write_csv_atomically(frame, cfg.output)
    counts = {column.name: int(encoded.missing[:, i].sum()) for i, column in enumerate(schema.columns)}
    log.info("filled %d missing cells in %d rows (%s) -> %s", sum(counts.values()), len(frame),
             ", ".join(f"{name} {count}" for name, count in counts.items() if count) or "none", cfg.output)  # fmt: skip
    return {"rows": len(frame), "filled": counts, "output": str(Path(cfg.output))}


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
