"""A column kind of one's own, defined here and registered: a count with a Poisson factor.

It goes through the one registry: no package file names it. A real table (cars.csv, whose ``Cylinders`` is a count)
trains, samples, evaluates and imputes with it in process (the API) and in ``vae-lab`` processes, which import
this file as the plugin ``data.plugins=[test_plugin_kind]`` and load its checkpoints only when trusted.
"""

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO, SHARED_TABLES, assert_one_clear_message, run_cli
from mixed_table import TABULAR

import vae_lab
from vae_lab.data.column_kinds import KINDS, Column, ValueType, overridable_kinds, register_kind
from vae_lab.errors import CheckpointError
from vae_lab.models.column_factors import ColumnFactor, FactorColumn, FactorOptions

PLUGIN = Path(__file__).stem  # this file, as the module the CLI imports (its folder on PYTHONPATH)
CARS = SHARED_TABLES / "cars.csv"


class Poisson(ColumnFactor):
    """A count in one slot: Poisson with log-rate r = l + log(training mean) (the layout's ``log_mean``: a decoder output
    of 0 is the mean). log p(x|z) = x r - exp(r) - log x!."""

    def log_rate(self, params: torch.Tensor) -> torch.Tensor:
        offsets = torch.tensor([column.layout.get("log_mean", 0.0) for column in self.columns], dtype=params.dtype, device=params.device)
        return (params[:, [column.start for column in self.columns]] + offsets).clamp(max=20.0)

    def rate(self, params: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.log_rate(params))

    def log_prob(self, x, params):
        counts, log_rate = x[:, [column.start for column in self.columns]], self.log_rate(params)
        return counts * log_rate - torch.exp(log_rate) - torch.lgamma(counts + 1)

    def mean(self, params, out):
        out[:, [column.start for column in self.columns]] = self.rate(params)

    def sample(self, params, out):
        out[:, [column.start for column in self.columns]] = torch.poisson(self.rate(params))


@register_kind
@dataclass
class CountColumn(Column):
    """Non-negative integers modelled as counts, as they are (not standardized): only by its override, data.count=[...]."""

    kind: ClassVar[str] = "count"
    factor: ClassVar[type[ColumnFactor]] = Poisson
    value_type: ClassVar[ValueType] = ValueType.NUMERICAL
    mean: float = 0.0
    values_seen: list[int] = field(default_factory=list)

    @classmethod
    def fit(cls, name, format, values, options):
        values = np.asarray(values, dtype=np.float64)
        return cls(name, format, mean=float(values.mean()), values_seen=sorted({int(v) for v in values}))

    def layout(self):
        return {**super().layout(), "log_mean": float(np.log(max(self.mean, 1e-3)))}

    def encode(self, values, missing):
        return np.where(missing, self.mean, np.asarray(values, dtype=np.float64))[:, None], missing.copy()

    def neutral(self):
        return np.asarray([self.mean])

    def decode(self, block):
        return np.maximum(np.rint(block[:, 0]), 0).astype(np.int64)

    def describe(self):
        return f"count (Poisson, mean {self.mean:.3g})"


def test_the_poisson_factor_normalizes():
    factor = Poisson([FactorColumn(start=0, width=1, layout={"log_mean": 0.7})], FactorOptions())
    counts = torch.arange(0, 200, dtype=torch.float64)[:, None]
    for logit in (-2.0, 0.5, 3.0):
        total = factor.log_prob(counts, torch.full_like(counts, logit)).exp().sum()
        assert float(total) == pytest.approx(1.0, abs=1e-9)


def test_the_kind_is_registered_with_its_override_and_factor():
    assert KINDS["count"] is CountColumn and "count" in overridable_kinds()


FAST = [*TABULAR, "trainer.max_epochs=3", f"data.path={CARS}", f"data.plugins=[{PLUGIN}]", "+data.count=[Cylinders]"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plugin_kind")
    results = vae_lab.train([*FAST, f"paths.output_dir={folder / 'run'}"])
    return folder, Path(results["run_dir"])


def test_a_table_with_the_kind_trains_samples_evaluates_and_imputes_through_the_api(trained):
    folder, run_dir = trained
    with pytest.raises(CheckpointError, match=rf"data.plugins=\[{PLUGIN}\].*trusted_modules=\[{PLUGIN}\]"):
        vae_lab.load_run(run_dir)  # the plugin is code: loading imports it only when trusted
    run = vae_lab.load_run(run_dir, trusted_modules=[PLUGIN])
    schema = run.datamodule.fitted_schema()
    assert schema.columns_by_kind()["count"] == ["Cylinders"]

    rows = run.sample_table(400, seed=0)
    cylinders = rows["Cylinders"].astype(float)
    assert (cylinders >= 0).all() and (cylinders == np.rint(cylinders)).all() and cylinders.nunique() > 1
    assert abs(cylinders.mean() - pd.read_csv(CARS)["Cylinders"].mean()) < 1.0  # near the real mean of 5.5

    report = run.evaluate()
    row = next(row for row in report["fidelity"]["columns"] if row["column"] == "Cylinders")
    assert row["kind"] == "count" and row["metric"] == "ks" and 0 <= row["value"] < 1

    holes = pd.read_csv(CARS).head(50)
    holes.loc[::5, "Cylinders"] = np.nan
    filled = run.impute(holes, seed=0)
    assert filled["Cylinders"].notna().all()
    kept = holes["Cylinders"].notna()
    assert (filled.loc[kept, "Cylinders"].astype(float) == holes.loc[kept, "Cylinders"]).all()


def test_the_cli_takes_the_kind_from_the_plugin_list_and_loads_it_when_trusted(trained, tmp_path):
    environment = {"PYTHONPATH": f"{Path(__file__).parent}:{REPO / 'tests'}"}  # this file and the helpers it imports
    train = run_cli(["train", *FAST, f"paths.output_dir={tmp_path / 'run'}"], cwd=tmp_path, env=environment)
    assert train.returncode == 0, train.stdout + train.stderr
    assert "Cylinders: count (Poisson" in train.stdout + train.stderr  # the schema line names the kind

    refused = run_cli(["sample", f"ckpt_path={tmp_path / 'run'}", "n=50"], cwd=tmp_path, env=environment)
    assert_one_clear_message(refused, f"data.plugins=[{PLUGIN}]", f"trusted_modules=[{PLUGIN}]", code=2)

    trust = f"trusted_modules=[{PLUGIN}]"
    sample = run_cli(["sample", f"ckpt_path={tmp_path / 'run'}", "n=50", trust, f"output={tmp_path / 'rows'}"], cwd=tmp_path, env=environment)
    assert sample.returncode == 0, sample.stdout + sample.stderr
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert len(rows) == 50 and (rows["Cylinders"] >= 0).all() and rows["Cylinders"].dtype.kind == "i"

    evaluate = run_cli(["eval", f"ckpt_path={tmp_path / 'run'}", trust], cwd=tmp_path, env=environment)
    assert evaluate.returncode == 0, evaluate.stdout + evaluate.stderr

    holes = pd.read_csv(CARS).head(30).astype({"Cylinders": "Int64"})
    holes.loc[::3, "Cylinders"] = pd.NA
    holes.to_csv(tmp_path / "holes.csv", index=False)
    impute = run_cli(["impute", f"ckpt_path={tmp_path / 'run'}", f"input={tmp_path / 'holes.csv'}", f"output={tmp_path / 'filled.csv'}", trust],
                     cwd=tmp_path, env=environment)  # fmt: skip
    assert impute.returncode == 0, impute.stdout + impute.stderr
    assert pd.read_csv(tmp_path / "filled.csv")["Cylinders"].notna().all()


KIND_READERS = ["vae_lab/data/table_schema.py", "vae_lab/data/kind_inference.py", "vae_lab/models/tabular_likelihood.py",
                "vae_lab/evaluation/tabular_fidelity.py", "vae_lab/evaluation/sdmetrics_scores.py", "vae_lab/evaluation/sample_fidelity.py"]  # fmt: skip


@pytest.mark.parametrize("path", KIND_READERS)
def test_the_schema_likelihood_and_fidelity_code_name_no_kind(path):
    """They read the registry: no kind's name as a string, and no kind's class, in their code (docstrings and
    messages aside: a string naming a kind is only ever compared with, or looked up as, a kind)."""
    tree = ast.parse((REPO / path).read_text())
    kind_names = set(KINDS) - {"count"}
    kind_classes = {kind.__name__ for kind in KINDS.values()} - {"Column"}
    named = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and node.value in kind_names]
    classes = [node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id in kind_classes]
    classes += [alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names if alias.name in kind_classes]
    assert not named and not classes, f"{path} names the kinds {named + classes}"


def test_the_config_lists_the_overrides_of_the_built_in_kinds():
    """conf/data/csv.yaml keeps one key per kind that can be set by name (Hydra's struct mode needs them), and no other."""
    from omegaconf import OmegaConf

    data = OmegaConf.to_container(OmegaConf.load(REPO / "conf/data/csv.yaml").data)
    built_in = [name for name in overridable_kinds() if name != "count"]
    assert all(data.get(name) == [] for name in built_in)
    listed_kinds = [key for key in data if key in KINDS]
    assert sorted(listed_kinds) == sorted(built_in)
