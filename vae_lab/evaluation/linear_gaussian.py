"""Probabilistic PCA built from vae_lab's own pieces, where log p(x) and p(z|x) are known exactly.

The reference model for every estimator of log p(x) (tests/evaluation, notebooks/02_elbo.ipynb):

    z ~ N(0, I_L),  x = W z + b + eps,  eps ~ N(0, s^2 I_D)
    log p(x) = log N(x; b, W W^T + s^2 I)
    p(z|x) = N(C W^T (x - b) / s^2, C),  C = (I + W^T W / s^2)^-1

W has orthogonal columns, so C is diagonal and the exact posterior is in the encoder's family
(a diagonal Gaussian). The decoder is an MLPDecoder without hidden layers (linear), the likelihood a
GaussianLikelihood with fixed sigma = s, and the encoders are MLPEncoders without hidden layers
whose weights are set to output the exact posterior, or a perturbed one.
"""

import math

import torch
from torch.distributions import MultivariateNormal, Normal

from vae_lab.models.decoders import MLPDecoder
from vae_lab.models.encoders import MLPEncoder
from vae_lab.models.layers import LOG_VAR_BOUND
from vae_lab.models.likelihoods import GaussianLikelihood
from vae_lab.models.priors import StandardNormalPrior
from vae_lab.models.vae import VAE

DATA_DIM, LATENT_DIM, SIGMA = 6, 3, 0.5
SCALES = torch.tensor([2.0, 1.0, 0.5], dtype=torch.float64)  # column norms of W


class LinearGaussian:
    """The model's parameters in float64 and its exact quantities."""

    def __init__(self, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(DATA_DIM, LATENT_DIM, generator=generator, dtype=torch.float64))
        self.W = q * SCALES  # orthogonal columns with norms SCALES
        self.b = torch.randn(DATA_DIM, generator=generator, dtype=torch.float64)
        self.posterior_var = 1 / (1 + SCALES**2 / SIGMA**2)  # diag of C

    def sample(self, n: int, seed: int = 1) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        z = torch.randn(n, LATENT_DIM, generator=generator, dtype=torch.float64)
        eps = torch.randn(n, DATA_DIM, generator=generator, dtype=torch.float64)
        return (z @ self.W.T + self.b + SIGMA * eps).float()

    def log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        covariance = self.W @ self.W.T + SIGMA**2 * torch.eye(DATA_DIM, dtype=torch.float64)
        return MultivariateNormal(self.b, covariance).log_prob(x.double())

    def posterior(self, x: torch.Tensor) -> Normal:
        """The exact p(z|x) = N(C W^T (x - b) / s^2, C), diagonal here: x (n, D) -> batch shape (n, L), float64."""
        mean = (x.double() - self.b) @ self.W * (self.posterior_var / SIGMA**2)
        return Normal(mean, self.posterior_var.sqrt().expand_as(mean))

    def vae(self, mean_shift: float = 0.0, std_factor: float = 1.0) -> VAE:
        """The VAE whose encoder outputs the exact posterior with its mean moved by `mean_shift`
        posterior standard deviations and its standard deviation multiplied by `std_factor`."""
        likelihood = GaussianLikelihood((DATA_DIM,), sigma=SIGMA)
        decoder = MLPDecoder(LATENT_DIM, (DATA_DIM,), hidden_sizes=[])
        encoder = MLPEncoder((DATA_DIM,), LATENT_DIM, hidden_sizes=[])
        posterior_std = self.posterior_var.sqrt()
        mean_weight = (self.posterior_var[:, None] * self.W.T) / SIGMA**2  # C W^T / s^2: (L, D)
        log_var = torch.log(self.posterior_var * std_factor**2)
        with torch.no_grad():
            decoder.head.weight.copy_(self.W)
            decoder.head.bias.copy_(self.b)
            encoder.head.weight.zero_()
            encoder.head.weight[:LATENT_DIM] = mean_weight
            encoder.head.bias[:LATENT_DIM] = -mean_weight @ self.b + mean_shift * posterior_std
            encoder.head.bias[LATENT_DIM:] = LOG_VAR_BOUND * torch.atanh(log_var / LOG_VAR_BOUND)  # inverts bounded_log_var
        return VAE(encoder, decoder, likelihood, StandardNormalPrior(LATENT_DIM))


def analytic_elbo(model: LinearGaussian, vae: VAE, x: torch.Tensor) -> torch.Tensor:
    """E_q[log p(x|z)] - KL(q || p(z)) in closed form for the linear-Gaussian model: (n,) float64.

    E_q[log p(x|z)] = -D/2 log(2 pi s^2) - (||x - W m - b||^2 + tr(W S W^T)) / (2 s^2), q = N(m, S).
    """
    with torch.no_grad():
        q = vae.inference(x)
    mean, var = q.loc.double(), q.scale.double() ** 2
    residual = x.double() - mean @ model.W.T - model.b
    trace = (var * (model.W**2).sum(0)).sum(1)  # tr(W diag(var) W^T)
    expected_log_lik = -0.5 * DATA_DIM * math.log(2 * math.pi * SIGMA**2) - ((residual**2).sum(1) + trace) / (2 * SIGMA**2)
    kl = 0.5 * (mean**2 + var - 1 - var.log()).sum(1)
    return expected_log_lik - kl
