"""DDP through the real CLI: two CPU processes (gloo), one run directory, exact synchronized metrics, disjoint data."""

import json
from pathlib import Path

import lightning as L
import pytest

from conftest import TINY, compose_train, read_results, run_cli
from vae_lab.build import build_trainer
from vae_lab.checkpoints import load_run
from vae_lab.errors import ConfigError

PROBES = {"PYTHONPATH": str(Path(__file__).parent)}  # lightning_probes for the CLI subprocess
RING = [*TINY, "data=ring", "likelihood=gaussian", "data.num_samples=600"]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    """`vae-lab train trainer=ddp_cpu` in a fresh folder, with the default (timestamped) run directory."""
    cwd = tmp_path_factory.mktemp("ddp")
    rows = cwd / "rows"
    result = run_cli(
        ["train", "trainer=ddp_cpu", *RING, "+callbacks.rows._target_=lightning_probes.RecordTrainingRows", f"+callbacks.rows.folder={rows}"],
        cwd=cwd, env=PROBES,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return cwd, result


def test_ddp_writes_one_run_directory_from_rank_zero_only(ddp_run):
    cwd, _ = ddp_run
    (run_dir,) = (cwd / "runs" / "train").iterdir()  # the second process joined the first one's directory
    assert sorted(path.name for path in run_dir.iterdir()) == [
        ".hydra", "checkpoints", "hparams.yaml", "metrics.csv", "results.json", "train.log"
    ]
    results = read_results(run_dir)
    assert results["status"] == "completed"
    assert results["global_step"] == 2 * 5  # 440 training rows / 2 processes / batch 50 = 5 steps per epoch


def test_each_rank_trains_on_a_different_part_of_the_data(ddp_run):
    cwd, _ = ddp_run
    seen = [json.loads((cwd / "rows" / f"rows_rank{rank}.json").read_text()) for rank in (0, 1)]
    for epoch in ("0", "1"):
        rank0, rank1 = set(seen[0][epoch]), set(seen[1][epoch])
        assert len(seen[0][epoch]) == len(seen[1][epoch]) == 220
        assert not rank0 & rank1 and rank0 | rank1 == set(range(440))
    assert seen[0]["0"] != seen[0]["1"]  # a new permutation every epoch


def test_ddp_test_elbo_equals_a_single_process_evaluation_of_the_same_checkpoint(ddp_run):
    cwd, _ = ddp_run
    (run_dir,) = (cwd / "runs" / "train").iterdir()
    results = read_results(run_dir)
    _, datamodule, module = load_run(results["best_checkpoint"])
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False)
    single = trainer.test(module, datamodule=datamodule, verbose=False)[0]
    for key in ("test/elbo", "test/recon_loss", "test/kl", "test/loss"):
        assert single[key] == pytest.approx(results[key], rel=1e-4)


def test_ddp_on_gpus_this_machine_lacks_is_one_message(tmp_path):
    cfg = compose_train(["trainer=ddp", "trainer.devices=64"], tmp_path)
    import torch

    expected = "has no CUDA GPU" if torch.cuda.device_count() == 0 else "asks for more GPUs than this machine has"
    with pytest.raises(ConfigError, match=expected):
        build_trainer(cfg, [], [])
