"""Priors p(z) over the latent space.

Every prior offers ``log_prob(z, condition)``, ``sample(n, device, condition)``, ``kl(q, z, condition)``
and ``kl_per_dim(q, condition)``: the KL in closed form where there is one (the standard normal, the
conditional normal), else the one-sample Monte Carlo estimate log q(z|x) - log p(z) at the z the ELBO
already drew. Only ``ConditionalNormalPrior``, p(z|c), reads the condition (batch, condition_dim) of a
conditional VAE; the others are p(z) for every c.
"""

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.distributions import Normal

from vae_lab.errors import ConfigError
from vae_lab.models.layers import mlp

LOG_2PI = math.log(2 * math.pi)


class StandardNormalPrior(nn.Module):
    """p(z) = N(0, I), the VAE's prior."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim

    def log_prob(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """log p(z): (..., latent_dim) -> (...)."""
        return Normal(torch.zeros_like(z), torch.ones_like(z), validate_args=False).log_prob(z).sum(dim=-1)

    def sample(self, num_samples: int, device: torch.device | str = "cpu", condition: torch.Tensor | None = None) -> torch.Tensor:
        """z ~ p(z): (num_samples, latent_dim)."""
        return torch.randn(num_samples, self.latent_dim, device=device)

    def kl(self, q: Normal, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """KL(q(z|x) || p(z)) in closed form, summed over dimensions: (batch,). `z` is unused."""
        return kl_to_standard_normal(q).sum(dim=-1)

    def kl_per_dim(self, q: Normal, condition: torch.Tensor | None = None) -> torch.Tensor:
        """KL(q(z_d|x) || N(0, 1)) per dimension: (batch, latent_dim); sums to ``kl``."""
        return kl_to_standard_normal(q)


class ConditionalNormalPrior(nn.Module):
    """p(z|c) = N(mean(c), diag(exp(log_var(c)))) for a conditional VAE (Sohn et al. 2015): an MLP of the
    condition (batch, condition_dim) gives each condition its own Gaussian; without hidden layers (the
    default) it is one learned mean and variance per one-hot slot. Starts at N(0, I) for every c."""

    def __init__(self, latent_dim: int, condition_dim: int = 0, hidden_sizes: Sequence[int] = (), activation: str = "relu") -> None:
        super().__init__()
        if condition_dim < 1:
            raise ConfigError("prior=conditional is p(z|c): it needs a condition; set model.condition (e.g. model.condition=label)")
        self.latent_dim = latent_dim
        self.body, width = mlp(condition_dim, hidden_sizes, activation)
        self.head = nn.Linear(width, 2 * latent_dim)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def distribution(self, condition: torch.Tensor | None) -> Normal:
        """p(z|c): batch shape (batch, latent_dim)."""
        if condition is None:
            raise ValueError("ConditionalNormalPrior is p(z|c): it needs the condition (batch, condition_dim)")
        mean, log_var = self.head(self.body(condition)).chunk(2, dim=-1)
        return Normal(mean, torch.exp(0.5 * log_var), validate_args=False)

    def log_prob(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """log p(z|c): z (..., batch, latent_dim), condition (batch, condition_dim) -> (..., batch)."""
        return self.distribution(condition).log_prob(z).sum(dim=-1)

    def sample(self, num_samples: int, device: torch.device | str = "cpu", condition: torch.Tensor | None = None) -> torch.Tensor:
        """z ~ p(z|c): condition (num_samples, condition_dim) -> (num_samples, latent_dim)."""
        p = self.distribution(condition)
        if len(p.loc) != num_samples:
            raise ValueError(f"asked for {num_samples} draws with {len(p.loc)} conditions; give one condition per draw")
        return p.sample().to(device)

    def kl(self, q: Normal, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """KL(q(z|x, c) || p(z|c)) in closed form: (batch,). `z` is unused."""
        return self.kl_per_dim(q, condition).sum(dim=-1)

    def kl_per_dim(self, q: Normal, condition: torch.Tensor | None = None) -> torch.Tensor:
        """KL(q(z_d|x, c) || p(z_d|c)) per dimension: (batch, latent_dim)."""
        return torch.distributions.kl_divergence(q, self.distribution(condition))


def kl_to_standard_normal(q: Normal) -> torch.Tensor:
    """KL(N(mu, s^2) || N(0, 1)) per dimension = 0.5 * (mu^2 + s^2 - 1) - log s.

    Kingma & Welling (2014), Appendix B. q: batch shape (batch, latent_dim) -> (batch, latent_dim).
    """
    return 0.5 * (q.loc**2 + q.scale**2 - 1) - torch.log(q.scale)


def gaussian_mixture_log_prob(z: torch.Tensor, means: torch.Tensor, log_vars: torch.Tensor, log_weights: torch.Tensor) -> torch.Tensor:
    """log sum_c w_c N(z; mean_c, diag(exp(log_var_c))).

    z: (..., latent_dim); means, log_vars: (components, latent_dim); log_weights: (components,) -> (...).
    The squared distances to all components come from two matrix products, never a
    (..., components, latent_dim) tensor, so large mixtures and many importance samples fit in memory.
    """
    precision = torch.exp(-log_vars)
    flat = z.reshape(-1, z.shape[-1])
    squared_distance = ((flat**2) @ precision.T - 2 * flat @ (means * precision).T + (means**2 * precision).sum(dim=-1)).clamp_min(0)
    log_normal = -0.5 * (squared_distance + log_vars.sum(dim=-1) + z.shape[-1] * LOG_2PI)
    return torch.logsumexp(log_normal + log_weights, dim=-1).reshape(z.shape[:-1])


class MixturePrior(nn.Module):
    """What priors without a closed-form KL share: the Monte Carlo KL at the ELBO's z. Subclasses give ``log_prob``."""

    def log_prob(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def kl(self, q: Normal, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """One-sample Monte Carlo estimate log q(z|x) - log p(z): (batch,)."""
        return q.log_prob(z).sum(dim=-1) - self.log_prob(z)

    def kl_per_dim(self, q: Normal, condition: torch.Tensor | None = None) -> torch.Tensor:
        """KL(q(z_d|x) || N(0, 1)) per dimension, for diagnostics (active units): it does not sum to ``kl``."""
        return kl_to_standard_normal(q)


class MixtureOfGaussiansPrior(MixturePrior):
    """p(z) = sum_c w_c N(z; mean_c, diag(var_c)) with learned weights, means and variances."""

    def __init__(self, latent_dim: int, num_components: int = 10, init_spread: float = 1.0) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.means = nn.Parameter(init_spread * torch.randn(num_components, latent_dim))
        self.log_vars = nn.Parameter(torch.zeros(num_components, latent_dim))
        self.weight_logits = nn.Parameter(torch.zeros(num_components))

    def log_prob(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return gaussian_mixture_log_prob(z, self.means, self.log_vars, torch.log_softmax(self.weight_logits, 0))

    def sample(self, num_samples: int, device: torch.device | str = "cpu", condition: torch.Tensor | None = None) -> torch.Tensor:
        component = torch.multinomial(torch.softmax(self.weight_logits, 0), num_samples, replacement=True)
        noise = torch.randn(num_samples, self.latent_dim, device=device)
        return self.means[component] + torch.exp(0.5 * self.log_vars[component]) * noise


class VampPrior(MixturePrior):
    """p(z) = (1/K) sum_k q(z|u_k): the encoder's posterior averaged over K learned pseudo-inputs u_k.

    Tomczak & Welling (2018), "VAE with a VampPrior". The encoder is the VAE's own (shared, not
    copied); the pseudo-inputs live in data space and start near `init_mean`.
    """

    def __init__(
        self,
        latent_dim: int,
        encoder: nn.Module,
        data_shape: Sequence[int],
        num_pseudo_inputs: int = 500,
        init_mean: float = 0.5,
        init_std: float = 0.01,
        condition_dim: int = 0,
    ) -> None:
        super().__init__()
        if condition_dim:
            raise ConfigError(
                "prior=vamp mixes the encoder's posteriors of learned pseudo-inputs, which carry no condition; "
                "with model.condition use prior=conditional (p(z|c)) or prior=standard_normal"
            )
        self.latent_dim = latent_dim
        # The VAE owns and registers the encoder; keeping a plain reference here avoids saving it twice.
        object.__setattr__(self, "encoder", encoder)
        self.pseudo_inputs = nn.Parameter(init_mean + init_std * torch.randn(num_pseudo_inputs, *data_shape))

    def components(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Means and log-variances of q(z|u_k): each (num_pseudo_inputs, latent_dim)."""
        return self.encoder(self.pseudo_inputs)

    def log_prob(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        means, log_vars = self.components()
        log_weights = torch.full((len(means),), -math.log(len(means)), device=z.device, dtype=z.dtype)
        return gaussian_mixture_log_prob(z, means, log_vars, log_weights)

    def sample(self, num_samples: int, device: torch.device | str = "cpu", condition: torch.Tensor | None = None) -> torch.Tensor:
        means, log_vars = self.components()
        component = torch.randint(len(means), (num_samples,), device=means.device)
        noise = torch.randn(num_samples, self.latent_dim, device=means.device)
        return (means[component] + torch.exp(0.5 * log_vars[component]) * noise).to(device)
