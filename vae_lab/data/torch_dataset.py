"""Any torch Dataset: ``data=dataset data.dataset._target_=package.module.MyDataset`` (its arguments as
``+data.dataset.NAME=VALUE``).

Item i is a tensor x_i or a pair (x_i, label_i), every x_i of one shape. The items are read once, in
order, into one tensor, then served like every other data set here: split at random into train, val and
test (``val_size``, ``test_size``, with ``seed``), in our seeded, resumable, DDP-sharded order.
uint8 items are taken as 8-bit pixels (served as value / 255), anything else as float32.
A data set larger than memory belongs in ``data=image_folder`` (files read per batch).
"""

from typing import Any

import torch
from torch.utils.data import Dataset

from vae_lab.config_schema import AtLeastOne, HeldOutSize
from vae_lab.data.arrays import as_stored
from vae_lab.data.in_memory import InMemoryDataModule, Split, held_out_splits
from vae_lab.errors import DataError


class DatasetDataModule(InMemoryDataModule):
    """The items of a user's Dataset, held in memory and split into train, val and test."""

    name = "dataset"

    def __init__(
        self,
        dataset: Dataset,
        val_size: HeldOutSize = 0.1,
        test_size: HeldOutSize = 0.1,
        batch_size: AtLeastOne = 128,
        eval_batch_size: AtLeastOne | None = None,
        seed: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, seed, pin_memory)
        self.dataset = dataset
        self.val_size = val_size
        self.test_size = test_size

    @property
    def dataset_name(self) -> str:
        return f"{type(self.dataset).__module__}.{type(self.dataset).__qualname__}"

    def load_splits(self) -> dict[str, Split]:
        try:
            count = len(self.dataset)  # type: ignore[arg-type]  # a map-style Dataset has __len__ (refused below if not)
        except TypeError:
            raise DataError(f"data.dataset ({self.dataset_name}) has no len(); use a map-style torch Dataset (__len__ and __getitem__)") from None
        if count == 0:
            raise DataError(f"data.dataset ({self.dataset_name}) is empty")
        examples, labels = zip(*(self.item(i) for i in range(count)))
        shapes = {tuple(x.shape) for x in examples}
        if len(shapes) > 1:
            shown = ", ".join(map(str, sorted(shapes)[:3]))
            raise DataError(f"data.dataset ({self.dataset_name}) returns tensors of different shapes ({shown}); make every item one shape")
        stored, levels = as_stored(torch.stack(examples), self.dataset_name)
        everything = Split(stored, torch.tensor(labels, dtype=torch.long), levels=levels)
        return held_out_splits(everything, self.val_size, self.test_size, self.seed, f"data.dataset ({self.dataset_name})")

    def item(self, i: int) -> tuple[torch.Tensor, int]:
        """Item i as (x, label); label -1 when the data set gives none."""
        item: Any = self.dataset[i]
        x, label = (item[0], item[1]) if isinstance(item, (tuple, list)) and len(item) == 2 else (item, -1)
        if not isinstance(x, torch.Tensor):
            raise DataError(
                f"data.dataset ({self.dataset_name}) returned a {type(x).__module__}.{type(x).__qualname__} for item {i}; "
                "it must return a tensor or (tensor, label) (for images: add transform=ToTensor() or PILToTensor())"
            )
        if isinstance(label, torch.Tensor):
            label = label.item() if label.numel() == 1 else None
        if not isinstance(label, int) or isinstance(label, bool):
            raise DataError(f"data.dataset ({self.dataset_name}) returned the label {label!r} for item {i}; labels must be integers")
        return x, label

    def provenance(self) -> dict[str, Any]:
        return {"dataset": self.dataset_name}
