"""model.compile: the compiled math equals the eager math, keeps the state dict, and falls back to eager."""

import copy
import logging

import torch
from test_vae import make_vae

from vae_lab.models.likelihoods import BernoulliLikelihood
from vae_lab.models.vae import VAE


def batch_and_noise(vae: VAE, size: int = 6, samples: int = 4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(size, 1, 28, 28, generator=generator).round()
    noise = torch.randn(size, vae.latent_dim, generator=generator)
    iwae_noise = torch.randn(samples, size, vae.latent_dim, generator=generator)
    return x, noise, iwae_noise


def test_compiled_and_eager_losses_and_gradients_agree_on_a_batch():
    torch.manual_seed(0)
    eager = make_vae(likelihood=BernoulliLikelihood((1, 28, 28)))
    compiled = copy.deepcopy(eager).compile_math()
    assert list(compiled.state_dict()) == list(eager.state_dict())  # checkpoints load into each other
    x, noise, iwae_noise = batch_and_noise(eager)

    losses = {}
    for name, vae in (("eager", eager), ("compiled", compiled)):
        terms = vae.elbo_terms(x, noise=noise)
        loss = (terms.recon_loss + terms.kl).mean() - vae.iwae_bound(x, 4, noise=iwae_noise).mean()
        loss.backward()
        losses[name] = (terms.recon_loss.detach(), terms.kl.detach(), loss.detach())
    for eager_value, compiled_value in zip(losses["eager"], losses["compiled"]):
        torch.testing.assert_close(compiled_value, eager_value, rtol=1e-5, atol=1e-4)
    for (name, eager_parameter), compiled_parameter in zip(eager.named_parameters(), compiled.parameters()):
        torch.testing.assert_close(compiled_parameter.grad, eager_parameter.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_without_a_working_compiler_one_warning_and_eager_results(caplog):
    torch.manual_seed(0)
    eager = make_vae()
    x, noise, _ = batch_and_noise(eager)
    expected = eager.elbo_terms(x, noise=noise).recon_loss
    fallback = copy.deepcopy(eager).compile_math()
    torch._dynamo.reset()
    with (
        torch._inductor.config.patch({"cpp.cxx": (None, "/nonexistent/g++"), "fx_graph_cache": False}),
        caplog.at_level(logging.WARNING, logger="vae_lab.models.compilation"),
    ):
        first = fallback.elbo_terms(x, noise=noise).recon_loss
        second = fallback.elbo_terms(x, noise=noise).recon_loss
    warnings = [record.getMessage() for record in caplog.records if record.name == "vae_lab.models.compilation"]
    assert len(warnings) == 1 and "cannot compile" in warnings[0] and "model.compile=false" in warnings[0]
    torch.testing.assert_close(first, expected)
    torch.testing.assert_close(second, expected)
