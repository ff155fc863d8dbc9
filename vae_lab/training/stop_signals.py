"""Stop signals: SIGTERM (a scheduler, ``docker stop``, Kubernetes) or SIGINT (Ctrl-C) saves the step reached, then stops.

Lightning finishes the batch in flight, then raises ``SIGTERMException`` (under DDP in every process at the
same step: rank 0 passes the signal on and broadcasts it) or ``KeyboardInterrupt``, and calls each callback's
``on_exception``. There ``CheckpointOnStop`` writes ``last.ckpt`` at the current step (rank 0 writes; every
process takes part in the save's barrier), unless the step checkpoint of this very step is already written.
The run then ends with ``RunInterrupted`` (``vae_lab.commands.train``): exit status 128 + the signal's number,
``status: interrupted`` in results.json. Running the same command again resumes from that checkpoint.
"""

import signal
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException


class CheckpointOnStop(Callback):
    """On SIGTERM or SIGINT, write the checkpoint `path` at the current step; ``signal_number`` says which signal came."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.signal_number: int | None = None

    def on_exception(self, trainer: L.Trainer, module: L.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException):
            self.signal_number = signal.SIGTERM
        elif isinstance(exception, KeyboardInterrupt):
            self.signal_number = signal.SIGINT
        else:
            return
        if trainer.global_step > 0 and not self.step_is_saved(trainer):
            trainer.save_checkpoint(self.path, weights_only=False)  # the whole training state, not the weights alone

    def step_is_saved(self, trainer: L.Trainer) -> bool:
        """Whether ``self.path`` already holds this step (written by the step checkpoint just before the signal)."""
        if not self.path.is_file():
            return False
        saved: dict[str, Any] = torch.load(self.path, map_location="cpu", weights_only=True, mmap=True)
        return saved.get("global_step") == trainer.global_step
