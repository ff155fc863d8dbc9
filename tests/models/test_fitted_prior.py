"""The Gaussian mixture fitted by EM to the aggregate posterior (``sample.prior=fitted``): it recovers a known mixture,
its density is the closed form and integrates to one, it draws what it models, and it is the same on every fit."""

import io
import math

import torch
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from vae_lab.models.fitted_prior import COVARIANCE_FLOOR, GaussianMixture, chosen_mixture, fit_gaussian_mixture

WEIGHTS = torch.tensor([0.3, 0.7], dtype=torch.float64)
MEANS = torch.tensor([[-3.0, 1.0], [2.0, -1.0]], dtype=torch.float64)
COVARIANCES = torch.tensor([[[1.0, 0.8], [0.8, 1.0]], [[0.25, 0.0], [0.0, 0.5]]], dtype=torch.float64)


def known_mixture() -> MixtureSameFamily:
    return MixtureSameFamily(Categorical(probs=WEIGHTS), MultivariateNormal(MEANS, covariance_matrix=COVARIANCES))


def draws(count: int, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    return known_mixture().sample((count,))


def in_order(mixture: GaussianMixture) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weights, means and covariances with the components sorted by their first mean coordinate (EM's order is arbitrary)."""
    order = mixture.means[:, 0].argsort()
    covariances = mixture.scale_tril @ mixture.scale_tril.transpose(1, 2)
    return mixture.log_weights.exp()[order], mixture.means[order], covariances[order]


def test_em_on_draws_of_a_known_two_component_mixture_recovers_its_weights_means_and_covariances():
    weights, means, covariances = in_order(fit_gaussian_mixture(draws(20_000, seed=0), components=2))
    assert torch.allclose(weights, WEIGHTS, atol=0.01)
    assert torch.allclose(means, MEANS, atol=0.03)
    assert torch.allclose(covariances, COVARIANCES, atol=0.03)


def test_one_component_is_the_sample_mean_and_covariance_in_closed_form():
    x = draws(500, seed=1)
    full = fit_gaussian_mixture(x, components=1)
    centred = x - x.mean(dim=0)
    assert torch.allclose(full.means[0], x.mean(dim=0))
    assert torch.allclose(full.scale_tril[0] @ full.scale_tril[0].T, centred.T @ centred / len(x) + COVARIANCE_FLOOR * torch.eye(2))
    diagonal = fit_gaussian_mixture(x, components=1, covariance="diagonal")
    assert torch.allclose(diagonal.scale_tril[0], torch.diag(torch.sqrt(x.var(dim=0, unbiased=False) + COVARIANCE_FLOOR)))


def test_the_density_is_the_mixture_of_multivariate_normals_and_integrates_to_one():
    mixture = fit_gaussian_mixture(draws(2000, seed=2), components=2)
    expected = MixtureSameFamily(Categorical(logits=mixture.log_weights), MultivariateNormal(mixture.means, scale_tril=mixture.scale_tril))
    z = draws(100, seed=3)
    assert torch.allclose(mixture.log_prob(z), expected.log_prob(z))

    step = 0.05  # the density on a grid that holds all but a negligible part of the mass, summed as a Riemann sum
    axis = torch.arange(-10, 10, step, dtype=torch.float64) + step / 2
    grid = torch.cartesian_prod(axis, axis)
    assert math.isclose(mixture.log_prob(grid).exp().sum().item() * step**2, 1.0, abs_tol=1e-4)


def test_draws_have_the_mixtures_mean_and_covariance():
    mixture = GaussianMixture(MEANS, torch.linalg.cholesky(COVARIANCES), WEIGHTS.log())
    torch.manual_seed(4)
    z = mixture.sample(200_000).double()
    mean = (WEIGHTS[:, None] * MEANS).sum(dim=0)
    second_moment = (WEIGHTS[:, None, None] * (COVARIANCES + MEANS[:, :, None] * MEANS[:, None, :])).sum(dim=0)
    assert torch.allclose(z.mean(dim=0), mean, atol=0.02)
    assert torch.allclose(torch.cov(z.T), second_moment - mean[:, None] * mean[None, :], atol=0.05)


def test_the_number_of_components_is_chosen_on_held_out_draws():
    mixture, scores = chosen_mixture(draws(5000, seed=5), draws(2000, seed=6), candidates=(1, 2, 4))
    assert set(scores) == {1, 2, 4} and mixture.components == max(scores, key=scores.__getitem__)
    assert scores[2] > scores[1] + 0.1  # one Gaussian cannot model two separated ones
    truth = known_mixture().log_prob(draws(2000, seed=6)).mean().item()
    assert abs(scores[mixture.components] - truth) < 0.02


def test_a_fit_is_the_same_every_time_and_its_state_loads_as_plain_tensors():
    x = draws(3000, seed=7)
    first, second = fit_gaussian_mixture(x, components=4, seed=0), fit_gaussian_mixture(x, components=4, seed=0)
    assert all(torch.equal(first.state_dict()[key], second.state_dict()[key]) for key in first.state_dict())
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    loaded = GaussianMixture(**torch.load(buffer, weights_only=True))
    assert torch.equal(loaded.log_prob(x), first.log_prob(x))
