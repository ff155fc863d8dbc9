"""The files ``vae-lab sample`` writes: what the samples are decides their form.

A table model's rows: a table in the training file's columns and format (``TableDialect``: ``samples.csv``,
``samples.csv.gz``, ``samples.parquet``; `output` itself if it names a table suffix). Anything else: the tensor as
``<output>.pt``, and images (channels 1 or 3) also as a PNG grid, square or a row per label when the samples come
label by label (``condition.label=all``).
"""

import math
from pathlib import Path

import torch
from torchvision.utils import save_image

from vae_lab.atomic_files import replace_atomically
from vae_lab.data.csv_table import CSVDataModule
from vae_lab.data.in_memory import InMemoryDataModule
from vae_lab.data.table_files import write_table


def write_samples(datamodule: InMemoryDataModule, x: torch.Tensor, output: str | Path, given: dict[str, list[str]] | None = None) -> list[Path]:
    """Write samples x: (n, *data_shape) of `datamodule`'s model to files named from `output` (a path without suffix);
    `given`: the conditions they were drawn with, each variable's n values by name. Returns the paths written."""
    if isinstance(datamodule, CSVDataModule):
        path = datamodule.dialect.output(Path(output))
        return [write_table(datamodule.to_frame(x, given), path, datamodule.dialect)]
    tensor = Path(f"{output}.pt")
    replace_atomically(tensor, lambda file: torch.save(x.detach().cpu(), file))
    if x.dim() != 4 or x.shape[1] not in (1, 3):  # not images a PNG can show
        return [tensor]
    grid = Path(f"{output}.png")
    nrow = row_length(len(x), (given or {}).get("label"))
    replace_atomically(grid, lambda file: save_image(x.detach().cpu(), file, format="png", nrow=nrow, padding=1))  # clamps to [0, 1]
    return [tensor, grid]


def row_length(count: int, labels: list[str] | None) -> int:
    """Images per grid row: the length of the first run of equal labels when the labels come in equal runs
    (``condition.label=all``), else a square grid."""
    if labels:
        run = next((i for i, label in enumerate(labels) if label != labels[0]), len(labels))
        if count % run == 0 and all(labels[i] == labels[i - i % run] for i in range(count)) and run < count:
            return run
    return math.ceil(math.sqrt(count))
