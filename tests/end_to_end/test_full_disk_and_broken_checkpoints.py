"""Full disks (a file-size limit, RLIMIT_FSIZE) and broken checkpoints lose nothing: one message, a non-zero exit,
the files written before intact, and the same command resumes once there is room."""

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY, cli_environment, compose_train, read_results, run_cli

from vae_lab.api import fit
from vae_lab.atomic_files import write_json
from vae_lab.errors import StorageFull
from vae_lab.training.checkpoint_format import read_checkpoint

RING = [*TINY, "data=ring", "likelihood=gaussian", "data.num_samples=600"]  # 9 steps per epoch, checkpoints of about 37 KB
STORAGE_FULL_EXIT = 74


def run_cli_with_file_size_limit(args: list[str], cwd: Path, max_bytes: int) -> subprocess.CompletedProcess:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return subprocess.run(
        [sys.executable, "-m", "vae_lab", *args], cwd=cwd, env=cli_environment(), capture_output=True, text=True, timeout=300, preexec_fn=limit
    )


def test_a_checkpoint_write_past_the_file_size_limit_is_one_message_and_the_rerun_resumes(tmp_path):
    reference = fit(compose_train(RING, tmp_path / "uninterrupted"))
    command = ["train", *RING, "run_name=full"]
    first = run_cli([*command, "trainer.max_epochs=1"], cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    last = tmp_path / "runs" / "train" / "full" / "checkpoints" / "last.ckpt"
    before = last.read_bytes()

    full = run_cli_with_file_size_limit(command, tmp_path, max_bytes=20_000)  # smaller than a checkpoint, larger than the logs
    output = full.stdout + full.stderr
    assert full.returncode == STORAGE_FULL_EXIT, output
    assert "Traceback" not in output and "the file-size limit is reached" in output and "run the same command again" in output
    assert last.read_bytes() == before and read_checkpoint(last)["global_step"] == 9  # the previous checkpoint, intact
    assert not list(last.parent.glob(".*.partial"))  # no half-written file left behind

    rerun = run_cli(command, cwd=tmp_path)  # room again: the same command
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    results = read_results(tmp_path / "runs" / "train" / "full")
    assert results["global_step"] == reference["global_step"] == 18
    assert results["test/elbo"] == pytest.approx(reference["test/elbo"], rel=1e-6)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    fit(compose_train(RING, run_dir))
    return run_dir


@pytest.mark.parametrize(
    "command, written",
    [
        (["eval", "eval.iwae_samples=5", "eval.refine_examples=0", "log_to_run=false"], "eval.json"),
        (["sample", "n=2000"], "samples.pt"),
        (["encode"], "z.npz"),
    ],
)
def test_an_output_past_the_file_size_limit_is_one_message_naming_it(finished, tmp_path, command, written):
    output = tmp_path / written
    args = [*command, f"ckpt_path={finished / 'checkpoints' / 'last.ckpt'}", f"output={output.with_suffix('') if written == 'samples.pt' else output}"]
    result = run_cli_with_file_size_limit(args, tmp_path, max_bytes=1_000)
    text = result.stdout + result.stderr
    assert result.returncode == STORAGE_FULL_EXIT, text
    assert "Traceback" not in text and f"cannot write {output}" in text and "the file-size limit is reached" in text
    assert not output.exists() and not list(tmp_path.glob(".*.partial"))


def test_results_json_past_the_limit_is_storage_full_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "results.json"
    write_json(path, {"status": "completed"})
    code = f"""
import resource, sys
from vae_lab.atomic_files import write_json
from vae_lab.errors import StorageFull
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
try:
    write_json({str(path)!r}, {{"big": "x" * 5000}})
except StorageFull as error:
    print(error)
    sys.exit(error.exit_code)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == StorageFull.exit_code and f"cannot write {path}" in result.stdout
    assert json.loads(path.read_text()) == {"status": "completed"}


def test_a_truncated_last_checkpoint_resumes_from_the_previous_one_with_a_warning(finished, tmp_path):
    last = finished / "checkpoints" / "last.ckpt"
    (best,) = [path for path in last.parent.glob("epoch*.ckpt")]
    last.write_bytes(last.read_bytes()[:5000])  # cut short by a copy
    result = run_cli(["train", *RING, "trainer.max_epochs=3", f"hydra.run.dir={finished}"], cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"not resuming from {last}" in output and "it may be truncated" in output
    assert f"resuming from {best}, the newest checkpoint of {finished} that can be read" in output
    assert read_results(finished)["global_step"] == 27 and read_checkpoint(last)["global_step"] == 27


def test_no_readable_checkpoint_is_one_message(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"not a checkpoint")
    result = run_cli(["train", *RING, f"hydra.run.dir={run_dir}"], cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in output
    assert f"none of the checkpoints in {run_dir} can be read" in output
