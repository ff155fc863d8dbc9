"""Tabular data end to end: train on a generated mixed CSV, check samples, per-column losses, checkpoints, impute."""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import assert_one_clear_message, compose_train, run_cli
from hydra import compose, initialize_config_module
from lightning.pytorch.callbacks import EarlyStopping
from mixed_table import GROUPS, MODELLED, TABULAR, mixed_table
from omegaconf import OmegaConf

import vae_lab
from vae_lab.api import fit, load_run
from vae_lab.api.sample_files import write_samples
from vae_lab.build import build_callbacks
from vae_lab.commands.impute import impute_csv
from vae_lab.data.in_memory import split_rows
from vae_lab.errors import ConfigError, DataError
from vae_lab.evaluation.sample_fidelity import sample_fidelity
from vae_lab.evaluation.split_evaluation import EvalSettings
from vae_lab.training.checkpoint_format import read_checkpoint

ROWS = 5000


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tabular")
    frame = mixed_table(ROWS, seed=0)
    path = folder / "mixed.csv"
    frame.to_csv(path, index=False)
    cfg = compose_train([*TABULAR, f"data.path={path}", "trainer.max_epochs=25"], folder / "run")
    torch.manual_seed(0)
    return frame, path, fit(cfg)


def test_training_logs_the_reconstruction_loss_of_every_column(trained):
    _, _, results = trained
    columns = {key.rsplit("/", 1)[1]: value for key, value in results.items() if key.startswith("test/recon_loss/")}
    assert list(columns) == sorted(MODELLED)  # "id" was dropped
    assert sum(columns.values()) == pytest.approx(results["test/recon_loss"], rel=1e-4)
    header = (Path(results["run_dir"]) / "metrics.csv").read_text().splitlines()[0].split(",")
    assert all(f"val/recon_loss/{name}" in header for name in MODELLED)


def test_samples_keep_category_frequencies_and_correlation(trained):
    frame, _, results = trained
    run = load_run(results["best_checkpoint"])
    datamodule, module = run.datamodule, run.module
    torch.manual_seed(1)
    samples = module.vae.sample(ROWS, mode="sample")
    fidelity = sample_fidelity(datamodule, samples, "test")
    value = {row["column"]: row["value"] for row in fidelity["columns"]}
    assert value["group"] < 0.05 and value["member"] < 0.05  # total-variation distances
    synthetic = datamodule.fitted_schema().inverse(samples)
    real = frame.iloc[split_rows(ROWS, 0.1, 0.2, seed=0)["test"]]
    assert abs(synthetic["x1"].corr(synthetic["x2"]) - real["x1"].corr(real["x2"])) < 0.1
    assert fidelity["correlation_mad"] < 0.1 and fidelity["ks_mean"] < 0.1


def test_checkpoint_restores_the_exact_preprocessing(trained):
    frame, _, results = trained
    run = load_run(results["best_checkpoint"])
    datamodule = run.datamodule
    test = datamodule.split("test")
    decoded = datamodule.fitted_schema().inverse(test.x, test.mask)
    original = frame.iloc[split_rows(ROWS, 0.1, 0.2, seed=0)["test"]][MODELLED].reset_index(drop=True)
    assert read_checkpoint(results["best_checkpoint"])["CSVDataModule"]["schema"] == datamodule.fitted_schema().state_dict()
    for name in MODELLED:  # observed cells come back exactly, integers as integers
        observed = original[name].notna()
        assert (decoded[name][observed].to_numpy() == original[name][observed].to_numpy()).all(), name
        assert decoded[name][~observed].isna().all()
    assert decoded["visits"].dtype == "Int64"


def test_sampled_csv_has_the_original_columns_and_types(trained, tmp_path):
    frame, _, results = trained
    run = load_run(results["best_checkpoint"])
    datamodule, module = run.datamodule, run.module
    (path,) = write_samples(datamodule, module.vae.sample(200, mode="sample"), tmp_path / "synthetic.csv")
    synthetic = pd.read_csv(path)
    assert list(synthetic.columns) == ["id", *MODELLED] and len(synthetic) == 200  # the file's columns, in its order
    assert (synthetic["id"].diff().dropna() == 1).all()  # row IDs counted afresh, none copied from a real row
    assert synthetic["visits"].dtype == np.int64 and synthetic["x1"].dtype == np.float64
    assert set(synthetic["group"].dropna()) <= set(GROUPS) and set(synthetic["member"]) <= {"yes", "no"}
    assert synthetic[["x1", "group"]].isna().any().all() and synthetic[["x2", "visits", "member"]].notna().all().all()  # 5% missing in training
    observed = synthetic["x1"].dropna()
    assert (observed.round(3) == observed).all()  # written with the training decimals


def test_cli_sample_writes_synthetic_rows_and_eval_scores_their_fidelity(trained, tmp_path):
    """`vae-lab sample ... output=synthetic.csv` and `vae-lab eval` on a table model, through the real CLI."""
    frame, csv_path, results = trained
    moved = tmp_path / "moved.csv"  # the training file moved since: data_path= says where it is now
    moved.write_bytes(csv_path.read_bytes())
    sampled = run_cli(["sample", f"ckpt_path={results['best_checkpoint']}", "n=1000", f"output={tmp_path / 'synthetic.csv'}"], cwd=tmp_path)
    assert sampled.returncode == 0, sampled.stdout + sampled.stderr
    synthetic = pd.read_csv(tmp_path / "synthetic.csv")
    assert list(synthetic.columns) == list(frame.columns) and len(synthetic) == 1000
    assert synthetic["visits"].dtype == np.int64 and set(synthetic["group"].dropna()) <= set(GROUPS)
    assert synthetic["group"].nunique() == len(GROUPS)  # draws (the default for tables), not the most likely category

    output = tmp_path / "eval.json"
    evaluated = run_cli(
        ["eval", f"ckpt_path={results['best_checkpoint']}", f"data_path={moved}", f"output={output}",
         "eval.iwae_samples=20", "eval.refine_examples=0", "eval.fidelity_samples=2000"],
        cwd=tmp_path,
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    report = json.loads(output.read_text())
    fidelity = report["fidelity"]
    by_metric = {(row["metric"], row["column"]): row["value"] for row in fidelity["columns"]}
    assert {column for metric, column in by_metric if metric == "ks"} == {"x1", "x2", "visits"}
    assert {column for metric, column in by_metric if metric == "tv"} == {"group", "member"}
    assert by_metric["tv", "group"] < 0.05 and fidelity["correlation_mad"] < 0.1
    assert fidelity["off_support_share"] == 0 and fidelity["range_violation_share"] == 0 and fidelity["coverage_mean"] == 1
    assert fidelity["ks_tv_mean"] < 0.1 and 0 <= fidelity["privacy"]["identical_share"] < 0.01
    assert 0.4 < fidelity["privacy"]["dcr_share"] < 0.6  # 5000 rows, a small model: no nearer the training rows
    assert 0.3 < fidelity["detection"] <= 1  # scikit-learn is in the dev extra
    assert report["log_likelihood"] >= report["elbo"]


def test_eval_without_scikit_learn_says_how_to_get_the_detection_score(trained, monkeypatch, caplog):
    _, _, results = trained
    run = vae_lab.load_run(results["run_dir"])
    monkeypatch.setattr("vae_lab.evaluation.sample_fidelity.detection_available", lambda: False)
    with caplog.at_level("INFO", logger="vae_lab.evaluation.sample_fidelity"):
        report = run.evaluate("test", EvalSettings(iwae_samples=2, refine_examples=0, fidelity_samples=300))
    assert "detection" not in report["fidelity"] and report["fidelity"]["privacy"]["dcr_share"] is not None
    assert [record.getMessage() for record in caplog.records if "scikit-learn" in record.getMessage()] == [
        'fidelity.detection left out: it needs scikit-learn (pip install "vae_lab[eval]")'
    ]


def test_impute_fills_missing_cells_only_and_beats_the_mean(trained, tmp_path):
    frame, _, results = trained
    truth = mixed_table(300, seed=7)
    incomplete = truth.astype(object).copy()
    hidden = np.random.default_rng(8).random(300) < 0.3
    incomplete.loc[hidden, "x2"] = ""
    incomplete.loc[5, "group"] = "d"  # never seen in training
    incomplete.loc[6, "visits"] = "NA"
    source = tmp_path / "incomplete.csv"
    incomplete.to_csv(source, index=False)
    output = tmp_path / "imputed.csv"
    result = run_cli(["impute", f"ckpt_path={results['best_checkpoint']}", f"input={source}", f"output={output}"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "column 'group' of" in result.stdout and "('d')" in result.stdout and "unknown category" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imputed.csv", "incomplete.csv"]  # nothing else written
    before, after = list(csv.reader(source.open())), list(csv.reader(output.open()))
    assert before[0] == after[0] and len(before) == len(after)
    missing = {(r, c) for r, row in enumerate(before) for c, cell in enumerate(row) if cell in ("", "NA")}
    assert missing and all(after[r][c] not in ("", "NA") for r, c in missing)
    assert all(after[r][c] == cell for r, row in enumerate(before) for c, cell in enumerate(row) if (r, c) not in missing)
    assert after[6 + 1][4].isdigit()  # an integer column is filled with an integer
    imputed = pd.read_csv(output)["x2"][hidden]
    model_error = np.abs(imputed - truth["x2"][hidden]).mean()
    mean_error = np.abs(frame["x2"].mean() - truth["x2"][hidden]).mean()
    assert model_error < 0.65 * mean_error  # x2 is predicted from x1 and the group


def test_tables_stop_on_the_validation_loss_by_default(tmp_path):
    """experiment=tabular (and tabular_conditional) add Lightning's EarlyStopping on val/loss, patience 20 (measured:
    CHANGELOG); callbacks=default trains every epoch."""
    for experiment in (["experiment=tabular"], ["experiment=tabular_conditional", "model.condition=group"]):
        cfg = compose_train([*experiment, "data.path=table.csv"], tmp_path / "run")
        stopping = [callback for callback in build_callbacks(cfg) if isinstance(callback, EarlyStopping)]
        assert len(stopping) == 1 and stopping[0].monitor == "val/loss" and stopping[0].patience == 20
        assert cfg.callbacks.model_checkpoint.monitor == "val/loss"  # the best checkpoint, which the commands use
    every_epoch = compose_train(["experiment=tabular", "data.path=table.csv", "callbacks=default"], tmp_path / "run")
    assert not any(isinstance(callback, EarlyStopping) for callback in build_callbacks(every_epoch))


def test_bad_csv_stops_training_with_one_message_and_writes_nothing(tmp_path):
    bad = tmp_path / "ragged.csv"
    bad.write_text("a,b,c\n1,2,x\n3,4\n")
    run_dir = tmp_path / "run"
    result = run_cli(["train", "experiment=tabular", f"data.path={bad}", f"hydra.run.dir={run_dir}"], cwd=tmp_path)
    assert_one_clear_message(result, f"CSV file {bad}: line 3 has 2 cells but the header has 3 columns", code=2)
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "results.json").exists()


def test_impute_refuses_bad_input_and_writes_no_output(trained, tmp_path):
    _, _, results = trained
    source = tmp_path / "typo.csv"
    source.write_text("x1,x2,group,visits,member\n0.5,51.2,a,3,yes\n0.1,forty,b,4,no\n")
    with initialize_config_module(config_module="vae_lab.conf", version_base="1.3"):
        cfg = compose("impute", [f"ckpt_path={results['best_checkpoint']}", f"input={source}", f"output={tmp_path / 'out.csv'}"])
    with pytest.raises(DataError, match=rf"column 'x2' of {source} holds numbers but 1 cell\(s\) are not numbers: 'forty' on line 3"):
        impute_csv(cfg)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["typo.csv"]
    with pytest.raises(ConfigError, match="vae-lab impute needs input=..."):
        impute_csv(OmegaConf.merge(cfg, {"input": None}))


def test_likelihood_and_data_must_match(tmp_path, trained):
    _, path, _ = trained
    from vae_lab.training.assembly import build_datamodule
    from vae_lab.training.module import VAEModule

    cfg = compose_train([*TABULAR, f"data.path={path}", "likelihood=gaussian"], tmp_path)
    datamodule = build_datamodule(cfg)
    with pytest.raises(ConfigError, match=r"GaussianLikelihood cannot model data .*CSVDataModule.*likelihood=tabular for data=csv"):
        VAEModule.from_config(cfg, datamodule.data_shape, datamodule.likelihood_kwargs())
    image_cfg = compose_train(["likelihood=tabular"], tmp_path)
    with pytest.raises(ConfigError, match="likelihood=tabular needs the column layout of a table"):
        VAEModule.from_config(image_cfg, (1, 28, 28))
    assert math.isfinite(datamodule.split("val").x.sum())


def test_the_python_api_samples_rows_and_imputes_as_the_commands_do(trained, tmp_path):
    frame, _, results = trained
    run = vae_lab.load_run(results["run_dir"])  # a run directory: its best checkpoint
    assert run.path == Path(results["best_checkpoint"]) and run.global_step > 0
    rows = run.sample_table(300, seed=0)
    assert list(rows.columns) == list(frame.columns) and len(rows) == 300 and set(rows["group"].dropna()) <= set(GROUPS)
    incomplete = mixed_table(50, seed=9)
    source = tmp_path / "incomplete.csv"
    incomplete.to_csv(source, index=False)
    with initialize_config_module(config_module="vae_lab.conf", version_base="1.3"):
        cfg = compose("impute", [f"ckpt_path={results['best_checkpoint']}", f"input={source}", f"output={tmp_path / 'cli.csv'}"])
    impute_csv(cfg)
    filled = run.impute(incomplete)
    assert incomplete[["x1", "group"]].isna().any().all() and not filled[MODELLED].isna().any().any()
    pd.testing.assert_frame_equal(filled.astype(str), pd.read_csv(tmp_path / "cli.csv", dtype=str, keep_default_na=False))
