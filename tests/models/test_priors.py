"""Learned priors against torch.distributions, and inside a VAE."""

import math

import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from vae_lab.models.decoders import MLPDecoder
from vae_lab.models.encoders import MLPEncoder
from vae_lab.models.likelihoods import BernoulliLikelihood
from vae_lab.models.priors import MixtureOfGaussiansPrior, StandardNormalPrior, VampPrior, gaussian_mixture_log_prob
from vae_lab.models.vae import VAE


def torch_mixture(means, log_vars, log_weights):
    components = Independent(Normal(means, torch.exp(0.5 * log_vars)), 1)
    return MixtureSameFamily(Categorical(logits=log_weights), components)


def test_mixture_log_prob_equals_torch_distributions():
    torch.manual_seed(0)
    means, log_vars, log_weights = torch.randn(7, 3), torch.randn(7, 3) - 1, torch.log_softmax(torch.randn(7), 0)
    z = torch.randn(5, 11, 3)
    expected = torch_mixture(means, log_vars, log_weights).log_prob(z)
    assert torch.allclose(gaussian_mixture_log_prob(z, means, log_vars, log_weights), expected, atol=1e-4)


def test_one_component_mixture_is_the_standard_normal():
    z = torch.randn(20, 4)
    log_prob = gaussian_mixture_log_prob(z, torch.zeros(1, 4), torch.zeros(1, 4), torch.zeros(1))
    assert torch.allclose(log_prob, StandardNormalPrior(4).log_prob(z), atol=1e-5)


def test_mixture_of_gaussians_prior_samples_follow_its_density():
    torch.manual_seed(0)
    prior = MixtureOfGaussiansPrior(2, num_components=3)
    with torch.no_grad():
        prior.means.copy_(torch.tensor([[-4.0, 0.0], [0.0, 4.0], [4.0, 0.0]]))
        prior.weight_logits.copy_(torch.log(torch.tensor([0.2, 0.3, 0.5])))
    samples = prior.sample(50_000)
    assert abs((samples[:, 0] > 2).float().mean().item() - 0.5) < 0.01
    expected = torch_mixture(prior.means, prior.log_vars, torch.log_softmax(prior.weight_logits, 0)).log_prob(samples)
    assert torch.allclose(prior.log_prob(samples), expected, atol=1e-4)


def test_vamp_prior_is_the_average_encoder_posterior_over_pseudo_inputs():
    torch.manual_seed(0)
    encoder = MLPEncoder((6,), 3, hidden_sizes=[8])
    prior = VampPrior(3, encoder, (6,), num_pseudo_inputs=5)
    z = torch.randn(4, 3)
    means, log_vars = encoder(prior.pseudo_inputs)
    expected = torch.logsumexp(Normal(means, torch.exp(0.5 * log_vars)).log_prob(z[:, None, :]).sum(-1), dim=1) - math.log(5)
    assert torch.allclose(prior.log_prob(z), expected, atol=1e-4)
    assert prior.sample(10).shape == (10, 3)
    assert not any(name.startswith("encoder") for name, _ in prior.named_parameters())  # shared, not owned


def test_vae_with_a_vamp_prior_trains_its_pseudo_inputs_and_mc_kl_averages_to_log_q_minus_log_p():
    torch.manual_seed(0)
    shape = (1, 4, 4)
    encoder = MLPEncoder(shape, 2, hidden_sizes=[8])
    vae = VAE(encoder, MLPDecoder(2, shape, [8]), BernoulliLikelihood(shape), VampPrior(2, encoder, shape, num_pseudo_inputs=3))
    x = torch.bernoulli(torch.full((16, *shape), 0.4))
    terms = vae.elbo_terms(x)
    terms.elbo.mean().backward()
    assert vae.prior.pseudo_inputs.grad.abs().sum() > 0
    q = vae.inference(x[:1])
    z = q.sample((200_000,))
    monte_carlo = (q.log_prob(z).sum(-1) - vae.prior.log_prob(z)).mean()
    single = torch.stack([vae.prior.kl(q, q.sample()) for _ in range(2000)]).mean()
    assert abs(single.item() - monte_carlo.item()) < 0.1
