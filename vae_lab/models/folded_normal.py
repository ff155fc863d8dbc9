"""The Gaussian N(mu, sigma^2) folded into an interval [a, b]: the density of numeric values kept in range.

A draw v is reflected at the bounds, back and forth, until it lies in [a, b] (the reflection method of
density estimation at a boundary). With L = b - a its density sums the Gaussian over every point that folds
onto x:

    FN(x) = sum_{k in Z} N(x + 2kL; mu, sigma^2) + N(2a - x + 2kL; mu, sigma^2),   x in [a, b],

which integrates to 1 over [a, b]. So draws stay in range without clipping (which piles the mass beyond a
bound onto the bound) and without truncation (renormalizing N on [a, b] makes the density of a row on the
bound grow without limit as mu moves away, and training then builds such spikes on the bounds). sigma is used
up to L: beyond it FN is within 1.4% of uniform, and the sum needs few terms. An absent bound is UNBOUNDED
model units away: so far that no draw is ever reflected there.
"""

import torch

from vae_lab.models.likelihoods import LOG_2PI

UNBOUNDED = 1e4  # an absent bound, in model units
FOLDS = 4  # images on either side of the nearest one: with sigma <= L, those within 8 sigma of the mean


def folded_normal_log_prob(x: torch.Tensor, mean: torch.Tensor, sigma: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """log FN(x; mean, sigma, [low, high]): x, mean (batch, k); sigma, low, high (k,); sigma <= high - low.

    The points that fold onto x are x + 2kL and 2 low - x + 2kL; the sum takes the nearest of each family to
    the mean and FOLDS on either side. Offsets are taken from x - mean and low - x, so that a far bound
    (UNBOUNDED) costs no precision."""
    period = 2 * (high - low)
    shifts = torch.arange(-FOLDS, FOLDS + 1, device=x.device, dtype=x.dtype)
    direct, reflected = x - mean, (low - x) + (low - mean)
    offsets = torch.cat([
        direct[..., None] + (shifts - torch.round(direct / period)[..., None]) * period[:, None],
        reflected[..., None] + (shifts - torch.round(reflected / period)[..., None]) * period[:, None],
    ], dim=-1)  # fmt: skip
    return torch.logsumexp(-0.5 * (offsets / sigma[:, None]) ** 2, dim=-1) - torch.log(sigma) - 0.5 * LOG_2PI


def folded_normal_sample(mean: torch.Tensor, sigma: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Draws of FN(mean, sigma, [low, high]): v ~ N(mean, sigma^2) folded by the triangle wave of period 2L,
    low + L - |((v - low) mod 2L) - L|, in float64: mean (batch, k); sigma, low, high (k,)."""
    low64, width = low.double(), (high - low).double()
    drawn = mean.double() + sigma.double() * torch.randn_like(mean, dtype=torch.float64)
    return (low64 + width - (torch.remainder(drawn - low64, 2 * width) - width).abs()).to(mean.dtype)


def folded_normal_mean(mean: torch.Tensor, sigma: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """E[x] for x ~ FN(mean, sigma, [low, high]), in float64: mean (batch, k); sigma, low, high (k,); sigma <= high - low.

    v ~ N(mean, sigma^2) on [low + jL, low + (j+1)L] folds to v - jL (j even) or 2 low + (j+1)L - v (j odd), so
    E[x] = sum_j (mean - jL) P_j + sigma dphi_j (j even), (2 low + (j+1)L - mean) P_j - sigma dphi_j (j odd),
    with P_j the Gaussian's mass on the interval and dphi_j = phi(alpha_j) - phi(beta_j) at its standardized ends;
    over the intervals within 8 sigma <= 8L of the mean."""
    mean64, sigma64, low64, width = mean.double(), sigma.double(), low.double(), (high - low).double()
    nearest = torch.floor((mean64 - low64) / width)
    j = nearest[..., None] + torch.arange(-2 * FOLDS, 2 * FOLDS + 1, device=mean.device, dtype=torch.float64)
    alpha = (low64[:, None] + j * width[:, None] - mean64[..., None]) / sigma64[:, None]
    beta = alpha + (width / sigma64)[:, None]
    mass = torch.special.ndtr(beta) - torch.special.ndtr(alpha)
    density = torch.exp(-0.5 * alpha**2 - 0.5 * LOG_2PI) - torch.exp(-0.5 * beta**2 - 0.5 * LOG_2PI)
    even = torch.remainder(j, 2) == 0
    forward = (mean64[..., None] - j * width[:, None]) * mass + sigma64[:, None] * density
    backward = (2 * low64[:, None] + (j + 1) * width[:, None] - mean64[..., None]) * mass - sigma64[:, None] * density
    return torch.where(even, forward, backward).sum(dim=-1).to(mean.dtype)
