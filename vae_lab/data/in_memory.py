"""Splits held as tensors in memory, served as whole batches.

A batch is a dict: ``x`` (batch, *data_shape) float, ``y`` (batch,) long label (-1 where there is
none), ``index`` (batch,) row numbers in the split, ``mask`` (batch, *data_shape) bool where some
cells are missing, and ``condition`` (batch, condition_width) float for a conditional VAE
(``condition_on``: one-hot codes of the label, or of a table's condition columns). Rows are gathered
with one tensor index per batch (``__getitems__``), so there is
no per-item Python work and no worker processes to start.

Under DDP the data module shards itself (Trainer ``use_distributed_sampler=False``): training uses a
seeded per-epoch permutation split across processes (``vae_lab.data.resumable``, which also lets a run
resume in the middle of an epoch); validation and test use Lightning's UnrepeatedDistributedSampler, so
every example is evaluated exactly once and epoch means are exact. No loader draws from the global
random generator, so resuming from a checkpoint continues the random streams exactly.
"""

import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import lightning as L
import numpy as np
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset

from vae_lab.config_schema import AtLeastOne
from vae_lab.data.conditions import Conditions, ConditionVariable, condition_names
from vae_lab.data.resumable import EpochPermutationSampler, ResumableDataLoader
from vae_lab.errors import ConfigError, DataError

SPLITS = ("train", "val", "test")
MIN_TRAIN_ROWS = 2
DEVICE_SHARE = 0.25  # a split is held on the GPU when it takes at most this share of the GPU's free memory


class RowReader(Protocol):
    """What stands in for a stored tensor whose rows stay on disk: indexing reads them into a tensor."""

    device: torch.device

    @property
    def shape(self) -> torch.Size: ...
    def __len__(self) -> int: ...
    def __getitem__(self, index: torch.Tensor | slice) -> torch.Tensor: ...
    def numel(self) -> int: ...
    def element_size(self) -> int: ...
    def to(self, device: torch.device) -> "RowReader": ...


@dataclass
class Split:
    """One split, held compactly: examples (n, *data_shape), y (n,) long (-1: no label), mask bool or None,
    condition (n, condition_width) float32 or None (an unconditional model).

    stored: the examples as held in memory: float32, or uint8 levels (pixels 0..255, binarized 0/1) whose
    float value is ``stored / levels``. ``x`` converts, so a batch is converted when it is gathered and a
    split of images takes a quarter of the memory float32 would. Or a reader that stands in for such a
    tensor and reads the rows it is indexed with (``image_folder.ImageFiles``: images left on disk).
    """

    stored: torch.Tensor | RowReader
    y: torch.Tensor
    mask: torch.Tensor | None = None
    levels: int | None = None
    condition: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.stored)

    @property
    def x(self) -> torch.Tensor:
        """The examples as float32: (n, *data_shape)."""
        stored = typing.cast(torch.Tensor, self.stored)  # a RowReader is read through rows() first
        return stored if self.levels is None else stored.float().div_(self.levels)

    @property
    def data_shape(self) -> tuple[int, ...]:
        return tuple(self.stored.shape[1:])

    @property
    def in_memory(self) -> bool:
        """False when the examples stay on disk and are read when indexed (``ImageFiles``)."""
        return isinstance(self.stored, torch.Tensor)

    @property
    def nbytes(self) -> int:
        tensors = (t for t in (self.stored, self.y, self.mask, self.condition) if t is not None)
        return sum(t.numel() * t.element_size() for t in tensors)

    def to(self, device: torch.device) -> "Split":
        return Split(self.stored.to(device), self.y.to(device), _to(self.mask, device), self.levels, _to(self.condition, device))

    def rows(self, index: torch.Tensor | slice) -> "Split":
        return Split(self.stored[index], self.y[index], _rows(self.mask, index), self.levels, _rows(self.condition, index))

    def batches(self, size: int) -> Iterator[tuple[torch.Tensor, "Split"]]:
        """(index (batch,), the rows at index) over the split in order, `size` rows at a time."""
        for start in range(0, len(self), size):
            index = torch.arange(start, min(start + size, len(self)))
            yield index, self.rows(index)

    def x_batches(self, size: int) -> Iterator[torch.Tensor]:
        """The examples in order as float32 batches of `size` rows, converting one batch at a time."""
        for start in range(0, len(self), size):
            yield self.rows(slice(start, start + size)).x


def _to(tensor: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if tensor is None else tensor.to(device)


def _rows(tensor: torch.Tensor | None, index: torch.Tensor | slice) -> torch.Tensor | None:
    return None if tensor is None else tensor[index]


def unlabelled(x: torch.Tensor, levels: int | None = None) -> Split:
    return Split(x, torch.full((len(x),), -1, dtype=torch.long), levels=levels)


class SplitDataset(Dataset):
    """A split whose batches are gathered in one indexing operation; ``transform`` acts on a batch's x.

    repeats: how many times each row occurs in one pass (an epoch of a small table is several passes,
    each row once per pass on average, in one seeded order); ``index`` stays the row number in the split.
    """

    def __init__(self, split: Split, transform: Callable[[torch.Tensor], torch.Tensor] | None = None, repeats: int = 1) -> None:
        self.split = split
        self.transform = transform
        self.repeats = repeats

    def __len__(self) -> int:
        return len(self.split) * self.repeats

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        index = torch.as_tensor(indices, dtype=torch.long) % len(self.split)
        rows = self.split.rows(index)
        batch = {"x": rows.x if self.transform is None else self.transform(rows.x), "y": rows.y, "index": index}
        if rows.mask is not None:
            batch["mask"] = rows.mask
        if rows.condition is not None:
            batch["condition"] = rows.condition
        return batch

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        """Row `i` as a batch of one."""
        return self.__getitems__([i])


def keep_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """collate_fn for SplitDataset: the batch is already assembled."""
    return batch


def carve_split(split: Split, size: int | float, seed: int) -> tuple[Split, Split]:
    """Split off `size` rows (a count, or a fraction in (0, 1)) at random with `seed`; returns (rest, carved)."""
    n = len(split)
    count = round(size * n) if isinstance(size, float) and 0 < size < 1 else int(size)
    if not 0 < count < n:
        raise ConfigError(f"a held-out size of {size} is not possible with {n} rows; use a count in 1..{n - 1} or a fraction in (0, 1)")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return split.rows(order[count:].sort().values), split.rows(order[:count].sort().values)


def split_counts(n: int, val_size: int | float, test_size: int | float) -> tuple[int, int]:
    """(test, val) row counts of n rows: sizes are fractions of all n rows, or counts."""
    test, val = (round(size * n) if isinstance(size, float) and 0 < size < 1 else int(size) for size in (test_size, val_size))
    return test, val


def split_rows(n: int, val_size: int | float, test_size: int | float, seed: int, source: str = "the table") -> dict[str, np.ndarray]:
    """Sorted row numbers of train, val and test: sizes are fractions of all n rows, or counts.

    A table too small for the splits (each needs a row, training two) is one message with the minimum.
    """
    counts = split_counts(n, val_size, test_size)
    if min(counts) < 1 or n - sum(counts) < MIN_TRAIN_ROWS:
        needed = next(m for m in range(3, 10**7) if min(split_counts(m, val_size, test_size)) >= 1
                      and m - sum(split_counts(m, val_size, test_size)) >= MIN_TRAIN_ROWS)  # fmt: skip
        raise DataError(
            f"{source} has {n} row(s), too few for the splits data.val_size={val_size} and data.test_size={test_size}: "
            f"they need at least {needed} rows ({MIN_TRAIN_ROWS} to train on and 1 each to validate and test); "
            f"add rows, or give the sizes as counts (e.g. data.val_size=1 data.test_size=1)"
        )
    everything = Split(torch.arange(n), torch.arange(n))
    rest, test = carve_split(everything, counts[0], seed)
    train, val = carve_split(rest, counts[1], seed + 1)
    return {"train": train.x.numpy(), "val": val.x.numpy(), "test": test.x.numpy()}


def held_out_splits(rows: Split, val_size: int | float, test_size: int | float, seed: int, source: str) -> dict[str, Split]:
    """``train``, ``val`` and ``test`` drawn from one set of rows as ``split_rows`` draws them."""
    return {name: rows.rows(torch.from_numpy(index)) for name, index in split_rows(len(rows), val_size, test_size, seed, source).items()}


class InMemoryDataModule(L.LightningDataModule):
    """Base class: subclasses implement ``load_splits`` (and may override ``train_transform``)."""

    name = "in_memory"
    # What `vae-lab sample` writes unless sample.mode says: "mean" (E[x|z], as images are usually
    # shown) or "sample" (draws x ~ p(x|z), what synthetic tables need).
    default_sample_mode = "mean"

    def __init__(self, batch_size: AtLeastOne = 128, eval_batch_size: AtLeastOne | None = None, seed: int = 0, pin_memory: bool = False) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.seed = seed
        self.pin_memory = pin_memory
        self.splits: dict[str, Split] | None = None
        self.on_device: dict[str, Split] = {}
        self.condition_names: list[str] = []
        self.conditions: Conditions | None = None

    def condition_on(self, spec: str | list[str] | None) -> None:
        """Serve ``condition`` in every batch, for a conditional VAE: ``model.condition`` (None: no condition).
        Called before the data is loaded. Here the label is the only condition (``label``)."""
        self.condition_names = condition_names(spec)
        if self.condition_names and self.condition_names != ["label"]:
            raise ConfigError(
                f"model.condition={spec}: data={self.name} can condition on its label only (model.condition=label); "
                "tables condition on their columns (data=csv)"
            )

    def load_splits(self) -> dict[str, Split]:
        """Read the data and return the ``train``, ``val`` and ``test`` splits."""
        raise NotImplementedError

    def train_transform(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """A transform applied to every training batch (e.g. dynamic binarization); None by default."""
        return None

    def provenance(self) -> dict[str, Any]:
        """What an evaluation records about the data: the data set, and how it was prepared."""
        return {"dataset": self.name}

    def setup(self, stage: str | None = None) -> None:
        if self.splits is None:
            self.splits = self.with_conditions(self.load_splits())

    def with_conditions(self, splits: dict[str, Split]) -> dict[str, Split]:
        """The splits with their label's one-hot codes as ``condition`` when the model is conditioned on it;
        the label's values are those of the training labels (or the restored ones)."""
        if not self.condition_names:
            return splits
        if self.conditions is None:
            labels = splits["train"].y
            classes = labels[labels >= 0].unique()
            if len(classes) < 2:
                raise DataError(
                    f"model.condition=label, but the training images of data={self.name} have {len(classes)} label value(s); "
                    "a condition needs labelled examples of at least two classes (class subfolders for data=image_folder)"
                )
            names = self.label_names() or [str(code) for code in range(int(classes.max()) + 1)]
            self.conditions = Conditions([ConditionVariable("label", names)])
        label = self.conditions.variables[0]
        result = {}
        for name, split in splits.items():
            codes = torch.where(split.y < len(label.values), split.y, -1)[:, None]
            result[name] = Split(split.stored, split.y, split.mask, split.levels, self.conditions.one_hot(codes))
        return result

    def label_names(self) -> list[str]:
        """The name of each label value, in code order, for conditions asked by name (class folders); none by default."""
        return []

    def draw_conditions(self, count: int, seed: int) -> torch.Tensor | None:
        """Conditions (count, width) drawn at random from the training rows, for samples that ask none
        (a conditional VAE samples p(x) = sum_c p(c) p(x|c)); None for an unconditional model."""
        if self.conditions is None:
            return None
        train = self.split("train").condition
        assert train is not None
        return train[torch.randint(len(train), (count,), generator=torch.Generator().manual_seed(seed))]

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint needs to rebuild this data's encoding: the condition's values."""
        return {} if self.conditions is None else {"conditions": self.conditions.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if "conditions" in state_dict:
            self.conditions = Conditions.from_state_dict(state_dict["conditions"])

    def split(self, name: str) -> Split:
        """The split called `name` (``train``, ``val`` or ``test``), loading the data if needed."""
        if name not in SPLITS:
            raise ConfigError(f"unknown split '{name}'; choose one of: {', '.join(SPLITS)}")
        self.setup()
        return self.splits[name]

    @property
    def data_shape(self) -> tuple[int, ...]:
        return self.split("train").data_shape

    @property
    def condition_dim(self) -> int:
        """The width of the condition vectors (``condition_on``); 0 for an unconditional model."""
        self.setup()
        return 0 if self.conditions is None else self.conditions.width

    def feature_names(self) -> list[str]:
        """Names of the features of vector data, x: (n, features), for plots: ``x0, x1, ...`` by default."""
        return [f"x{i}" for i in range(self.data_shape[-1])]

    def likelihood_kwargs(self) -> dict[str, Any]:
        """Extra arguments the likelihood needs to model this data (e.g. a table's column layout); none by default."""
        return {}

    def loader_workers(self) -> int:
        """Worker processes that gather batches: none for splits held in memory (one tensor index per batch)."""
        return 0

    def train_repeats(self) -> int:
        """How many passes over the training rows make one epoch; 1 by default."""
        return 1

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, shuffle=True, transform=self.train_transform(), repeats=self.train_repeats())

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, shuffle=False)

    def dataloader(self, split: str, batch_size: int | None = None) -> DataLoader:
        """An unshuffled loader over any split, for evaluation outside the Trainer."""
        return self._loader(split, batch_size or self.eval_batch_size, shuffle=False)

    def served_split(self, name: str) -> Split:
        """The split the Trainer's loaders gather batches from: on a GPU, a copy held there (made once,
        when it fits), so a batch is gathered where it is used and no batch is copied from the host.
        Everything else (evaluation, pictures, fidelity) reads the split in host memory."""
        split = self.split(name)
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        if device.type != "cuda":
            return split
        if name not in self.on_device:
            free, _ = torch.cuda.mem_get_info(device)
            self.on_device[name] = split.to(device) if fits_on_device(split.nbytes, free) else split
        return self.on_device[name]

    def _loader(self, split: str, batch_size: int, shuffle: bool, transform=None, repeats: int = 1) -> DataLoader:
        dataset = SplitDataset(self.served_split(split), transform, repeats)
        trainer = self.trainer
        replicas, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        # The loader's own generator: creating an iterator then never consumes the global random stream.
        pin_memory = self.pin_memory and dataset.split.stored.device.type == "cpu"  # a split on the GPU needs no pinning
        common: dict[str, Any] = {"collate_fn": keep_batch, "pin_memory": pin_memory, "generator": torch.Generator().manual_seed(self.seed)}
        workers = self.loader_workers()
        if workers:
            common |= {"num_workers": workers, "persistent_workers": True}
        if shuffle:
            sampler = EpochPermutationSampler(dataset, replicas, rank, seed=self.seed)
            return ResumableDataLoader(dataset, batch_size, sampler, **common)
        in_order = UnrepeatedDistributedSampler(dataset, replicas, rank, shuffle=False) if replicas > 1 else None
        return DataLoader(dataset, batch_size=batch_size, sampler=in_order, **common)


def fits_on_device(nbytes: int, free_bytes: int) -> bool:
    """Whether a split of `nbytes` is held on a GPU with `free_bytes` free (at most DEVICE_SHARE of them)."""
    return nbytes <= DEVICE_SHARE * free_bytes
