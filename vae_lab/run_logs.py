"""Adding metrics to a finished training run's logs: its ``metrics.csv`` and its W&B run.

Used by ``vae-lab eval``, so a run's dashboard shows its evaluation next to its training curves.
Evaluation runs no Trainer (and so no CSV logger), so rows are appended here
directly (the header grows when new columns appear, as Lightning's own writer does). The W&B run
is resumed by the id kept in ``<run_dir>/wandb_run_id``, offline when no API key is configured.
"""

import csv
import io
import logging
from pathlib import Path

from omegaconf import DictConfig

from vae_lab.atomic_files import write_text
from vae_lab.run_dir import RunDir, RunDirInUse
from vae_lab.training.assembly import build
from vae_lab.wandb_setup import finish_wandb_run, wandb_mode

log = logging.getLogger(__name__)


def append_metrics_row(path: Path, row: dict[str, float | int]) -> None:
    """Append one row to a CSV metrics file, widening its header if needed; atomic (``atomic_files``)."""
    rows: list[dict[str, str]] = []
    fields: list[str] = []
    if path.is_file():
        with path.open(newline="") as file:
            reader = csv.DictReader(file)
            rows, fields = list(reader), list(reader.fieldnames or [])
    fields += sorted(key for key in row if key not in fields)
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=fields, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows([*rows, row])
    write_text(path, table.getvalue())


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
    or whose files are gone, is skipped; so is everything while a training holds the run's lock
    (``vae_lab.run_dir``), with a warning.
    """
    loggers = run_config.get("logger") or {}
    run = RunDir(run_dir)
    written = []
    try:
        with run.locked():
            if loggers.get("csv") is not None and run.metrics.is_file():
                append_metrics_row(run.metrics, {"epoch": epoch, "step": step, **metrics})
                written.append(run.METRICS)
            if loggers.get("wandb") is not None and run.wandb_run_id.is_file() and wandb_mode() != "disabled":
                _log_to_wandb(loggers.wandb, run, metrics, step, tables or {})
                written.append("wandb")
    except RunDirInUse as error:
        log.warning("not adding the metrics to the run's logs: %s", error)
    return written


def _log_to_wandb(node: DictConfig, run: RunDir, metrics: dict[str, float], step: int, tables: dict) -> None:
    mode = wandb_mode()
    logger = build(
        node,
        save_dir=str(run.path),
        id=run.wandb_run_id.read_text().strip(),
        resume="allow",
        offline=mode in ("offline", "dryrun"),
        name=node.get("name") or run.path.name,
    )
    try:
        logger.log_metrics(metrics, step=step)
        for key, (columns, rows) in tables.items():
            logger.log_table(key=key, columns=columns, data=rows)
    finally:
        finish_wandb_run()
