"""Progress reporting: a rich progress bar on a terminal, one plain log line per epoch otherwise."""

import logging
import sys

import lightning as L
from lightning.pytorch.callbacks import Callback, RichProgressBar

log = logging.getLogger(__name__)


class ModelSizeLine(Callback):
    """Logs, when fitting starts, one line with the trainable parameters of the model and of its parts."""

    def on_fit_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            log.info("model: %s", model_size(module))


class EpochLogLine(ModelSizeLine):
    """Logs one line per epoch with the epoch's train and val metrics (for log files and batch jobs)."""

    def __init__(self, keys: tuple[str, ...] = ("train/loss", "val/loss", "val/elbo", "val/kl")) -> None:
        self.keys = keys

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        shown = " | ".join(f"{key} {float(metrics[key]):.3f}" for key in self.keys if key in metrics)
        log.info("epoch %d/%d | step %d | %s", trainer.current_epoch + 1, trainer.max_epochs, trainer.global_step, shown)


class RichProgressBarAndSize(RichProgressBar, ModelSizeLine):
    """The rich progress bar, and the model's size once."""


def model_size(module: L.LightningModule) -> str:
    """'652 K trainable parameters (encoder 330 K, decoder 322 K)': the parts are the children of ``module.vae``."""

    def count(part) -> int:
        return sum(p.numel() for p in part.parameters() if p.requires_grad)

    parts = ", ".join(f"{name} {_short(count(child))}" for name, child in module.vae.named_children() if count(child))
    return f"{_short(count(module))} trainable parameters ({parts})"


def _short(number: int) -> str:
    for size, unit in ((10**9, "G"), (10**6, "M"), (10**3, "K")):
        if number >= size:
            return f"{number / size:.3g} {unit}"
    return str(number)


def progress_callback(interactive: bool | None = None) -> Callback:
    """RichProgressBar when stdout is a terminal, else EpochLogLine (the Trainer's own bar is then disabled);
    either also logs the model's size when fitting starts."""
    if interactive is None:
        interactive = sys.stdout.isatty()
    return RichProgressBarAndSize() if interactive else EpochLogLine()
