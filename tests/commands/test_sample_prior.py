"""``vae-lab sample sample.prior=fitted`` on the real cars table: the rows of the API's ``prior="fitted"``, written as the
default prior's are; a wrong value or a conditional model is one message."""

import pandas as pd
import pytest
from conftest import SHARED_TABLES, assert_one_clear_message, run_cli

import vae_lab
from vae_lab.api.latent_prior import fitted_prior_path

CARS = SHARED_TABLES / "cars.csv"


def test_sample_prior_fitted_writes_the_apis_rows_and_keeps_the_mixture_beside_the_checkpoint(tmp_path):
    train = run_cli(["train", "experiment=tabular", f"data.path={CARS}", "trainer.max_epochs=3", "trainer.accelerator=cpu", "logger=csv",
                     f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)  # fmt: skip
    assert train.returncode == 0, train.stderr[-3000:]
    sample = run_cli(["sample", f"ckpt_path={tmp_path / 'run'}", "sample.prior=fitted", "n=200", f"output={tmp_path / 'fitted'}"], cwd=tmp_path)
    assert sample.returncode == 0, sample.stderr[-3000:]
    assert "sample.prior=fitted:" in sample.stdout + sample.stderr  # the number of components it chose, and where it is kept

    written = pd.read_csv(tmp_path / "fitted.csv")
    run = vae_lab.load_run(tmp_path / "run")
    assert fitted_prior_path(run.path).is_file()
    from_api = run.sample_table(200, seed=0, prior="fitted")
    assert list(written.columns) == list(from_api.columns)
    assert written["Weight_in_lbs"].to_numpy() == pytest.approx(from_api["Weight_in_lbs"].astype(float).to_numpy())
    assert (written["Origin"] == from_api["Origin"]).all()

    wrong = run_cli(["sample", f"ckpt_path={tmp_path / 'run'}", "sample.prior=flow"], cwd=tmp_path)
    assert_one_clear_message(wrong, "sample.prior", "fitted", code=2)
