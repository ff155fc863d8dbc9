"""The collapse monitor on models whose latent usage is known by construction."""

import logging
from functools import partial

import pandas as pd
import torch
from conftest import TINY, compose_train
from torch import nn
from wandb_offline import finished_offline_run

from vae_lab.build import build_callbacks, build_loggers, build_trainer
from vae_lab.models.decoders import MLPDecoder
from vae_lab.models.likelihoods import GaussianLikelihood
from vae_lab.models.priors import StandardNormalPrior
from vae_lab.models.vae import VAE
from vae_lab.training.assembly import build_datamodule
from vae_lab.training.collapse_monitor import CollapseMonitor
from vae_lab.training.module import VAEModule
from vae_lab.wandb_setup import finish_wandb_run


class CollapsedEncoder(nn.Module):
    """q(z|x) = N(0, I) for every x: the posterior is the prior."""

    def forward(self, x):
        return torch.zeros(len(x), 2), torch.zeros(len(x), 2)


class HealthyEncoder(nn.Module):
    """q(z|x) = N(x, e^-4 I) on the ring: both units carry x (Var_x of the means about 0.5 each)."""

    def forward(self, x):
        return x.clone(), torch.full((len(x), 2), -4.0)


def fit_with_monitor(encoder, run_dir, monkeypatch, epochs=3):
    """Three epochs of a model that does not change (lr 0), logged to CSV and an offline W&B run."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    overrides = [*TINY, "data=ring", "likelihood=gaussian", "data.num_samples=600", "logger=csv_wandb", f"trainer.max_epochs={epochs}"]
    cfg = compose_train(overrides, run_dir)
    datamodule = build_datamodule(cfg)
    vae = VAE(encoder, MLPDecoder(2, (2,), [8]), GaussianLikelihood((2,)), StandardNormalPrior(2))
    module = VAEModule(vae, partial(torch.optim.SGD, lr=0.0))
    callbacks = build_callbacks(cfg)
    (monitor,) = [c for c in callbacks if isinstance(c, CollapseMonitor)]
    trainer = build_trainer(cfg, callbacks, build_loggers(cfg))
    try:
        trainer.fit(module, datamodule=datamodule)
    finally:
        finish_wandb_run()
    return monitor, pd.read_csv(run_dir / "metrics.csv").dropna(subset=["val/loss"]), finished_offline_run(run_dir)


def test_the_monitor_fires_on_a_collapsed_model(tmp_path, monkeypatch, caplog):
    with caplog.at_level(logging.WARNING, logger="vae_lab.training.collapse_monitor"):
        monitor, metrics, run = fit_with_monitor(CollapsedEncoder(), tmp_path, monkeypatch)
    assert metrics["val/active_units"].tolist() == [0, 0, 0]
    assert metrics["val/kl_dim/0"].tolist() == metrics["val/kl_dim/1"].tolist() == [0, 0, 0]
    warnings = [r.getMessage() for r in caplog.records if "posterior collapse" in r.getMessage()]
    assert len(warnings) == 1  # after `patience` = 3 collapsed epochs, not before
    assert warnings[0].startswith("posterior collapse after epoch 3: 0 active units < 1 for 3 epochs and KL < 0.5 nats for 3 epochs")
    assert run.summary["collapse/warning"] == monitor.warning == warnings[0]
    assert {"val/active_units", "val/kl_dim/0", "val/kl_dim/1"} <= {key for row in run.history for key in row}


def test_the_monitor_is_silent_on_a_healthy_model(tmp_path, monkeypatch, caplog):
    with caplog.at_level(logging.WARNING, logger="vae_lab.training.collapse_monitor"):
        monitor, metrics, run = fit_with_monitor(HealthyEncoder(), tmp_path, monkeypatch)
    assert metrics["val/active_units"].tolist() == [2, 2, 2]
    # KL(N(x_d, e^-4) || N(0, 1)) = (x_d^2 + e^-4 - 1 + 4) / 2, averaged over the validation points
    for d in (0, 1):
        assert metrics[f"val/kl_dim/{d}"].iloc[-1] > 1.5
    assert monitor.warning is None and "collapse/warning" not in run.summary
    assert not [r for r in caplog.records if "posterior collapse" in r.getMessage()]


def test_low_kl_for_patience_epochs_fires_even_with_active_units():
    monitor = CollapseMonitor(min_active_units=1, kl_epsilon=0.5, patience=2)
    usage = type("Usage", (), {"active_units": 1, "kl": 0.2, "kl_per_dim": [0.2, 0.0]})()
    monitor.epochs_under_epsilon = 1
    assert monitor.diagnose(usage, epoch=1) is None
    monitor.epochs_under_epsilon = 2
    assert monitor.diagnose(usage, epoch=2).startswith("posterior collapse after epoch 2: KL < 0.5 nats for 2 epochs (KL 0.2 nats, 1/2 units active)")


def test_too_few_active_units_must_last_patience_epochs():
    monitor = CollapseMonitor(min_active_units=2, kl_epsilon=0.0, patience=2)
    usage = type("Usage", (), {"active_units": 1, "kl": 3.0, "kl_per_dim": [3.0, 0.0]})()
    monitor.epochs_too_few_active = 1
    assert monitor.diagnose(usage, epoch=1) is None
    monitor.epochs_too_few_active = 2
    assert monitor.diagnose(usage, epoch=2).startswith("posterior collapse after epoch 2: 1 active units < 2 for 2 epochs")
