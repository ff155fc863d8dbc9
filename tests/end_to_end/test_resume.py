"""Fault tolerance: SIGKILL mid-epoch and resume, kills during a checkpoint write, resuming the wrong run."""

import contextlib
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import PROBES, TINY, compose_train, read_results, run_cli, start_cli
from PIL import Image
from wandb_offline import offline_runs, read_offline_run

from vae_lab.api import fit
from vae_lab.errors import CheckpointError
from vae_lab.resume import newest_checkpoint
from vae_lab.training.checkpoint_format import read_checkpoint

RING = [*TINY, "data=ring", "likelihood=gaussian", "data.num_samples=600"]  # 9 training steps per epoch
EVERY_4_STEPS = "callbacks.step_checkpoint.every_n_train_steps=4"


# 600 8x8 grey images left on disk and read per batch by a worker process: 9 training steps per epoch, as RING.
ON_DISK = [*TINY, "data=image_folder", "data.channels=1", "data.in_memory=false", "data.num_workers=1"]
KILLED_RUNS = {"eager": [*RING, "model.compile=false"], "compiled": [*RING, "model.compile=true"], "image_folder_on_disk": ON_DISK}


def write_grey_images(folder: Path, count: int = 600) -> Path:
    folder.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, size=(count, 8, 8), dtype=np.uint8)
    for i, image in enumerate(pixels):
        Image.fromarray(image).save(folder / f"{i:04d}.png")
    return folder


@pytest.mark.parametrize("case", KILLED_RUNS)
def test_sigkill_mid_epoch_then_the_same_command_finishes_like_an_uninterrupted_run(tmp_path, case):
    options = [*KILLED_RUNS[case], EVERY_4_STEPS]
    if case == "image_folder_on_disk":
        options.append(f"data.path={write_grey_images(tmp_path / 'images')}")
    reference = fit(compose_train(options, tmp_path / "uninterrupted"))
    marker = tmp_path / "reached_step_14"
    command = [
        "train",
        *options,
        "logger=csv_wandb",
        "run_name=preempted",
        "+callbacks.hold._target_=lightning_probes.HoldAtStep",
        "+callbacks.hold.step=14",
        f"+callbacks.hold.marker={marker}",
    ]
    first = start_cli(command, tmp_path, PROBES)
    try:
        deadline = time.time() + 240
        while not marker.exists() and first.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        assert marker.exists(), "the first run never reached step 14"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(first.pid, signal.SIGKILL)  # the job and its children (W&B), as a scheduler would
    assert first.wait() == -signal.SIGKILL

    run_dir = tmp_path / "runs" / "train" / "preempted"
    assert not (run_dir / "results.json").exists()
    assert read_checkpoint(run_dir / "checkpoints" / "last.ckpt")["global_step"] == 12  # mid-epoch 1 (steps 9..17)

    second = run_cli(command, cwd=tmp_path, env=PROBES)  # the very same command
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"resuming from {run_dir / 'checkpoints' / 'last.ckpt'}" in second.stdout + second.stderr
    results = read_results(run_dir)
    assert results["global_step"] == reference["global_step"] == 18
    # Same batches in the same order, same noise: the resumed run ends where the uninterrupted one does.
    assert results["test/elbo"] == pytest.approx(reference["test/elbo"], rel=1e-6)
    assert results["best_val_loss"] == pytest.approx(reference["best_val_loss"], rel=1e-6)

    # W&B: both processes logged to the same run id (offline-run-<time>-<id>); the killed one never flushed its records.
    run_id = (run_dir / "wandb_run_id").read_text().strip()
    killed_run, resumed_run = offline_runs(run_dir)
    assert killed_run.parent.name.endswith(f"-{run_id}") and resumed_run.parent.name.endswith(f"-{run_id}")
    resumed = read_offline_run(resumed_run)
    assert resumed.run_id == run_id and resumed.summary["test/elbo"] == pytest.approx(results["test/elbo"], rel=1e-6)


@pytest.fixture
def finished_run(tmp_path) -> Path:
    """A finished tiny run (2 epochs, 18 steps) that a test resumes or writes into."""
    run_dir = tmp_path / "run"
    fit(compose_train(RING, run_dir))
    return run_dir


def test_slurm_time_limit_signal_checkpoints_requeues_and_the_requeued_job_resumes(tmp_path, monkeypatch):
    """cluster=slurm's SLURMEnvironment under a fake SLURM job: USR1 -> hpc checkpoint + `scontrol requeue`, kill, rerun."""
    reference = fit(compose_train(RING, tmp_path / "uninterrupted"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "scontrol.calls"}\n')
    (bin_dir / "scontrol").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    slurm = {
        "SLURM_NTASKS": "1",
        "SLURM_NTASKS_PER_NODE": "1",
        "SLURM_JOB_NAME": "train",
        "SLURM_JOB_ID": "78",
        "SLURM_ARRAY_JOB_ID": "77",
        "SLURM_ARRAY_TASK_ID": "3",
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
        "SLURM_NODEID": "0",
        "SLURM_NODELIST": "localhost",
    }
    for name, value in slurm.items():
        monkeypatch.setenv(name, value)
    on_this_machine = ["trainer.accelerator=cpu", "trainer.devices=1", "trainer.strategy=auto", "trainer.precision=32-true"]
    overrides = [*RING, "cluster=slurm", *on_this_machine, EVERY_4_STEPS]
    run_dir = tmp_path / "job"

    with pytest.raises(Exception, match="killed by the scheduler after step 10"):
        fit(compose_train([*overrides, "+callbacks.preempt._target_=lightning_probes.PreemptAtStep", "+callbacks.preempt.step=10"], run_dir))
    assert (tmp_path / "scontrol.calls").read_text() == "requeue 77_3\n"
    assert read_checkpoint(run_dir / "hpc_ckpt_1.ckpt")["global_step"] == 10  # saved when the signal came
    assert read_checkpoint(run_dir / "checkpoints" / "last.ckpt")["global_step"] == 9
    assert newest_checkpoint(run_dir) == run_dir / "hpc_ckpt_1.ckpt"  # what the rerun resumes from

    results = fit(compose_train(overrides, run_dir))  # the requeued job: same command, same directory
    assert results["global_step"] == 18
    assert results["test/elbo"] == pytest.approx(reference["test/elbo"], rel=1e-6)


KILL_MID_WRITE = """
import io, os, signal, sys, torch
from vae_lab.training.atomic_checkpoint_io import AtomicCheckpointIO

path = sys.argv[1]
checkpoint = torch.load(path, weights_only=False)
checkpoint["global_step"] = 1000
save = torch.save

def write_half_then_die(obj, file, *args, **kwargs):
    data = io.BytesIO()
    save(obj, data)
    file.write(data.getvalue()[: len(data.getvalue()) // 2])
    file.flush()
    os.kill(os.getpid(), signal.SIGKILL)

torch.save = write_half_then_die
AtomicCheckpointIO().save_checkpoint(checkpoint, path)
"""


def test_a_kill_during_a_checkpoint_write_leaves_the_previous_checkpoint_loadable(finished_run, tmp_path):
    run_dir = finished_run
    last = run_dir / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    killed = subprocess.run([sys.executable, "-c", KILL_MID_WRITE, str(last)], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (partial,) = last.parent.glob(".last.ckpt.*.partial")  # the half-written new checkpoint, beside the old one
    assert 0 < partial.stat().st_size < len(before)
    assert last.read_bytes() == before and read_checkpoint(last)["global_step"] == 18
    results = fit(compose_train([*RING, "trainer.max_epochs=3"], run_dir))  # and the run resumes from it
    assert results["global_step"] == 27


def test_resuming_keeps_going_when_only_trainer_settings_change(finished_run, tmp_path):
    run_dir = finished_run
    results = fit(compose_train([*RING, "trainer.max_epochs=3", "trainer.log_every_n_steps=2"], run_dir))
    assert results["epochs"] == 3 and results["global_step"] == 27
    # metrics.csv continues: the first run's validation epochs are still there, with the resumed one after them
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    assert [int(row["epoch"]) for row in rows if row.get("val/loss")] == [0, 1, 2]


def test_ckpt_path_last_without_a_checkpoint_is_one_message(tmp_path):
    with pytest.raises(CheckpointError, match="ckpt_path=last: there is no checkpoint in"):
        fit(compose_train([*RING, "ckpt_path=last"], tmp_path / "empty"))


def test_resuming_a_run_directory_with_another_model_config_is_one_message(finished_run, tmp_path):
    run_dir = finished_run
    result = run_cli(["train", *RING, "model.latent_dim=3", "encoder.hidden_sizes=[16]", f"hydra.run.dir={run_dir}"], cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in output, output
    assert f"cannot resume from {run_dir / 'checkpoints' / 'last.ckpt'}: it was trained with a different config" in output
    assert "model.latent_dim: 4 in the checkpoint, 3 now" in output
    assert "encoder.hidden_sizes: [32] in the checkpoint, [16] now" in output and "Start a new run" in output
    assert read_checkpoint(run_dir / "checkpoints" / "last.ckpt")["global_step"] == 18  # nothing was touched
