"""Probabilistic PCA built from vae_lab's own pieces, where log p(x) and p(z|x) are known exactly; and its
two-layer extension (``TwoLayerLinearGaussian``), a hierarchical VAE with an exact posterior.

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
from vae_lab.models.hierarchical import HierarchicalVAE, Ladder
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
            encoder.head.bias[LATENT_DIM:] = inverse_bounded_log_var(log_var)
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


TOP_DIM, MIDDLE_SIGMA = 2, 0.7
TOP_SCALES = torch.tensor([1.5, 0.8], dtype=torch.float64)  # A's column norms; each column on its own coordinate of z_1


class TwoLayerLinearGaussian:
    """Two stochastic layers, where log p(x) and p(z_1, z_2 | x) are known exactly:

        z_2 ~ N(0, I_2),  z_1 = A z_2 + a + s_1 eps_1,  x = W z_1 + b + s eps
        log p(x) = log N(x; W a + b, s_1^2 W W^T + W A A^T W^T + s^2 I)

    p(z_1 | z_2, x) is the precision-weighted product of p(z_1 | z_2) and x's estimate N(m_1, v_1) with
    m_1 = (W^T W)^-1 W^T (x - b), v_1 = s^2 / diag(W^T W): the form of a hierarchical VAE's top-down posterior.
    p(z_2 | x) = N(P^-1 A^T D (m_1 - a), P^-1) with D = diag(W^T W / (s_1^2 W^T W + s^2)) and P = I + A^T D A,
    diagonal because W's columns are orthogonal and A's sit on different coordinates, and linear in m_1: the
    ladder's bottom-up cell reaches it with one linear layer. So ``vae()`` is a ``HierarchicalVAE`` of linear
    cells whose q(z|x) is the exact posterior.
    """

    def __init__(self, seed: int = 0) -> None:
        self.base = LinearGaussian(seed)
        generator = torch.Generator().manual_seed(seed + 1)
        self.A = torch.zeros(LATENT_DIM, TOP_DIM, dtype=torch.float64)
        self.A[0, 0], self.A[2, 1] = TOP_SCALES
        self.a = torch.randn(LATENT_DIM, generator=generator, dtype=torch.float64)
        scales_squared = SCALES**2
        d = scales_squared / (MIDDLE_SIGMA**2 * scales_squared + SIGMA**2)
        self.top_precision = torch.eye(TOP_DIM, dtype=torch.float64) + self.A.T @ (d[:, None] * self.A)  # diagonal
        self.top_mean_weight = torch.linalg.solve(self.top_precision, self.A.T * d)  # P^-1 A^T D: (2, L)

    def sample(self, n: int, seed: int = 1) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        z2 = torch.randn(n, TOP_DIM, generator=generator, dtype=torch.float64)
        z1 = z2 @ self.A.T + self.a + MIDDLE_SIGMA * torch.randn(n, LATENT_DIM, generator=generator, dtype=torch.float64)
        x = z1 @ self.base.W.T + self.base.b + SIGMA * torch.randn(n, DATA_DIM, generator=generator, dtype=torch.float64)
        return x.float()

    def log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        W, WA = self.base.W, self.base.W @ self.A
        covariance = MIDDLE_SIGMA**2 * W @ W.T + WA @ WA.T + SIGMA**2 * torch.eye(DATA_DIM, dtype=torch.float64)
        return MultivariateNormal(W @ self.a + self.base.b, covariance).log_prob(x.double())

    def top_posterior(self, x: torch.Tensor) -> Normal:
        """The exact p(z_2|x): x (n, D) -> batch shape (n, 2), float64."""
        m1 = (x.double() - self.base.b) @ self.base.W / SCALES**2
        mean = (m1 - self.a) @ self.top_mean_weight.T
        return Normal(mean, (1 / self.top_precision.diagonal()).sqrt().expand_as(mean))

    def vae(self, mean_shift: float = 0.0, std_factor: float = 1.0, inference: str = "top_down") -> HierarchicalVAE:
        """The model with its exact posterior in the ladder's form; with q(z_2|x)'s mean moved by `mean_shift`
        posterior standard deviations and its standard deviation multiplied by `std_factor` (top-down), or
        q(z_1|x)'s so (bottom-up inference, q(z_1|x) q(z_2|z_1): p(z_2 | z_1, x) = p(z_2 | z_1), both exact too)."""
        likelihood = GaussianLikelihood((DATA_DIM,), sigma=SIGMA)
        decoder = MLPDecoder(LATENT_DIM, (DATA_DIM,), hidden_sizes=[])
        encoder = MLPEncoder((DATA_DIM,), LATENT_DIM, hidden_sizes=[])
        ladder = Ladder(LATENT_DIM, [TOP_DIM], hidden_sizes=[], inference=inference)  # type: ignore[arg-type]  # a Literal, checked by Ladder's users
        W, b = self.base.W, self.base.b
        scales_squared = SCALES**2
        middle_log_var = torch.full((LATENT_DIM,), 2 * math.log(MIDDLE_SIGMA), dtype=torch.float64)
        with torch.no_grad():
            decoder.head.weight.copy_(W)
            decoder.head.bias.copy_(b)
            top_down = ladder.top_down[0].head  # p(z_1 | z_2) = N(A z_2 + a, s_1^2)
            top_down.weight.zero_()
            top_down.weight[:LATENT_DIM] = self.A
            top_down.bias[:LATENT_DIM] = self.a
            top_down.bias[LATENT_DIM:] = inverse_bounded_log_var(middle_log_var)
            encoder.head.weight.zero_()
            bottom_up = ladder.bottom_up[0].head
            bottom_up.weight.zero_()
            if inference == "top_down":  # x's estimate of z_1, N(m_1, v_1); p(z_2|x) from m_1
                top_var = 1 / self.top_precision.diagonal()
                encoder.head.weight[:LATENT_DIM] = W.T / scales_squared[:, None]  # m_1 = (W^T W)^-1 W^T (x - b)
                encoder.head.bias[:LATENT_DIM] = -(W.T / scales_squared[:, None]) @ b
                encoder.head.bias[LATENT_DIM:] = inverse_bounded_log_var(torch.log(SIGMA**2 / scales_squared))
                bottom_up.weight[:TOP_DIM, :LATENT_DIM] = self.top_mean_weight  # reads (m_1, log v_1): only m_1 matters
                bottom_up.bias[:TOP_DIM] = -self.top_mean_weight @ self.a + mean_shift * top_var.sqrt()
                bottom_up.bias[TOP_DIM:] = inverse_bounded_log_var(torch.log(top_var * std_factor**2))
            else:  # p(z_1|x): prior N(a, s_1^2 I + A A^T) (diagonal) times the likelihood; p(z_2|z_1) = p(z_1|z_2) p(z_2) / p(z_1)
                prior_precision = 1 / (MIDDLE_SIGMA**2 + (self.A**2).sum(dim=1))
                middle_var = 1 / (prior_precision + scales_squared / SIGMA**2)
                encoder.head.weight[:LATENT_DIM] = middle_var[:, None] * W.T / SIGMA**2
                encoder.head.bias[:LATENT_DIM] = middle_var * (prior_precision * self.a - W.T @ b / SIGMA**2) + mean_shift * middle_var.sqrt()
                encoder.head.bias[LATENT_DIM:] = inverse_bounded_log_var(torch.log(middle_var * std_factor**2))
                top_var = 1 / (1 + (self.A**2).sum(dim=0) / MIDDLE_SIGMA**2)
                bottom_up.weight[:TOP_DIM] = top_var[:, None] * self.A.T / MIDDLE_SIGMA**2  # reads z_1
                bottom_up.bias[:TOP_DIM] = -(top_var[:, None] * self.A.T / MIDDLE_SIGMA**2) @ self.a
                bottom_up.bias[TOP_DIM:] = inverse_bounded_log_var(torch.log(top_var))
        return HierarchicalVAE(encoder, decoder, likelihood, StandardNormalPrior(TOP_DIM), ladder)


def inverse_bounded_log_var(log_var: torch.Tensor) -> torch.Tensor:
    """The raw network output that ``layers.bounded_log_var`` maps to `log_var`."""
    return LOG_VAR_BOUND * torch.atanh(log_var / LOG_VAR_BOUND)
