"""What real tables have, generated and checked on a trained model's samples: discrete numbers stay on their
values, point masses keep their shares, numbers stay in range and integral, dates come back in their format.
And the nine real public tables of ../shared/data/tables/ train with `experiment=tabular` and nothing else."""

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import SHARED_TABLES, compose_train

from vae_lab.api import fit, load_run
from vae_lab.api.sample_files import write_samples
from vae_lab.data.in_memory import split_rows
from vae_lab.evaluation.sample_fidelity import sample_fidelity

ROWS = 2000
RATES = [0.0, 0.1, 0.2, 0.25, 0.5]


def real_like_table(rows: int, seed: int) -> pd.DataFrame:
    """A discrete float rate (5 levels), spending with 40% exact zeros, a 0-5 count, an age, a date."""
    rng = np.random.default_rng(seed)
    age = rng.normal(45, 12, rows).round(1)
    spend = np.where(rng.random(rows) < 0.4, 0.0, np.round(rng.lognormal(3 + age / 50, 0.8, rows), 2))
    return pd.DataFrame({
        "rate": rng.choice(RATES, rows, p=[0.1, 0.3, 0.3, 0.2, 0.1]),
        "spend": spend,
        "kids": rng.integers(0, 6, rows),
        "age": age,
        "joined": (pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 3000, rows), unit="D")).strftime("%b %-d %Y"),
    })  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kinds")
    frame = real_like_table(ROWS, seed=0)
    path = folder / "customers.csv"
    frame.to_csv(path, index=False)
    cfg = compose_train(["experiment=tabular", f"data.path={path}", "trainer.max_epochs=12", "trainer.accelerator=cpu", "logger=csv"], folder / "run")
    torch.manual_seed(0)
    results = fit(cfg)
    run = load_run(results["best_checkpoint"])
    datamodule, module = run.datamodule, run.module
    torch.manual_seed(1)
    samples = module.vae.sample(20000, mode="sample")
    return frame, datamodule, samples, folder


def test_the_schema_finds_the_kinds(trained):
    _, datamodule, _, _ = trained
    kinds = {c.name: c.kind for c in datamodule.fitted_schema().columns}
    assert kinds == {"rate": "categorical", "spend": "point_mass", "kids": "categorical", "age": "numeric", "joined": "numeric"}
    spend = datamodule.fitted_schema().columns[1]
    assert spend.masses == [0.0] and spend.shares[0] == pytest.approx(0.4, abs=0.03)


def test_a_discrete_float_column_is_generated_only_on_its_values(trained):
    _, datamodule, samples, _ = trained
    values = datamodule.fitted_schema().values(samples)
    assert set(values["rate"].unique()) <= set(RATES) and set(values["kids"].unique()) <= set(range(6))


def test_a_forty_percent_zeros_column_is_generated_with_forty_percent_zeros(trained):
    _, datamodule, samples, _ = trained
    spend = datamodule.fitted_schema().values(samples)["spend"]
    assert (spend == 0).mean() == pytest.approx(0.4, abs=0.02)
    assert spend.min() >= 0 and (spend > 0).sum() > 0.5 * len(spend)  # the continuous part is drawn too


def test_generated_numbers_stay_in_the_training_range_and_integral(trained):
    frame, datamodule, samples, _ = trained
    values = datamodule.fitted_schema().values(samples)
    train_rows = frame.iloc[split_rows(ROWS, 0.1, 0.1, datamodule.seed)["train"]]
    for name in ("age", "spend"):
        assert train_rows[name].min() - 1e-9 <= values[name].min() and values[name].max() <= train_rows[name].max() + 1e-9
    assert np.array_equal(values["age"], values["age"].round(1))


def test_the_sampled_csv_writes_every_column_with_dates_in_their_format(trained):
    frame, datamodule, samples, folder = trained
    (path,) = write_samples(datamodule, samples[:500], folder / "synthetic")
    written = pd.read_csv(path, dtype=str)
    assert list(written.columns) == list(frame.columns)
    parsed = pd.to_datetime(written["joined"], format="%b %d %Y")
    assert (parsed.dt.strftime("%b %-d %Y") == written["joined"]).all()  # the file's own format, unpadded day
    first, last = pd.to_datetime(frame["joined"], format="%b %d %Y").agg(["min", "max"])
    assert parsed.min() >= first and parsed.max() <= last


def test_fidelity_reports_the_new_metrics(trained):
    _, datamodule, samples, _ = trained
    fidelity = sample_fidelity(datamodule, samples[:2000], "train")  # 1,600 real rows: the test split's 200 are too noisy for shares
    assert fidelity["off_support_share"] == 0 and fidelity["range_violation_share"] == 0
    assert fidelity["point_mass_error_mean"] < 0.05 and fidelity["coverage_mean"] == 1
    assert 0.8 < fidelity["correlation_similarity"] <= 1 and 0.8 < fidelity["contingency_similarity"] <= 1
    privacy = fidelity["privacy"]
    assert 0 <= privacy["identical_share"] < 0.05 and privacy["dcr_synthetic_median"] > 0.2 * privacy["dcr_holdout_median"]


@pytest.mark.skipif(not SHARED_TABLES.is_dir(), reason="the real tables of ../shared/data/tables/ are not beside the repository")
@pytest.mark.parametrize("name", sorted(p.name for p in SHARED_TABLES.glob("*.csv")) if SHARED_TABLES.is_dir() else [])
def test_every_real_table_trains_with_nothing_but_its_path(tmp_path, name):
    """One short epoch each: the schema, the exact round trip of the training rows, and written samples."""
    path = SHARED_TABLES / name
    cfg = compose_train(["experiment=tabular", f"data.path={path}", "trainer.max_epochs=1", "data.min_epoch_rows=0",
                         "trainer.accelerator=cpu", "logger=csv", "callbacks=default"], tmp_path / "run")  # fmt: skip
    results = fit(cfg)
    run = load_run(results["best_checkpoint"])
    datamodule, module = run.datamodule, run.module
    schema = datamodule.fitted_schema()
    train_split = datamodule.split("train")
    decoded = schema.inverse(train_split.x, train_split.mask)
    assert list(decoded.columns) == schema.names and len(decoded) == len(train_split) > 0
    (written,) = write_samples(datamodule, module.vae.sample(50, mode="sample"), tmp_path / "samples")
    dialect = datamodule.dialect  # read back as the table was: the real columns in their order, numbers as numbers
    arguments = {"sep": dialect.delimiter, "decimal": dialect.decimal, "encoding": dialect.encoding}
    real, synthetic = pd.read_csv(path, **arguments), pd.read_csv(written, **arguments)
    assert list(synthetic.columns) == [dialect.header.get(name, name) for name in schema.file_columns] == list(real.columns)
    generated = [dialect.header.get(name, name) for name in schema.file_columns if name in schema.names or name in schema.constants]
    assert all(pd.api.types.is_numeric_dtype(synthetic[c]) == pd.api.types.is_numeric_dtype(real[c]) for c in generated)
