"""Each likelihood's log p(x|z) against torch.distributions, on random inputs."""

import pytest
import torch
from torch.distributions import Bernoulli, Normal

from vae_lab.errors import ConfigError, DataError
from vae_lab.models.likelihoods import BernoulliLikelihood, GaussianLikelihood, softplus
from vae_lab.models.pixel_likelihoods import DiscretizedLogisticMixture

SHAPE = (1, 6, 5)


def test_bernoulli_log_prob_equals_torch_distributions():
    logits = 4 * torch.randn(8, *SHAPE)
    x = torch.bernoulli(torch.full((8, *SHAPE), 0.3))
    expected = Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(BernoulliLikelihood(SHAPE).log_prob(x, logits), expected, atol=1e-5)


def test_bernoulli_is_normalized_over_binary_data():
    """Summing p(x|z) over all 2^4 binary x of a 4-pixel image gives 1."""
    likelihood = BernoulliLikelihood((4,))
    logits = torch.randn(1, 4)
    all_x = torch.tensor([[(i >> b) & 1 for b in range(4)] for i in range(16)], dtype=torch.float)
    total = likelihood.log_prob(all_x, logits.expand(16, 4)).exp().sum()
    assert torch.isclose(total, torch.tensor(1.0), atol=1e-5)


def test_bernoulli_with_saturated_logits_stays_finite():
    logits = torch.tensor([[200.0, -200.0]])
    x = torch.tensor([[0.0, 1.0]])
    log_p = BernoulliLikelihood((2,)).log_prob(x, logits)
    assert torch.isfinite(log_p).all() and torch.isclose(log_p, torch.tensor([-400.0]))


def test_the_compiled_softplus_equals_softplus_and_so_the_compiled_bernoulli_is_normalized():
    """softplus's compiled form max(l, 0) + log(1 + exp(-|l|)): the same values and gradients, saturated logits included."""
    logits = torch.cat([torch.linspace(-120, 120, 2001), torch.tensor([-1e-6, 1e-6, 88.0, -88.0])]).double()
    exact = torch.logaddexp(torch.zeros_like(logits), logits)  # log(1 + exp(l)), no threshold
    for dtype, tolerance in ((torch.float64, 1e-13), (torch.float32, 2e-7)):
        inputs = logits.to(dtype).requires_grad_()
        compiled = torch.compile(softplus)(inputs)
        (gradient,) = torch.autograd.grad(compiled.sum(), inputs)
        torch.testing.assert_close(compiled.double(), exact, rtol=tolerance, atol=tolerance)
        torch.testing.assert_close(gradient.double(), torch.sigmoid(logits), rtol=tolerance, atol=tolerance)
    likelihood, four_pixel_logits = BernoulliLikelihood((4,)), torch.randn(1, 4)
    all_x = torch.tensor([[(i >> b) & 1 for b in range(4)] for i in range(16)], dtype=torch.float)
    total = torch.compile(likelihood.log_prob)(all_x, four_pixel_logits.expand(16, 4)).exp().sum()
    assert torch.isclose(total, torch.tensor(1.0), atol=1e-5)


def test_bernoulli_rejects_data_outside_unit_interval():
    with pytest.raises(DataError, match=r"likelihood=bernoulli needs data in \[0, 1\].*'ring'.*gaussian"):
        BernoulliLikelihood((2,)).check_data(torch.tensor([[-0.5, 1.2]]), "ring")
    BernoulliLikelihood((2,)).check_data(torch.tensor([[0.0, 0.7]]), "mnist")


@pytest.mark.parametrize("sigma", [0.1, 1.0, 3.0])
def test_gaussian_fixed_sigma_equals_torch_distributions(sigma):
    mean, x = torch.randn(8, *SHAPE), torch.randn(8, *SHAPE)
    expected = Normal(mean, sigma).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(GaussianLikelihood(SHAPE, sigma=sigma).log_prob(x, mean), expected, atol=1e-4)


def test_gaussian_learned_sigma_equals_torch_distributions_and_gets_gradients():
    likelihood = GaussianLikelihood(SHAPE, sigma=0.5, learn_sigma=True)
    with torch.no_grad():
        likelihood.raw_sigma.normal_()
    mean, x = torch.randn(8, *SHAPE), torch.randn(8, *SHAPE)
    sigma = likelihood.sigma(mean)
    assert sigma.shape == SHAPE
    expected = Normal(mean, sigma).log_prob(x).flatten(1).sum(1)
    log_p = likelihood.log_prob(x, mean)
    assert torch.allclose(log_p, expected, atol=1e-4)
    log_p.sum().backward()
    assert likelihood.raw_sigma.grad is not None and likelihood.raw_sigma.grad.abs().sum() > 0


def test_gaussian_learned_sigma_starts_at_sigma_and_stays_within_bounds():
    likelihood = GaussianLikelihood((3,), sigma=0.5, learn_sigma=True, sigma_min=0.01, sigma_max=2.0)
    assert torch.allclose(likelihood.sigma(torch.zeros(1)), torch.tensor(0.5))
    with torch.no_grad():
        likelihood.raw_sigma.copy_(torch.tensor([-1e4, 0.0, 1e4]))
    sigma = likelihood.sigma(torch.zeros(1))
    assert sigma.min() >= 0.01 and sigma.max() <= 2.0


def test_gaussian_rejects_inconsistent_sigma_bounds():
    with pytest.raises(ConfigError, match="sigma_min"):
        GaussianLikelihood((3,), sigma=5.0, sigma_max=2.0)


def test_mask_removes_missing_cells_from_the_sum():
    likelihood = GaussianLikelihood((4,))
    mean, x = torch.randn(3, 4), torch.randn(3, 4)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=torch.bool)
    expected = (Normal(mean, 1.0).log_prob(x) * mask).sum(1)
    assert torch.allclose(likelihood.log_prob(x, mean, mask), expected)
    assert likelihood.log_prob(x, mean, mask)[2] == 0


def test_samples_and_means_have_data_shape():
    params = torch.randn(5, *SHAPE)
    for likelihood in (BernoulliLikelihood(SHAPE), GaussianLikelihood(SHAPE, learn_sigma=True)):
        assert likelihood.mean(params).shape == (5, *SHAPE)
        assert likelihood.sample(params).shape == (5, *SHAPE)
    binary = BernoulliLikelihood(SHAPE).sample(params)
    assert set(binary.unique().tolist()) <= {0.0, 1.0}


def pixel_values(batch: int, shape: tuple[int, ...], dtype=torch.float64) -> torch.Tensor:
    """Every pixel value v / 255, v = 0..255, for each of `batch` examples: (256 * batch, *shape)."""
    levels = torch.arange(256, dtype=dtype) / 255
    return levels.view(256, 1, *[1] * len(shape)).expand(256, batch, *shape).reshape(-1, *shape)


@pytest.mark.parametrize("scale", [0.1, 3.0, 30.0])
def test_discretized_logistic_probabilities_of_the_256_values_sum_to_one(scale):
    likelihood = DiscretizedLogisticMixture((2, 3, 3), components=3)
    params = (torch.randn(4, *likelihood.param_shape, generator=torch.Generator().manual_seed(0)) * scale).double()
    log_p = likelihood.elementwise_log_prob(pixel_values(4, (2, 3, 3)), params.repeat(256, 1, 1, 1)).view(256, 4, 2, 3, 3)
    assert torch.isfinite(log_p).all()
    assert torch.allclose(log_p.logsumexp(dim=0).exp(), torch.ones(4, 2, 3, 3, dtype=torch.float64), atol=1e-9)


def test_discretized_logistic_with_one_component_is_the_logistic_cdf_difference():
    likelihood = DiscretizedLogisticMixture((1, 1, 1), components=1)
    mean, log_scale = 0.2, -2.0
    params = torch.tensor([[0.0, mean, log_scale]], dtype=torch.float64).view(1, 3, 1, 1)
    x = torch.tensor([100 / 255], dtype=torch.float64).view(1, 1, 1, 1)
    y, s = 2 * 100 / 255 - 1, torch.tensor(log_scale, dtype=torch.float64).exp()
    expected = torch.sigmoid((y + 1 / 255 - mean) / s) - torch.sigmoid((y - 1 / 255 - mean) / s)
    assert likelihood.log_prob(x, params).exp().item() == pytest.approx(expected.item(), rel=1e-9)


def test_discretized_logistic_samples_are_pixel_values_and_refuses_other_data():
    likelihood = DiscretizedLogisticMixture((3, 4, 4))
    params = torch.randn(5, *likelihood.param_shape)
    samples = likelihood.sample(params)
    assert samples.shape == (5, 3, 4, 4) and torch.equal(samples * 255, torch.round(samples * 255))
    assert 0 <= likelihood.mean(params).min() and likelihood.mean(params).max() <= 1
    with pytest.raises(DataError, match="8-bit pixels"):
        likelihood.check_data(torch.full((2, 3, 4, 4), 0.5), "halves")
