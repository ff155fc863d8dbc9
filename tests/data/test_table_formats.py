"""Tables written back as they were read: the input's delimiter, decimal mark, quoting, encoding, compression and
header, Parquet with its column types, and constant columns in their place."""

import codecs
import csv
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
import torch
from conftest import TINY, compose_train
from hydra import compose, initialize_config_module

import vae_lab
from vae_lab.api import fit
from vae_lab.api.sample_files import write_samples
from vae_lab.commands.impute import impute_csv
from vae_lab.commands.sample import sample
from vae_lab.data.csv_table import CSVDataModule
from vae_lab.data.in_memory import split_rows
from vae_lab.data.table_files import read_table_text

ROWS = 300
TABLE = [*TINY, "experiment=tabular", "data.min_epoch_rows=0", "data.test_size=50", "logger=csv", "callbacks=default"]


def shop_table(rows: int, seed: int) -> pd.DataFrame:
    """Prices with one decimal, counts, a label column with a non-ASCII label, a constant unit in the middle, weights with two decimals."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "price": np.round(rng.normal(5, 1, rows), 1),
        "count": rng.integers(0, 50, rows),
        "city": rng.choice(["Köln", "Paris", "Oslo"], rows),
        "unit": "kg",
        "weight": np.round(rng.uniform(1, 2, rows), 2),
    })  # fmt: skip


def lines(path: Path) -> list[str]:
    """The lines of a text file, gzipped or not."""
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode().splitlines()


def trained_run(path: Path, folder: Path) -> dict:
    torch.manual_seed(0)
    return fit(compose_train([*TABLE, f"data.path={path}"], folder / "run"))


def sampled(results: dict) -> Path:
    """The file `vae-lab sample` writes for the run's best checkpoint."""
    with initialize_config_module(config_module="vae_lab.conf", version_base="1.3"):
        cfg = compose("sample", [f"ckpt_path={results['best_checkpoint']}", "n=200", "device=cpu"])
    (path,) = sample(cfg)
    return path


@pytest.mark.parametrize(
    ("name", "arguments", "sample_name"),
    [
        ("semicolon.csv", {"sep": ";", "decimal": ","}, "samples_sample.csv"),
        ("table.csv.gz", {}, "samples_sample.csv.gz"),
        ("table.txt", {"sep": "\t", "quoting": csv.QUOTE_NONNUMERIC}, "samples_sample.txt"),
    ],
)
def test_samples_read_back_with_the_arguments_that_read_the_input(tmp_path, name, arguments, sample_name):
    path = tmp_path / name
    shop_table(ROWS, seed=0).to_csv(path, index=False, **arguments)
    reading = {key: value for key, value in arguments.items() if key != "quoting"}
    real = pd.read_csv(path, **reading)
    results = trained_run(path, tmp_path)

    written = sampled(results)
    assert written.name == sample_name
    synthetic = pd.read_csv(written, **reading)
    assert list(synthetic.columns) == list(real.columns) and len(synthetic) == 200
    assert synthetic.dtypes.to_dict() == real.dtypes.to_dict()  # numbers as numbers, labels as labels
    assert (synthetic["unit"] == "kg").all() and set(synthetic["city"]) <= {"Köln", "Paris", "Oslo"}
    assert lines(written)[0] == lines(path)[0]  # the same header cells, delimiter and quoting
    assert lines(written)[1].count('"') == lines(path)[1].count('"')  # quotes around the same cells: text only, or none
    if name == "semicolon.csv":
        assert "," in lines(written)[1].split(";")[0]  # a decimal comma, not quoted
    stored = torch.load(results["best_checkpoint"], weights_only=True)["CSVDataModule"]["dialect"]
    delimiter, decimal = arguments.get("sep", ","), arguments.get("decimal", ".")
    assert (stored["delimiter"], stored["decimal"], stored["compression"]) == (delimiter, decimal, ".gz" if name.endswith(".gz") else "")

    rows = vae_lab.load_run(results["run_dir"]).sample_table(50, seed=0)
    assert list(rows.columns) == list(real.columns) and (rows["unit"] == "kg").all()


def test_impute_writes_the_input_dialect_and_the_api_reads_its_frames(tmp_path):
    path = tmp_path / "semicolon.csv"
    shop_table(ROWS, seed=0).to_csv(path, index=False, sep=";", decimal=",")
    results = trained_run(path, tmp_path)
    incomplete = shop_table(40, seed=1)
    incomplete.loc[::4, "weight"] = np.nan
    source, output = tmp_path / "incomplete.csv", tmp_path / "completed.csv"
    incomplete.to_csv(source, index=False, sep=";", decimal=",")
    with initialize_config_module(config_module="vae_lab.conf", version_base="1.3"):
        impute_csv(compose("impute", [f"ckpt_path={results['best_checkpoint']}", f"input={source}", f"output={output}", "device=cpu"]))
    before, after = pd.read_csv(source, sep=";", decimal=","), pd.read_csv(output, sep=";", decimal=",")
    assert list(after.columns) == list(before.columns) and after["weight"].dtype == np.float64 and after["weight"].notna().all()
    observed = before["weight"].notna()
    assert (after.loc[observed, "weight"] == before.loc[observed, "weight"]).all() and (after["price"] == before["price"]).all()
    assert after["weight"].between(1, 2).all()

    filled = vae_lab.load_run(results["run_dir"]).impute(before)  # a frame as pandas read it, with numbers as numbers
    pd.testing.assert_frame_equal(filled.astype(str), pd.read_csv(output, sep=";", dtype=str, keep_default_na=False))


@pytest.mark.parametrize(("encoding", "mark"), [("utf-8", codecs.BOM_UTF8), ("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE)])
def test_a_byte_order_mark_names_the_encoding(tmp_path, encoding, mark):
    path = tmp_path / "export.txt"
    path.write_bytes(mark + "city\tcount\r\nKöln\t3\r\nOslo\t4\r\n".encode(encoding))
    table = read_table_text(path)
    assert table.column_names == ["city", "count"] and table.to_pydict() == {"city": ["Köln", "Oslo"], "count": ["3", "4"]}
    assert b'"encoding": "%s"' % (b"utf-8-sig" if encoding == "utf-8" else b"utf-16") in table.schema.metadata[b"dialect"]


def test_an_excel_unicode_text_export_trains_without_data_encoding_and_samples_in_it(tmp_path):
    path = tmp_path / "export.txt"
    shop_table(ROWS, seed=0).to_csv(path, index=False, sep="\t", encoding="utf-16", lineterminator="\r\n")
    assert path.read_bytes()[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    results = trained_run(path, tmp_path)
    written = sampled(results)
    assert written.read_bytes()[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    real, synthetic = (pd.read_csv(file, sep="\t", encoding="utf-16") for file in (path, written))
    assert list(synthetic.columns) == list(real.columns) and synthetic.dtypes.to_dict() == real.dtypes.to_dict()
    assert set(synthetic["city"]) <= {"Köln", "Paris", "Oslo"}


def test_a_parquet_table_trains_and_its_samples_are_parquet_with_its_column_types(tmp_path):
    rng = np.random.default_rng(0)
    frame = shop_table(ROWS, seed=0).astype({"count": np.int32, "price": np.float32})
    frame.insert(0, "day", pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 90, ROWS), unit="D"))
    frame["member"] = rng.random(ROWS) < 0.3
    frame["city"] = frame["city"].astype("category")
    path = tmp_path / "shop.parquet"
    frame.to_parquet(path)
    results = trained_run(path, tmp_path)

    written = sampled(results)
    assert written.name == "samples_sample.parquet"
    assert pq.read_schema(written).remove_metadata() == pq.read_schema(path).remove_metadata()
    synthetic = pd.read_parquet(written)
    assert list(synthetic.columns) == list(frame.columns) and (synthetic["unit"] == "kg").all()
    assert synthetic["day"].between(frame["day"].min(), frame["day"].max()).all() and synthetic["member"].dtype == bool

    incomplete = frame.head(30).copy()
    incomplete.loc[::3, "price"] = None
    source, output = tmp_path / "incomplete.parquet", tmp_path / "completed.parquet"
    incomplete.to_parquet(source)
    with initialize_config_module(config_module="vae_lab.conf", version_base="1.3"):
        impute_csv(compose("impute", [f"ckpt_path={results['best_checkpoint']}", f"input={source}", f"output={output}", "device=cpu"]))
    completed, before = pd.read_parquet(output), pd.read_parquet(source)
    assert pq.read_schema(output).remove_metadata() == pq.read_schema(source).remove_metadata() and completed["price"].notna().all()
    observed = before["price"].notna()
    pd.testing.assert_frame_equal(completed[observed], before[observed], check_categorical=False)
    pd.testing.assert_frame_equal(completed.drop(columns="price"), before.drop(columns="price"), check_categorical=False)


def test_every_column_comes_back_in_its_place_constants_with_their_missing_cells_row_numbers_afresh(tmp_path):
    frame = shop_table(ROWS, seed=0)
    frame.insert(1, "id", np.arange(ROWS))  # ID-like row numbers: counted afresh
    frame["currency"] = np.where(np.arange(ROWS) % 4 == 0, "", "EUR")  # one value, a quarter of the cells missing
    frame["notes"] = ""  # no value at all
    path = tmp_path / "shop.csv"
    frame.to_csv(path, index=False)
    datamodule = CSVDataModule(str(path), target="count")  # the target is not generated: empty
    x = datamodule.split("train").x.repeat(10, 1)
    torch.manual_seed(0)
    synthetic = datamodule.to_frame(x)
    assert list(synthetic.columns) == ["price", "id", "count", "city", "unit", "weight", "currency", "notes"]
    (first, direction) = datamodule.fitted_schema().numbered["id"]
    training_rows = split_rows(ROWS, datamodule.val_size, datamodule.test_size, datamodule.seed, datamodule.source)["train"]
    assert direction == 1 and first == training_rows.min()  # the first training row's id
    assert list(synthetic["id"]) == list(range(first, first + len(synthetic))) and synthetic["count"].isna().all()
    assert (synthetic["unit"] == "kg").all() and synthetic["notes"].eq("").all()
    assert set(synthetic["currency"]) == {"EUR", ""} and abs((synthetic["currency"] == "").mean() - 0.25) < 0.05
    (written,) = write_samples(datamodule, x[:20], tmp_path / "samples")
    assert list(pd.read_csv(written).columns) == list(synthetic.columns)


def test_a_checkpoint_from_before_dialects_writes_plain_csv(tmp_path):
    path = tmp_path / "semicolon.csv"
    shop_table(ROWS, seed=0).to_csv(path, index=False, sep=";", decimal=",")
    trained = CSVDataModule(str(path))
    x = trained.split("test").x
    state = trained.state_dict()
    assert state["dialect"]["delimiter"] == ";" and state["dialect"]["decimal"] == ","
    old = {key: value for key, value in state.items() if key != "dialect"}
    old["schema"] = {key: value for key, value in state["schema"].items() if key not in ("constants", "file_columns")}
    restored = CSVDataModule(str(tmp_path / "moved.csv"))
    restored.load_state_dict(old)
    (written,) = write_samples(restored, x, tmp_path / "samples")
    assert written.name == "samples.csv" and list(pd.read_csv(written).columns) == ["price", "count", "city", "weight"]


@pytest.mark.parametrize("suffix", [".feather", ".arrow"])
def test_feather_and_arrow_tables_are_written_back_with_their_column_types(tmp_path, suffix):
    frame = shop_table(ROWS, seed=0).astype({"count": np.int16})
    path = tmp_path / f"shop{suffix}"
    feather.write_feather(frame, path, compression="uncompressed" if suffix == ".arrow" else "lz4")
    datamodule = CSVDataModule(str(path))
    (written,) = write_samples(datamodule, datamodule.split("test").x, tmp_path / "samples")
    assert written.name == f"samples{suffix}"
    assert feather.read_table(written).schema.remove_metadata() == feather.read_table(path).schema.remove_metadata()


def test_quoted_cells_and_header_names_are_written_back_as_read(tmp_path):
    path = tmp_path / "quoted.csv"
    shop_table(ROWS, seed=0).rename(columns=lambda name: f"'{name}'").to_csv(path, index=False, quoting=csv.QUOTE_ALL)
    datamodule = CSVDataModule(str(path))
    assert datamodule.fitted_schema().names == ["price", "count", "city", "weight"]  # names without their quotes
    (written,) = write_samples(datamodule, datamodule.split("test").x, tmp_path / "samples")
    assert lines(written)[0] == lines(path)[0] == "\"'price'\",\"'count'\",\"'city'\",\"'unit'\",\"'weight'\""
    assert all(cell.startswith('"') and cell.endswith('"') for cell in lines(written)[1].split(","))
    assert list(pd.read_csv(written).columns) == list(pd.read_csv(path).columns)


def r_write_csv(frame: pd.DataFrame, path: Path) -> None:
    """What R's write.csv(frame) writes: a blank header cell over the row names "1", "2", ..., every name and label
    quoted, numbers bare, missing cells NA."""

    def cell(value) -> str:
        if pd.isna(value):
            return "NA"
        return f'"{value}"' if isinstance(value, str) else str(value)

    rows = [",".join(['""', *(f'"{name}"' for name in frame.columns)])]
    rows += [",".join([f'"{i + 1}"', *(cell(value) for value in row)]) for i, row in enumerate(frame.itertuples(index=False))]
    path.write_text("\n".join(rows) + "\n")


def test_row_names_of_pandas_and_r_are_an_id_column_written_back_with_a_blank_header(tmp_path):
    """pandas' to_csv and R's write.csv write the row names first, under a blank header cell: the column is named as
    pandas names it, dropped as ID-like, and samples number their rows afresh under it, as an imputed file keeps it."""
    path = tmp_path / "indexed.csv"
    shop_table(ROWS, seed=0).to_csv(path)  # pandas' default: the index 0, 1, ... first
    assert lines(path)[0].startswith(",price,")
    results = trained_run(path, tmp_path)
    dropped = dict(vae_lab.load_run(results["run_dir"]).datamodule.fitted_schema().dropped)
    assert "ID-like" in dropped["Unnamed: 0"]
    samples = sampled(results)
    assert lines(samples)[0] == ",price,count,city,unit,weight"
    numbers = pd.read_csv(samples, index_col=0).index  # read as the input is read: the row numbers are its index
    assert list(numbers) == list(range(numbers[0], numbers[0] + 200))

    r_style = tmp_path / "r_style.csv"
    frame = shop_table(40, seed=1)
    frame.loc[::4, "weight"] = np.nan
    r_write_csv(frame, r_style)
    assert lines(r_style)[:2] == ['"","price","count","city","unit","weight"', f'"1",{frame.price[0]},{frame["count"][0]},"{frame.city[0]}","kg",NA']
    output = tmp_path / "completed.csv"
    with initialize_config_module(config_module="vae_lab.conf", version_base="1.3"):
        impute_csv(compose("impute", [f"ckpt_path={results['best_checkpoint']}", f"input={r_style}", f"output={output}", "device=cpu"]))
    assert lines(output)[0] == lines(r_style)[0]
    before, after = pd.read_csv(r_style, index_col=0), pd.read_csv(output, index_col=0)
    assert list(after.index) == list(before.index) == list(range(1, 41))
    assert after["weight"].notna().all() and (after["price"] == before["price"]).all()
