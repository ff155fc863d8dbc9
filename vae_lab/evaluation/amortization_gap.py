"""The amortization gap: how much ELBO the shared encoder loses against the best q of the same family.

Cremer, Li & Duvenaud (2018), "Inference Suboptimality in Variational Autoencoders":

    log p(x) - ELBO(q_amortized) =  [log p(x) - ELBO(q*)]           approximation gap
                                 + [ELBO(q*) - ELBO(q_amortized)]   amortization gap

where q* is the best diagonal Gaussian for this one x. We approximate q* by starting from the
encoder's (mean, log-variance) and running gradient ascent on the example's own ELBO with the
decoder fixed (Adam with a cosine-decayed learning rate): the mean-field alternative to amortized inference.

What is refined is the encoder's output for x (``VAE.encoded``). In a hierarchical VAE that is x's estimate for
z_1, from which the bottom-up cells make the upper layers' and the top-down path the posterior of each layer:
q* is then the best posterior of the model's own top-down form whose input from x is free for each x.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from vae_lab.evaluation.example_noise import example_noise
from vae_lab.models.vae import VAE


class FreePosterior(nn.Module):
    """An "encoder" whose outputs are free parameters: one (mean, log_var) row per example of one batch.

    mean, log_var: (batch, latent_dim), the starting point. forward(x) returns them for that batch x.
    """

    def __init__(self, mean: torch.Tensor, log_var: torch.Tensor) -> None:
        super().__init__()
        self.mean = nn.Parameter(mean.detach().clone())
        self.log_var = nn.Parameter(log_var.detach().clone())

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The free parameters: each example's q, given its condition when the VAE is conditional."""
        if len(x) != len(self.mean):
            raise ValueError(f"this posterior holds {len(self.mean)} examples, got a batch of {len(x)}")
        return self.mean, self.log_var


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Parameters of `module` take no gradient inside the block (they are restored afterwards)."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)


def refine_posterior(
    vae: VAE,
    x: torch.Tensor,
    index: torch.Tensor,
    steps: int,
    lr: float,
    mc_samples: int = 1,
    seed: int = 0,
    mask: torch.Tensor | None = None,
    condition: torch.Tensor | None = None,
) -> VAE:
    """A VAE sharing `vae`'s decoder, likelihood and prior whose encoder is the refined q for this batch.

    x: (batch, *data_shape); index: (batch,) row numbers, which key each example's noise, so the
    result does not depend on batching. Adam on -sum_i ELBO_i: each example's parameters receive only
    the gradient of its own ELBO, so this is `batch` independent optimizations.
    """
    with torch.no_grad():
        mean, log_var = vae.encoded(x, condition)
    refined = vae.with_encoder(FreePosterior(mean, log_var))
    optimizer = torch.optim.Adam(refined.encoder.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))  # small last steps: less noise
    noise = example_noise(index, steps * mc_samples, vae.latent_dim, seed, "refinement").to(x.device, x.dtype)
    with frozen(vae), torch.enable_grad():
        for step in range(steps):
            optimizer.zero_grad(set_to_none=True)
            draws = noise[step * mc_samples : (step + 1) * mc_samples]
            elbo = torch.stack([refined.elbo_terms(x, mask, eps, condition).elbo for eps in draws]).mean(0)
            (-elbo.sum()).backward()
            optimizer.step()
            schedule.step()
    return refined
