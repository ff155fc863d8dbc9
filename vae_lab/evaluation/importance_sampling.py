"""The importance-sampled estimate of log p(x) that papers report (Burda et al. 2016, Appendix).

    log p(x) ~= log (1/K) sum_k p(x, z_k) / q(z_k|x),   z_k ~ q(z|x)

It is a lower bound in expectation that tightens as K grows, and is exact for every K when q(z|x)
is the true posterior. The K samples are processed in chunks and combined with logsumexp, so memory
grows with the chunk size, not with K.
"""

import math

import torch

from vae_lab.models.vae import VAE


def importance_sampled_log_likelihood(
    vae: VAE,
    x: torch.Tensor,
    num_samples: int,
    chunk_size: int,
    mask: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    condition: torch.Tensor | None = None,
) -> torch.Tensor:
    """log (1/K) sum_k w_k with K = num_samples: x (batch, *data_shape) -> (batch,) nats.

    chunk_size: how many of the K samples are decoded at once (at most chunk_size * batch decodes).
    noise: (num_samples, batch, latent_dim) standard normal draws (fresh ones if None).
    condition: (batch, condition_dim) for a conditional VAE: the estimate of log p(x|c).
    """
    if num_samples < 1 or chunk_size < 1:
        raise ValueError(f"num_samples and chunk_size must be >= 1, got {num_samples} and {chunk_size}")
    chunk_sums = []
    for start in range(0, num_samples, chunk_size):
        size = min(chunk_size, num_samples - start)
        chunk_noise = None if noise is None else noise[start : start + size]
        log_w = vae.log_importance_weights(x, size, mask, chunk_noise, condition=condition)  # (size, batch)
        chunk_sums.append(torch.logsumexp(log_w, dim=0))
    return torch.logsumexp(torch.stack(chunk_sums), dim=0) - math.log(num_samples)
