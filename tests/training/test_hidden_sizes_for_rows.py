"""model.rows_per_hidden_unit: a small table gets narrow hidden layers, and a run rebuilds the widths it trained with."""

import math

import pandas as pd
import pytest
import torch
from conftest import SHARED_TABLES, compose_train

import vae_lab
from vae_lab.training.assembly import build_datamodule, widest_hidden_layer
from vae_lab.training.module import VAEModule

CARS = SHARED_TABLES / "cars.csv"


@pytest.mark.parametrize(("rows", "per_unit", "widest"), [(82, 8, 8), (165, 8, 16), (190, 8, 32), (470, 8, 64), (4905, 8, 512), (10, 8, 8), (1, 8, 8)])
def test_widest_layer_is_the_nearest_power_of_two_in_log_scale(rows, per_unit, widest):
    assert widest_hidden_layer(rows, per_unit) == widest
    units = rows / per_unit
    if units >= 8:  # nearest in log scale: within a factor sqrt(2)
        assert widest / math.sqrt(2) <= units <= widest * math.sqrt(2)


def hidden_widths(module: VAEModule, group: str) -> list[int]:
    body = getattr(module.vae, group).body
    return [layer.out_features for layer in body if isinstance(layer, torch.nn.Linear)]


@pytest.mark.skipif(not CARS.is_file(), reason="the real tables of ../shared/data/tables/ are not beside the repository")
def test_experiment_tabular_sizes_its_layers_by_the_training_rows(tmp_path):
    cfg = compose_train(["experiment=tabular", f"data.path={CARS}"], tmp_path)
    datamodule = build_datamodule(cfg)
    rows = len(datamodule.split("train"))
    expected = widest_hidden_layer(rows, cfg.model.rows_per_hidden_unit)
    assert expected < 128 <= min(cfg.encoder.hidden_sizes)  # cars' few hundred training rows: narrower than configured
    module = VAEModule.for_data(cfg, datamodule)
    assert hidden_widths(module, "encoder") == hidden_widths(module, "decoder") == [expected, expected]
    assert list(cfg.encoder.hidden_sizes) == [128, 128]  # the run's config keeps what was asked for

    as_configured = VAEModule.for_data(compose_train(["experiment=tabular", f"data.path={CARS}", "model.rows_per_hidden_unit=null"], tmp_path), datamodule)
    assert hidden_widths(as_configured, "encoder") == [128, 128]
    assert VAEModule.from_config(cfg, datamodule.data_shape, datamodule.likelihood_kwargs()).vae.encoder.body[0].out_features == 128  # rows unknown


@pytest.mark.skipif(not CARS.is_file(), reason="the real tables of ../shared/data/tables/ are not beside the repository")
def test_a_run_with_narrow_layers_loads_and_samples(tmp_path):
    run = vae_lab.fit_table(pd.read_csv(CARS), ["trainer.max_epochs=1", "data.min_epoch_rows=0", "logger=csv", f"paths.output_dir={tmp_path / 'run'}"])
    loaded = vae_lab.load_run(run.run_dir)
    rows = len(loaded.datamodule.split("train"))
    assert hidden_widths(loaded.module, "decoder")[0] == widest_hidden_layer(rows, 8) < 128
    assert loaded.sample_table(5, seed=0).equals(run.sample_table(5, seed=0))
