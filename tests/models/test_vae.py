"""The VAE's math: KL in closed form, the reparameterized ELBO, importance weights, shapes."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vae_lab.errors import ConfigError
from vae_lab.models.decoders import ConvDecoder, MLPDecoder
from vae_lab.models.encoders import ConvEncoder, MLPEncoder
from vae_lab.models.likelihoods import BernoulliLikelihood, GaussianLikelihood
from vae_lab.models.priors import StandardNormalPrior, kl_to_standard_normal
from vae_lab.models.vae import VAE


def make_vae(data_shape=(1, 28, 28), latent_dim=3, conv=False, likelihood=None):
    likelihood = likelihood or BernoulliLikelihood(data_shape)
    if conv:
        encoder, decoder = ConvEncoder(data_shape, latent_dim), ConvDecoder(latent_dim, likelihood.param_shape)
    else:
        encoder = MLPEncoder(data_shape, latent_dim, hidden_sizes=[16])
        decoder = MLPDecoder(latent_dim, likelihood.param_shape, hidden_sizes=[16])
    return VAE(encoder, decoder, likelihood, StandardNormalPrior(latent_dim))


def test_analytic_kl_matches_torch_and_monte_carlo():
    torch.manual_seed(0)
    q = Normal(torch.randn(4, 3), torch.rand(4, 3) + 0.2)
    analytic = kl_to_standard_normal(q)
    assert torch.allclose(analytic, kl_divergence(q, Normal(0.0, 1.0)), atol=1e-6)
    z = q.sample((200_000,))
    monte_carlo = (q.log_prob(z) - Normal(0.0, 1.0).log_prob(z)).mean(0)
    assert torch.allclose(analytic, monte_carlo, atol=0.02)


def test_kl_is_zero_exactly_when_q_is_the_prior():
    q = Normal(torch.zeros(2, 5), torch.ones(2, 5))
    assert torch.allclose(kl_to_standard_normal(q), torch.zeros(2, 5))


def test_elbo_terms_are_consistent_and_kl_per_dim_sums_to_kl():
    vae = make_vae()
    x = torch.bernoulli(torch.rand(6, 1, 28, 28))
    terms = vae.elbo_terms(x)
    assert terms.recon_loss.shape == terms.kl.shape == terms.elbo.shape == (6,)
    assert terms.kl_per_dim.shape == (6, 3)
    assert torch.allclose(terms.kl_per_dim.sum(1), terms.kl)
    assert torch.allclose(terms.elbo, -(terms.recon_loss + terms.kl))
    assert (terms.recon_loss > 0).all()  # -log of a probability of binary data


def test_elbo_with_fixed_noise_is_the_reparameterized_sample():
    vae = make_vae()
    x = torch.rand(4, 1, 28, 28)
    noise = torch.randn(4, 3)
    first, second = vae.elbo_terms(x, noise=noise), vae.elbo_terms(x, noise=noise)
    assert torch.equal(first.recon_loss, second.recon_loss)
    q = vae.inference(x)
    expected = -vae.likelihood.log_prob(x, vae.generative(q.loc + q.scale * noise))
    assert torch.allclose(first.recon_loss, expected)


def test_reparameterization_passes_gradients_to_the_encoder():
    vae = make_vae()
    vae.elbo_terms(torch.rand(4, 1, 28, 28)).recon_loss.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in vae.encoder.parameters())


def test_importance_weights_average_to_the_elbo_and_bound_it_after_logmeanexp():
    torch.manual_seed(0)
    vae = make_vae(data_shape=(5,), likelihood=GaussianLikelihood((5,)))
    x = torch.randn(3, 5)
    log_w = vae.log_importance_weights(x, num_samples=20_000)
    assert log_w.shape == (20_000, 3)
    # E_q[log w] = ELBO: compare two Monte Carlo means (the ELBO's KL is analytic, log w's is not)
    elbo = vae.elbo_terms(x.repeat(20_000, 1)).elbo.view(20_000, 3).mean(0)
    assert torch.allclose(log_w.mean(0), elbo, atol=0.1)
    estimate = torch.logsumexp(log_w, 0) - math.log(20_000)
    assert (estimate >= log_w.mean(0)).all()  # Jensen


@pytest.mark.parametrize("data_shape", [(1, 28, 28), (3, 32, 32), (1, 16, 12)])
def test_conv_networks_take_their_shapes_from_the_data(data_shape):
    vae = make_vae(data_shape, conv=True)
    x = torch.rand(2, *data_shape)
    mean, log_var = vae.encoder(x)
    assert mean.shape == log_var.shape == (2, 3)
    assert vae.generative(mean).shape == (2, *data_shape)
    assert vae.sample(4).shape == (4, *data_shape)


def test_conv_networks_reject_vectors_and_images_too_small_for_their_stages():
    with pytest.raises(ConfigError, match="image data"):
        ConvEncoder((10,), 2)
    with pytest.raises(ConfigError, match="too small"):
        ConvDecoder(2, (1, 3, 3))


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 64, 64), (3, 30, 45), (1, 7, 9)])
@pytest.mark.parametrize("residual", [False, True])
def test_conv_networks_serve_any_image_size_and_channel_count(shape, residual):
    encoder, decoder = ConvEncoder(shape, 3, residual=residual), ConvDecoder(3, shape, residual=residual)
    mean, log_var = encoder(torch.rand(2, *shape))
    assert mean.shape == log_var.shape == (2, 3)
    assert decoder(mean).shape == (2, *shape)  # odd sides come back exactly
    stages = sum(isinstance(layer, torch.nn.Conv2d) for layer in encoder.body)  # stride-2 convolutions
    assert stages == {28: 2, 32: 2, 64: 3, 30: 3, 7: 2}[shape[1]]  # at least len(channels), more until no side is above 8 (45 -> 22 -> 11 -> 5)


def test_mlp_networks_serve_vectors():
    vae = make_vae(data_shape=(7,), likelihood=GaussianLikelihood((7,), learn_sigma=True))
    assert vae.elbo_terms(torch.randn(5, 7)).elbo.shape == (5,)
    assert vae.sample(3, mode="sample").shape == (3, 7)


def test_log_variance_is_bounded_even_for_extreme_inputs():
    encoder = MLPEncoder((4,), 2, hidden_sizes=[8])
    _, log_var = encoder(torch.full((1, 4), 1e6))
    assert torch.isfinite(log_var).all() and log_var.abs().max() <= 15.0


def test_mlp_dropout_acts_in_training_only():
    encoder = MLPEncoder((20,), 2, hidden_sizes=[64, 64], dropout=0.5)
    decoder = MLPDecoder(2, (20,), hidden_sizes=[64], dropout=0.5)
    x, z = torch.randn(4, 20), torch.randn(4, 2)
    assert sum(isinstance(m, torch.nn.Dropout) for m in encoder.modules()) == 2
    encoder.train(), decoder.train()
    assert not torch.equal(encoder(x)[0], encoder(x)[0]) and not torch.equal(decoder(z), decoder(z))
    encoder.eval(), decoder.eval()
    assert torch.equal(encoder(x)[0], encoder(x)[0]) and torch.equal(decoder(z), decoder(z))
    assert not any(isinstance(m, torch.nn.Dropout) for m in MLPEncoder((20,), 2, hidden_sizes=[8]).modules())
