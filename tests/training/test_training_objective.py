"""The training objective: free bits' gradients, the KL weight of each step, the true KL in the logs."""

from functools import partial

import lightning as L
import pandas as pd
import pytest
import torch
from conftest import TINY, compose_train
from torch import nn

from vae_lab.api import fit
from vae_lab.errors import ConfigError
from vae_lab.models.decoders import MLPDecoder
from vae_lab.models.likelihoods import GaussianLikelihood
from vae_lab.models.priors import StandardNormalPrior
from vae_lab.models.vae import VAE
from vae_lab.training.kl_schedules import Constant
from vae_lab.training.module import VAEModule


class FreeMeans(nn.Module):
    """q(z|x) = N(m, I) for every x, with a learnable m: KL_d = m_d^2 / 2 and dKL_d/dm_d = m_d."""

    def __init__(self, means: list[float]) -> None:
        super().__init__()
        self.means = nn.Parameter(torch.tensor(means))

    def forward(self, x):
        return self.means.expand(len(x), -1), torch.zeros(len(x), len(self.means))


def module_with_means(means, free_bits, beta=3.0):
    latent_dim = len(means)
    vae = VAE(FreeMeans(means), MLPDecoder(latent_dim, (2,), [4]), GaussianLikelihood((2,)), StandardNormalPrior(latent_dim))
    return VAEModule(vae, partial(torch.optim.SGD, lr=0.1), kl_schedule=Constant(beta), recon_weight=0.0, free_bits=free_bits)


def kl_gradient(module, kl_weight):
    terms = module.vae.elbo_terms(torch.randn(8, 2))
    loss = module.training_loss(terms, kl_weight)
    loss.backward()
    return loss, terms, module.vae.encoder.means.grad


def test_free_bits_stop_the_gradient_below_lambda_and_pass_it_above():
    # KL per dimension: 0.005, 0.125 (both under lambda = 0.5) and 2.0 (above).
    module = module_with_means([0.1, -0.5, 2.0], free_bits=0.5)
    loss, terms, grad = kl_gradient(module, kl_weight=3.0)
    assert grad.tolist() == pytest.approx([0.0, 0.0, 3.0 * 2.0])
    assert loss.item() == pytest.approx(3.0 * (0.5 + 0.5 + 2.0))  # the clamped KL is what is minimized
    assert terms.kl.mean().item() == pytest.approx(0.005 + 0.125 + 2.0)  # the true KL is untouched


def test_without_free_bits_every_dimension_gets_the_kl_gradient():
    module = module_with_means([0.1, -0.5, 2.0], free_bits=0.0)
    loss, terms, grad = kl_gradient(module, kl_weight=3.0)
    assert grad.tolist() == pytest.approx([0.3, -1.5, 6.0])
    assert loss.item() == pytest.approx(3.0 * terms.kl.mean().item())


def test_free_bits_clamp_the_batch_mean_of_each_dimension_not_each_example():
    """Kingma et al. 2016: max(lambda, E_x[KL_d]); examples above lambda do not escape the clamp alone."""
    module = module_with_means([0.0], free_bits=0.5)
    terms = module.vae.elbo_terms(torch.randn(2, 2))
    terms.kl_per_dim = torch.tensor([[0.9], [0.0]], requires_grad=True)  # mean 0.45 < 0.5
    module.training_loss(terms, 1.0).backward()
    assert terms.kl_per_dim.grad.abs().sum() == 0


def test_a_run_logs_the_scheduled_weight_the_minimized_loss_and_the_true_kl(tmp_path):
    overrides = [
        *TINY,
        "data=ring",
        "likelihood=gaussian",
        "data.num_samples=600",
        "model.latent_dim=2",
        "model.beta=2",
        "model.free_bits=5",
        "model/kl_schedule=linear_warmup",
        "model.kl_schedule.unit=steps",
        "model.kl_schedule.duration=10",
    ]
    fit(compose_train(overrides, tmp_path))
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    steps = metrics.dropna(subset=["train/loss"])
    assert steps["step"].tolist() == [4, 9, 14]  # logged every 5 steps (TINY), 9 batches an epoch
    assert steps["train/beta"].tolist() == pytest.approx([0.8, 1.8, 2.0])  # 2 * min(1, step / 10)
    # minimized: recon + weight * sum_d max(5, KL_d) = recon + weight * 10; logged KL: the true one, far below
    assert (steps["train/loss"] - steps["train/recon_loss"]).tolist() == pytest.approx((10 * steps["train/beta"]).tolist(), rel=1e-5)
    assert (steps["train/kl"] < 5).all()
    assert (steps["train/elbo"]).tolist() == pytest.approx((-steps["train/recon_loss"] - steps["train/kl"]).tolist(), rel=1e-5)
    epochs = metrics.dropna(subset=["val/loss"])
    assert (epochs["val/beta"] == 2.0).all()  # validation reports the target objective, at the final beta
    assert epochs["val/loss"].tolist() == pytest.approx((epochs["val/recon_loss"] + 2 * epochs["val/kl"]).tolist(), rel=1e-5)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model.objective=iwae", "model.free_bits=0.5"], "model.objective=iwae weighs reconstruction and prior inside one bound"),
        (["model.kl_schedule=linear_warmup"], "choose it with model/kl_schedule=linear_warmup"),
    ],
)
def test_settings_that_do_not_fit_together_fail_when_the_model_is_built(overrides, message, tmp_path):
    cfg = compose_train(overrides, tmp_path)
    with pytest.raises(ConfigError) as error:
        VAEModule.from_config(cfg, data_shape=(2,))
    assert message in str(error.value)


def test_a_barebones_trainer_trains_without_logging():
    """Trainer(barebones=True), Lightning's fastest loop, sets log_every_n_steps=0: the plan then logs nothing."""
    module = module_with_means([0.5, -0.5], free_bits=0.0)
    data = torch.utils.data.DataLoader([{"x": row} for row in torch.randn(16, 2)], batch_size=4)
    before = module.vae.encoder.means.detach().clone()
    trainer = L.Trainer(barebones=True, max_steps=3, accelerator="cpu", devices=1)
    trainer.fit(module, train_dataloaders=data)
    assert trainer.global_step == 3 and not torch.equal(module.vae.encoder.means, before)
