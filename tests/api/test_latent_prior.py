"""``prior="fitted"`` of ``Run.sample`` and ``Run.sample_table`` on the real cars table: a mixture fitted to the training
rows' posteriors (or the model's own prior where that fits the validation rows better), kept beside the checkpoint as
plain tensors, the same on every call, refit when the checkpoint changes."""

import pandas as pd
import pytest
import torch
from conftest import SHARED_TABLES

import vae_lab
from vae_lab.api.latent_prior import COMPONENT_CANDIDATES, clearly_better, fitted_prior_path
from vae_lab.errors import ConfigError

CARS = SHARED_TABLES / "cars.csv"
QUICK = ["experiment=tabular", f"data.path={CARS}", "trainer.max_epochs=3", "trainer.accelerator=cpu", "logger=csv"]


@pytest.fixture(scope="module")
def cars_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("latent_prior")
    results = vae_lab.train([*QUICK, f"paths.output_dir={folder / 'run'}"])
    return vae_lab.load_run(results["run_dir"])


def test_fitted_prior_rows_are_the_tables_rows_and_the_mixture_is_kept_as_plain_tensors(cars_run):
    rows = cars_run.sample_table(300, seed=0, prior="fitted")
    default = cars_run.sample_table(300, seed=0)
    assert list(rows.columns) == list(default.columns) and len(rows) == 300
    assert set(rows["Origin"].dropna()) <= set(pd.read_csv(CARS)["Origin"])

    kept = torch.load(fitted_prior_path(cars_run.path), weights_only=True)
    scores = kept["validation_log_likelihood"]  # the model's own prior's, then each mixture's
    assert set(scores) == {"model", *COMPONENT_CANDIDATES} and kept["fitted_to"]["global_step"] == cars_run.global_step
    best = max(scores, key=scores.__getitem__)
    if best == "model":
        assert kept["mixture"] is None and rows.equals(default)
    else:
        assert kept["mixture"]["means"].shape == (best, cars_run.model.latent_dim) and not rows.equals(default)  # z came from elsewhere

    again = vae_lab.load_run(cars_run.run_dir)  # the kept mixture: the same rows from a new process's view of the run
    assert again.sample_table(300, seed=0, prior="fitted").equals(rows)
    assert torch.equal(again.sample(50, seed=1, prior="fitted"), cars_run.sample(50, seed=1, prior="fitted"))


def test_a_changed_checkpoint_or_an_unreadable_file_gets_the_prior_fitted_again_the_same_as_before(cars_run):
    path = fitted_prior_path(cars_run.path)
    cars_run.sample(10, seed=0, prior="fitted")
    kept = torch.load(path, weights_only=True)
    stale = kept | {"fitted_to": kept["fitted_to"] | {"global_step": -1}, "validation_log_likelihood": {}}
    torch.save(stale, path)
    cars_run.sample(10, seed=0, prior="fitted")
    refit = torch.load(path, weights_only=True)
    assert refit["fitted_to"] == kept["fitted_to"]
    assert refit["validation_log_likelihood"] == kept["validation_log_likelihood"]  # seeded: the same fit

    path.write_bytes(b"not a torch file")  # a truncated or foreign file is fitted again, not an error
    cars_run.sample(10, seed=0, prior="fitted")
    assert torch.load(path, weights_only=True)["validation_log_likelihood"] == kept["validation_log_likelihood"]


def test_an_unknown_prior_is_one_message(cars_run):
    with pytest.raises(ConfigError, match="sample.prior must be model .* or fitted"):
        cars_run.sample_table(10, prior="flow")  # type: ignore[arg-type]


def test_a_conditional_model_refuses_the_fitted_prior_and_names_the_option(tmp_path):
    results = vae_lab.train([*QUICK, "experiment=tabular_conditional", "model.condition=Origin", "trainer.max_epochs=1", f"paths.output_dir={tmp_path}"])
    run = vae_lab.load_run(results["run_dir"])
    with pytest.raises(ConfigError, match=r"sample.prior=fitted .* conditional \(model.condition\).*use sample.prior=model"):
        run.sample_table(10, condition={"Origin": "Japan"}, prior="fitted")


def test_a_mixture_replaces_the_models_prior_only_when_it_wins_by_more_than_two_standard_errors_over_the_rows():
    def gains(rows: int, draws_per_row: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
        """Each row's draws gain 0.1 + 1 or 0.1 - 1 nats, alternately: a mean gain of 0.1, a spread over rows of about 1."""
        per_row = 0.1 + torch.tensor([1.0, -1.0], dtype=torch.float64).repeat(rows // 2)
        return per_row.repeat_interleave(draws_per_row), torch.arange(rows).repeat_interleave(draws_per_row)

    assert not clearly_better(*gains(10))  # standard error 0.33: ten rows cannot tell a gain of 0.1
    assert clearly_better(*gains(1000))  # standard error 0.03
    assert clearly_better(torch.full((60,), 0.1, dtype=torch.float64), torch.arange(3).repeat_interleave(20))  # the same gain on every row
    assert not clearly_better(torch.full((20,), 5.0, dtype=torch.float64), torch.zeros(20, dtype=torch.long))  # one row: no error to judge by
