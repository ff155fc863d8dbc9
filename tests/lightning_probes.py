"""Lightning callbacks that tests add to real CLI runs (``+callbacks.NAME._target_=lightning_probes...``).

The CLI subprocess finds this module through PYTHONPATH (see ``conftest.PROBES_ENV``).
"""

import json
import os
import signal
import time
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback


class HoldAtStep(Callback):
    """At global step `step`, write `marker` and wait there (to be killed); a run that finds `marker` goes on.

    Deterministic mid-epoch kills: the test waits for the marker, then sends SIGKILL.
    """

    def __init__(self, step: int, marker: str) -> None:
        self.step = step
        self.marker = Path(marker)

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        if trainer.global_step == self.step and not self.marker.exists():
            self.marker.write_text(f"{trainer.global_step}\n")
            time.sleep(600)


class RecordTrainingRows(Callback):
    """Each process writes the training rows (``batch["index"]``) it saw, per epoch, to ``<folder>/rows_rank<R>.json``."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self.rows: dict[int, list[int]] = {}

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch, batch_idx: int) -> None:
        self.rows.setdefault(trainer.current_epoch, []).extend(batch["index"].tolist())

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"rows_rank{trainer.global_rank}.json").write_text(json.dumps(self.rows))


class PreemptAtStep(Callback):
    """At global step `step`: SLURM's warning signal (USR1) reaches the process, then the job is killed.

    The kill is an exception here: the run stops without any further checkpoint, as after a SIGKILL.
    """

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGUSR1)
            raise Preempted(f"killed by the scheduler after step {self.step}")


class Preempted(Exception):
    pass


class WaitForStopSignal(Callback):
    """At global step `step` (of training, or of validation's first batch with ``during="validation"``), every
    process waits until SIGTERM or SIGINT reaches it, then lets Lightning stop it; rank 0 writes `marker` when it
    starts waiting, and the test sends the signal once the marker exists. A run that finds `marker` goes on."""

    def __init__(self, step: int, marker: str, during: str = "training") -> None:
        self.step, self.marker, self.during = step, Path(marker), during
        self.armed = not self.marker.exists()

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        if self.during == "training":
            self.wait(trainer)

    def on_validation_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        if self.during == "validation" and batch_idx == 0 and not trainer.sanity_checking:
            self.wait(trainer)

    def wait(self, trainer: L.Trainer) -> None:
        if not self.armed or trainer.global_step != self.step:
            return
        self.armed = False
        # Every process is here before the signal is sent: Lightning's DDP stop (a broadcast inside rank 0's signal
        # handler, Lightning-AI/pytorch-lightning#20806) assumes the other ranks reach no other collective first.
        trainer.strategy.barrier("wait_for_stop_signal")
        if trainer.is_global_zero:
            self.marker.write_text(f"{trainer.global_step}\n")
        deadline = time.time() + 120
        while not trainer.received_sigterm and time.time() < deadline:
            time.sleep(0.05)  # Ctrl-C raises KeyboardInterrupt out of this sleep
