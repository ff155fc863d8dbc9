"""Finding and reading MNIST-style IDX files (torchvision's layout and parser).

Looked for, in order: ``<data_dir>/<Folder>/raw/<file>[.gz]`` (torchvision's layout), any extra
folders a data set names (Debian's ``/usr/share/datasets/fashion-mnist``), then a torchvision
download into ``<data_dir>`` if downloads are allowed.
"""

import gzip
import shutil
import tempfile
from pathlib import Path

import torch
from torchvision.datasets import MNIST
from torchvision.datasets.mnist import read_image_file, read_label_file

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


def resolve(
    dataset: type[MNIST], data_dir: Path, extra_dirs: list[Path], download: bool
) -> dict[str, Path]:
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


def read(path: Path) -> torch.Tensor:
    """Parse one IDX file (.gz or not) with torchvision's parser: images (n, h, w) uint8 or labels (n,) long."""
    reader = read_image_file if "images" in path.name else read_label_file
    try:
        if path.suffix != ".gz":
            return reader(str(path))
        with tempfile.TemporaryDirectory() as tmp:
            plain = Path(tmp) / path.stem
            with gzip.open(path, "rb") as source, open(plain, "wb") as target:
                shutil.copyfileobj(source, target)
            return reader(str(plain))
    except (OSError, EOFError, AssertionError, TypeError, ValueError, RuntimeError) as error:
        raise DataError(f"{path} is not a readable IDX file ({type(error).__name__}: {error}); replace it with the original") from None
