"""Finding and reading MNIST-style IDX files (torchvision's layout).

Looked for, in order: ``<data_dir>/<Folder>/raw/<file>[.gz]`` (torchvision's layout), any extra
folders a data set names (Debian's ``/usr/share/datasets/fashion-mnist``), then a torchvision
download into ``<data_dir>`` if downloads are allowed.
"""

import gzip
import math
from pathlib import Path
from typing import BinaryIO

import torch
from torchvision.datasets import MNIST

from vae_lab.errors import DataError

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def locate(folder: Path) -> dict[str, Path] | None:
    """The four IDX files in `folder` (uncompressed or .gz), or None if any is missing."""
    found = {}
    for key, name in IDX_FILES.items():
        candidates = [folder / name, folder / f"{name}.gz"]
        existing = [path for path in candidates if path.is_file()]
        if not existing:
            return None
        found[key] = existing[0]
    return found


def resolve(dataset: type[MNIST], data_dir: Path, extra_dirs: list[Path], download: bool) -> dict[str, Path]:
    """Paths of the four IDX files of `dataset` (torchvision's MNIST or a subclass), downloading if allowed."""
    data_dir = Path(data_dir).expanduser().absolute()
    raw_dir = data_dir / dataset.__name__ / "raw"
    searched = [raw_dir, *extra_dirs]
    for folder in searched:
        found = locate(folder)
        if found:
            return found
    download_error = ""
    if download:
        try:
            dataset(root=str(data_dir), train=True, download=True)
            dataset(root=str(data_dir), train=False, download=True)
        except Exception as error:  # network errors come in many types; all mean the same to the user
            reason = " ".join(str(error).split())[:300]
            download_error = f"\nThe download into {raw_dir} failed: {reason}"
        else:
            found = locate(raw_dir)
            if found:
                return found
    names = ", ".join(f"{name}[.gz]" for name in IDX_FILES.values())
    folders = "\n  ".join(str(folder) for folder in searched)
    raise DataError(
        f"{dataset.__name__} data not found. Looked for {names} in:\n  {folders}{download_error}\n"
        f"Put the four IDX files (.gz or uncompressed) in {raw_dir}, or point paths.data_dir "
        f"(or the environment variable VAE_LAB_DATA_DIR) at a folder holding {dataset.__name__}/raw/"
        + ("" if download else ", or allow data.download=true")
        + "."
    )


UNSIGNED_BYTE = 0x08  # the IDX type code of MNIST's images and labels


def read(path: Path) -> torch.Tensor:
    """One IDX file of unsigned bytes (.gz or not): images (n, h, w) uint8, or labels (n,) long.

    Read straight into the tensor that keeps the data (one copy in memory, never a second one
    for parsing), unlike torchvision's reader, which holds the file's bytes twice on the way.
    """
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as file:
            header = file.read(4)
            if len(header) < 4 or header[:2] != b"\0\0" or header[2] != UNSIGNED_BYTE or header[3] == 0:
                raise ValueError("it does not start with the IDX header of unsigned bytes")
            dims = [int.from_bytes(file.read(4), "big") for _ in range(header[3])]
            data = torch.empty(dims, dtype=torch.uint8)
            if _read_into(file, data) < math.prod(dims) or file.read(1):  # type: ignore[arg-type]  # gzip and plain files both readinto
                raise ValueError(f"its size does not match the shape {tuple(dims)} in its header")
    except (OSError, EOFError, ValueError, RuntimeError) as error:
        raise DataError(f"{path} is not a readable IDX file ({type(error).__name__}: {error}); replace it with the original") from None
    return data.long() if data.dim() == 1 else data


def _read_into(file: BinaryIO, data: torch.Tensor) -> int:
    """Fill `data` from `file`; the number of bytes read (less than data's size if the file ends early)."""
    view = memoryview(data.numpy()).cast("B")  # type: ignore[arg-type]  # numpy arrays are buffers; its stubs do not say so
    filled = 0
    while filled < len(view):
        count = file.readinto(view[filled:])
        if not count:
            break
        filled += count
    return filled
