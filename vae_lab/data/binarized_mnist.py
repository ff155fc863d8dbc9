"""Statically binarized MNIST (Larochelle & Murray 2011): the fixed 0/1 digits literature likelihoods use.

Three text files, ``binarized_mnist_{train,valid,test}.amat`` (``.amat.gz`` accepted), of 50,000 /
10,000 / 10,000 rows of 784 space-separated zeros and ones, looked for in ``<data_dir>/binarized_mnist/``.
The official splits are kept: train, valid (our ``val``) and test. There are no labels (``y`` = -1).
"""

import gzip
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from vae_lab.config_schema import AtLeastOne
from vae_lab.data.in_memory import InMemoryDataModule, Split, unlabelled
from vae_lab.errors import DataError

FOLDER = "binarized_mnist"
FILES = {"train": "binarized_mnist_train.amat", "val": "binarized_mnist_valid.amat", "test": "binarized_mnist_test.amat"}
PIXELS = 28 * 28


class BinarizedMNISTDataModule(InMemoryDataModule):
    """The 50,000 / 10,000 / 10,000 official splits as (n, 1, 28, 28) float tensors of 0 and 1."""

    name = "binarized_mnist"

    def __init__(
        self,
        data_dir: str = "data",
        batch_size: AtLeastOne = 128,
        eval_batch_size: AtLeastOne | None = None,
        seed: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, seed, pin_memory)
        self.data_dir = Path(data_dir)

    def folder(self) -> Path:
        return self.data_dir.expanduser().absolute() / FOLDER

    def load_splits(self) -> dict[str, Split]:
        folder = self.folder()
        found = {split: locate(folder, name) for split, name in FILES.items()}
        missing = [f"{FILES[split]}[.gz]" for split, path in found.items() if path is None]
        if missing:
            raise DataError(
                f"binarized MNIST not found: {', '.join(missing)} missing in {folder}. Put the three files of "
                f"Larochelle & Murray (binarized_mnist_{{train,valid,test}}.amat, .gz accepted) there, or point "
                f"paths.data_dir (or the environment variable VAE_LAB_DATA_DIR) at the folder holding {FOLDER}/."
            )
        return {split: unlabelled(read_amat(path).view(-1, 1, 28, 28), levels=1) for split, path in found.items() if path is not None}

    def provenance(self) -> dict:
        return {"dataset": self.name, "binarization": "static (Larochelle & Murray 2011)", "folder": str(self.folder())}


def locate(folder: Path, name: str) -> Path | None:
    """`folder/name`, else `folder/name.gz`, else None."""
    return next((path for path in (folder / name, folder / f"{name}.gz") if path.is_file()), None)


def read_amat(path: Path) -> torch.Tensor:
    """One .amat[.gz] file as (rows, 784) uint8 zeros and ones; a DataError names the file and row otherwise."""
    try:
        frame = pd.read_csv(path, sep=" ", header=None, dtype=np.float32, engine="c")
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty; it should hold rows of {PIXELS} space-separated 0/1 values") from None
    except pd.errors.ParserError as error:  # pandas names the line: "Expected 784 fields in line 7, saw 785"
        raise DataError(f"{path} is malformed: {str(error).strip()}; every row must hold {PIXELS} values") from None
    except ValueError:  # a token that is not a number; pandas does not say where
        raise DataError(f"{path}: row {_first_non_numeric_row(path)} holds a value that is not a number") from None
    except (OSError, EOFError, UnicodeDecodeError, zlib.error, gzip.BadGzipFile) as error:
        raise DataError(f"{path} cannot be read ({type(error).__name__}: {error}); replace it with the original") from None
    values = frame.to_numpy()
    if values.shape[1] == PIXELS + 1 and np.isnan(values[:, -1]).all():
        values = values[:, :-1]  # a space at the end of every line
    if values.shape[1] != PIXELS:
        raise DataError(f"{path}: row 1 holds {values.shape[1]} values; every row must hold {PIXELS}")
    short = np.isnan(values).any(axis=1)
    if short.any():
        raise DataError(f"{path}: row {short.argmax() + 1} holds fewer than {PIXELS} values")
    not_binary = ((values != 0) & (values != 1)).any(axis=1)
    if not_binary.any():
        row = not_binary.argmax()
        bad = values[row][(values[row] != 0) & (values[row] != 1)][0]
        raise DataError(f"{path}: row {row + 1} holds the value {bad:g}; binarized MNIST holds only 0 and 1")
    return torch.from_numpy(values.astype(np.uint8))


def _first_non_numeric_row(path: Path) -> int:
    """The 1-based number of the first row with a token that is not a number (the slow path of errors)."""
    frame = pd.read_csv(path, sep=" ", header=None, dtype=str, engine="c", keep_default_na=False)
    numeric = frame.apply(pd.to_numeric, errors="coerce")
    bad = (numeric.isna() & (frame != "")).any(axis=1).to_numpy()
    return int(bad.argmax()) + 1
