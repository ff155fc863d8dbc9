"""SIGTERM and SIGINT: a checkpoint at the current step, exit status 128 + signal, results.json says interrupted,
and the same command resumes to the same final step and test ELBO as an uninterrupted run (single process and DDP)."""

import json
import signal
import time
from pathlib import Path

import pytest
from conftest import PROBES, TINY, compose_train, read_results, run_cli, start_cli

from vae_lab.api import fit
from vae_lab.training.checkpoint_format import read_checkpoint

# 9 training steps per epoch, a step checkpoint every 4 steps (so a stop at step 14 has no checkpoint of its own yet),
# 2 validation batches (so a stop in validation interrupts it).
RING = [*TINY, "data=ring", "likelihood=gaussian", "data.num_samples=600", "data.eval_batch_size=50", "callbacks.step_checkpoint.every_n_train_steps=4"]


def wait_then_signal(command: list[str], cwd: Path, marker: Path, signal_number: int) -> tuple[int, float]:
    """Start `command`, send `signal_number` once `marker` appears; (exit status, seconds from signal to exit)."""
    process = start_cli(command, cwd, PROBES)
    deadline = time.time() + 240
    while not marker.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert marker.exists(), "the run never reached the step where it waits for the signal"
    sent = time.time()
    process.send_signal(signal_number)
    status = process.wait(timeout=60)
    return status, time.time() - sent


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    return fit(compose_train(RING, tmp_path_factory.mktemp("uninterrupted") / "run"))


CASES = {
    "sigterm_in_training": (signal.SIGTERM, "training", 14, []),
    "sigterm_in_validation": (signal.SIGTERM, "validation", 9, []),
    "sigint_in_training": (signal.SIGINT, "training", 14, []),
    "sigterm_ddp_in_training": (signal.SIGTERM, "training", 7, ["trainer=ddp_cpu"]),
}


@pytest.mark.parametrize("case", CASES)
def test_a_stop_signal_saves_the_current_step_and_the_rerun_finishes_like_an_uninterrupted_run(case, uninterrupted, tmp_path):
    signal_number, during, step, extra = CASES[case]
    marker = tmp_path / "waiting"
    hold = ["+callbacks.hold._target_=lightning_probes.WaitForStopSignal", f"+callbacks.hold.step={step}", f"+callbacks.hold.marker={marker}"]
    command = ["train", *RING, *extra, "run_name=stopped", *hold, f"+callbacks.hold.during={during}"]
    status, seconds = wait_then_signal(command, tmp_path, marker, signal_number)
    assert status == 128 + signal_number and seconds < 30, (tmp_path / "cli_output.log").read_text()[-6000:]

    run_dir = tmp_path / "runs" / "train" / "stopped"
    stopped = read_results(run_dir)
    assert stopped["status"] == "interrupted" and stopped["signal"] == signal.Signals(signal_number).name and stopped["global_step"] == step
    assert read_checkpoint(run_dir / "checkpoints" / "last.ckpt")["global_step"] == step

    rerun = run_cli(command, cwd=tmp_path, env=PROBES)  # the very same command
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    results = read_results(run_dir)
    if extra:  # DDP: two processes each see half the data, so compare with the same run uninterrupted
        reference_run = run_cli(["train", *RING, *extra, "run_name=reference"], cwd=tmp_path)
        assert reference_run.returncode == 0, reference_run.stdout + reference_run.stderr
        reference = read_results(tmp_path / "runs" / "train" / "reference")
    else:
        reference = uninterrupted
    assert results["status"] == "completed" and results["global_step"] == reference["global_step"]
    assert results["test/elbo"] == pytest.approx(reference["test/elbo"], rel=1e-6)
    assert json.loads((run_dir / "results.json").read_text())["epochs"] == reference["epochs"]
