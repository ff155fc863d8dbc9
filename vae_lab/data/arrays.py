"""A user's own array: ``data=array data.path=FILE`` for ``.npy``, ``.npz`` and ``.pt`` files.

The file holds examples of shape (n, *data_shape): vectors (n, features) or images (n, channels,
height, width). ``.npz`` files name the array (``data.key``, default: the only one or ``x``) and may hold
labels (``data.labels_key``); a ``.pt`` file holds a tensor, or a dict read like an ``.npz``.
uint8 arrays are taken as 8-bit pixels: held as uint8 and served as ``value / 255`` in [0, 1];
anything else is served as float32. Rows are split at random into train, val and test (``val_size``,
``test_size``, with ``seed``).
"""

from pathlib import Path
from typing import Any

import numpy as np
import torch

from vae_lab.config_schema import AtLeastOne, HeldOutSize
from vae_lab.data.in_memory import InMemoryDataModule, Split, held_out_splits
from vae_lab.errors import ConfigError, DataError

SUFFIXES = (".npy", ".npz", ".pt")


class ArrayDataModule(InMemoryDataModule):
    """Examples from one array file, split into train, val and test."""

    name = "array"

    def __init__(
        self,
        path: str,
        key: str | None = None,
        labels_key: str | None = None,
        val_size: HeldOutSize = 0.1,
        test_size: HeldOutSize = 0.1,
        batch_size: AtLeastOne = 128,
        eval_batch_size: AtLeastOne | None = None,
        seed: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, seed, pin_memory)
        self.path = Path(path).expanduser()
        self.key, self.labels_key = key, labels_key
        self.val_size = val_size
        self.test_size = test_size

    def load_splits(self) -> dict[str, Split]:
        examples, labels = read_arrays(self.path, self.key, self.labels_key)
        if examples.ndim < 2:
            raise DataError(
                f"{self.path}: the array has shape {tuple(examples.shape)}, but examples need shape (n, *data_shape), "
                "e.g. (n, features) or (n, channels, height, width); reshape it (a single vector: x[None])"
            )
        if labels is not None and labels.shape != (len(examples),):
            raise DataError(f"{self.path}: labels '{self.labels_key}' have shape {tuple(labels.shape)}, expected ({len(examples)},), one per example")
        stored, levels = as_stored(examples, self.path)
        y = torch.full((len(stored),), -1, dtype=torch.long) if labels is None else torch.as_tensor(labels).long()
        return held_out_splits(Split(stored, y, levels=levels), self.val_size, self.test_size, self.seed, str(self.path))

    def provenance(self) -> dict[str, Any]:
        return {"dataset": self.name, "path": str(self.path), "key": self.key}


def read_arrays(path: Path, key: str | None, labels_key: str | None) -> tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor | None]:
    """(examples, labels or None) from an .npy, .npz or .pt file; a DataError says what is wrong with it."""
    if path.suffix not in SUFFIXES:
        raise DataError(f"data.path={path}: use an .npy, .npz or .pt file (got '{path.suffix or 'no suffix'}')")
    if not path.is_file():
        raise DataError(f"data.path={path} does not exist; pass data.path=FILE (.npy, .npz or .pt)")
    try:
        content: Any = torch.load(path, map_location="cpu", weights_only=True) if path.suffix == ".pt" else np.load(path, allow_pickle=False)
    except Exception as error:  # numpy and torch raise many types for truncated or foreign files
        raise DataError(f"{path} cannot be read as {path.suffix} ({type(error).__name__}: {error}); it may be truncated or another format") from None
    if isinstance(content, (np.ndarray, torch.Tensor)):
        if labels_key is not None:
            raise ConfigError(f"data.labels_key={labels_key} but {path} holds one array; labels need an .npz or a dict in a .pt file")
        return content, None
    if not hasattr(content, "keys"):
        raise DataError(f"{path} holds a {type(content).__name__}; expected an array, or named arrays (.npz, or a dict of tensors)")
    names = list(content.keys())
    chosen = key or (names[0] if len(names) == 1 else "x" if "x" in names else None)
    for role, name in (("data.key", chosen), ("data.labels_key", labels_key)):
        if name is not None and name not in names:
            raise ConfigError(f"{role}={name} is not in {path}; it holds {', '.join(names)}")
    if chosen is None:
        raise ConfigError(f"{path} holds several arrays ({', '.join(names)}); choose the examples with data.key=NAME")
    return content[chosen], None if labels_key is None else content[labels_key]


def as_stored(examples: np.ndarray | torch.Tensor, source: Path | str) -> tuple[torch.Tensor, int | None]:
    """The examples as held in memory, with their levels: uint8 (levels 255) as they are, numbers as float32."""
    tensor = torch.as_tensor(np.asarray(examples)) if isinstance(examples, np.ndarray) else examples
    if tensor.dtype == torch.uint8:
        return tensor.contiguous(), 255
    if not (tensor.dtype.is_floating_point or tensor.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.bool)):
        raise DataError(f"{source}: the examples have dtype {tensor.dtype}; use numbers (float or integer)")
    return tensor.float().contiguous(), None
