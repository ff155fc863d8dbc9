"""Which latent dimensions a VAE uses: KL per dimension and active units (Burda et al. 2016).

A unit d is active when Cov_x(E_q(z|x)[z_d]) > threshold (0.01 in the paper): its posterior mean
moves with x. A collapsed unit has q(z_d|x) = N(0, 1) for every x: no KL, no variance of the mean.
"""

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from vae_lab.models.priors import kl_to_standard_normal
from vae_lab.models.vae import VAE


@dataclass
class LatentUsage:
    """kl_per_dim: mean over examples of KL(q(z_d|x) || N(0, 1)), nats; mean_variance: Var_x(E_q[z_d])."""

    kl_per_dim: list[float]
    mean_variance: list[float]
    threshold: float

    @property
    def active_units(self) -> int:
        return sum(v > self.threshold for v in self.mean_variance)

    @property
    def kl(self) -> float:
        return sum(self.kl_per_dim)


@torch.no_grad()
def latent_usage(vae: VAE, batches: Iterable[torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]], threshold: float = 0.01) -> LatentUsage:
    """Latent usage over every x in `batches`: each x (batch, *data_shape), or a pair (x, condition) for a
    conditional VAE, on the VAE's device. KL per dimension is to N(0, 1), whatever the prior.

    Accumulates in float64, so the result does not depend on how the data is batched.
    """
    count = 0
    kl_sum = mean_sum = mean_square_sum = None
    for batch in batches:
        x, condition = batch if isinstance(batch, tuple) else (batch, None)
        q = vae.inference(x, condition)
        kl = kl_to_standard_normal(q).double().sum(0)
        mean = q.loc.double()
        if kl_sum is None:
            kl_sum, mean_sum, mean_square_sum = kl, mean.sum(0), (mean**2).sum(0)
        else:
            kl_sum += kl
            mean_sum += mean.sum(0)
            mean_square_sum += (mean**2).sum(0)
        count += len(x)
    if count == 0:
        raise ValueError("latent_usage needs at least one example")
    average = mean_sum / count
    variance = (mean_square_sum / count - average**2).clamp_min(0)
    return LatentUsage((kl_sum / count).tolist(), variance.tolist(), threshold)
