"""The importance-weighted bound (Burda et al. 2016) against the ELBO."""

import math

import torch

from vae_lab.models.decoders import MLPDecoder
from vae_lab.models.encoders import MLPEncoder
from vae_lab.models.likelihoods import BernoulliLikelihood
from vae_lab.models.priors import MixtureOfGaussiansPrior, StandardNormalPrior
from vae_lab.models.vae import VAE

SHAPE = (12,)


def make_vae(prior) -> VAE:
    torch.manual_seed(0)
    return VAE(MLPEncoder(SHAPE, 3, [16]), MLPDecoder(3, SHAPE, [16]), BernoulliLikelihood(SHAPE), prior)


def test_iwae_with_one_sample_is_the_elbo_with_the_same_draw():
    """Under a prior whose KL is a one-sample Monte Carlo estimate, IWAE_1 and the ELBO are the same number."""
    vae = make_vae(MixtureOfGaussiansPrior(3, num_components=4))
    x = torch.bernoulli(torch.full((8, *SHAPE), 0.3))
    noise = torch.randn(8, 3)
    assert torch.allclose(vae.iwae_bound(x, 1, noise=noise[None]), vae.elbo_terms(x, noise=noise).elbo, atol=1e-5)


def test_iwae_with_one_sample_averages_to_the_analytic_elbo():
    vae = make_vae(StandardNormalPrior(3))
    x = torch.bernoulli(torch.full((4, *SHAPE), 0.3))
    repeats = 20_000
    iwae_1 = vae.iwae_bound(x.repeat(repeats, 1), 1).view(repeats, 4).mean(0)
    elbo = vae.elbo_terms(x.repeat(repeats, 1)).elbo.view(repeats, 4).mean(0)
    assert torch.allclose(iwae_1, elbo, atol=0.05)


def test_the_bound_is_at_least_the_elbo_of_its_own_samples_and_grows_with_k():
    vae = make_vae(StandardNormalPrior(3))
    x = torch.bernoulli(torch.full((16, *SHAPE), 0.3))
    noise = torch.randn(50, 16, 3)
    log_w = vae.log_importance_weights(x, 50, noise=noise)
    bound = vae.iwae_bound(x, 50, noise=noise)
    assert torch.allclose(bound, torch.logsumexp(log_w, 0) - math.log(50))
    assert (bound >= log_w.mean(0) - 1e-6).all()  # Jensen, sample by sample
    means = [vae.iwae_bound(x.repeat(200, 1), k).view(200, 16).mean().item() for k in (1, 5, 50)]
    assert means[0] < means[1] < means[2]


def test_kl_weight_scales_the_prior_to_posterior_ratio():
    vae = make_vae(StandardNormalPrior(3))
    x = torch.bernoulli(torch.full((4, *SHAPE), 0.3))
    noise = torch.randn(7, 4, 3)
    full, none = vae.log_importance_weights(x, 7, noise=noise), vae.log_importance_weights(x, 7, noise=noise, kl_weight=0.0)
    half = vae.log_importance_weights(x, 7, noise=noise, kl_weight=0.5)
    assert torch.allclose(half, (full + none) / 2, atol=1e-5)
