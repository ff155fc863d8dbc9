"""Progress reporting: a rich progress bar on a terminal, one plain log line per epoch otherwise."""

import logging
import sys

import lightning as L
from lightning.pytorch.callbacks import Callback, RichProgressBar

log = logging.getLogger(__name__)


class EpochLogLine(Callback):
    """Logs one line per epoch with the epoch's train and val metrics (for log files and batch jobs)."""

    def __init__(self, keys: tuple[str, ...] = ("train/loss", "val/loss", "val/elbo", "val/kl")) -> None:
        self.keys = keys

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        shown = " | ".join(f"{key} {float(metrics[key]):.3f}" for key in self.keys if key in metrics)
        log.info("epoch %d/%d | step %d | %s", trainer.current_epoch + 1, trainer.max_epochs, trainer.global_step, shown)


def progress_callback(interactive: bool | None = None) -> Callback:
    """RichProgressBar when stdout is a terminal, else EpochLogLine (the Trainer's own bar is then disabled)."""
    if interactive is None:
        interactive = sys.stdout.isatty()
    return RichProgressBar() if interactive else EpochLogLine()
