"""Samples that keep what the training rows have (issue 32): missing cells at their share and where they occur (a
column with missing training cells has a missing state that the model generates), and numbers inside the training
range with no more of their mass on a bound than the data gives it (the likelihood folds its Gaussian into the range)."""

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import SHARED_TABLES
from scipy.special import expit

import vae_lab
from vae_lab.api import Run
from vae_lab.api.calibrated_shares import calibrated_offsets
from vae_lab.api.sample_files import write_samples
from vae_lab.data.in_memory import split_rows
from vae_lab.errors import ConfigError
from vae_lab.evaluation.sample_fidelity import sample_fidelity
from vae_lab.evaluation.split_evaluation import EvalSettings, draw_samples

ROWS = 2000
TABULAR = ["experiment=tabular", "trainer.accelerator=cpu", "logger=csv"]


def wages(rows: int, seed: int) -> pd.DataFrame:
    """Hours, earnings (about 20 per hour) and a wage missing in about 42% of the rows, mostly where the hours are below
    their median: P(missing) = sigmoid(-2 (hours - 35) / 8 - 0.5), about 0.70 below the median and 0.15 above."""
    rng = np.random.default_rng(seed)
    hours = rng.normal(35, 8, rows).round(1)
    wage = np.round(np.exp(2.5 + 0.02 * hours + rng.normal(0, 0.3, rows)), 2)
    missing = rng.random(rows) < expit(-2 * (hours - 35) / 8 - 0.5)
    return pd.DataFrame({"hours": hours, "earnings": np.round(20 * hours + rng.normal(0, 60, rows)), "wage": np.where(missing, np.nan, wage)})


def skewed(rows: int, seed: int) -> pd.DataFrame:
    """A uniform integer age (as much mass on its bounds as anywhere), a lognormal survey weight (quantile transform)
    and a gamma income rising with age (skewed, bounded below near 0)."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 91, rows)
    income = np.round(rng.gamma(2, 15 + 0.5 * (age - 18), rows), 2)
    return pd.DataFrame({"age": age, "weight": np.round(1000 * rng.lognormal(0, 1, rows)), "income": income})


def trained_on(path: Path, folder: Path, *overrides: str) -> Run:
    torch.manual_seed(0)
    results = vae_lab.train([*TABULAR, f"data.path={path}", f"paths.output_dir={folder}", *overrides])
    return vae_lab.load_run(results["best_checkpoint"])


def table_file(frame: pd.DataFrame, folder: Path) -> Path:
    path = folder / "table.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def wage_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wages")
    frame = wages(ROWS, seed=0)
    return frame, trained_on(table_file(frame, folder), folder / "run", "trainer.max_epochs=30")


def test_missing_cells_are_generated_at_their_share_and_where_they_occur(wage_run):
    frame, run = wage_run
    schema = run.datamodule.fitted_schema()
    real = frame.iloc[split_rows(ROWS, 0.1, 0.1, run.datamodule.seed)["train"]]
    assert [column.missing_share for column in schema.columns] == [0, 0, pytest.approx(real["wage"].isna().mean())]
    samples = run.sample_table(20000, seed=1)
    assert samples[["hours", "earnings"]].notna().all().all()
    assert abs(samples["wage"].isna().mean() - real["wage"].isna().mean()) < 0.02
    median = real["hours"].median()
    for real_half, sampled_half in ((real["hours"] < median, samples["hours"] < median), (real["hours"] >= median, samples["hours"] >= median)):
        assert abs(samples["wage"][sampled_half].isna().mean() - real["wage"][real_half].isna().mean()) < 0.05


@torch.inference_mode()
def test_calibrated_samples_have_the_training_share_of_missing_cells(wage_run):
    """sample.calibrate: the offsets fitted to one set of prior draws give other draws the training rows' share of
    missing wages (expected shares, so no sampling noise); calibrate="none" samples as decoded, and the offsets leave
    the random stream of the samples alone."""
    _, run = wage_run
    train = run.datamodule.split("train")
    indicator = run.vae.likelihood.discrete_states()[-1].slots[0]
    training_share = train.x[:, indicator].mean().item()
    offsets = calibrated_offsets(run, None, "missing")
    assert offsets is not None and offsets.nonzero().flatten().tolist() == [indicator]  # the numbers' slots are left alone
    torch.manual_seed(7)
    params = run.vae.generative(run.vae.prior_latents(20000))
    assert torch.sigmoid(params[:, indicator] + offsets[indicator]).mean().item() == pytest.approx(training_share, abs=0.005)
    decoded_share = torch.sigmoid(params[:, indicator]).mean().item()
    calibrated = run.sample(20000, seed=3)[:, indicator].mean().item()
    assert calibrated == pytest.approx(training_share, abs=0.012)
    assert run.sample(20000, seed=3, calibrate="none")[:, indicator].mean().item() == pytest.approx(decoded_share, abs=0.012)
    with pytest.raises(ConfigError, match="sample.calibrate must be all .* got 'marginals'"):
        run.sample(10, calibrate="marginals")  # type: ignore[arg-type]


def test_evals_fidelity_judges_the_samples_as_vae_lab_sample_draws_them(wage_run):
    _, run = wage_run
    settings = EvalSettings(iwae_samples=2, elbo_samples=1, refine_examples=0, fidelity_samples=300)
    report = run.evaluate("test", settings)
    assert report["provenance"]["fidelity_calibrate"] == "all"
    count = min(settings.fidelity_samples, len(run.datamodule.split("test")))
    calibrated = draw_samples(run.vae, count, None, "sample", settings, run.device, calibrated_offsets(run, None, "all"))
    assert report["fidelity"] == sample_fidelity(run.datamodule, calibrated, "test")


def test_sampled_files_show_missing_cells_as_empty_cells(wage_run, tmp_path):
    _, run = wage_run
    torch.manual_seed(2)
    x = run.vae.sample(500, mode="sample")
    (path,) = write_samples(run.datamodule, x, tmp_path / "samples.csv")
    rows = list(csv.DictReader(path.open()))
    generated = run.datamodule.to_frame(x)["wage"].isna().to_numpy()
    assert 0.2 < generated.mean() < 0.6
    assert [row["wage"] == "" for row in rows] == generated.tolist() and all(row["hours"] for row in rows)


def test_impute_fills_missing_cells_with_values(wage_run):
    """The missing state is generated, never imputed: impute fills every missing cell with a value."""
    frame, run = wage_run
    incomplete = wages(300, seed=5)
    wage = pd.to_numeric(run.impute(incomplete)["wage"])  # written as the input's text
    missing = incomplete["wage"].isna()
    assert missing.mean() > 0.3 and wage.notna().all()
    assert (wage[~missing] == incomplete["wage"][~missing]).all()
    assert wage[missing].between(frame["wage"].min(), frame["wage"].max()).all()


def test_without_generate_missing_every_cell_is_filled(tmp_path):
    frame = wages(ROWS, seed=0)
    run = trained_on(table_file(frame, tmp_path), tmp_path / "run", "data.generate_missing=false", "trainer.max_epochs=1", "data.min_epoch_rows=0")
    schema = run.datamodule.fitted_schema()
    assert run.datamodule.data_shape == (3,) and [column.missing_share for column in schema.columns] == [0, 0, 0]
    assert run.datamodule.split("train").mask is not None  # the missing training cells are masked out of the likelihood
    assert run.sample_table(2000, seed=1).notna().all().all()


def assert_no_bound_gains_mass(run: Run, count: int = 20000) -> None:
    """Every numeric column's samples stay in the training range, and neither bound holds more than 1 percentage point
    more of them than of the training rows."""
    schema = run.datamodule.fitted_schema()
    train = run.datamodule.split("train")
    real = schema.values(train.x, train.mask)
    torch.manual_seed(1)
    x = run.vae.sample(count, mode="sample")
    samples = schema.values(x, schema.generated_mask(x))
    numeric = [column.name for column in schema.columns if column.kind in ("numeric", "point_mass")]
    assert numeric
    for name in numeric:
        observed, drawn = real[name].dropna(), samples[name].dropna()
        low, high = observed.min(), observed.max()
        assert low <= drawn.min() and drawn.max() <= high, name
        for bound in (low, high):
            assert (drawn == bound).mean() <= (observed == bound).mean() + 0.01, (name, bound)


def test_no_bound_gets_more_mass_than_the_data_gives_it(tmp_path):
    """A uniform column (the density at its bounds is its density anywhere), a lognormal one and a skewed one bounded
    near 0: clipping put 9.5% of the skewed column's samples on its minimum (0.1% of the rows are there)."""
    assert_no_bound_gains_mass(trained_on(table_file(skewed(ROWS, seed=0), tmp_path), tmp_path / "run", "trainer.max_epochs=12"))


@pytest.mark.skipif(not (SHARED_TABLES / "macrodata.csv").is_file(), reason="the real tables of ../shared/data/tables/ are not beside the repository")
def test_no_bound_of_a_real_table_gets_more_mass_than_the_data_gives_it(tmp_path):
    """US quarterly macro series (203 rows, trends): clipping put up to 13.6% of a column's samples on a bound."""
    assert_no_bound_gains_mass(trained_on(SHARED_TABLES / "macrodata.csv", tmp_path / "run", "trainer.max_epochs=20"))
