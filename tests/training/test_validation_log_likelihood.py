"""The optional val/log_likelihood callback: off by default, exact when on."""

import csv

import pytest
import torch
from conftest import TINY, compose_train

from vae_lab.api import fit, load_run
from vae_lab.build import build_callbacks
from vae_lab.config_schema import check_config
from vae_lab.errors import ConfigError
from vae_lab.evaluation.example_noise import example_noise
from vae_lab.evaluation.importance_sampling import importance_sampled_log_likelihood
from vae_lab.training.validation_log_likelihood import ValidationLogLikelihood

RING = [*TINY, "data=ring", "likelihood=gaussian", "data.num_samples=600", "logger=csv"]


def test_off_by_default(tmp_path):
    assert not any(isinstance(c, ValidationLogLikelihood) for c in build_callbacks(compose_train([], tmp_path)))


def test_logs_the_exact_importance_sampled_log_likelihood_every_n_epochs(tmp_path):
    overrides = [
        *RING,
        "callbacks=[default,val_log_likelihood]",
        "callbacks.val_log_likelihood.num_samples=30",
        "callbacks.val_log_likelihood.every_n_epochs=2",
        "seed=3",
    ]
    results = fit(compose_train(overrides, tmp_path))
    with open(tmp_path / "metrics.csv", newline="") as file:
        logged = [(int(row["epoch"]), float(row["val/log_likelihood"])) for row in csv.DictReader(file) if row.get("val/log_likelihood")]
    assert [epoch for epoch, _ in logged] == [1]  # epochs 0 and 1: the second one only

    run = load_run(results["last_checkpoint"])

    datamodule, module = run.datamodule, run.module  # the weights validated at the end of epoch 1
    val = datamodule.split("val")
    index = torch.arange(len(val))
    with torch.no_grad():
        expected = importance_sampled_log_likelihood(module.vae, val.x, 30, 30, noise=example_noise(index, 30, 4, seed=3))
    assert logged[0][1] == pytest.approx(expected.double().mean().item(), rel=1e-5)


def test_bad_settings_are_refused_when_the_callbacks_are_built(tmp_path):
    cfg = compose_train(["callbacks=[default,val_log_likelihood]", "callbacks.val_log_likelihood.num_samples=0"], tmp_path)
    with pytest.raises(ConfigError, match="callbacks.val_log_likelihood.num_samples=0: must be greater than or equal to 1"):
        check_config(cfg)
