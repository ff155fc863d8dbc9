"""Conditional VAEs in closed form: an ignored condition changes nothing, the conditional linear-Gaussian model
is estimated exactly, and multiple imputation draws from the exact conditional distribution."""

import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from vae_lab.errors import ConfigError
from vae_lab.evaluation.importance_sampling import importance_sampled_log_likelihood
from vae_lab.evaluation.linear_gaussian import DATA_DIM, LATENT_DIM, SIGMA, LinearGaussian
from vae_lab.models.decoders import ConvDecoder, MLPDecoder
from vae_lab.models.encoders import ConvEncoder, MLPEncoder
from vae_lab.models.imputation import multiple_imputations
from vae_lab.models.layers import LOG_VAR_BOUND
from vae_lab.models.likelihoods import BernoulliLikelihood, GaussianLikelihood
from vae_lab.models.priors import ConditionalNormalPrior, StandardNormalPrior, VampPrior
from vae_lab.models.vae import VAE

CLASSES = 3


def copy_ignoring_condition(source: torch.nn.Module, target: torch.nn.Module) -> None:
    """Copy every weight of `source` into `target`, whose layers that read the condition have extra input
    columns: those are set to zero, so `target` computes what `source` does whatever the condition."""
    for mine, theirs in zip(target.parameters(), source.parameters()):
        with torch.no_grad():
            mine.zero_()
            mine[tuple(slice(0, size) for size in theirs.shape)] = theirs


@pytest.mark.parametrize("family", ["mlp", "conv"])
@pytest.mark.parametrize("prior", ["standard_normal", "conditional"])
def test_a_condition_the_model_ignores_gives_the_unconditional_elbo_and_bound(family, prior):
    torch.manual_seed(0)
    shape, latent = (1, 16, 16), 3
    if family == "mlp":
        plain_encoder, plain_decoder = MLPEncoder(shape, latent, [20]), MLPDecoder(latent, shape, [20])
        encoder, decoder = MLPEncoder(shape, latent, [20], condition_dim=CLASSES), MLPDecoder(latent, shape, [20], condition_dim=CLASSES)
    else:
        plain_encoder, plain_decoder = ConvEncoder(shape, latent, [4, 8], 20), ConvDecoder(latent, shape, [8, 4], 20)
        encoder, decoder = ConvEncoder(shape, latent, [4, 8], 20, condition_dim=CLASSES), ConvDecoder(latent, shape, [8, 4], 20, condition_dim=CLASSES)
    # the condition joins the inputs last (MLP encoder) or first (decoders): its weight columns come after x's / z's
    copy_ignoring_condition(plain_encoder, encoder)
    copy_ignoring_condition(plain_decoder, decoder)
    conditional_prior = ConditionalNormalPrior(latent, CLASSES) if prior == "conditional" else StandardNormalPrior(latent)  # starts at N(0, I)
    plain = VAE(plain_encoder, plain_decoder, BernoulliLikelihood(shape), StandardNormalPrior(latent))
    conditional = VAE(encoder, decoder, BernoulliLikelihood(shape), conditional_prior)
    x = torch.rand(5, *shape).round()
    condition = torch.eye(CLASSES)[[0, 1, 2, 2, 0]]
    noise = torch.randn(5, latent)
    expected, got = plain.elbo_terms(x, noise=noise), conditional.elbo_terms(x, noise=noise, condition=condition)
    torch.testing.assert_close(got.recon_loss, expected.recon_loss)
    torch.testing.assert_close(got.kl, expected.kl)
    torch.testing.assert_close(got.kl_per_dim, expected.kl_per_dim)
    iwae_noise = torch.randn(7, 5, latent)
    torch.testing.assert_close(conditional.iwae_bound(x, 7, noise=iwae_noise, condition=condition), plain.iwae_bound(x, 7, noise=iwae_noise))


class ConditionalLinearGaussian(LinearGaussian):
    """z ~ p(z|c) = N(m_c, I), x = W z + b + eps: log p(x|c) = log N(x; W m_c + b, W W^T + s^2 I) and
    p(z|x, c) = N(m_c + C W^T (x - b - W m_c) / s^2, C), built from the conditional encoder, decoder and prior."""

    def __init__(self) -> None:
        super().__init__()
        self.means = torch.randn(LATENT_DIM, CLASSES, generator=torch.Generator().manual_seed(5), dtype=torch.float64)  # m_c: columns

    def log_likelihood_given(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        covariance = self.W @ self.W.T + SIGMA**2 * torch.eye(DATA_DIM, dtype=torch.float64)
        return MultivariateNormal(condition.double() @ (self.W @ self.means).T + self.b, covariance).log_prob(x.double())

    def conditional_vae(self, mean_shift: float = 0.0, std_factor: float = 1.0) -> VAE:
        """In float64: the encoder outputs the exact posterior, its mean moved by `mean_shift` posterior
        standard deviations and its standard deviation multiplied by `std_factor`."""
        encoder = MLPEncoder((DATA_DIM,), LATENT_DIM, [], condition_dim=CLASSES).double()
        decoder = MLPDecoder(LATENT_DIM, (DATA_DIM,), [], condition_dim=CLASSES).double()
        prior = ConditionalNormalPrior(LATENT_DIM, CLASSES).double()
        gain = (self.posterior_var[:, None] * self.W.T) / SIGMA**2  # A = C W^T / s^2: (L, D)
        log_var = torch.log(self.posterior_var * std_factor**2)
        with torch.no_grad():
            for parameter in (*encoder.parameters(), *decoder.parameters()):
                parameter.zero_()
            encoder.head.weight[:LATENT_DIM, :DATA_DIM] = gain
            encoder.head.weight[:LATENT_DIM, DATA_DIM:] = (torch.eye(LATENT_DIM, dtype=torch.float64) - gain @ self.W) @ self.means
            encoder.head.bias[:LATENT_DIM] = -gain @ self.b + mean_shift * self.posterior_var.sqrt()
            encoder.head.bias[LATENT_DIM:] = LOG_VAR_BOUND * torch.atanh(log_var / LOG_VAR_BOUND)  # inverts bounded_log_var
            decoder.head.weight[:, :LATENT_DIM] = self.W
            decoder.head.bias.copy_(self.b)
            prior.head.weight[:LATENT_DIM] = self.means
        return VAE(encoder, decoder, GaussianLikelihood((DATA_DIM,), sigma=SIGMA).double(), prior)


def test_conditional_linear_gaussian_estimates_are_exact_with_the_exact_posterior_and_bounded_with_a_perturbed_one():
    model = ConditionalLinearGaussian()
    codes = torch.arange(300) % CLASSES
    condition = torch.eye(CLASSES)[codes]
    z = model.means.T[codes] + torch.randn(300, LATENT_DIM, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x = z @ model.W.T + model.b + SIGMA * torch.randn(300, DATA_DIM, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    exact = model.log_likelihood_given(x, condition)
    vae = model.conditional_vae()
    for samples in (1, 10):
        estimate = importance_sampled_log_likelihood(vae, x, samples, chunk_size=5, condition=condition.double())
        torch.testing.assert_close(estimate, exact, rtol=0, atol=1e-9)
    perturbed = model.conditional_vae(mean_shift=0.5, std_factor=1.5)
    torch.manual_seed(0)
    with torch.no_grad():  # over the examples: the estimate is a lower bound in expectation
        elbo = torch.stack([perturbed.elbo_terms(x, condition=condition.double()).elbo for _ in range(100)]).mean()
        estimate = importance_sampled_log_likelihood(perturbed, x, 1000, chunk_size=500, condition=condition.double()).mean()
    assert elbo < estimate and (exact.mean() - estimate).abs() < 0.05  # the gap, about 1 nat at K = 1, closes
    # a condition the data does not have moves the exact log-likelihood, and the estimate with it
    other = torch.eye(CLASSES)[(codes + 1) % CLASSES].double()
    torch.testing.assert_close(importance_sampled_log_likelihood(vae, x, 3, 3, condition=other), model.log_likelihood_given(x, other), rtol=0, atol=1e-9)


def test_multiple_imputations_follow_the_exact_conditional_distribution_of_the_missing_cells():
    model = LinearGaussian()
    vae = model.vae().double()
    x = model.sample(3, seed=7).double()
    missing = torch.tensor([1, 4])
    mask = torch.ones_like(x, dtype=torch.bool)
    mask[:, missing] = False
    torch.manual_seed(0)
    draws = multiple_imputations(vae, x, mask, draws=3000, steps=10, generator=torch.Generator().manual_seed(1))
    assert torch.equal(draws[:, mask], x[mask].expand(3000, -1))  # observed cells are the row's own
    covariance = model.W @ model.W.T + SIGMA**2 * torch.eye(DATA_DIM, dtype=torch.float64)
    observed = torch.tensor([0, 2, 3, 5])
    gain = covariance[missing][:, observed] @ torch.linalg.inv(covariance[observed][:, observed])
    exact_mean = model.b[missing] + (x[:, observed] - model.b[observed]) @ gain.T  # (rows, missing)
    exact_covariance = covariance[missing][:, missing] - gain @ covariance[observed][:, missing]
    drawn = draws[:, :, missing]  # (draws, rows, missing)
    standard_error = exact_covariance.diagonal().sqrt() / math.sqrt(3000)
    assert ((drawn.mean(0) - exact_mean).abs() < 4 * standard_error).all()
    for row in range(3):
        torch.testing.assert_close(torch.cov(drawn[:, row].T), exact_covariance, rtol=0.12, atol=0.01)


def test_priors_that_cannot_condition_say_so():
    with pytest.raises(ConfigError, match="prior=conditional is p\\(z\\|c\\).*model.condition"):
        ConditionalNormalPrior(3, condition_dim=0)
    with pytest.raises(ConfigError, match="prior=vamp .*prior=conditional"):
        VampPrior(3, MLPEncoder((4,), 3), (4,), condition_dim=2)
    decoder = MLPDecoder(2, (4,), [], condition_dim=3)
    with pytest.raises(ValueError, match="MLPDecoder is conditional: it needs a condition of shape \\(batch, 3\\), got none"):
        VAE(MLPEncoder((4,), 2), decoder, GaussianLikelihood((4,)), StandardNormalPrior(2)).sample(2)
