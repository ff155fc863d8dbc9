"""Active units and KL per dimension on encoders whose answer is known by construction."""

import torch
from torch import nn

from vae_lab.evaluation.latent_usage import latent_usage
from vae_lab.models.decoders import MLPDecoder
from vae_lab.models.likelihoods import GaussianLikelihood
from vae_lab.models.priors import StandardNormalPrior
from vae_lab.models.vae import VAE


class ConstructedEncoder(nn.Module):
    """Latent 0 copies x[0]; latent 1 copies 0.05 * x[1] (variance 0.0025 < 0.01); latents 2-3 are the prior."""

    def forward(self, x):
        mean = torch.zeros(len(x), 4)
        mean[:, 0] = x[:, 0]
        mean[:, 1] = 0.05 * x[:, 1]
        log_var = torch.zeros(len(x), 4)
        log_var[:, :2] = -4.0
        return mean, log_var


def test_active_units_and_kl_per_dim_of_a_constructed_encoder():
    vae = VAE(ConstructedEncoder(), MLPDecoder(4, (2,), [8]), GaussianLikelihood((2,)), StandardNormalPrior(4))
    x = torch.randn(20_000, 2, generator=torch.Generator().manual_seed(0))
    usage = latent_usage(vae, x.split(999))
    assert usage.active_units == 1
    assert usage.mean_variance[0] > 0.9 and usage.mean_variance[1] < 0.01 and usage.mean_variance[2] == 0
    assert usage.kl_per_dim[2] == usage.kl_per_dim[3] == 0
    # KL(N(m, e^-4) || N(0, 1)) averaged over m = x[0] ~ N(0, 1): 0.5 * (1 + e^-4 - 1 + 4)
    assert abs(usage.kl_per_dim[0] - 0.5 * (1 + torch.exp(torch.tensor(-4.0)).item() + 3)) < 0.05
    assert abs(usage.kl - sum(usage.kl_per_dim)) < 1e-9
    assert latent_usage(vae, x.split(999), threshold=0.001).active_units == 2


def test_batching_does_not_change_the_result():
    vae = VAE(ConstructedEncoder(), MLPDecoder(4, (2,), [8]), GaussianLikelihood((2,)), StandardNormalPrior(4))
    x = torch.randn(1000, 2)
    one, many = latent_usage(vae, [x]), latent_usage(vae, x.split(7))
    assert torch.allclose(torch.tensor(one.mean_variance), torch.tensor(many.mean_variance), atol=1e-9)
