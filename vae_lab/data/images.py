"""MNIST-like image data sets (28x28 grey digits or clothes), held in memory as (n, 1, 28, 28) uint8
tensors (a quarter of float32's memory) and converted to float per batch.

Pixel modes (``pixels``):
- ``grey``: intensities scaled to [0, 1];
- ``dynamic``: training images binarized afresh every batch (x ~ Bernoulli(intensity)); validation and
  test images binarized once with ``seed``, so evaluation is repeatable;
- ``static``: every split binarized once with ``seed``.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch
from torchvision.datasets import MNIST, FashionMNIST

from vae_lab.config_schema import AtLeastOne, HeldOutSize
from vae_lab.data import idx_files
from vae_lab.data.in_memory import InMemoryDataModule, Split, carve_split

PixelMode = Literal["grey", "dynamic", "static"]
BINARIZATION = {
    "grey": "none: grey levels in [0, 1] (a Bernoulli log-likelihood of grey data is not comparable with binarized results)",
    "dynamic": "dynamic: training images resampled every batch; validation and test binarized once with seed {seed}",
    "static": "static: every split binarized once with seed {seed} (not the Larochelle & Murray files: see data=binarized_mnist)",
}


class MNISTDataModule(InMemoryDataModule):
    """MNIST: 60,000 training digits (minus ``val_size`` held out for validation) and the official 10,000 test digits."""

    name = "mnist"
    torchvision_dataset = MNIST
    extra_dirs: tuple[Path, ...] = ()

    def __init__(
        self,
        data_dir: str = "data",
        pixels: PixelMode = "grey",
        val_size: HeldOutSize = 5000,
        download: bool = True,
        batch_size: AtLeastOne = 128,
        eval_batch_size: AtLeastOne | None = None,
        seed: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, seed, pin_memory)
        self.data_dir = Path(data_dir)
        self.pixels = pixels
        self.val_size = val_size
        self.download = download

    def load_splits(self) -> dict[str, Split]:
        files = idx_files.resolve(self.torchvision_dataset, self.data_dir, list(self.extra_dirs), self.download)
        train = Split(idx_files.read(files["train_images"]).unsqueeze(1), idx_files.read(files["train_labels"]), levels=255)
        test = Split(idx_files.read(files["test_images"]).unsqueeze(1), idx_files.read(files["test_labels"]), levels=255)
        train, val = carve_split(train, self.val_size, self.seed)
        return apply_pixel_mode({"train": train, "val": val, "test": test}, self.pixels, self.seed)

    def train_transform(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        return torch.bernoulli if self.pixels == "dynamic" else None

    def provenance(self) -> dict:
        return {"dataset": self.name, "pixels": self.pixels, "binarization": BINARIZATION[self.pixels].format(seed=self.seed)}


class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST (Zalando): same sizes as MNIST; also found where Debian's dataset-fashion-mnist puts it."""

    name = "fashion_mnist"
    torchvision_dataset = FashionMNIST
    extra_dirs = (Path("/usr/share/datasets/fashion-mnist"),)


def apply_pixel_mode(splits: dict[str, Split], pixels: str, seed: int) -> dict[str, Split]:
    """Binarize the splits once as `pixels` asks (see the module docstring)."""
    if pixels == "grey":
        return splits
    generator = torch.Generator().manual_seed(seed)
    fixed = splits if pixels == "static" else {k: v for k, v in splits.items() if k != "train"}
    return splits | {name: Split(binarized(s.x, generator), s.y, levels=1) for name, s in fixed.items()}


def binarized(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """x ~ Bernoulli(intensity) for intensities x in [0, 1], as uint8 0/1 (the stored form of binary pixels)."""
    return torch.bernoulli(x, generator=generator).to(torch.uint8)
