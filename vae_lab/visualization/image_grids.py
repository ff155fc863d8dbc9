"""Image grids of what a VAE does with images x: (n, channels, height, width).

Decoded images are the mean of p(x|z) (for a Bernoulli likelihood, pixel probabilities), clamped to
[0, 1]. Latent codes of inputs are posterior means E_q[z|x]. For a conditional VAE every function takes
the condition (n, condition_dim) of its inputs or draws: codes are decoded with the condition they came with.
"""

import torch

from vae_lab.models.vae import VAE
from vae_lab.visualization.images import grid_to_image


@torch.no_grad()
def decode(vae: VAE, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
    """The mean of p(x|z, c): z (n, latent_dim) -> (n, *data_shape) in [0, 1]."""
    return vae.likelihood.mean(vae.generative(z, condition)).clamp(0, 1)


@torch.no_grad()
def encode(vae: VAE, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
    """Posterior means E_q[z|x, c]: x (n, *data_shape) -> (n, latent_dim)."""
    return vae.posterior_parameters(x, condition)[0]


def repeat_rows(condition: torch.Tensor | None, times: int) -> torch.Tensor | None:
    """Each row of condition (n, width) `times` times in a row: (n * times, width); None stays None."""
    return None if condition is None else condition.repeat_interleave(times, dim=0)


def reconstruction_grid(vae: VAE, x: torch.Tensor, per_row: int = 8, condition: torch.Tensor | None = None) -> torch.Tensor:
    """Inputs and their reconstructions in alternating rows: a row of `per_row` inputs, then theirs."""
    reconstructions = decode(vae, encode(vae, x, condition), condition)
    rows = []
    for start in range(0, len(x), per_row):
        rows += [x[start : start + per_row], reconstructions[start : start + per_row]]
    return grid_to_image(torch.cat(rows), per_row)


def prior_sample_grid(vae: VAE, z: torch.Tensor, per_row: int = 8, condition: torch.Tensor | None = None) -> torch.Tensor:
    """Decoded draws z ~ p(z): z (n, latent_dim), given condition (n, width) or None."""
    return grid_to_image(decode(vae, z, condition), per_row)


def traversal_grid(vae: VAE, x: torch.Tensor, dims: list[int], span: float = 3.0, steps: int = 9, condition: torch.Tensor | None = None) -> torch.Tensor:
    """One row per latent dimension in `dims`: the code of the single input x (1, *data_shape), with that
    dimension set to `steps` values from -span to span (in prior standard deviations).
    """
    z = encode(vae, x, condition)[0]
    values = torch.linspace(-span, span, steps, device=z.device)
    codes = z.repeat(len(dims), steps, 1)  # (rows, steps, latent_dim)
    for row, dim in enumerate(dims):
        codes[row, :, dim] = values
    return grid_to_image(decode(vae, codes.flatten(0, 1), repeat_rows(condition, len(dims) * steps)), steps)


def interpolation_grid(
    vae: VAE, x_start: torch.Tensor, x_end: torch.Tensor, steps: int = 9, condition_start: torch.Tensor | None = None,
    condition_end: torch.Tensor | None = None,
) -> torch.Tensor:  # fmt: skip
    """One row per pair (x_start[i], x_end[i]): decoded codes on the line between their posterior means
    (a conditional VAE decodes the whole row with the start's condition)."""
    start, end = encode(vae, x_start, condition_start), encode(vae, x_end, condition_end)
    weights = torch.linspace(0, 1, steps, device=start.device)[None, :, None]
    codes = start[:, None] + weights * (end - start)[:, None]  # (pairs, steps, latent_dim)
    return grid_to_image(decode(vae, codes.flatten(0, 1), repeat_rows(condition_start, steps)), steps)
