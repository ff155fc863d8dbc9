"""Adding metrics to a finished run's metrics.csv and W&B run (what `vae-lab eval` does)."""

import csv
import json

import pytest
import wandb
from conftest import compose_train
from omegaconf import OmegaConf
from wandb_offline import offline_runs, read_offline_run

from vae_lab.run_logs import append_metrics_row, log_to_run


def read_rows(path):
    with path.open(newline="") as file:
        reader = csv.DictReader(file)
        return reader.fieldnames, list(reader)


def test_rows_are_appended_and_the_header_widens(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,train/loss\n0,10,5.0\n1,20,4.0\n")
    append_metrics_row(path, {"epoch": 1, "step": 20, "eval/test/nll": 90.5})
    header, rows = read_rows(path)
    assert header == ["epoch", "step", "train/loss", "eval/test/nll"]
    assert rows[0] == {"epoch": "0", "step": "10", "train/loss": "5.0", "eval/test/nll": ""}
    assert rows[2] == {"epoch": "1", "step": "20", "train/loss": "", "eval/test/nll": "90.5"}
    assert not list(tmp_path.glob("*.partial"))


def test_metrics_and_tables_go_to_the_runs_own_wandb_run(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "wandb_run_id").write_text("abc123xy\n")
    (run_dir / "metrics.csv").write_text("epoch,step,val/loss\n0,5,3.0\n")
    run_config = OmegaConf.create(OmegaConf.to_container(compose_train(["logger=csv_wandb"], run_dir), resolve=True))
    table = (["metric", "value"], [["eval/test/fidelity/ks/age", 0.04]])
    written = log_to_run(run_config, run_dir, {"eval/test/nll": 91.0}, step=5, epoch=0, tables={"eval/test/fidelity": table})
    assert written == ["metrics.csv", "wandb"]
    wandb.teardown()  # W&B writes the offline run file for sure when its service stops (at exit in the CLI)
    (run_file,) = offline_runs(run_dir)
    run = read_offline_run(run_file)
    assert run.run_id == "abc123xy"
    assert run.summary["eval/test/nll"] == pytest.approx(91.0)
    logged = {key: value for row in run.history for key, value in row.items()}
    assert logged["trainer/global_step"] == 5 and logged["eval/test/fidelity/_type"] == "table-file"
    table_file = run_file.parent / "files" / logged["eval/test/fidelity/path"]
    assert json.loads(table_file.read_text())["data"] == [["eval/test/fidelity/ks/age", 0.04]]
    assert read_rows(run_dir / "metrics.csv")[1][-1]["eval/test/nll"] == "91.0"


def test_loggers_the_run_did_not_use_are_skipped(tmp_path):
    run_config = OmegaConf.create(OmegaConf.to_container(compose_train(["logger=csv"], tmp_path), resolve=True))
    assert log_to_run(run_config, tmp_path, {"eval/test/nll": 1.0}, step=0, epoch=0) == []  # no metrics.csv there
