"""The variational autoencoder: p(x, z) = p(x|z) p(z), with q(z|x) amortized by an encoder.

    log p(x) = ELBO + KL(q(z|x) || p(z|x)) >= ELBO
    ELBO     = E_q(z|x)[log p(x|z)] - KL(q(z|x) || p(z))

A conditional VAE (Sohn et al. 2015) conditions every part on c: q(z|x, c), p(x|z, c), and p(z) or
p(z|c). Every method takes ``condition`` (batch, condition_dim), None for an unconditional model, and
hands it to the encoder, decoder and prior; the formulas above hold given c.

Everything here is plain torch and works on any encoder, decoder, likelihood and prior that keep
the small contracts of ``encoders``, ``decoders``, ``likelihoods`` and ``priors``.
"""

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.distributions import Normal

from vae_lab.models.compilation import CompiledOrEager
from vae_lab.models.likelihoods import Likelihood


@dataclass
class LatentLayer:
    """One stochastic layer of a draw from q: z_l and the two densities it was drawn between.

    z: (..., batch, dim) the draw; q: q(z_l | z_{>l}, x, c) and p: p(z_l | z_{>l}, c), Normals whose batch
    shape broadcasts to z's. The top layer's prior is the model's ``prior`` module (p is None there), so a
    prior without a Normal form (a mixture, the VampPrior) serves as the top of any model. The closed form of
    KL(q(z_l | .) || p(z_l | z_{l+1})) estimates the layer's KL only where z_{l+1} was drawn before z_l (top-down
    inference); where z_l was drawn first (bottom-up inference), ``closed_form_kl`` is False.
    """

    z: torch.Tensor
    q: Normal
    p: Normal | None = None
    closed_form_kl: bool = True  # KL(q || p) in closed form at the drawn upper layers; False: log q(z_l) - log p(z_l) at z

    def kl_per_dim(self) -> torch.Tensor:
        """The KL of this lower layer per dimension: (..., batch, dim)."""
        assert self.p is not None, "the top layer's KL is the prior module's"
        if self.closed_form_kl:
            return torch.distributions.kl_divergence(self.q, self.p)
        return self.q.log_prob(self.z) - self.p.log_prob(self.z)


@dataclass
class Latents:
    """z ~ q(z|x, c), layer by layer, with what every estimator needs: the one latent interface of all models.

    layers: z_1 (the layer next to x) first, the top layer z_L last; a one-layer VAE has one.
    prior: the model's ``prior`` module, p(z_L | c) of the top layer; condition: (batch, condition_dim) or None.
    """

    layers: list[LatentLayer]
    prior: nn.Module
    condition: torch.Tensor | None = None

    @property
    def z(self) -> torch.Tensor:
        """Every layer's z side by side, z_1 first: (..., batch, latent_dim)."""
        return side_by_side([layer.z for layer in self.layers])

    @property
    def top(self) -> LatentLayer:
        return self.layers[-1]

    def log_q(self) -> torch.Tensor:
        """log q(z|x, c) = sum_l log q(z_l | z_{>l}, x, c): (..., batch)."""
        return sum_layers(layer.q.log_prob(layer.z).sum(dim=-1) for layer in self.layers)

    def log_p(self) -> torch.Tensor:
        """log p(z|c) = log p(z_L|c) + sum_{l<L} log p(z_l | z_{>l}, c): (..., batch)."""
        lower = (layer.p.log_prob(layer.z).sum(dim=-1) for layer in self.layers[:-1] if layer.p is not None)
        return sum_layers([self.prior.log_prob(self.top.z, self.condition), *lower])

    def kl(self) -> torch.Tensor:
        """KL(q(z|x, c) || p(z|c)), a one-sample estimate over the upper layers' draws: (..., batch).

        Each lower layer contributes its ``LatentLayer.kl_per_dim``; the top layer the prior's ``kl`` (closed
        form where the prior has one)."""
        lower = (layer.kl_per_dim().sum(dim=-1) for layer in self.layers[:-1])
        return sum_layers([self.prior.kl(self.top.q, self.top.z, self.condition), *lower])

    def kl_per_dim(self) -> torch.Tensor:
        """KL per latent dimension, layers side by side as in ``z``: (..., batch, latent_dim). The top layer's
        is the prior's ``kl_per_dim`` (to N(0, 1) for priors without a closed form: then it does not sum to ``kl``)."""
        per_layer = [layer.kl_per_dim() for layer in self.layers[:-1]]
        per_layer.append(self.prior.kl_per_dim(self.top.q, self.condition))
        return side_by_side(per_layer)


def side_by_side(per_layer: list[torch.Tensor]) -> torch.Tensor:
    """Per-layer tensors (..., dim_l), broadcast to one leading shape, joined on the last axis; one layer's as it is
    (no copy: the one-layer VAE's training step reads it)."""
    if len(per_layer) == 1:
        return per_layer[0]
    shape = torch.broadcast_shapes(*(part.shape[:-1] for part in per_layer))
    return torch.cat([part.expand(*shape, part.shape[-1]) for part in per_layer], dim=-1)


def sum_layers(terms) -> torch.Tensor:
    """The sum of per-layer terms that broadcast to one shape."""
    total = None
    for term in terms:
        total = term if total is None else total + term
    assert total is not None, "a model has at least one latent layer"
    return total


@dataclass
class ELBOTerms:
    """Per-example terms of the negative ELBO, in nats.

    recon_loss: (batch,) -log p(x|z) at z ~ q(z|x), a one-sample estimate of -E_q[log p(x|z)]
    kl: (batch,) KL(q(z|x) || p(z)) (a one-sample estimate over upper layers' draws in a hierarchy)
    kl_per_dim: (batch, latent_dim) KL per latent dimension (``Latents.kl_per_dim``: free bits,
        diagnostics); sums to ``kl`` under Gaussian priors (standard, conditional normal, hierarchical).
    layer_dims: the width of each stochastic layer, z_1 first: splits ``kl_per_dim`` into layers.
    """

    recon_loss: torch.Tensor
    kl: torch.Tensor
    kl_per_dim: torch.Tensor
    layer_dims: tuple[int, ...] = ()

    @property
    def elbo(self) -> torch.Tensor:
        """ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)): (batch,)."""
        return -(self.recon_loss + self.kl)

    def kl_per_layer(self) -> torch.Tensor:
        """KL of each stochastic layer, z_1 first: (batch, layers)."""
        return torch.stack([part.sum(dim=-1) for part in self.kl_per_dim.split(list(self.layer_dims), dim=-1)], dim=-1)


class VAE(nn.Module):
    """Encoder, decoder, likelihood and prior, and the ELBO that ties them together.

    Every estimator reads the latents through ``latents`` (a draw from q with its densities, layer by layer),
    ``prior_latents`` (a draw from p) and ``generative`` (z -> parameters of p(x|z)): a model with more
    stochastic layers (``hierarchical.HierarchicalVAE``) overrides those and ``posterior_parameters``, and
    everything built on them (the ELBO, IWAE bound, evaluation, sampling, pictures) serves it unchanged.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, likelihood: Likelihood, prior: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood
        self.prior = prior
        self.math_compiled = False

    @property
    def layer_dims(self) -> tuple[int, ...]:
        """The width of each stochastic layer, z_1 (next to x) first: one layer here."""
        return (int(self.prior.latent_dim),)  # type: ignore[arg-type]  # an int attribute, typed by nn.Module as Tensor | Module

    @property
    def latent_dim(self) -> int:
        """The width of z, all layers side by side: what one draw of standard-normal noise needs."""
        return sum(self.layer_dims)

    @property
    def condition_dim(self) -> int:
        """The width of the condition vectors of a conditional VAE (its decoder's ``condition_dim``); 0 otherwise."""
        return int(getattr(self.decoder, "condition_dim", 0))

    def compile_math(self) -> "VAE":
        """Compile the ELBO and the importance weights (encoder, decoder, likelihood, prior, KL) with
        torch.compile, in place: parameters and state-dict keys stay as they are, so compiled and eager
        checkpoints load into each other. Every user of ``elbo_terms`` and ``log_importance_weights``
        (training, validation, ``iwae_bound``, evaluation) then runs the compiled code."""
        self.elbo_terms = CompiledOrEager(self.elbo_terms)  # type: ignore[method-assign]  # the same call, compiled
        self.log_importance_weights = CompiledOrEager(self.log_importance_weights)  # type: ignore[method-assign]
        self.math_compiled = True
        return self

    def with_encoder(self, encoder: nn.Module) -> "VAE":
        """This model with another encoder (the same decoder, likelihood and prior modules): a refined posterior."""
        return VAE(encoder, self.decoder, self.likelihood, self.prior)

    def encoded(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's output for x (batch, *data_shape): (mean, log_var), each (batch, encoder's latent_dim)."""
        return self.encoder(x) if condition is None else self.encoder(x, condition)

    def posterior_parameters(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log_var) of q(z|x, c), each (batch, latent_dim); a hierarchy gives each layer's at the upper layers' means."""
        return self.encoded(x, condition)

    def inference(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> Normal:
        """q(z|x, c) = N(mean, diag(exp(log_var))): x (batch, *data_shape) -> batch shape (batch, latent_dim)."""
        mean, log_var = self.encoded(x, condition)
        return Normal(mean, torch.exp(0.5 * log_var), validate_args=False)

    def latents(self, x: torch.Tensor, noise: torch.Tensor | None = None, condition: torch.Tensor | None = None, z: torch.Tensor | None = None) -> Latents:
        """z ~ q(z|x, c) by the reparameterization trick, z = mean + std * noise, and its densities.

        noise: (..., batch, latent_dim) standard normal draws (None: fresh ones, one per example);
        z: (..., batch, latent_dim) latents to evaluate instead of drawing (then noise is unused).
        """
        q = self.inference(x, condition)
        if z is None:
            z = q.loc + q.scale * (torch.randn_like(q.loc) if noise is None else noise)  # differentiable in (mean, std)
        return Latents([LatentLayer(z, q)], self.prior, condition)

    def prior_latents(self, num_samples: int, device: torch.device | str = "cpu", condition: torch.Tensor | None = None) -> torch.Tensor:
        """z ~ p(z|c): (num_samples, latent_dim); condition (num_samples, condition_dim) or None."""
        return self.prior.sample(num_samples, device, condition)

    def generative(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Parameters of p(x|z, c): z (batch, latent_dim) -> (batch, *likelihood.param_shape)."""
        return self.decoder(z) if condition is None else self.decoder(z, condition)

    def elbo_terms(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, noise: torch.Tensor | None = None, condition: torch.Tensor | None = None
    ) -> ELBOTerms:
        """The ELBO's terms for a batch x: (batch, *data_shape), given condition (batch, condition_dim) or None.

        noise: (batch, latent_dim) standard normal draws to use instead of fresh ones (fixed noise
        makes evaluation independent of batching and device count).
        """
        latents = self.latents(x, noise, condition)
        log_px_given_z = self.likelihood.log_prob(x, self.generative(latents.z, condition), mask)
        return ELBOTerms(recon_loss=-log_px_given_z, kl=latents.kl(), kl_per_dim=latents.kl_per_dim(), layer_dims=self.layer_dims)

    def log_importance_weights(
        self,
        x: torch.Tensor,
        num_samples: int,
        mask: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        kl_weight: float = 1.0,
        condition: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """log w_k = log p(x, z_k | c) - log q(z_k|x, c) for z_k ~ q(z|x, c): (num_samples, batch).

        log mean_k w_k is an importance-sampled estimate of log p(x) (Burda et al. 2016); it is a
        lower bound in expectation that tightens as num_samples grows.
        noise: (num_samples, batch, latent_dim) standard normal draws to use instead of fresh ones.
        kl_weight: weight of log p(z) - log q(z|x), as beta weighs the KL in the ELBO (1: the bound).
        condition: (batch, condition_dim) or None.
        """
        if noise is None:
            noise = torch.randn(num_samples, len(x), self.latent_dim, device=x.device, dtype=x.dtype)
        latents = self.latents(x, noise, condition)  # z: (num_samples, batch, latent_dim), reparameterized
        params = self.generative(latents.z.flatten(0, 1), repeated(condition, num_samples))
        repeated_x = x.expand(num_samples, *x.shape).flatten(0, 1)
        log_px_given_z = self.likelihood.log_prob(repeated_x, params, repeated(mask, num_samples)).view(num_samples, -1)
        return log_px_given_z + kl_weight * (latents.log_p() - latents.log_q())

    def iwae_bound(
        self,
        x: torch.Tensor,
        num_samples: int,
        mask: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        kl_weight: float = 1.0,
        condition: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The importance-weighted bound log (1/K) sum_k w_k (Burda et al. 2016): (batch,).

        ELBO <= IWAE_K <= IWAE_{K+1} <= log p(x) in expectation; K = 1 is the ELBO with a
        one-sample Monte Carlo KL. Arguments as in ``log_importance_weights``.
        """
        log_w = self.log_importance_weights(x, num_samples, mask, noise, kl_weight, condition)
        return torch.logsumexp(log_w, dim=0) - math.log(num_samples)

    @torch.no_grad()
    def sample(
        self,
        num_samples: int,
        mode: str = "mean",
        condition: torch.Tensor | None = None,
        prior: nn.Module | None = None,
        offsets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Draw z ~ p(z|c) and decode: the mean of p(x|z, c) (``mode="mean"``) or a draw x ~ p(x|z, c) (``"sample"``).

        condition: (num_samples, condition_dim), one per draw, or None for an unconditional model.
        prior: a p(z) to draw from instead of the model's own (``fitted_prior.GaussianMixture``, fitted after training), or None.
        offsets: (*param_shape,) added to the likelihood's parameters (``share_calibration.share_offsets``), or None.
        """
        device = next(self.parameters()).device
        condition = None if condition is None else condition.to(device)
        z = self.prior_latents(num_samples, device, condition) if prior is None else prior.sample(num_samples, device)
        params = self.generative(z, condition)
        if offsets is not None:
            params = params + offsets.to(params)
        return self.likelihood.mean(params) if mode == "mean" else self.likelihood.sample(params)


def repeated(tensor: torch.Tensor | None, times: int) -> torch.Tensor | None:
    """(batch, ...) -> (times * batch, ...): the batch once per importance sample, sample-major; None stays None."""
    return None if tensor is None else tensor.expand(times, *tensor.shape).flatten(0, 1)
