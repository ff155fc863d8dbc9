"""A CSVLogger that continues the run's metrics.csv when the run resumes.

Lightning's CSVLogger deletes an existing metrics.csv when it starts, which wipes the curves of
every resumed run (a re-run, a preempted SLURM job). This one keeps the file and its columns, and
appends; rows logged after the last checkpoint of a killed run appear twice (with the same step).
"""

import csv
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

from vae_lab.atomic_files import reporting_full_storage


class ContinuingExperimentWriter(ExperimentWriter):
    """Lightning's writer, minus the deletion: an existing file's header becomes the known columns."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                self.metrics_keys = list(csv.DictReader(file).fieldnames or [])

    def save(self) -> None:
        """Append the logged rows; a full disk is one StorageFull error naming metrics.csv."""
        with reporting_full_storage(Path(self.metrics_file_path)):
            super().save()


class ContinuingCSVLogger(CSVLogger):
    """metrics.csv and hparams.yaml in the run directory, continued across resumes."""

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = ContinuingExperimentWriter(log_dir=self.log_dir)
        return self._experiment
