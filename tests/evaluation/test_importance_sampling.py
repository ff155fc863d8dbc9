"""The importance-sampled log-likelihood against closed forms on probabilistic PCA."""

import torch
from torch.distributions import Normal, kl_divergence

from vae_lab.evaluation.example_noise import example_noise
from vae_lab.evaluation.importance_sampling import importance_sampled_log_likelihood
from vae_lab.evaluation.linear_gaussian import LATENT_DIM, LinearGaussian, analytic_elbo

MODEL = LinearGaussian()
X = MODEL.sample(1000)
INDEX = torch.arange(len(X))


def estimate(vae, num_samples: int, chunk_size: int = 1000, seed: int = 0) -> torch.Tensor:
    noise = example_noise(INDEX, num_samples, LATENT_DIM, seed)
    with torch.no_grad():
        return importance_sampled_log_likelihood(vae, X, num_samples, chunk_size, noise=noise).double()


def test_the_linear_gaussian_model_is_what_it_claims():
    """With the exact posterior as q, the ELBO in closed form is log p(x): KL(q || p(z|x)) = 0."""
    exact_q = MODEL.vae()
    assert torch.allclose(analytic_elbo(MODEL, exact_q, X), MODEL.log_likelihood(X), atol=1e-4)
    assert (analytic_elbo(MODEL, MODEL.vae(mean_shift=1.0), X) < MODEL.log_likelihood(X)).all()


def test_the_elbo_falls_short_of_log_px_by_the_kl_to_the_exact_posterior():
    """log p(x) - KL(q(z|x) || p(z|x)) = ELBO for any q; the exact encoder outputs p(z|x)."""
    exact = MODEL.posterior(X)
    q_exact = MODEL.vae().inference(X)
    assert torch.allclose(q_exact.loc.double(), exact.loc, atol=1e-4)
    assert torch.allclose(q_exact.scale.double(), exact.scale, atol=1e-5)
    perturbed = MODEL.vae(mean_shift=0.7, std_factor=1.5)
    q = perturbed.inference(X)
    q64 = Normal(q.loc.double(), q.scale.double())
    kl_to_posterior = kl_divergence(q64, exact).sum(dim=1)
    assert kl_to_posterior.min() > 0.1
    assert torch.allclose(MODEL.log_likelihood(X) - kl_to_posterior, analytic_elbo(MODEL, perturbed, X), atol=1e-4)


def test_with_the_exact_posterior_the_estimate_is_exact_for_every_k():
    exact_q, log_px = MODEL.vae(), MODEL.log_likelihood(X)
    for num_samples in (1, 7, 1000):
        assert (estimate(exact_q, num_samples) - log_px).abs().max() < 1e-4


def test_with_a_perturbed_posterior_the_estimate_lies_between_elbo_and_log_px_and_grows_with_k():
    perturbed = MODEL.vae(mean_shift=1.0)
    elbo, log_px = analytic_elbo(MODEL, perturbed, X).mean(), MODEL.log_likelihood(X).mean()
    estimates = [estimate(perturbed, k).mean() for k in (10, 100, 1000)]
    assert elbo + 1.0 < log_px  # the perturbation matters: a gap of about 1.5 nats
    assert elbo < estimates[0] < estimates[1] < estimates[2] < log_px
    assert log_px - estimates[2] < 0.05


def test_chunking_the_k_samples_does_not_change_the_estimate():
    perturbed = MODEL.vae(mean_shift=1.0, std_factor=1.3)
    whole = estimate(perturbed, 200, chunk_size=200)
    for chunk_size in (1, 7, 64):
        assert torch.allclose(estimate(perturbed, 200, chunk_size), whole, atol=1e-4)


def test_same_seed_same_estimate_other_seed_other_estimate():
    perturbed = MODEL.vae(mean_shift=1.0)
    assert torch.equal(estimate(perturbed, 50, seed=3), estimate(perturbed, 50, seed=3))
    assert not torch.allclose(estimate(perturbed, 50, seed=3), estimate(perturbed, 50, seed=4))


def test_example_noise_is_owned_by_each_example():
    together = example_noise(torch.tensor([5, 9, 2]), 4, 3, seed=1)
    assert together.shape == (4, 3, 3)
    assert torch.equal(together[:, 1], example_noise(torch.tensor([9]), 4, 3, seed=1)[:, 0])
    assert not torch.equal(together[:, 0], example_noise(torch.tensor([5]), 4, 3, seed=1, stream="refinement")[:, 0])
