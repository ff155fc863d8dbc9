"""One writer per run directory (vae_lab/run_dir.py): a second process is refused, stale locks are taken over."""

import csv
import json
import os
import socket
import subprocess
import sys
import time

import pytest
from conftest import TINY, cli_environment, read_results, run_cli

from vae_lab.run_dir import RunDir, RunDirInUse, stale_reason

pytestmark = pytest.mark.slow  # each test runs `vae-lab` processes

RING = [*TINY, "data=ring", "data.num_samples=6000", "likelihood=gaussian", "trainer.max_epochs=3", "logger=csv"]


def metric_rows(run_dir) -> list[dict]:
    with open(run_dir / "metrics.csv") as file:
        return [{k: v for k, v in row.items() if v} for row in csv.DictReader(file)]


def test_a_second_run_on_the_same_directory_is_refused_and_the_first_is_undisturbed(tmp_path):
    busy, alone = tmp_path / "busy", tmp_path / "alone"
    busy.mkdir(), alone.mkdir()
    command = [sys.executable, "-m", "vae_lab", "train", *RING, "run_name=X"]
    first = subprocess.Popen(command, cwd=busy, env=cli_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lock = busy / "runs" / "train" / "X" / "run.lock"
    deadline = time.time() + 60
    while not lock.exists() and time.time() < deadline:
        time.sleep(0.1)
    second = run_cli(["train", *RING, "run_name=X"], cwd=busy)
    first_output = first.communicate(timeout=300)[0]
    assert first.returncode == 0, first_output
    assert second.returncode == 2
    message = (second.stdout + second.stderr).strip()
    assert f"is in use by pid {first.pid} on {socket.gethostname()}" in message and "use another run_name" in message
    assert "Traceback" not in message and len(message.splitlines()) == 1
    assert not lock.exists()  # released at the end
    undisturbed = run_cli(["train", *RING, "run_name=X"], cwd=alone)
    assert undisturbed.returncode == 0, undisturbed.stdout + undisturbed.stderr
    ours, reference = busy / "runs" / "train" / "X", alone / "runs" / "train" / "X"
    drop = {"wall_time_s", "train_samples_per_s", "run_dir", "best_checkpoint", "last_checkpoint"}
    assert {k: v for k, v in read_results(ours).items() if k not in drop} == {k: v for k, v in read_results(reference).items() if k not in drop}
    assert metric_rows(ours) == metric_rows(reference)
    assert sorted(p.name for p in (ours / "checkpoints").iterdir()) == sorted(p.name for p in (reference / "checkpoints").iterdir())
    assert "in use" not in (ours / "train.log").read_text()


def test_a_lock_whose_holder_died_is_taken_over_with_a_warning(tmp_path):
    run_dir = tmp_path / "runs" / "train" / "Y"
    run_dir.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    (run_dir / "run.lock").write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead), "started": 0, "heartbeat": 0}))
    result = run_cli(["train", *RING, "trainer.max_epochs=1", "run_name=Y"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"taking over the lock of {socket.gethostname()} pid {dead} (its process is gone)" in result.stdout + result.stderr
    assert read_results(run_dir)["status"] == "completed" and not (run_dir / "run.lock").exists()


def test_stale_and_live_holders(tmp_path, monkeypatch):
    here, now = socket.gethostname(), time.time()
    assert stale_reason({"host": here, "pid": os.getpid(), "heartbeat": now}, 300) is None
    assert stale_reason({"host": "node7", "pid": 1, "heartbeat": now - 10}, 300) is None  # another host, fresh heartbeat
    assert stale_reason({"host": "node7", "pid": 1, "heartbeat": now - 400}, 300).startswith("no heartbeat for 40")
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    run = RunDir(tmp_path / "run")
    with run.locked(heartbeat_s=0.05) as entry:
        first = run.holder()["heartbeat"]
        time.sleep(0.3)
        assert run.holder()["heartbeat"] > first and run.holder()["pid"] == entry["pid"]  # the heartbeat runs
        with pytest.raises(RunDirInUse, match=r"is in use by pid \d+ on .*wait for it to finish, stop it, or use another run_name"):
            run.acquire(300)
    assert run.holder() is None
    monkeypatch.setenv("SLURM_JOB_ID", "4242")  # a requeued SLURM job finds its earlier incarnation's lock
    assert "this SLURM job 4242, requeued" in stale_reason({"host": here, "pid": os.getpid(), "heartbeat": now, "slurm_job_id": "4242"}, 300)


def test_eval_does_not_append_to_the_logs_of_a_run_in_training(tmp_path):
    result = run_cli(["train", *RING, "trainer.max_epochs=1", "run_name=Z"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = tmp_path / "runs" / "train" / "Z"
    before = (run_dir / "metrics.csv").read_text()
    with RunDir(run_dir).locked():  # as a training run holds it
        evaluated = run_cli(["eval", f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}", "eval.iwae_samples=5",
                             "eval.refine_examples=0", f"output={tmp_path / 'eval.json'}"], cwd=tmp_path)  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    assert "not adding the metrics to the run's logs" in evaluated.stdout + evaluated.stderr
    assert (run_dir / "metrics.csv").read_text() == before and (tmp_path / "eval.json").is_file()
