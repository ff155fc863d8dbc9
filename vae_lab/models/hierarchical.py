"""A hierarchical VAE: L stochastic layers, a bottom-up inference path and a shared top-down path.

    p(x, z) = p(x|z_1) p(z_1|z_2) ... p(z_{L-1}|z_L) p(z_L)
    q(z|x)  = q(z_L|x) q(z_{L-1}|z_L, x) ... q(z_1|z_2, x)            (top-down inference, the default)
    q(z|x)  = q(z_1|x) q(z_2|z_1) ... q(z_L|z_{L-1})                  (bottom-up inference, Burda et al. 2016)

As the Ladder VAE (Sønderby et al. 2016): the bottom-up path turns x into an estimate N(m_l, v_l) for each
layer (the encoder gives layer 1's; ``Ladder.bottom_up`` cells each next one), and the top-down path,
shared by generation and inference, gives each conditional prior p(z_l|z_{l+1}) = N(mu_l, s_l^2). The
posterior of a lower layer weighs the two by their precisions,

    q(z_l | z_{l+1}, x) = N((m_l / v_l + mu_l / s_l^2) / (1 / v_l + 1 / s_l^2),  1 / (1 / v_l + 1 / s_l^2)),

so it is the prior, corrected by what x says. With ``inference="bottom_up"`` the bottom-up cells instead map a
drawn z_l to q(z_{l+1} | z_l), as in Burda et al.'s two-layer models. The top layer's q(z_L|x) = N(m_L, v_L) and its prior is the
model's ``prior`` module (N(0, I), or p(z_L|c) for a conditional VAE). The decoder reads z_1.

Everything else (the ELBO, importance sampling, evaluation, sampling, pictures) is ``VAE``'s: this model
only overrides how latents are drawn and evaluated (``latents``, ``prior_latents``, ``posterior_parameters``)
and decodes the first layer of z (``generative``). z is every layer side by side, z_1 first: (..., latent_dim)
with latent_dim = sum of ``layer_dims``.
"""

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn
from torch.distributions import Normal

from vae_lab.config_schema import AtLeastOne
from vae_lab.models.layers import Activation, bounded_log_var, mlp, with_condition
from vae_lab.models.likelihoods import Likelihood
from vae_lab.models.vae import VAE, LatentLayer, Latents


class Cell(nn.Module):
    """A residual MLP cell: (..., in_features) -> (..., 2 * out_dim), the (mean, raw log-variance) of a Gaussian.

    head(body(h)) + skip(h): the hidden layers learn a correction to a linear map (none without hidden layers).
    """

    def __init__(self, in_features: int, out_dim: int, hidden_sizes: Sequence[int], activation: str) -> None:
        super().__init__()
        self.body, width = mlp(in_features, hidden_sizes, activation)
        self.head = nn.Linear(width, 2 * out_dim)
        self.skip = nn.Linear(in_features, 2 * out_dim, bias=False) if hidden_sizes else None

    def forward(self, h: torch.Tensor) -> Normal:
        out = self.head(self.body(h))
        if self.skip is not None:
            out = out + self.skip(h)
        mean, raw_log_var = out.chunk(2, dim=-1)
        return Normal(mean, torch.exp(0.5 * bounded_log_var(raw_log_var)), validate_args=False)


class Ladder(nn.Module):
    """The layers above z_1: their bottom-up and top-down cells.

    latent_dim: z_1's width (``model.latent_dim``, the encoder's and decoder's); upper_dims: the widths of z_2 ... z_L,
    so ``upper_dims=[32, 16]`` makes three layers. hidden_sizes, activation: each cell's hidden layers. condition_dim: the top-down cells of a conditional
    VAE read the condition beside z_{l+1}.
    """

    def __init__(
        self, latent_dim: AtLeastOne, upper_dims: Sequence[AtLeastOne] = (32,), hidden_sizes: Sequence[AtLeastOne] = (256,), activation: Activation = "gelu",
        inference: Literal["top_down", "bottom_up"] = "top_down", condition_dim: int = 0,
    ) -> None:  # fmt: skip
        super().__init__()
        self.layer_dims = (latent_dim, *upper_dims)
        self.inference = inference
        self.condition_dim = condition_dim
        lower, upper = self.layer_dims[:-1], self.layer_dims[1:]
        # bottom_up[l]: layer l+1's estimate (mean, log_var) -> layer l+2's (bottom-up inference: z_{l+1} -> q(z_{l+2} | z_{l+1}));
        # top_down[l]: z_{l+2} -> p(z_{l+1} | z_{l+2})
        reads = 2 if inference == "top_down" else 1
        self.bottom_up = nn.ModuleList(Cell(reads * below, above, hidden_sizes, activation) for below, above in zip(lower, upper))
        self.top_down = nn.ModuleList(Cell(above + condition_dim, below, hidden_sizes, activation) for below, above in zip(lower, upper))

    def estimates(self, mean: torch.Tensor, log_var: torch.Tensor) -> list[Normal]:
        """x's estimate N(m_l, v_l) for every layer from the encoder's (mean, log_var) of layer 1: each (batch, dim_l)."""
        estimates = [Normal(mean, torch.exp(0.5 * log_var), validate_args=False)]
        for cell in self.bottom_up:
            below = estimates[-1]
            estimates.append(cell(torch.cat([below.loc, 2 * below.scale.log()], dim=-1)))
        return estimates

    def conditional_prior(self, layer: int, z_above: torch.Tensor, condition: torch.Tensor | None) -> Normal:
        """p(z_layer | z_{layer+1}, c) (layers counted from 0): z_above (..., batch, dim) -> batch shape (..., batch, dim_layer)."""
        if condition is not None:
            condition = condition.expand(*z_above.shape[:-1], condition.shape[-1])
        return self.top_down[layer](with_condition(z_above, condition, self.condition_dim, "the ladder's top-down cell"))


def precision_weighted(estimate: Normal, prior: Normal) -> Normal:
    """N(m, v) and N(mu, s^2) combined as a product of Gaussians: the mean weighed by precisions, precision 1/v + 1/s^2."""
    estimate_precision, prior_precision = estimate.scale.pow(-2), prior.scale.pow(-2)
    variance = 1 / (estimate_precision + prior_precision)
    mean = variance * (estimate.loc * estimate_precision + prior.loc * prior_precision)
    return Normal(mean, variance.sqrt(), validate_args=False)


class HierarchicalVAE(VAE):
    """A VAE with ``len(ladder.layer_dims)`` stochastic layers (module docstring); the encoder gives layer 1's estimate."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, likelihood: Likelihood, prior: nn.Module, ladder: Ladder) -> None:
        super().__init__(encoder, decoder, likelihood, prior)
        self.ladder = ladder

    @property
    def layer_dims(self) -> tuple[int, ...]:
        return self.ladder.layer_dims

    def with_encoder(self, encoder: nn.Module) -> "HierarchicalVAE":
        return HierarchicalVAE(encoder, self.decoder, self.likelihood, self.prior, self.ladder)

    def latents(self, x: torch.Tensor, noise: torch.Tensor | None = None, condition: torch.Tensor | None = None, z: torch.Tensor | None = None) -> Latents:
        """z ~ q(z|x), layer by layer in the ladder's order of inference; arguments as ``VAE.latents``."""
        if noise is None and z is None:
            noise = torch.randn(len(x), self.latent_dim, device=x.device, dtype=x.dtype)
        parts = (noise if z is None else z).split(self.layer_dims, dim=-1)  # noise, or the latents to evaluate

        def drawn(q: Normal, part: torch.Tensor) -> torch.Tensor:
            return q.loc + q.scale * part if z is None else part

        layers: list[LatentLayer] = []
        if self.ladder.inference == "top_down":  # z_L ~ q(z_L|x), then z_l ~ q(z_l | z_{l+1}, x)
            estimates = self.ladder.estimates(*self.encoded(x, condition))
            for layer in reversed(range(len(self.layer_dims))):
                p = None if not layers else self.ladder.conditional_prior(layer, layers[0].z, condition)
                q = estimates[layer] if p is None else precision_weighted(estimates[layer], p)
                layers.insert(0, LatentLayer(drawn(q, parts[layer]), q, p))
        else:  # z_1 ~ q(z_1|x), then z_{l+1} ~ q(z_{l+1} | z_l); each lower layer's KL is then a one-sample estimate
            mean, log_var = self.encoded(x, condition)
            q = Normal(mean, torch.exp(0.5 * log_var), validate_args=False)
            for layer in range(len(self.layer_dims)):
                if layer:
                    q = self.ladder.bottom_up[layer - 1](layers[-1].z)
                layers.append(LatentLayer(drawn(q, parts[layer]), q))
            for layer in range(len(self.layer_dims) - 1):
                layers[layer].p = self.ladder.conditional_prior(layer, layers[layer + 1].z, condition)
                layers[layer].closed_form_kl = False
        return Latents(layers, self.prior, condition)

    def posterior_parameters(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Each layer's (mean, log_var) of q(z_l | z_{l+1}, x, c) with every upper layer at its mean: each (batch, latent_dim)."""
        latents = self.latents(x, torch.zeros(len(x), self.latent_dim, device=x.device, dtype=x.dtype), condition)
        return latents.z, torch.cat([2 * layer.q.scale.log().expand_as(layer.z) for layer in latents.layers], dim=-1)

    def prior_latents(self, num_samples: int, device: torch.device | str = "cpu", condition: torch.Tensor | None = None) -> torch.Tensor:
        """z_L ~ p(z_L|c), then each z_l ~ p(z_l | z_{l+1}, c): (num_samples, latent_dim)."""
        draws = [self.prior.sample(num_samples, device, condition)]
        for layer in reversed(range(len(self.layer_dims) - 1)):
            draws.insert(0, self.ladder.conditional_prior(layer, draws[0], condition).sample())
        return torch.cat(draws, dim=-1)

    def generative(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Parameters of p(x|z_1, c): z (batch, latent_dim) -> (batch, *likelihood.param_shape); x depends on z_1 only."""
        return super().generative(z[..., : self.layer_dims[0]], condition)
