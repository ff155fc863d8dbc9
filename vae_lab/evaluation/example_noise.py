"""Standard-normal noise owned by each example, so Monte Carlo evaluation is repeatable exactly.

Example i's draws come from its own generator, so the numbers an evaluation reports do not depend
on how examples are batched, on how the K importance samples are chunked, on the memory budget or
on the number of processes. The noise is drawn on the CPU, so a GPU evaluation uses the same draws
as a CPU one.

torch's CPU generator keeps 32 bits of its seed. Example i of a (seed, stream) pair uses the
generator seed (offset(seed, stream) + i) mod 2^32, with the offset a hash of (seed, stream):
within one evaluation no two examples share draws (for splits under 2^32 rows), and each stream
(importance samples, refinement, ...) has its own draws.

``vae_lab.training.fixed_noise.FixedNoise`` serves the one-draw-per-example case of training-time
validation from cached blocks; evaluation needs thousands of draws per example, which no cache holds.
"""

import hashlib

import torch

SEED_SPACE = 2**32  # what torch's CPU generator keeps of a seed


def stream_offset(seed: int, stream: int) -> int:
    """A 32-bit hash of (seed, stream)."""
    digest = hashlib.blake2b(f"vae_lab/{seed}/{stream}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little")


def example_noise(index: torch.Tensor, num_samples: int, dim: int, seed: int, stream: int = 0) -> torch.Tensor:
    """eps ~ N(0, I_dim), a pure function of (seed, stream, index): index (batch,) -> (num_samples, batch, dim)."""
    offset = stream_offset(seed, stream)
    noise = torch.empty(num_samples, len(index), dim)
    generator = torch.Generator()
    for column, row in enumerate(index.tolist()):
        generator.manual_seed((offset + row) % SEED_SPACE)
        noise[:, column] = torch.randn(num_samples, dim, generator=generator)
    return noise
