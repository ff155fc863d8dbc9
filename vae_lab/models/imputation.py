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
so that their spread carries the imputation's uncertainty. Metropolis-within-Gibbs (Mattei & Frellsen 2018,
"Leveraging the exact likelihood of deep latent variable models"): M chains start at the single fill; each
step proposes z' ~ q(z|x) for the current completed row x, accepts it with probability
min(1, w(z') / w(z)), w(z) = p(x|z) p(z) / q(z|x), and draws x_missing ~ p(x|z). The chain's stationary
distribution is the model's p(x_missing, z | x_observed), whatever q makes of the filled cells. (Importance
resampling from q(z|x) with the missing cells at neutral values, as MIWAE, fails here: such a q can miss the
posterior, and every draw then comes from the one z of largest weight.)
"""

import torch

from vae_lab.config_schema import ImputationSettings
from vae_lab.models.vae import VAE, Latents, repeated


@torch.no_grad()
def conditional_mean(
    vae: VAE, x: torch.Tensor, draws: int = 0, generator: torch.Generator | None = None, condition: torch.Tensor | None = None
) -> torch.Tensor:
    """E[x|z] from the posterior of x: (batch, *data_shape) -> (batch, *data_shape); at the posterior mean of z
    (`draws` 0), or averaged over `draws` draws z ~ q(z|x)."""
    if draws == 0:
        return vae.likelihood.mean(vae.generative(vae.posterior_parameters(x, condition)[0], condition))
    total = torch.zeros_like(x)
    for _ in range(draws):
        noise = torch.randn(len(x), vae.latent_dim, generator=generator).to(device=x.device, dtype=x.dtype)
        total += vae.likelihood.mean(vae.generative(vae.latents(x, noise, condition).z, condition))
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
    vae: VAE, x: torch.Tensor, mask: torch.Tensor, draws: int, steps: int = 100, iterations: int = 10, condition: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:  # fmt: skip
    """`draws` completed copies of x: (batch, *data_shape) -> (draws, batch, *data_shape); cells where mask is
    True are x's own, the others the state of `draws` Metropolis-within-Gibbs chains after `steps` steps, each
    started at the single fill (``impute`` with `iterations`). The likelihood's draws use the global generator."""
    start = impute(vae, x, mask, 0, iterations, generator, condition)
    observed, given = repeated(mask, draws), repeated(condition, draws)
    completed = repeated(start, draws)
    assert observed is not None and completed is not None
    z: torch.Tensor | None = None
    for _ in range(steps):
        noise = torch.randn(len(completed), vae.latent_dim, generator=generator).to(device=completed.device, dtype=completed.dtype)
        drawn = vae.latents(completed, noise, given)  # the proposal z' ~ q(z|x)
        proposal = drawn.z
        params = vae.generative(proposal, given)
        if z is not None:
            current = vae.generative(z, given)
            # accept with probability min(1, w(z') / w(z)), both weighed for the current x
            log_ratio = log_weight(vae, completed, drawn, params) - log_weight(vae, completed, vae.latents(completed, condition=given, z=z), current)
            accept = torch.rand(log_ratio.shape, generator=generator).to(log_ratio.device).log() < log_ratio
            proposal = torch.where(accept[:, None], proposal, z)
            params = torch.where(accept.view(-1, *[1] * (params.dim() - 1)), params, current)
        z = proposal
        completed = torch.where(observed, completed, vae.likelihood.sample(params))
    return completed.view(draws, *x.shape)


def log_weight(vae: VAE, x: torch.Tensor, latents: Latents, params: torch.Tensor) -> torch.Tensor:
    """log p(x|z, c) + log p(z|c) - log q(z|x, c) for complete rows x (n, *data_shape), the latents z evaluated
    under q(z|x, c) and the decoder's `params` of z: (n,)."""
    return vae.likelihood.log_prob(x, params) + latents.log_p() - latents.log_q()


def filled_rows(
    vae: VAE, x: torch.Tensor, mask: torch.Tensor, condition: torch.Tensor | None, settings: ImputationSettings, device: torch.device | str
) -> list[torch.Tensor]:
    """Model rows x (n, width) with unobserved cells filled: [one fill], or `settings.draws` sampled copies."""
    generator = torch.Generator().manual_seed(settings.seed)
    batch_size = settings.batch_size if not settings.draws else max(1, min(settings.batch_size, 100_000 // settings.draws))
    filled = []
    with torch.random.fork_rng():
        torch.manual_seed(settings.seed)  # the likelihood's draws
        for i in range(0, len(x), batch_size):
            rows, observed = x[i : i + batch_size].to(device), mask[i : i + batch_size].to(device)
            given = None if condition is None else condition[i : i + batch_size].to(device)
            if settings.draws:
                filled.append(multiple_imputations(vae, rows, observed, settings.draws, settings.steps, settings.iterations, given, generator).cpu())
            else:
                filled.append(impute(vae, rows, observed, settings.mean_draws, settings.iterations, generator, given).cpu()[None])
    return list(torch.cat(filled, dim=1))
