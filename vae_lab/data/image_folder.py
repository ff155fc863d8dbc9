"""A user's own images: ``data=image_folder data.path=DIR`` (PNG, JPEG and every format Pillow reads).

Layout as torchvision's ImageFolder: one subfolder per class gives labels (classes in sorted order);
a flat folder gives none. ``image_size`` resizes the shorter side and center-crops to a square;
without it every image must have the same size. ``channels``: 1 (grey) or 3 (RGB). One-channel images
take MNIST's pixel modes (grey, dynamic, static binarization); RGB pixels are grey levels in [0, 1].

``in_memory``: ``true`` decodes every image once and holds them as uint8 (a quarter of float32);
``false`` reads each batch's images from disk (``ImageFiles``) in ``num_workers`` worker processes,
with the same seeded order, mid-epoch resume and DDP sharding, so a folder larger than memory trains
in bounded memory; ``auto`` holds them in memory when they take at most ``memory_budget_mb``
(null: half of the memory available when the data is loaded).
"""

import logging
import os
from pathlib import Path
from typing import Any, Literal

import torch
from PIL import Image, UnidentifiedImageError
from torchvision.datasets.folder import IMG_EXTENSIONS
from torchvision.transforms.functional import center_crop, pil_to_tensor, resize

from vae_lab.config_schema import AtLeastOne, HeldOutSize, NonNegativeInt, Positive
from vae_lab.data.images import PixelMode, apply_pixel_mode
from vae_lab.data.in_memory import InMemoryDataModule, Split, split_rows
from vae_lab.errors import ConfigError, DataError

log = logging.getLogger(__name__)
PIL_MODES = {1: "L", 3: "RGB"}


class ImageFiles:
    """Images read from their files when indexed: a stand-in for a uint8 tensor (n, channels, height,
    width) that holds only the paths. ``files[index]`` (a LongTensor, a slice or an int) reads and
    decodes those images into a real uint8 tensor; ``subset(index)`` is another ImageFiles."""

    dtype = torch.uint8
    device = torch.device("cpu")

    def __init__(self, paths: list[Path], image_shape: tuple[int, int, int], image_size: int | None) -> None:
        self.paths, self.image_shape, self.image_size = paths, image_shape, image_size

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.paths), *self.image_shape))

    def numel(self) -> int:
        """Elements held in memory: none, the images stay on disk."""
        return 0

    def element_size(self) -> int:
        return 1

    def to(self, device: torch.device) -> "ImageFiles":
        """Files stay on disk: each batch is read where the loader runs."""
        return self

    def subset(self, index: torch.Tensor) -> "ImageFiles":
        return ImageFiles([self.paths[i] for i in index.tolist()], self.image_shape, self.image_size)

    def __getitem__(self, index: torch.Tensor | slice | int) -> torch.Tensor:
        if isinstance(index, int):
            return self[torch.tensor([index])][0]
        positions = range(len(self.paths))[index] if isinstance(index, slice) else index.tolist()
        return torch.stack([read_image(self.paths[i], self.image_shape[0], self.image_size, self.image_shape[1:]) for i in positions])


def read_image(path: Path, channels: int, image_size: int | None, size: tuple[int, int] | None = None) -> torch.Tensor:
    """The image at `path` as uint8 (channels, height, width), resized and center-cropped to `image_size`.

    size: the (height, width) every image must have; a DataError names the file if it has another.
    """
    try:
        with Image.open(path) as image:
            pixels = pil_to_tensor(image.convert(PIL_MODES[channels]))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise unreadable(path, error) from None
    if image_size is not None:
        pixels = center_crop(resize(pixels, image_size, antialias=True), [image_size, image_size])
    if size is not None and tuple(pixels.shape[1:]) != tuple(size):
        raise DataError(
            f"image {path} is {pixels.shape[2]}x{pixels.shape[1]} but the others are {size[1]}x{size[0]}; "
            "set data.image_size=N to resize and center-crop every image to NxN"
        )
    return pixels


def unreadable(path: Path, error: Exception) -> DataError:
    return DataError(f"image {path} cannot be read ({type(error).__name__}: {error}); replace or remove the file")


def list_images(folder: Path) -> tuple[list[Path], list[int], list[str]]:
    """(image paths, their labels, class names): one subfolder per class (ImageFolder's layout), or a
    flat folder (labels -1, no classes). Sorted, so the order does not depend on the filesystem."""
    if not folder.is_dir():
        raise DataError(f"data.path={folder} is not a folder; pass data.path=DIR, a folder of images (one subfolder per class, or flat)")

    def images_in(directory: Path, recursive: bool) -> list[Path]:
        found = directory.rglob("*") if recursive else directory.iterdir()
        return sorted(path for path in found if path.is_file() and path.suffix.lower() in IMG_EXTENSIONS)

    classes = sorted(entry.name for entry in folder.iterdir() if entry.is_dir() and images_in(entry, recursive=True))
    if classes:
        per_class = [images_in(folder / name, recursive=True) for name in classes]
        return [path for paths in per_class for path in paths], [label for label, paths in enumerate(per_class) for _ in paths], classes
    paths = images_in(folder, recursive=False)
    if not paths:
        raise DataError(
            f"data.path={folder} holds no images ({', '.join(IMG_EXTENSIONS[:4])}, ...); put the images in it, or one subfolder of images per class"
        )
    return paths, [-1] * len(paths), []


def common_size(paths: list[Path], image_size: int | None) -> tuple[int, int]:
    """(height, width) of every image, read from the files' headers; a DataError if they differ and no
    image_size makes them equal."""
    if image_size is not None:
        return image_size, image_size
    sizes: dict[tuple[int, int], Path] = {}
    for path in paths:
        try:
            with Image.open(path) as image:
                width, height = image.size
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            raise unreadable(path, error) from None
        sizes.setdefault((height, width), path)
        if len(sizes) > 1:
            (first, first_path), (other, other_path) = sizes.items()
            raise DataError(
                f"images have different sizes ({first_path.name}: {first[1]}x{first[0]}, {other_path.name}: {other[1]}x{other[0]}); "
                "set data.image_size=N to resize and center-crop every image to NxN"
            )
    return next(iter(sizes))


def available_memory() -> int:
    """Bytes of memory available now (Linux and macOS; 0 where unknown)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


class ImageFolderDataModule(InMemoryDataModule):
    """The images of a folder, split at random into train, val and test (``val_size``, ``test_size``)."""

    name = "image_folder"

    def __init__(
        self,
        path: str,
        image_size: AtLeastOne | None = None,
        channels: Literal[1, 3] = 3,
        pixels: PixelMode = "grey",
        in_memory: Literal["auto"] | bool = "auto",
        memory_budget_mb: Positive | None = None,
        num_workers: NonNegativeInt = 2,
        val_size: HeldOutSize = 0.1,
        test_size: HeldOutSize = 0.1,
        batch_size: AtLeastOne = 128,
        eval_batch_size: AtLeastOne | None = None,
        seed: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, seed, pin_memory)
        if pixels != "grey" and channels != 1:
            raise ConfigError(f"data.pixels={pixels}: binarization is for one channel; use data.channels=1, or data.pixels=grey")
        self.path = Path(path).expanduser()
        self.image_size, self.channels, self.pixels = image_size, channels, pixels
        self.in_memory, self.memory_budget_mb, self.num_workers = in_memory, memory_budget_mb, num_workers
        self.val_size = val_size
        self.test_size = test_size
        self.classes: list[str] = []
        self.held_in_memory: bool | None = None

    def load_splits(self) -> dict[str, Split]:
        paths, labels, self.classes = list_images(self.path)
        height, width = common_size(paths, self.image_size)
        files = ImageFiles(paths, (self.channels, height, width), self.image_size)
        self.held_in_memory = self.holds_in_memory(len(paths) * self.channels * height * width)
        if self.pixels != "grey" and not self.held_in_memory:
            raise ConfigError(f"data.pixels={self.pixels} binarizes the images once, in memory; use data.in_memory=true, or data.pixels=grey")
        log.info("%s: %d images, %s, %s", self.path, len(paths), f"{len(self.classes)} classes" if self.classes else "no labels",
                 "held in memory" if self.held_in_memory else f"read from disk by {self.num_workers} worker(s)")  # fmt: skip
        stored = files[:] if self.held_in_memory else files
        everything = Split(stored, torch.tensor(labels, dtype=torch.long), levels=255)
        splits = {}
        for name, rows in split_rows(len(paths), self.val_size, self.test_size, self.seed, str(self.path)).items():
            index = torch.from_numpy(rows)
            splits[name] = everything.rows(index) if self.held_in_memory else Split(files.subset(index), everything.y[index], levels=255)
        return apply_pixel_mode(splits, self.pixels, self.seed)

    def holds_in_memory(self, nbytes: int) -> bool:
        if self.in_memory != "auto":
            return bool(self.in_memory)
        budget = self.memory_budget_mb * 2**20 if self.memory_budget_mb is not None else available_memory() / 2
        return nbytes <= budget

    def loader_workers(self) -> int:
        return 0 if self.held_in_memory else self.num_workers

    def train_transform(self):
        return torch.bernoulli if self.pixels == "dynamic" else None

    def label_names(self) -> list[str]:
        """The class folders' names: ``condition.label=cats``."""
        return list(self.classes)

    def provenance(self) -> dict[str, Any]:
        return {"dataset": self.name, "path": str(self.path), "image_size": self.image_size, "channels": self.channels,
                "pixels": self.pixels, "classes": self.classes}  # fmt: skip
