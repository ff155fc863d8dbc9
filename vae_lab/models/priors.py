"""Priors p(z) over the latent space."""

import torch
from torch import nn
from torch.distributions import Normal


class StandardNormalPrior(nn.Module):
    """p(z) = N(0, I), the VAE's prior."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z): (..., latent_dim) -> (...)."""
        return Normal(torch.zeros_like(z), torch.ones_like(z), validate_args=False).log_prob(z).sum(dim=-1)

    def sample(self, num_samples: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """z ~ p(z): (num_samples, latent_dim)."""
        return torch.randn(num_samples, self.latent_dim, device=device)

    def kl(self, q: Normal, z: torch.Tensor) -> torch.Tensor:
        """KL(q(z|x) || p(z)) in closed form, summed over dimensions: (batch,). `z` is unused."""
        return kl_to_standard_normal(q).sum(dim=-1)


def kl_to_standard_normal(q: Normal) -> torch.Tensor:
    """KL(N(mu, s^2) || N(0, 1)) per dimension = 0.5 * (mu^2 + s^2 - 1) - log s.

    Kingma & Welling (2014), Appendix B. q: batch shape (batch, latent_dim) -> (batch, latent_dim).
    """
    return 0.5 * (q.loc**2 + q.scale**2 - 1) - torch.log(q.scale)
