"""``vae-lab impute ckpt_path=PATH input=FILE.csv output=FILE.csv``: fill the missing cells of a table file.

The model and the preprocessing fitted in training come from the checkpoint (the training CSV is
not needed). Each row is encoded with its missing cells masked and decoded (``models.imputation``: at
the posterior mean, or averaged over ``mean_draws`` posterior draws; refined ``iterations`` times), and
only the missing cells of the modelled columns are filled. ``draws=M`` (multiple imputation) instead
writes M completed copies of the table, one after the other with a ``draw`` column (1..M) last, each
drawn from p(missing | observed) (``multiple_imputations``: ``steps`` steps of a Markov chain per copy).
A conditional model reads its condition columns from the input. Every other cell, including dropped and target columns and values never
seen in training (warned about), is written back as the same text, in the input's dialect (delimiter, decimal
mark, quoting, encoding; an Arrow format's column types) and the format and compression `output`'s suffix names.
The output appears atomically.
"""

import logging
from dataclasses import fields
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from vae_lab.commands.from_checkpoint import choose_device, load_checkpoint_run
from vae_lab.config_schema import ImputationSettings
from vae_lab.data.csv_table import CSVDataModule
from vae_lab.data.table_files import TableDialect, read_table_text, write_table
from vae_lab.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)


def impute_csv(cfg: DictConfig) -> dict[str, Any]:
    """Fill the missing cells of ``cfg.input`` into ``cfg.output``; returns counts of what was filled."""
    for key in ("ckpt_path", "input", "output"):
        if not cfg.get(key):
            raise ConfigError(f"vae-lab impute needs {key}=...: usage: vae-lab impute ckpt_path=MODEL.ckpt input=IN.csv output=OUT.csv")
    device = choose_device(cfg.device)
    run = load_checkpoint_run(cfg).to(device)  # as eval, sample and encode rebuild it
    datamodule = run.datamodule
    if not isinstance(datamodule, CSVDataModule):
        raise CheckpointError(f"{cfg.ckpt_path} is a model of data '{datamodule.name}'; vae-lab impute needs a model trained with data=csv")
    fill = ImputationSettings(**{setting.name: cfg[setting.name] for setting in fields(ImputationSettings)})  # checked by config_schema
    table = read_table_text(cfg.input, cfg.encoding or datamodule.encoding, datamodule.delimiter)
    frame, counts = run.impute_text(table, fill, str(cfg.input))
    write_table(frame, cfg.output, TableDialect.of(table, [column.format for column in datamodule.fitted_schema().columns]))
    log.info("filled %d missing cells in %d rows (%s) -> %s", sum(counts.values()), len(frame),
             ", ".join(f"{name} {count}" for name, count in counts.items() if count) or "none", cfg.output)  # fmt: skip
    return {"rows": len(frame), "filled": counts, "output": str(Path(cfg.output))}


def task(cfg: DictConfig) -> None:
    impute_csv(cfg)
