"""Imputation with a VAE: fill unobserved cells with the model's reconstruction from the observed ones.

The encoder reads x with its unobserved cells at the neutral values the data module gives them, and
the decoder's mean E[x|z] fills them:

    draws = 0:  E[x | z = mean of q(z|x)]            (one decoder pass, deterministic)
    draws = K:  (1/K) sum_k E[x | z_k], z_k ~ q(z|x)  (a Monte Carlo estimate of E_q(z|x)[E[x|z]])

An encoder trained on (mostly) complete rows reads a neutral value as if it were observed, which
pulls the posterior, and so the fill, towards the mean. Repeating encode -> decode -> refill with the
filled row (``iterations`` > 1; the mean-field version of the pseudo-Gibbs sampler of Rezende et al.
2014) moves the unobserved cells to values consistent with the observed ones; observed cells never change.
For categorical data E[x|z] is a probability vector; the data module's inverse turns it into a label.
"""

import torch

from vae_lab.models.vae import VAE


@torch.no_grad()
def conditional_mean(vae: VAE, x: torch.Tensor, draws: int = 0, generator: torch.Generator | None = None) -> torch.Tensor:
    """E[x|z] from the posterior of x: (batch, *data_shape) -> (batch, *data_shape)."""
    q = vae.inference(x)
    if draws == 0:
        return vae.likelihood.mean(vae.generative(q.loc))
    total = torch.zeros_like(x)
    for _ in range(draws):
        noise = torch.randn(q.loc.shape, generator=generator).to(device=q.loc.device, dtype=q.loc.dtype)
        total += vae.likelihood.mean(vae.generative(q.loc + q.scale * noise))
    return total / draws


def impute(vae: VAE, x: torch.Tensor, mask: torch.Tensor, draws: int = 0, iterations: int = 10, generator: torch.Generator | None = None) -> torch.Tensor:
    """x: (batch, *data_shape) with every cell where mask is False replaced by ``conditional_mean``, refined
    `iterations` times; observed cells are returned as they are."""
    filled = x
    for _ in range(iterations):
        filled = torch.where(mask, x, conditional_mean(vae, filled, draws, generator))
    return filled
