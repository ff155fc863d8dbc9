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
class ELBOTerms:
    """Per-example terms of the negative ELBO, in nats.

    recon_loss: (batch,) -log p(x|z) at z ~ q(z|x), a one-sample estimate of -E_q[log p(x|z)]
    kl: (batch,) KL(q(z|x) || p(z))
    kl_per_dim: (batch, latent_dim) the prior's ``kl_per_dim``: KL per latent dimension (free bits,
        diagnostics); sums to ``kl`` under a Gaussian prior (standard or conditional normal).
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

    def posterior_parameters(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's (mean, log_var) of q(z|x, c): x (batch, *data_shape) -> each (batch, latent_dim)."""
        return self.encoder(x) if condition is None else self.encoder(x, condition)

    def inference(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> Normal:
        """q(z|x, c) = N(mean, diag(exp(log_var))): x (batch, *data_shape) -> batch shape (batch, latent_dim)."""
        mean, log_var = self.posterior_parameters(x, condition)
        return Normal(mean, torch.exp(0.5 * log_var), validate_args=False)

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
        q = self.inference(x, condition)
        if noise is None:
            noise = torch.randn_like(q.loc)
        z = q.loc + q.scale * noise  # reparameterization trick: differentiable in (mean, std)
        log_px_given_z = self.likelihood.log_prob(x, self.generative(z, condition), mask)
        return ELBOTerms(recon_loss=-log_px_given_z, kl=self.prior.kl(q, z, condition), kl_per_dim=self.prior.kl_per_dim(q, condition))

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
        q = self.inference(x, condition)
        if noise is None:
            noise = torch.randn(num_samples, *q.loc.shape, device=q.loc.device, dtype=q.loc.dtype)
        z = q.loc + q.scale * noise  # (num_samples, batch, latent_dim), reparameterized
        params = self.generative(z.flatten(0, 1), repeated(condition, num_samples))
        repeated_x = x.expand(num_samples, *x.shape).flatten(0, 1)
        log_px_given_z = self.likelihood.log_prob(repeated_x, params, repeated(mask, num_samples)).view(num_samples, -1)
        return log_px_given_z + kl_weight * (self.prior.log_prob(z, condition) - q.log_prob(z).sum(dim=-1))

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
    def sample(self, num_samples: int, mode: str = "mean", condition: torch.Tensor | None = None) -> torch.Tensor:
        """Draw z ~ p(z|c) and decode: the mean of p(x|z, c) (``mode="mean"``) or a draw x ~ p(x|z, c) (``"sample"``).

        condition: (num_samples, condition_dim), one per draw, or None for an unconditional model.
        """
        device = next(self.parameters()).device
        condition = None if condition is None else condition.to(device)
        params = self.generative(self.prior.sample(num_samples, device, condition), condition)
        return self.likelihood.mean(params) if mode == "mean" else self.likelihood.sample(params)


def repeated(tensor: torch.Tensor | None, times: int) -> torch.Tensor | None:
    """(batch, ...) -> (times * batch, ...): the batch once per importance sample, sample-major; None stays None."""
    return None if tensor is None else tensor.expand(times, *tensor.shape).flatten(0, 1)
