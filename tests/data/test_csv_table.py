"""The CSV data module: seeded splits, batches with masks, the schema in its state_dict, the eval/sample hooks."""

import numpy as np
import pandas as pd
import pytest
import torch

from vae_lab.api.sample_files import write_samples
from vae_lab.data.csv_table import CSVDataModule
from vae_lab.data.in_memory import split_rows
from vae_lab.errors import DataError
from vae_lab.evaluation.sample_fidelity import sample_fidelity


@pytest.fixture
def table_path(tmp_path):
    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame({
        "age": rng.integers(18, 90, n),
        "weight": np.round(rng.normal(70, 12, n), 1),
        "colour": rng.choice(["red", "green", "blue"], n),
        "smoker": rng.choice(["yes", "no"], n),
        "label": rng.choice(["cat", "dog"], n),
    })  # fmt: skip
    frame["weight"] = frame["weight"].where(rng.random(n) > 0.2)
    path = tmp_path / "people.csv"
    frame.to_csv(path, index=False)
    return path


def test_splits_are_seeded_disjoint_and_cover_every_row():
    rows = split_rows(1000, 0.1, 0.2, seed=3)
    assert [len(rows[s]) for s in ("train", "val", "test")] == [700, 100, 200]
    assert np.array_equal(np.sort(np.concatenate(list(rows.values()))), np.arange(1000))
    again, other = split_rows(1000, 0.1, 0.2, seed=3), split_rows(1000, 0.1, 0.2, seed=4)
    assert all(np.array_equal(rows[s], again[s]) for s in rows) and not np.array_equal(rows["test"], other["test"])
    assert [len(v) for v in split_rows(1000, 50, 30, seed=0).values()] == [920, 50, 30]
    with pytest.raises(DataError, match=r"has 10 row\(s\), too few for the splits data.val_size=0.1 and data.test_size=12: they need at least 16 rows"):
        split_rows(10, 0.1, 12, seed=0)
    with pytest.raises(DataError, match=r"t.csv has 1 row\(s\), too few .* at least 6 rows"):
        split_rows(1, 0.1, 0.1, seed=0, source="t.csv")


def test_batches_carry_the_mask_of_missing_cells_and_the_target_labels(table_path):
    datamodule = CSVDataModule(str(table_path), target="label", batch_size=64, val_size=0.1, test_size=0.1)
    assert datamodule.data_shape == (1 + 2 + 3 + 1,)  # weight: its value and its missingness indicator
    assert [len(datamodule.split(s)) for s in ("train", "val", "test")] == [160, 20, 20]
    batch = next(iter(datamodule.train_dataloader()))
    assert set(batch) == {"x", "y", "index", "mask"} and batch["x"].dtype == torch.float32
    assert batch["mask"].shape == batch["x"].shape and not batch["mask"][:, 1].all() and batch["mask"][:, 2].all()
    assert torch.equal(batch["x"][:, 2], (~batch["mask"][:, 1]).float())  # the indicator: 1 where the value is missing
    assert set(batch["y"].tolist()) <= {0, 1}
    assert datamodule.likelihood_kwargs()["columns"][2] == {"name": "colour", "kind": "categorical", "width": 3, "missing": False}
    provenance = datamodule.provenance()
    assert provenance["rows"] == 200 and provenance["target"] == "label" and provenance["path"] == str(table_path)
    assert provenance["columns"] == {"numeric": ["age", "weight"], "categorical": ["colour"], "binary": ["smoker"]}


def test_a_restored_schema_works_without_the_training_file(table_path, tmp_path):
    trained = CSVDataModule(str(table_path))
    trained.setup()
    state = trained.state_dict()
    table_path.unlink()
    restored = CSVDataModule(str(table_path))
    restored.load_state_dict(state)
    restored.setup()
    assert restored.data_shape == trained.data_shape and restored.likelihood_kwargs() == trained.likelihood_kwargs()
    x = trained.split("test").x
    (path,) = write_samples(restored, x, tmp_path / "samples")
    assert path == tmp_path / "samples.csv"
    written = pd.read_csv(path)
    assert list(written.columns) == ["age", "weight", "colour", "smoker", "label"]
    assert written["age"].dtype == np.int64 and set(written["colour"]) <= {"red", "green", "blue"}
    assert write_samples(restored, x, tmp_path / "synthetic.csv") == [tmp_path / "synthetic.csv"]
    with pytest.raises(DataError, match="does not exist"):
        restored.split("test")  # evaluation needs the data itself


def test_loading_a_different_schema_encodes_the_splits_again(table_path):
    datamodule = CSVDataModule(str(table_path))
    datamodule.setup()
    other = CSVDataModule(str(table_path), categorical=["age"])
    other.setup()
    datamodule.load_state_dict(other.state_dict())
    assert datamodule.split("train").x.shape == other.split("train").x.shape != (160, 6)


def test_sample_fidelity_compares_samples_with_the_real_split(table_path):
    datamodule = CSVDataModule(str(table_path))
    real = datamodule.split("test").x
    fidelity = sample_fidelity(datamodule, real, "test")  # samples identical to the split's rows
    assert {row["column"] for row in fidelity["columns"]} == {"age", "weight", "colour", "smoker", "label"}
    observed = [row for row in fidelity["columns"] if row["column"] != "weight"]
    assert all(row["value"] == 0 for row in observed)
    assert fidelity["real_rows"] == fidelity["synthetic_rows"] == 20
