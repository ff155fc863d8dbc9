"""The variational autoencoder: p(x, z) = p(x|z) p(z), with q(z|x) amortized by an encoder.

    log p(x) = ELBO + KL(q(z|x) || p(z|x)) >= ELBO
    ELBO     = E_q(z|x)[log p(x|z)] - KL(q(z|x) || p(z))

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
from vae_lab.models.priors import kl_to_standard_normal


@dataclass
class ELBOTerms:
    """Per-example terms of the negative ELBO, in nats.

    recon_loss: (batch,) -log p(x|z) at z ~ q(z|x), a one-sample estimate of -E_q[log p(x|z)]
    kl: (batch,) KL(q(z|x) || p(z))
    kl_per_dim: (batch, latent_dim) KL(q(z_d|x) || N(0, 1)) per latent dimension, for diagnostics
        (active units, posterior collapse); sums to ``kl`` under the standard normal prior.
    """

    recon_loss: torch.Tensor
    kl: torch.Tensor
    kl_per_dim: torch.Tensor

    @property
    def elbo(self) -> torch.Tensor:
        """ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)): (batch,)."""
        return -(self.recon_loss + self.kl)


class VAE(nn.Module):
    """Encoder, decoder, likelihood and prior, and the ELBO that ties them together."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, likelihood: Likelihood, prior: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood
        self.prior = prior
        self.math_compiled = False

    @property
    def latent_dim(self) -> int:
        return self.prior.latent_dim  # type: ignore[return-value]  # an int attribute, typed by nn.Module as Tensor | Module

    def compile_math(self) -> "VAE":
        """Compile the ELBO and the importance weights (encoder, decoder, likelihood, prior, KL) with
        torch.compile, in place: parameters and state-dict keys stay as they are, so compiled and eager
        checkpoints load into each other. Every user of ``elbo_terms`` and ``log_importance_weights``
        (training, validation, ``iwae_bound``, evaluation) then runs the compiled code."""
        self.elbo_terms = CompiledOrEager(self.elbo_terms)  # type: ignore[method-assign]  # the same call, compiled
        self.log_importance_weights = CompiledOrEager(self.log_importance_weights)  # type: ignore[method-assign]
        self.math_compiled = True
        return self

    def inference(self, x: torch.Tensor) -> Normal:
        """q(z|x) = N(mean, diag(exp(log_var))): x (batch, *data_shape) -> batch shape (batch, latent_dim)."""
        mean, log_var = self.encoder(x)
        return Normal(mean, torch.exp(0.5 * log_var), validate_args=False)

    def generative(self, z: torch.Tensor) -> torch.Tensor:
        """Parameters of p(x|z): z (batch, latent_dim) -> (batch, *likelihood.param_shape)."""
        return self.decoder(z)

    def elbo_terms(self, x: torch.Tensor, mask: torch.Tensor | None = None, noise: torch.Tensor | None = None) -> ELBOTerms:
        """The ELBO's terms for a batch x: (batch, *data_shape).

        noise: (batch, latent_dim) standard normal draws to use instead of fresh ones (fixed noise
        makes evaluation independent of batching and device count).
        """
        q = self.inference(x)
        if noise is None:
            noise = torch.randn_like(q.loc)
        z = q.loc + q.scale * noise  # reparameterization trick: differentiable in (mean, std)
        log_px_given_z = self.likelihood.log_prob(x, self.generative(z), mask)
        return ELBOTerms(recon_loss=-log_px_given_z, kl=self.prior.kl(q, z), kl_per_dim=kl_to_standard_normal(q))

    def log_importance_weights(
        self,
        x: torch.Tensor,
        num_samples: int,
        mask: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        kl_weight: float = 1.0,
    ) -> torch.Tensor:
        """log w_k = log p(x, z_k) - log q(z_k|x) for z_k ~ q(z|x): (num_samples, batch).

        log mean_k w_k is an importance-sampled estimate of log p(x) (Burda et al. 2016); it is a
        lower bound in expectation that tightens as num_samples grows.
        noise: (num_samples, batch, latent_dim) standard normal draws to use instead of fresh ones.
        kl_weight: weight of log p(z) - log q(z|x), as beta weighs the KL in the ELBO (1: the bound).
        """
        q = self.inference(x)
        if noise is None:
            noise = torch.randn(num_samples, *q.loc.shape, device=q.loc.device, dtype=q.loc.dtype)
        z = q.loc + q.scale * noise  # (num_samples, batch, latent_dim), reparameterized
        params = self.generative(z.flatten(0, 1))
        repeated_x = x.expand(num_samples, *x.shape).flatten(0, 1)
        repeated_mask = None if mask is None else mask.expand(num_samples, *mask.shape).flatten(0, 1)
        log_px_given_z = self.likelihood.log_prob(repeated_x, params, repeated_mask).view(num_samples, -1)
        return log_px_given_z + kl_weight * (self.prior.log_prob(z) - q.log_prob(z).sum(dim=-1))

    def iwae_bound(
        self,
        x: torch.Tensor,
        num_samples: int,
        mask: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        kl_weight: float = 1.0,
    ) -> torch.Tensor:
        """The importance-weighted bound log (1/K) sum_k w_k (Burda et al. 2016): (batch,).

        ELBO <= IWAE_K <= IWAE_{K+1} <= log p(x) in expectation; K = 1 is the ELBO with a
        one-sample Monte Carlo KL. Arguments as in ``log_importance_weights``.
        """
        log_w = self.log_importance_weights(x, num_samples, mask, noise, kl_weight)
        return torch.logsumexp(log_w, dim=0) - math.log(num_samples)

    @torch.no_grad()
    def sample(self, num_samples: int, mode: str = "mean") -> torch.Tensor:
        """Draw z ~ p(z) and decode: the mean of p(x|z) (``mode="mean"``) or a draw x ~ p(x|z) (``"sample"``)."""
        device = next(self.parameters()).device
        params = self.generative(self.prior.sample(num_samples, device))
        return self.likelihood.mean(params) if mode == "mean" else self.likelihood.sample(params)
