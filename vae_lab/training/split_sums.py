"""Whole-split sums while training, and the one way vae_lab reduces them across DDP processes.

The callbacks that measure a whole split (``val/log_likelihood``, the per-column losses, the collapse
monitor's latent usage) all call ``split_sums``: each process walks its own rows of the split (rows
rank, rank + world_size, ...) in batches (``Split.batches``), adds up per-example values in float64, and
the sums are all-reduced (``trainer.strategy.reduce``, a sum). Every example's noise is its own
(``evaluation.example_noise``), so the result equals one process's pass over the whole split, for any
number of processes, and every process holds it afterwards. The training plan's ``val/*`` and ``test/*``
are the same kind of sums, kept by torchmetrics' ``MeanMetric`` over Lightning's distributed sampler.
"""

from collections.abc import Callable

import lightning as L
import torch

from vae_lab.data.in_memory import Split

BatchSums = Callable[[torch.Tensor, Split], dict[str, torch.Tensor]]


def split_sums(trainer: L.Trainer, split: Split, batch_size: int, batch_sums: BatchSums, device: torch.device) -> dict[str, torch.Tensor]:
    """Sum `batch_sums(index, rows)` (index (batch,) row numbers in `split`, rows on `device`) over every row of
    `split`, across all processes: {name: float64 sum}. Every process must call it (it all-reduces)."""
    rank, world_size = trainer.global_rank, trainer.world_size
    own = split.rows(torch.arange(rank, len(split), world_size))
    totals: dict[str, torch.Tensor] = {}
    for position, rows in own.batches(batch_size):
        index = rank + world_size * position  # the rows' numbers in the whole split
        for name, value in batch_sums(index, rows.to(device)).items():
            totals[name] = totals.get(name, 0) + value.double()
    if not totals:  # a process without rows still takes part in the reduction
        totals = {name: torch.zeros_like(value.double()) for name, value in batch_sums(torch.arange(0), split.rows(slice(0, 1)).to(device)).items()}
    return {name: trainer.strategy.reduce(total.to(device), reduce_op="sum") for name, total in totals.items()}
