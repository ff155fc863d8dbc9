"""Checkpoints written so that a kill during the write never leaves only a corrupt file.

Lightning's ``TorchCheckpointIO`` writes through an fsspec transaction whose temporary file lives in
``/tmp`` and is moved into place with ``shutil.move``: across filesystems (``/tmp`` on local disk, runs
on a cluster's shared filesystem) that move is a copy, so a kill mid-copy truncates ``last.ckpt``.
``AtomicCheckpointIO`` writes a temporary file beside the checkpoint, fsyncs it and renames it
(``vae_lab.atomic_files``). Remote paths (``s3://``, ...) keep Lightning's behaviour.
Checkpoints are read back (resume, testing the best one) with ``weights_only=True``: a file never runs code.
"""

import os
from typing import Any

import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.plugins.io import TorchCheckpointIO

from vae_lab.atomic_files import replace_atomically
from vae_lab.training.checkpoint_format import CONFIG_KEY, FORMAT_KEY, upgraded


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` with same-directory temporary file, fsync and ``os.replace`` for local paths."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        if storage_options is not None or not isinstance(get_filesystem(path), LocalFileSystem):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        replace_atomically(os.fspath(path), lambda file: torch.save(checkpoint, file))

    def load_checkpoint(self, path: _PATH, *map_location: Any, **options: Any) -> dict[str, Any]:
        """The checkpoint, unpickled with ``weights_only`` (nothing in it runs), in the current format (``upgraded``)."""
        checkpoint = super().load_checkpoint(path, *map_location, **(options | {"weights_only": True}))
        return upgraded(checkpoint) if checkpoint.get(FORMAT_KEY, 1) == 1 and CONFIG_KEY in checkpoint else checkpoint
