"""The seed's toy data: z ~ N(0, I_2) mapped through f(z) = z/10 + z/||z|| onto a ring (Doersch 2016).

A decoder that learns f recovers the ring from a 2-D normal latent; use it with likelihood=gaussian.
The points are already centred with unit-order scale, so no further standardization is applied.
"""

import torch

from vae_lab.config_schema import AtLeastOne, HeldOutSize
from vae_lab.data.in_memory import InMemoryDataModule, Split, held_out_splits, unlabelled


def ring_points(num_samples: int, noise: float, generator: torch.Generator) -> torch.Tensor:
    """(num_samples, 2) points x = z/10 + z/||z|| + noise * eps, z, eps ~ N(0, I_2)."""
    z = torch.randn(num_samples, 2, generator=generator)
    x = z / 10 + z / z.norm(dim=1, keepdim=True)
    return x + noise * torch.randn(num_samples, 2, generator=generator)


class RingDataModule(InMemoryDataModule):
    """``num_samples`` ring points, of which ``val_size`` and ``test_size`` (fractions of all points, or counts) are held out."""

    name = "ring"

    def __init__(
        self,
        num_samples: int = 10000,
        noise: float = 0.0,
        val_size: HeldOutSize = 0.1,
        test_size: HeldOutSize = 0.1,
        batch_size: AtLeastOne = 128,
        eval_batch_size: AtLeastOne | None = None,
        seed: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, seed, pin_memory)
        self.num_samples, self.noise = num_samples, noise
        self.val_size = val_size
        self.test_size = test_size

    def load_splits(self) -> dict[str, Split]:
        points = ring_points(self.num_samples, self.noise, torch.Generator().manual_seed(self.seed))
        return held_out_splits(unlabelled(points), self.val_size, self.test_size, self.seed, "the ring data")
