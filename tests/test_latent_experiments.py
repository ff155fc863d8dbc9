"""The latent-space and collapse experiments and the +remedy options compose into what README says."""

import pytest
from conftest import compose_train

from vae_lab.training.kl_schedules import Constant, Cyclical, LinearWarmup
from vae_lab.training.module import VAEModule


@pytest.mark.parametrize("experiment, beta, recon_weight", [("latent_recon_only", 0.0, 1.0), ("latent_kl_only", 1.0, 0.0), ("latent_vae", 1.0, 1.0)])
def test_the_three_latent_experiments_differ_only_in_the_loss_weights(experiment, beta, recon_weight, tmp_path):
    cfg = compose_train([f"experiment={experiment}"], tmp_path)
    assert (cfg.model.beta, cfg.model.recon_weight, cfg.model.latent_dim) == (beta, recon_weight, 2)
    assert cfg.data._target_.endswith("MNISTDataModule") and cfg.callbacks.pictures.every_n_epochs == 5
    assert isinstance(VAEModule.from_config(cfg, (1, 28, 28)).kl_schedule, Constant)


@pytest.mark.parametrize(
    "remedy, schedule, free_bits",
    [
        ([], Constant, 0.0),
        (["+remedy=warmup"], LinearWarmup, 0.0),
        (["+remedy=cyclical"], Cyclical, 0.0),
        (["+remedy=free_bits"], Constant, 0.5),
        (["+remedy=[warmup,free_bits]"], LinearWarmup, 0.5),
    ],
)
def test_posterior_collapse_and_its_remedies(remedy, schedule, free_bits, tmp_path):
    cfg = compose_train(["experiment=posterior_collapse", *remedy], tmp_path)
    module = VAEModule.from_config(cfg, (1, 28, 28))
    assert type(module.kl_schedule) is schedule and module.kl_schedule.beta == 32.0
    assert module.free_bits == free_bits and module.vae.latent_dim == 16
    assert module.kl_schedule(step=0, epoch=10.0) == 32.0  # every remedy ends at the experiment's beta
