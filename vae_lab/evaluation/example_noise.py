"""Standard-normal noise owned by each example: the one source of every Monte Carlo draw that is reported.

Example i's draws come from its own generator, so the numbers an evaluation reports do not depend
on how examples are batched, on how the K importance samples are chunked, on the memory budget or
on the number of processes. The noise is drawn on the CPU, so a GPU evaluation uses the same draws
as a CPU one. Training-time validation (the training plan's ``val/*`` and ``test/*``, the per-column
losses, ``val/log_likelihood``) and ``vae-lab eval`` draw from here alike.

Each use draws from its own named stream (``STREAMS``), so, for example, refining a posterior never
reuses the draws of the importance samples. torch's CPU generator keeps 32 bits of its seed. Example i
of a (seed, stream) pair uses the generator seed (offset(seed, stream) + i) mod 2^32, with the offset a
hash of (seed, stream): within one stream no two examples share draws (for splits under 2^32 rows).
"""

import hashlib

import torch

SEED_SPACE = 2**32  # what torch's CPU generator keeps of a seed
STREAMS = (
    "importance_samples",  # the ELBO's draws and the importance samples of log p(x) (eval, val/log_likelihood)
    "refinement",  # the draws of each step of refining a posterior (amortization gap)
    "validation",  # the training plan's one draw per example for val/ and test/ (and the per-column losses)
    "validation_iwae",  # its K draws per example for the IWAE bound
)


def stream_offset(seed: int, stream: str) -> int:
    """A 32-bit hash of (seed, stream)."""
    digest = hashlib.blake2b(f"vae_lab/{seed}/{stream}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little")


def example_noise(index: torch.Tensor, num_samples: int, dim: int, seed: int, stream: str = "importance_samples") -> torch.Tensor:
    """eps ~ N(0, I_dim), a pure function of (seed, stream, index): index (batch,) -> (num_samples, batch, dim)."""
    if stream not in STREAMS:
        raise ValueError(f"unknown noise stream {stream!r}; the streams are {', '.join(STREAMS)}")
    offset = stream_offset(seed, stream)
    noise = torch.empty(num_samples, len(index), dim)
    generator = torch.Generator()
    for column, row in enumerate(index.tolist()):
        generator.manual_seed((offset + row) % SEED_SPACE)
        noise[:, column] = torch.randn(num_samples, dim, generator=generator)
    return noise
