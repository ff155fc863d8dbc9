"""Training throughput: examples per second over the training batches of the whole fit."""

import time

import lightning as L
from lightning.pytorch.callbacks import Callback


class TrainingThroughput(Callback):
    """Counts training examples and the wall time spent in training epochs (validation excluded)."""

    def __init__(self) -> None:
        self.examples = 0
        self.seconds = 0.0
        self._epoch_start = 0.0
        self._last_batch_end = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._epoch_start = self._last_batch_end = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        self.examples += len(batch["x"]) * trainer.world_size
        self._last_batch_end = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.seconds += self._last_batch_end - self._epoch_start

    @property
    def examples_per_second(self) -> float:
        return self.examples / self.seconds if self.seconds > 0 else float("nan")
