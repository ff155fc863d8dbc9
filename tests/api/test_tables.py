"""Tables from Python as DataFrames: fit, sample, impute, save and load, with the CLI's numbers on the same data and seed."""

import contextlib

import pandas as pd
import pytest
from conftest import run_cli
from mixed_table import TABULAR, mixed_table

import vae_lab
from vae_lab.errors import DataError

FAST = [*TABULAR, "trainer.max_epochs=3"]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """The same table fitted from a DataFrame in process and from its CSV file by the CLI."""
    folder = tmp_path_factory.mktemp("api_tables")
    frame = mixed_table(1500, seed=1)
    frame.to_csv(folder / "table.csv", index=False)
    (folder / "elsewhere").mkdir()
    with contextlib.chdir(folder / "elsewhere"):  # where the API must write nothing
        run = vae_lab.fit_table(frame, [*FAST, f"paths.output_dir={folder / 'api'}"])
    cli = run_cli(["train", *FAST, f"data.path={folder / 'table.csv'}", f"paths.output_dir={folder / 'cli'}"], cwd=folder)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    return folder, frame, run


def test_a_dataframe_fits_with_the_numbers_of_the_cli_on_its_csv(fitted):
    folder, _, run = fitted
    api = pd.read_json(folder / "api" / "results.json", typ="series")
    cli = pd.read_json(folder / "cli" / "results.json", typ="series")
    assert api["global_step"] == cli["global_step"]
    assert api["test/elbo"] == pytest.approx(cli["test/elbo"], rel=1e-5)
    assert api["best_val_loss"] == pytest.approx(cli["best_val_loss"], rel=1e-5)
    assert run.run_dir == folder / "api" and (folder / "api" / "table.parquet").is_file()
    assert not any((folder / "elsewhere").iterdir())  # nothing written outside the run directory


def test_dataframes_go_in_and_out_of_sample_and_impute(fitted):
    folder, frame, run = fitted
    rows = run.sample_table(500, seed=3)
    assert list(rows.columns) == list(frame.columns) and len(rows) == 500  # the row numbers "id" counted afresh
    assert (rows["id"].diff().dropna() == 1).all()
    assert set(rows["member"].dropna()) <= {"yes", "no"}
    again = vae_lab.load_run(run.run_dir)  # saved: the run directory, opened again
    assert again.sample_table(500, seed=3).equals(rows)

    holes = frame.head(200).copy()
    filled = run.impute(holes, seed=0)
    assert filled["x1"].notna().all() and filled["group"].notna().all()
    observed = holes["x1"].notna()
    assert (filled.loc[observed, "x1"].astype(float) == holes.loc[observed, "x1"]).all()  # observed cells are kept as they are

    holes.to_csv(folder / "holes.csv", index=False)
    cli = run_cli(["impute", f"ckpt_path={folder / 'api'}", f"input={folder / 'holes.csv'}", f"output={folder / 'filled.csv'}"], cwd=folder)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    from_cli = pd.read_csv(folder / "filled.csv")
    assert from_cli["x1"].to_numpy() == pytest.approx(filled["x1"].astype(float).to_numpy())


def test_an_empty_dataframe_is_one_message(tmp_path):
    with pytest.raises(DataError, match="a table model needs rows and columns"):
        vae_lab.fit_table(pd.DataFrame(), [f"paths.output_dir={tmp_path / 'run'}"])
