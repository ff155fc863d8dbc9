"""Imputation with a VAE: fill unobserved cells from the observed ones, once or as several draws.

Single fill (``impute``). The encoder reads x with its unobserved cells at the neutral values the data
module gives them, and the decoder's mean E[x|z] fills them:

    mean_draws = 0:  E[x | z = mean of q(z|x)]            (one decoder pass, deterministic)
    mean_draws = K:  (1/K) sum_k E[x | z_k], z_k ~ q(z|x)  (a Monte Carlo estimate of E_q(z|x)[E[x|z]])

An encoder trained on (mostly) complete rows reads a neutral value as if it were observed, which
pulls the posterior, and so the fill, towards the mean. Repeating encode -> decode -> refill with the
filled row (``iterations`` > 1; the mean-field version of the pseudo-Gibbs sampler of Rezende et al.
2014) moves the unobserved cells to values consistent with the observed ones; observed cells never change.
For categorical data E[x|z] is a probability vector; the data module's inverse turns it into a label.

Multiple imputation (``multiple_imputations``): M draws of the missing cells from p(x_missing | x_observed),
so that their spread carries the imputation's uncertainty. Sampling importance resampling, as in MIWAE
(Mattei & Frellsen 2019): K draws z_k ~ q(z|x) weighted by w_k = p(x_observed|z_k) p(z_k) / q(z_k|x) (the
importance weights of the log-likelihood, with the missing cells masked out), M of them resampled in
proportion to w_k, and x_missing ~ p(x|z) drawn at each. As K grows the draws follow the model's exact
conditional distribution, however poorly q reads the neutral values.
"""

import torch

from vae_lab.models.vae import VAE, repeated


@torch.no_grad()
def conditional_mean(
    vae: VAE, x: torch.Tensor, draws: int = 0, generator: torch.Generator | None = None, condition: torch.Tensor | None = None
) -> torch.Tensor:
    """E[x|z] from the posterior of x: (batch, *data_shape) -> (batch, *data_shape)."""
    q = vae.inference(x, condition)
    if draws == 0:
        return vae.likelihood.mean(vae.generative(q.loc, condition))
    total = torch.zeros_like(x)
    for _ in range(draws):
        noise = torch.randn(q.loc.shape, generator=generator).to(device=q.loc.device, dtype=q.loc.dtype)
        total += vae.likelihood.mean(vae.generative(q.loc + q.scale * noise, condition))
    return total / draws


def impute(
    vae: VAE, x: torch.Tensor, mask: torch.Tensor, draws: int = 0, iterations: int = 10, generator: torch.Generator | None = None,
    condition: torch.Tensor | None = None,
) -> torch.Tensor:  # fmt: skip
    """x: (batch, *data_shape) with every cell where mask is False replaced by ``conditional_mean``, refined
    `iterations` times; observed cells are returned as they are."""
    filled = x
    for _ in range(iterations):
        filled = torch.where(mask, x, conditional_mean(vae, filled, draws, generator, condition))
    return filled


@torch.no_grad()
def multiple_imputations(
    vae: VAE, x: torch.Tensor, mask: torch.Tensor, draws: int, importance_samples: int = 1000, condition: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:  # fmt: skip
    """`draws` completed copies of x: (batch, *data_shape) -> (draws, batch, *data_shape); cells where mask is
    True are x's own, the others drawn from p(x_missing | x_observed) by sampling importance resampling."""
    q = vae.inference(x, condition)
    noise = torch.randn(importance_samples, *q.loc.shape, generator=generator).to(device=q.loc.device, dtype=q.loc.dtype)
    log_w = vae.log_importance_weights(x, importance_samples, mask, noise, condition=condition)  # (K, batch)
    picked = torch.multinomial(torch.softmax(log_w.T.double(), dim=1).cpu(), draws, replacement=True, generator=generator).to(x.device)
    z = q.loc + q.scale * noise[picked.T, torch.arange(len(x), device=x.device)]  # (draws, batch, latent_dim)
    params = vae.generative(z.flatten(0, 1), repeated(condition, draws))
    sampled = vae.likelihood.sample(params).view(draws, *x.shape)
    return torch.where(mask, x, sampled)
