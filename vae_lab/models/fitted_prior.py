"""A prior fitted after training to the aggregate posterior: a Gaussian mixture, by EM, in plain torch.

The decoder learns from z ~ q(z|x) of the training rows. Their average, the aggregate posterior
q(z) = (1/N) sum_n q(z|x_n), rarely fills the prior p(z) it was pulled towards: a z drawn from p(z) where no
training row put mass decodes to a row unlike any (Rosca et al. 2018; the two-stage VAE of Dai & Wipf 2019;
TabSyn fits a diffusion model there). ``fit_gaussian_mixture`` fits

    p(z) = sum_k w_k N(z; mean_k, L_k L_k^T)

to draws of q(z) by expectation-maximization (Dempster et al. 1977; Bishop 2006, section 9.2.2), started from
k-means++ seeds; ``chosen_mixture`` picks the number of components by the log-likelihood of draws of rows the fit
never saw. ``GaussianMixture`` holds the result as three tensors, so it saves and loads with
``torch.load(weights_only=True)``, and samples like the model's own prior.
"""

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

Covariance = Literal["full", "diagonal"]
COVARIANCE_FLOOR = 1e-6  # added to every variance (as scikit-learn's reg_covar), so a component never collapses on a point
LOG_2PI = math.log(2 * math.pi)


class GaussianMixture(nn.Module):
    """p(z) = sum_k w_k N(z; mean_k, L_k L_k^T): means (components, dim), scale_tril (components, dim, dim), lower
    triangular with a positive diagonal (diagonal for diagonal covariances), log_weights (components,).

    Its state dict is those three tensors; ``GaussianMixture(**state)`` rebuilds it.
    """

    means: torch.Tensor
    scale_tril: torch.Tensor
    log_weights: torch.Tensor

    def __init__(self, means: torch.Tensor, scale_tril: torch.Tensor, log_weights: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("means", means)
        self.register_buffer("scale_tril", scale_tril)
        self.register_buffer("log_weights", log_weights)
        self.latent_dim = means.shape[1]

    @property
    def components(self) -> int:
        return len(self.log_weights)

    def log_prob(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """log p(z): (..., dim) -> (...). The mixture has no condition."""
        flat = z.reshape(-1, z.shape[-1]).to(self.means.dtype)
        log_joint = component_log_densities(flat, self.means, self.scale_tril) + self.log_weights
        return torch.logsumexp(log_joint, dim=1).reshape(z.shape[:-1]).to(z.dtype)

    def sample(self, num_samples: int, device: torch.device | str = "cpu", condition: torch.Tensor | None = None) -> torch.Tensor:
        """z ~ p(z): (num_samples, dim) float32, from the global random generator (``torch.manual_seed`` fixes it)."""
        component = torch.multinomial(self.log_weights.exp(), num_samples, replacement=True)
        noise = torch.randn(num_samples, self.latent_dim, 1, dtype=self.means.dtype)
        z = self.means[component] + (self.scale_tril[component] @ noise).squeeze(-1)
        return z.float().to(device)


def component_log_densities(points: torch.Tensor, means: torch.Tensor, scale_tril: torch.Tensor) -> torch.Tensor:
    """log N(x_n; mean_k, L_k L_k^T) for every point and component: points (n, dim) -> (n, components).

    With u = L^-1 (x - mean): log N = -0.5 (dim log 2 pi + |u|^2) - sum_d log L_dd. One component at a time, so the
    memory is that of the points, (n, dim), whatever the number of components.
    """
    columns = []
    for mean, tril in zip(means, scale_tril):
        whitened = torch.linalg.solve_triangular(tril, (points - mean).T, upper=False)  # (dim, n)
        log_det = torch.log(torch.diagonal(tril)).sum()
        columns.append(-0.5 * (points.shape[1] * LOG_2PI + (whitened**2).sum(dim=0)) - log_det)
    return torch.stack(columns, dim=1)


def fit_gaussian_mixture(
    points: torch.Tensor, components: int, covariance: Covariance = "full", seed: int = 0, iterations: int = 100, tolerance: float = 1e-3
) -> GaussianMixture:
    """The mixture of `components` Gaussians that EM fits to points (n, dim), in float64; deterministic given `seed`.

    Starts from k-means++ seeds (each point its nearest seed's), then alternates the E step (responsibilities
    r_nk of each component for each point) and the M step (w_k = mean_n r_nk, mean_k and covariance_k the
    r-weighted mean and covariance, plus ``COVARIANCE_FLOOR`` on the diagonal) until the mean log-likelihood
    per point rises by less than `tolerance`, or for `iterations` steps.
    """
    x = points.double()
    generator = torch.Generator().manual_seed(seed)
    seeds = kmeans_plus_plus(x, components, generator)
    nearest = torch.cdist(x, seeds).argmin(dim=1)
    responsibilities = nn.functional.one_hot(nearest, components).double()
    previous = -math.inf
    for _ in range(iterations):
        mixture = maximization(x, responsibilities, covariance)
        log_joint = component_log_densities(x, mixture.means, mixture.scale_tril) + mixture.log_weights  # (n, components)
        log_likelihood = torch.logsumexp(log_joint, dim=1, keepdim=True)
        responsibilities = torch.exp(log_joint - log_likelihood)
        mean_log_likelihood = log_likelihood.mean().item()
        if mean_log_likelihood - previous < tolerance:
            break
        previous = mean_log_likelihood
    return maximization(x, responsibilities, covariance)


def maximization(x: torch.Tensor, responsibilities: torch.Tensor, covariance: Covariance) -> GaussianMixture:
    """The M step: the mixture that maximizes sum_n sum_k r_nk log(w_k N(x_n; mean_k, cov_k)); x (n, dim), responsibilities (n, components)."""
    counts = responsibilities.sum(dim=0) + 10 * torch.finfo(x.dtype).eps  # (components,); an empty component keeps a finite mean
    means = responsibilities.T @ x / counts[:, None]
    identity = torch.eye(x.shape[1], dtype=x.dtype)
    if covariance == "full":
        covariances = torch.stack([weighted_covariance(x, mean, weights) for mean, weights in zip(means, responsibilities.T / counts[:, None])])
        scale_tril = torch.linalg.cholesky(covariances + COVARIANCE_FLOOR * identity)
    else:
        variances = (responsibilities.T @ x**2) / counts[:, None] - means**2
        scale_tril = torch.diag_embed(torch.sqrt(variances.clamp_min(0) + COVARIANCE_FLOOR))
    return GaussianMixture(means, scale_tril, torch.log(counts / counts.sum()))


def weighted_covariance(x: torch.Tensor, mean: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum_n weights_n (x_n - mean)(x_n - mean)^T: x (n, dim), mean (dim,), weights (n,) summing to one -> (dim, dim)."""
    centred = x - mean
    return centred.T @ (weights[:, None] * centred)


def kmeans_plus_plus(x: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """`count` seeds among the points x (n, dim): the first uniform, each next with probability proportional to its
    squared distance to the nearest seed so far (Arthur & Vassilvitskii 2007): (count, dim)."""
    chosen = [int(torch.randint(len(x), (1,), generator=generator))]
    squared_distance = ((x - x[chosen[0]]) ** 2).sum(dim=1)
    for _ in range(1, count):
        total = squared_distance.sum()
        weights = squared_distance / total if total > 0 else torch.full_like(squared_distance, 1 / len(x))
        chosen.append(int(torch.multinomial(weights, 1, generator=generator)))
        squared_distance = torch.minimum(squared_distance, ((x - x[chosen[-1]]) ** 2).sum(dim=1))
    return x[chosen]


def chosen_mixture(
    train: torch.Tensor, validation: torch.Tensor, candidates: Sequence[int], covariance: Covariance = "full", seed: int = 0
) -> tuple[GaussianMixture, dict[int, float]]:
    """The mixture fitted to train (n, dim) whose mean log-likelihood of validation (m, dim) is highest among the
    `candidates` numbers of components (those up to n), and that log-likelihood per candidate."""
    fitted = {count: fit_gaussian_mixture(train, count, covariance, seed) for count in candidates if count <= len(train)}
    scores = {count: mixture.log_prob(validation.double()).mean().item() for count, mixture in fitted.items()}
    return fitted[max(scores, key=scores.__getitem__)], scores
