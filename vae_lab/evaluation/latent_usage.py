"""Which latent dimensions a VAE uses: KL per dimension and active units (Burda et al. 2016), per layer.

A unit d is active when Cov_x(E_q(z|x)[z_d]) > threshold (0.01 in the paper): its posterior mean
moves with x. A collapsed unit has q(z_d|x) = its prior for every x: no KL, no variance of the mean.
A hierarchical VAE reports each stochastic layer apart (its top layers collapse first); the posterior
means of a layer are taken with the layers above it at their means (``VAE.posterior_parameters``).
"""

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from vae_lab.models.vae import VAE


@dataclass
class LatentUsage:
    """kl_per_dim: mean over examples of each dimension's KL (``Latents.kl_per_dim``), nats; mean_variance:
    Var_x(E_q[z_d]); layer_dims: the width of each stochastic layer, z_1 first (dimensions are in that order)."""

    kl_per_dim: list[float]
    mean_variance: list[float]
    threshold: float
    layer_dims: tuple[int, ...] = ()

    @property
    def active_units(self) -> int:
        return sum(v > self.threshold for v in self.mean_variance)

    @property
    def kl(self) -> float:
        return sum(self.kl_per_dim)

    def layers(self) -> list["LatentUsage"]:
        """The usage of each stochastic layer, z_1 first."""
        bounds = [0]
        for dim in self.layer_dims or (len(self.kl_per_dim),):
            bounds.append(bounds[-1] + dim)
        return [
            LatentUsage(self.kl_per_dim[start:end], self.mean_variance[start:end], self.threshold, (end - start,))
            for start, end in zip(bounds[:-1], bounds[1:])
        ]

    @property
    def kl_per_layer(self) -> list[float]:
        return [layer.kl for layer in self.layers()]

    @property
    def active_units_per_layer(self) -> list[int]:
        return [layer.active_units for layer in self.layers()]


@torch.no_grad()
def latent_usage(vae: VAE, batches: Iterable[torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]], threshold: float = 0.01) -> LatentUsage:
    """Latent usage over every x in `batches`: each x (batch, *data_shape), or a pair (x, condition) for a
    conditional VAE, on the VAE's device. KL per dimension is at the posterior means of the upper layers (all
    noise 0): to the prior p(z_d) or p(z_d | z_{>l}); to N(0, 1) for a top-layer prior without a closed form.

    Accumulates in float64, so the result does not depend on how the data is batched.
    """
    totals: dict[str, torch.Tensor] = {}
    for batch in batches:
        x, condition = batch if isinstance(batch, tuple) else (batch, None)
        for name, value in usage_sums(vae, x, condition).items():
            totals[name] = totals.get(name, 0) + value
    return usage_from_sums(totals, threshold, vae.layer_dims)


@torch.no_grad()
def usage_sums(vae: VAE, x: torch.Tensor, condition: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """One batch's sums over examples, float64: ``count``, ``kl`` and ``mean``, ``mean_square`` of the posterior means (latent_dim,)."""
    latents = vae.latents(x, torch.zeros(len(x), vae.latent_dim, device=x.device, dtype=x.dtype), condition)
    mean = latents.z.double()  # with noise 0, every layer's draw is its posterior mean
    count = torch.tensor(float(len(x)), dtype=torch.float64, device=x.device)
    return {"count": count, "kl": latents.kl_per_dim().double().sum(0), "mean": mean.sum(0), "mean_square": (mean**2).sum(0)}


def usage_from_sums(sums: dict[str, torch.Tensor], threshold: float, layer_dims: tuple[int, ...]) -> LatentUsage:
    """The usage of all examples whose ``usage_sums`` were added up in `sums`."""
    if not sums or sums["count"].item() == 0:
        raise ValueError("latent_usage needs at least one example")
    count = sums["count"]
    average = sums["mean"] / count
    variance = (sums["mean_square"] / count - average**2).clamp_min(0)
    return LatentUsage((sums["kl"] / count).tolist(), variance.tolist(), threshold, layer_dims)
