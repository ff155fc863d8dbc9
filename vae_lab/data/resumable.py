"""A training order that survives a restart in the middle of an epoch.

The order of epoch ``e`` is a pure function of (seed, e): a seeded permutation, split across DDP
processes as torch's ``DistributedSampler`` splits it (one process: the whole permutation). The
training loader is *stateful* in Lightning's sense (``state_dict`` / ``load_state_dict``): every
checkpoint stores how many batches of which epoch were delivered, and a run resumed from a mid-epoch
checkpoint skips exactly those batches instead of restarting the epoch from its first batch.
"""

from collections.abc import Iterator
from typing import Any

from torch.utils.data import DataLoader, Dataset, DistributedSampler


class EpochPermutationSampler(DistributedSampler):
    """This process's share of a seeded permutation that changes every epoch (``set_epoch``).

    ``start_at(epoch, position)`` makes the next iteration over `epoch` begin at `position` (a count of
    this process's indices); it applies once, and only if the sampler is then at that epoch.
    """

    def __init__(self, dataset: Dataset, num_replicas: int = 1, rank: int = 0, seed: int = 0, shuffle: bool = True) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed)
        self._start: tuple[int, int] | None = None

    def start_at(self, epoch: int, position: int) -> None:
        self._start = (epoch, position)

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        start, self._start = self._start, None
        if start is not None and start[0] == self.epoch:
            indices = indices[start[1] :]
        return iter(indices)


class ResumableDataLoader(DataLoader):
    """A DataLoader over an ``EpochPermutationSampler`` whose position Lightning saves in checkpoints.

    state: ``{"epoch": e, "batches": k}``, k batches of epoch e delivered so far.
    """

    sampler: EpochPermutationSampler

    def __init__(self, dataset: Dataset, batch_size: int, sampler: EpochPermutationSampler, **kwargs: Any) -> None:
        super().__init__(dataset, batch_size=batch_size, sampler=sampler, **kwargs)
        self.position = {"epoch": -1, "batches": 0}
        self._resume: dict[str, int] | None = None

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]  # a generator over the loader's own iterator
        # A generator: the epoch is read when the first batch is requested, after Lightning's set_epoch.
        epoch = self.sampler.epoch
        resume, self._resume = self._resume, None
        skipped = resume["batches"] if resume is not None and resume["epoch"] == epoch else 0
        self.sampler.start_at(epoch, skipped * self.batch_size)
        self.position = {"epoch": epoch, "batches": skipped}
        for batch in super().__iter__():
            self.position["batches"] += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return dict(self.position)

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._resume = {"epoch": int(state["epoch"]), "batches": int(state["batches"])}
