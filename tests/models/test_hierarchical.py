"""Hierarchical VAEs against closed forms: a two-layer linear-Gaussian model with an exact posterior."""

import pytest
import torch
from conftest import compose_train
from torch.distributions import Normal, kl_divergence

from vae_lab.errors import ConfigError
from vae_lab.evaluation.example_noise import example_noise
from vae_lab.evaluation.importance_sampling import importance_sampled_log_likelihood
from vae_lab.evaluation.latent_usage import latent_usage
from vae_lab.evaluation.linear_gaussian import LATENT_DIM, TOP_DIM, TwoLayerLinearGaussian
from vae_lab.models.decoders import MLPDecoder
from vae_lab.models.encoders import MLPEncoder
from vae_lab.models.hierarchical import HierarchicalVAE, Ladder
from vae_lab.models.likelihoods import BernoulliLikelihood
from vae_lab.models.priors import ConditionalNormalPrior, StandardNormalPrior
from vae_lab.models.vae import ELBOTerms
from vae_lab.training.assembly import build_vae
from vae_lab.training.module import VAEModule

MODEL = TwoLayerLinearGaussian()
X = MODEL.sample(1000)
INDEX = torch.arange(len(X))
LOG_PX = MODEL.log_likelihood(X)
INFERENCES = ("top_down", "bottom_up")


def estimate(vae, num_samples: int, seed: int = 0) -> torch.Tensor:
    noise = example_noise(INDEX, num_samples, LATENT_DIM + TOP_DIM, seed)
    with torch.no_grad():
        return importance_sampled_log_likelihood(vae, X, num_samples, 1000, noise=noise).double()


def mean_elbo(vae, draws: int = 50) -> torch.Tensor:
    """Each example's ELBO averaged over `draws` draws of its own noise: (n,) float64."""
    noise = example_noise(INDEX, draws, LATENT_DIM + TOP_DIM, seed=5)
    with torch.no_grad():
        return torch.stack([vae.elbo_terms(X, noise=eps).elbo.double() for eps in noise]).mean(0)


@pytest.mark.parametrize("inference", INFERENCES)
def test_with_the_exact_posterior_the_estimate_is_exact_for_every_k(inference):
    exact = MODEL.vae(inference=inference)
    for num_samples in (1, 7, 1000):
        assert (estimate(exact, num_samples) - LOG_PX).abs().max() < 1e-4


@pytest.mark.parametrize("inference", INFERENCES)
def test_with_a_perturbed_posterior_elbo_lt_estimate_lt_log_px_and_within_0_05_at_k_1000(inference):
    perturbed = MODEL.vae(mean_shift=1.0, inference=inference)
    elbo, log_px = mean_elbo(perturbed).mean(), LOG_PX.mean()
    estimates = [estimate(perturbed, k).mean() for k in (10, 100, 1000)]
    assert elbo + 0.5 < log_px  # the perturbation matters
    assert elbo < estimates[0] < estimates[1] < estimates[2] < log_px
    assert log_px - estimates[2] < 0.05


def test_the_elbo_falls_short_of_log_px_by_the_kl_of_the_top_layers_posterior():
    """Top-down, q(z_1 | z_2, x) stays exact when q(z_2|x) is perturbed, so log p(x) - ELBO = KL(q(z_2|x) || p(z_2|x))."""
    perturbed = MODEL.vae(mean_shift=0.7, std_factor=1.4)
    with torch.no_grad():
        q_top = perturbed.ladder.estimates(*perturbed.encoded(X))[1]
    kl = kl_divergence(Normal(q_top.loc.double(), q_top.scale.double()), MODEL.top_posterior(X)).sum(dim=1)
    assert kl.min() > 0.1
    gap = (LOG_PX - mean_elbo(perturbed, draws=200)).mean()
    assert gap.item() == pytest.approx(kl.mean().item(), abs=0.03)


def test_kl_per_layer_adds_up_and_the_usage_of_each_layer_is_its_own():
    vae = MODEL.vae()
    terms = vae.elbo_terms(X)
    assert vae.layer_dims == (LATENT_DIM, TOP_DIM) and vae.latent_dim == LATENT_DIM + TOP_DIM
    assert torch.allclose(terms.kl_per_layer().sum(dim=1), terms.kl, atol=1e-5)
    usage = latent_usage(vae, [X])
    assert [layer.kl for layer in usage.layers()] == pytest.approx(usage.kl_per_layer)
    # A's middle row is zero: z_1's middle coordinate does not depend on z_2, while x informs all three.
    assert usage.active_units_per_layer == [LATENT_DIM, TOP_DIM]
    means, _ = vae.posterior_parameters(X)
    exact_top = MODEL.top_posterior(X).loc
    assert torch.allclose(means[:, LATENT_DIM:].double(), exact_top, atol=1e-4)


def test_prior_draws_follow_the_generative_model():
    """z ~ p(z) of the linear model: Cov(z_1) = s_1^2 I + A A^T, z_2 ~ N(0, I)."""
    vae = MODEL.vae()
    torch.manual_seed(0)
    z = vae.prior_latents(200_000).double()
    covariance = torch.cov(z.T)
    expected_middle = 0.7**2 * torch.eye(LATENT_DIM, dtype=torch.float64) + MODEL.A @ MODEL.A.T
    assert torch.allclose(covariance[:LATENT_DIM, :LATENT_DIM], expected_middle, atol=0.03)
    assert torch.allclose(covariance[LATENT_DIM:, LATENT_DIM:], torch.eye(TOP_DIM, dtype=torch.float64), atol=0.02)
    assert torch.allclose(z[:, :LATENT_DIM].mean(0), MODEL.a, atol=0.02)


def test_three_layers_and_a_condition_run_through_every_estimator():
    condition_dim, data_shape = 3, (1, 6, 6)
    ladder = Ladder(8, [4, 2], hidden_sizes=[16], condition_dim=condition_dim)
    vae = HierarchicalVAE(
        MLPEncoder(data_shape, 8, [16], condition_dim=condition_dim), MLPDecoder(8, data_shape, [16], condition_dim=condition_dim),
        BernoulliLikelihood(data_shape), ConditionalNormalPrior(2, condition_dim), ladder,
    )  # fmt: skip
    x = torch.rand(5, *data_shape).round()
    condition = torch.eye(condition_dim)[torch.tensor([0, 1, 2, 0, 1])]
    terms = vae.elbo_terms(x, condition=condition)
    assert terms.kl_per_layer().shape == (5, 3) and torch.allclose(terms.kl_per_layer().sum(1), terms.kl, atol=1e-5)
    assert vae.iwae_bound(x, 6, condition=condition).shape == (5,)
    assert vae.sample(5, condition=condition).shape == (5, *data_shape)
    with pytest.raises(ValueError, match="conditional"):
        vae.elbo_terms(x)


def test_free_bits_per_layer_clamp_each_layers_batch_mean_kl():
    kl_per_dim = torch.tensor([[0.1, 0.2, 0.05], [0.3, 0.0, 0.05]])  # layers of 2 and 1 dimensions
    terms = ELBOTerms(recon_loss=torch.zeros(2), kl=kl_per_dim.sum(1), kl_per_dim=kl_per_dim, layer_dims=(2, 1))
    vae = MODEL.vae()
    per_layer = VAEModule(vae, torch.optim.Adam, free_bits=0.25, free_bits_per="layer").training_loss(terms, kl_weight=1.0)
    per_dim = VAEModule(vae, torch.optim.Adam, free_bits=0.25).training_loss(terms, kl_weight=1.0)
    assert per_layer.item() == pytest.approx(max(0.25, 0.3) + max(0.25, 0.05))  # layer means: 0.3 and 0.05
    assert per_dim.item() == pytest.approx(0.25 * 3)  # every dimension's mean is under 0.25


def test_a_vamp_prior_cannot_top_a_hierarchy(tmp_path):
    cfg = compose_train(["data=ring", "likelihood=gaussian", "hierarchy=ladder", "prior=vamp"], tmp_path)
    with pytest.raises(ConfigError, match="top layer"):
        build_vae(cfg, (2,))


def test_standard_prior_is_the_top_layers():
    vae = MODEL.vae()
    assert isinstance(vae.prior, StandardNormalPrior) and vae.prior.latent_dim == TOP_DIM
