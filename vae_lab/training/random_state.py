"""The global random generators' state in every checkpoint, so a resumed run draws the same numbers.

Training draws the reparameterization noise (and dynamic binarization) from the global generators.
Lightning does not checkpoint them: without this, a run resumed mid-epoch would continue with the
generators freshly seeded and train on different noise than the uninterrupted run. Under DDP every
process is seeded alike and draws alike, so rank 0's state (the one saved) is every rank's state.
"""

import random
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

STATE_KEY = "vae_lab_random_state"


class RandomStateInCheckpoint(Callback):
    """Saves the torch (CPU and CUDA), NumPy and Python generators' states; restores them on resume."""

    def on_save_checkpoint(self, trainer: L.Trainer, module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        checkpoint[STATE_KEY] = {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": _numpy_state_as_plain_values(),
            "python": random.getstate(),
        }

    def on_load_checkpoint(self, trainer: L.Trainer, module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get(STATE_KEY)
        if state is None:  # a checkpoint written before this callback existed
            return
        torch.set_rng_state(state["torch"])
        if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])
        name, keys, position, has_gauss, cached_gaussian = state["numpy"]
        np.random.set_state((name, np.array(keys, dtype=np.uint32), position, has_gauss, cached_gaussian))
        random.setstate(state["python"])


def _numpy_state_as_plain_values() -> list:
    """NumPy's state without NumPy types, so checkpoints load with ``torch.load(weights_only=True)``."""
    name, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    return [name, keys.tolist(), int(position), int(has_gauss), float(cached_gaussian)]
