"""Adding metrics to a finished training run's logs: its ``metrics.csv`` and its W&B run.

Used by ``vae-lab eval``, so a run's dashboard shows its evaluation next to its training curves.
Evaluation runs no Trainer (and so no CSV logger), so rows are appended here
directly (the header grows when new columns appear, as Lightning's own writer does). The W&B run
is resumed by the id kept in ``<run_dir>/wandb_run_id``, offline when no API key is configured.
"""

import csv
import logging
import os
from pathlib import Path

from omegaconf import DictConfig

from vae_lab.build import build
from vae_lab.commands.train import finish_wandb_run
from vae_lab.wandb_setup import RUN_ID_FILE, wandb_mode

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.csv"


def append_metrics_row(path: Path, row: dict[str, float | int]) -> None:
    """Append one row to a CSV metrics file, widening its header if needed; atomic (rewrite and rename)."""
    rows: list[dict[str, str]] = []
    fields: list[str] = []
    if path.is_file():
        with path.open(newline="") as file:
            reader = csv.DictReader(file)
            rows, fields = list(reader), list(reader.fieldnames or [])
    fields += sorted(key for key in row if key not in fields)
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fields)
        writer.writeheader()
        writer.writerows([*rows, row])
    os.replace(partial, path)


def log_to_run(
    run_config: DictConfig,
    run_dir: Path,
    metrics: dict[str, float],
    step: int,
    epoch: int,
    tables: dict[str, tuple[list[str], list[list]]] | None = None,
) -> list[str]:
    """Add `metrics` (and W&B `tables`: key -> (columns, rows)) to the loggers the run used.

    Returns what was written to: ``metrics.csv`` and/or ``wandb``. A logger the run did not use,
    or whose files are gone, is skipped.
    """
    loggers = run_config.get("logger") or {}
    written = []
    if loggers.get("csv") is not None and (run_dir / METRICS_FILE).is_file():
        append_metrics_row(run_dir / METRICS_FILE, {"epoch": epoch, "step": step, **metrics})
        written.append(METRICS_FILE)
    if loggers.get("wandb") is not None and (run_dir / RUN_ID_FILE).is_file() and wandb_mode() != "disabled":
        _log_to_wandb(loggers.wandb, run_dir, metrics, step, tables or {})
        written.append("wandb")
    return written


def _log_to_wandb(node: DictConfig, run_dir: Path, metrics: dict[str, float], step: int, tables: dict) -> None:
    mode = wandb_mode()
    logger = build(
        node,
        save_dir=str(run_dir),
        id=(run_dir / RUN_ID_FILE).read_text().strip(),
        resume="allow",
        offline=mode in ("offline", "dryrun"),
        name=node.get("name") or run_dir.name,
    )
    try:
        logger.log_metrics(metrics, step=step)
        for key, (columns, rows) in tables.items():
            logger.log_table(key=key, columns=columns, data=rows)
    finally:
        finish_wandb_run()
