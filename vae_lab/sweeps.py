"""Hydra multiruns (``-m``, ``hparams_search=...``, ``cluster=...``): failed jobs, and a summary of the sweep.

- A job that fails (a ``VaeLabError`` or any other exception) writes ``results.json`` with
  ``status: failed`` and the error in its run directory. With ``continue_on_failure: true`` (the
  default) the other jobs go on and the sweep exits with status 1 once every job has ended; with
  ``false`` the sweep stops at the first failure. A single run (no ``-m``) always exits non-zero.
- ``SweepSummary``, a Hydra callback (``hydra.callbacks`` in conf/hydra/default.yaml), writes
  ``sweep.csv`` and ``sweep.json`` in the sweep directory: one row per job with its number,
  overrides, status (completed, pruned, failed, running), final metrics (its ``results.json``; a pruned
  trial's epoch and last value), error and run directory. Both files are
  rewritten atomically at every job end (from whichever process ran the job) and at the end of the
  multirun, from the job directories themselves, so parallel launchers never lose a row.
"""

import csv
import io
import json
import logging
import sys
from pathlib import Path
from typing import Any

import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from vae_lab.atomic_files import write_json, write_text
from vae_lab.config_schema import check_cluster
from vae_lab.errors import ConfigError, VaeLabError
from vae_lab.run_dir import RunDir

log = logging.getLogger(__name__)

RESULTS = RunDir.RESULTS
SUMMARY_CSV = "sweep.csv"
SUMMARY_JSON = "sweep.json"
FIRST_COLUMNS = ("job", "status", "overrides")
LAST_COLUMNS = ("error", "run_dir")


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def is_rank_zero() -> bool:
    """False in the extra processes of a DDP run (Lightning's children, SLURM tasks), which write nothing."""
    from lightning.pytorch.utilities import rank_zero_only  # Lightning is slow to import; only jobs need it

    return rank_zero_only.rank == 0


def record_failed_job(error: BaseException) -> None:
    """Write the failure into this job's ``results.json`` (and refresh the sweep summary)."""
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    if isinstance(error, VaeLabError):
        log.error("job %s failed: %s", hydra_cfg.job.num, error)
    else:
        log.exception("job %s failed", hydra_cfg.job.num)
    if not is_rank_zero():
        return
    message = str(error) if isinstance(error, VaeLabError) else f"{type(error).__name__}: {error}"
    write_json(run_dir / RESULTS, {"status": "failed", "error": message, "error_type": type(error).__name__, "run_dir": str(run_dir)})
    write_summary(Path(hydra_cfg.sweep.dir), finished=False)


def job_identity(hydra_file: Path) -> tuple[int, list[str]] | None:
    """(job number, task overrides) from a job's ``.hydra/hydra.yaml``.

    None while Hydra is still writing the file (not atomically) for a job that starts in another
    process, e.g. under submitit or joblib, at the moment this job ends.
    """
    try:
        hydra_node = yaml.safe_load(hydra_file.read_text())["hydra"]
        return hydra_node["job"]["num"], hydra_node["overrides"]["task"]
    except (yaml.YAMLError, TypeError, KeyError):
        return None


def job_rows(sweep_dir: Path, finished: bool) -> list[dict[str, Any]]:
    """One row per job directory of the sweep, ordered by job number.

    finished: the multirun is over, so a job without ``results.json`` ended without writing it (failed);
    otherwise it is still running.
    """
    rows = []
    for hydra_file in sweep_dir.glob("*/.hydra/hydra.yaml"):
        job_dir = hydra_file.parent.parent
        identity = job_identity(hydra_file)
        if identity is None:  # a job starting in another process; its own end (or the multirun's) lists it
            continue
        row: dict[str, Any] = {"job": identity[0], "overrides": " ".join(identity[1])}
        results_file = job_dir / RESULTS
        if results_file.is_file():
            results = json.loads(results_file.read_text())
            row["status"] = results.get("status", "completed")
            row |= {key: value for key, value in results.items() if key not in row and not isinstance(value, dict | list)}
        elif finished:
            row |= {"status": "failed", "error": f"the job ended without writing {RESULTS}"}
        else:
            row["status"] = "running"
        row["run_dir"] = str(job_dir.absolute())
        rows.append(row)
    return sorted(rows, key=lambda row: row["job"])


def write_summary(sweep_dir: Path, finished: bool) -> list[dict[str, Any]]:
    """Rewrite ``sweep.csv`` and ``sweep.json`` in `sweep_dir`; returns the rows."""
    rows = job_rows(sweep_dir, finished)
    keys = [key for row in rows for key in row]
    middle = list(dict.fromkeys(key for key in keys if key not in FIRST_COLUMNS + LAST_COLUMNS))
    columns = [*FIRST_COLUMNS, *middle, *LAST_COLUMNS]
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(sweep_dir / SUMMARY_CSV, table.getvalue())
    write_json(sweep_dir / SUMMARY_JSON, {"sweep_dir": str(sweep_dir), "finished": finished, "jobs": rows})
    return rows


class SweepSummary(Callback):
    """Hydra callback keeping ``sweep.csv`` / ``sweep.json`` up to date in a multirun's sweep directory; it also refuses
    cluster values sbatch would reject before any job is submitted."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check_cluster(config)
        except ConfigError as error:
            print(f"vae-lab: {error}", file=sys.stderr)  # logging is not set up yet, and nothing may be written
            sys.exit(error.exit_code)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if in_multirun() and is_rank_zero():
            write_summary(Path(config.hydra.sweep.dir), finished=False)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():  # nothing was launched
            return
        rows = write_summary(sweep_dir, finished=True)
        failed = [row for row in rows if row["status"] not in ("completed", "pruned")]
        log.info("sweep summary: %s (%d jobs, %d failed)", sweep_dir / SUMMARY_CSV, len(rows), len(failed))
        if failed:
            for row in failed:
                log.error("job %s (%s) failed: %s", row["job"], row["overrides"], row.get("error", ""))
            sys.exit(1)
