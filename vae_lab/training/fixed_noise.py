"""Fixed standard-normal noise per example (common random numbers) for evaluation.

Validation and test draw z = mean + std * eps with eps looked up by the example's row number, so the
numbers do not depend on batch size, shuffling, device or the number of DDP processes, and successive
validation epochs compare the model, not the noise.
"""

import torch

BLOCK_ROWS = 4096


class FixedNoise:
    """eps(index) ~ N(0, I_dim), a pure function of (seed, index): index (batch,) -> (batch, dim)."""

    def __init__(self, dim: int, seed: int) -> None:
        self.dim = dim
        self.seed = seed
        self._blocks: dict[int, torch.Tensor] = {}

    def _block(self, number: int) -> torch.Tensor:
        if number not in self._blocks:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + number)
            self._blocks[number] = torch.randn(BLOCK_ROWS, self.dim, generator=generator)
        return self._blocks[number]

    def __call__(self, index: torch.Tensor) -> torch.Tensor:
        index = index.cpu()
        block_numbers = index // BLOCK_ROWS
        noise = torch.empty(len(index), self.dim)
        for number in block_numbers.unique().tolist():
            rows = block_numbers == number
            noise[rows] = self._block(number)[index[rows] % BLOCK_ROWS]
        return noise
