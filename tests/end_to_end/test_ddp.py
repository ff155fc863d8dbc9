"""DDP through the real CLI: two CPU processes (gloo) per job, one run directory, exact synchronized metrics, disjoint data."""

import csv
import json

import lightning as L
import pytest
import torch
from conftest import PROBES, TINY, compose_train, read_results, run_cli

from vae_lab.api import load_run
from vae_lab.build import build_trainer
from vae_lab.errors import ConfigError
from vae_lab.evaluation.example_noise import example_noise
from vae_lab.evaluation.importance_sampling import importance_sampled_log_likelihood
from vae_lab.evaluation.latent_usage import latent_usage

RING = [*TINY, "data=ring", "likelihood=gaussian", "data.num_samples=600"]


@pytest.fixture(scope="module")
def ddp_sweep(tmp_path_factory):
    """Two `trainer=ddp_cpu` jobs one after the other in one multirun process (the harder case for DDP)."""
    cwd = tmp_path_factory.mktemp("ddp")
    result = run_cli(
        [
            "train",
            "-m",
            "trainer=ddp_cpu",
            "seed=0,1",
            *RING,
            "callbacks=[default,val_log_likelihood]",
            "callbacks.val_log_likelihood.every_n_epochs=1",
            "callbacks.val_log_likelihood.num_samples=10",
            "+callbacks.rows._target_=lightning_probes.RecordTrainingRows",
            f"+callbacks.rows.folder={cwd}/rows/seed${{seed}}",
        ],
        cwd=cwd,
        env=PROBES,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (sweep_dir,) = (cwd / "runs" / "train" / "multirun").iterdir()
    return cwd, sweep_dir


def test_ddp_writes_one_run_directory_per_job_from_rank_zero_only(ddp_sweep):
    cwd, sweep_dir = ddp_sweep
    assert sorted(path.name for path in sweep_dir.iterdir()) == ["0", "1", "multirun.yaml", "sweep.csv", "sweep.json"]
    assert [path.name for path in (cwd / "runs" / "train").iterdir()] == ["multirun"]  # the second processes made no directory
    for job in ("0", "1"):
        assert sorted(path.name for path in (sweep_dir / job).iterdir()) == [
            ".hydra",
            "checkpoints",
            "hparams.yaml",
            "metrics.csv",
            "results.json",
            "train.log",
        ]
        results = read_results(sweep_dir / job)
        assert results["status"] == "completed"
        assert results["global_step"] == 2 * 5  # 440 training rows / 2 processes / batch 50 = 5 steps per epoch


def test_each_rank_trains_on_a_different_part_of_the_data(ddp_sweep):
    cwd, _ = ddp_sweep
    for seed in (0, 1):
        seen = [json.loads((cwd / "rows" / f"seed{seed}" / f"rows_rank{rank}.json").read_text()) for rank in (0, 1)]
        for epoch in ("0", "1"):
            rank0, rank1 = set(seen[0][epoch]), set(seen[1][epoch])
            assert len(seen[0][epoch]) == len(seen[1][epoch]) == 220
            assert not rank0 & rank1 and rank0 | rank1 == set(range(440))
        assert seen[0]["0"] != seen[0]["1"]  # a new permutation every epoch


def test_ddp_test_elbo_equals_a_single_process_evaluation_of_the_same_checkpoint(ddp_sweep):
    _, sweep_dir = ddp_sweep
    for job in ("0", "1"):
        results = read_results(sweep_dir / job)
        run = load_run(results["best_checkpoint"])
        datamodule, module = run.datamodule, run.module
        trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False)
        single = trainer.test(module, datamodule=datamodule, verbose=False)[0]
        for key in ("test/elbo", "test/recon_loss", "test/kl", "test/loss"):
            assert single[key] == pytest.approx(results[key], rel=1e-4)


def test_ddp_whole_split_sums_equal_a_single_process_pass(ddp_sweep):
    """val/log_likelihood and the collapse monitor's usage: each process sums its own rows, then one all-reduce (split_sums)."""
    _, sweep_dir = ddp_sweep
    for job in ("0", "1"):
        with open(sweep_dir / job / "metrics.csv") as file:
            last = [row for row in csv.DictReader(file) if row.get("val/log_likelihood")][-1]
        run = load_run(sweep_dir / job / "checkpoints" / "last.ckpt")
        datamodule, module = run.datamodule, run.module
        val, seed = datamodule.split("val"), module.eval_seed
        with torch.no_grad():
            noise = example_noise(torch.arange(len(val)), 10, module.vae.latent_dim, seed)
            expected = importance_sampled_log_likelihood(module.vae, val.x, 10, 10, noise=noise).double().mean().item()
        usage = latent_usage(module.vae, [val.x])
        assert float(last["val/log_likelihood"]) == pytest.approx(expected, rel=1e-5)
        assert float(last["val/kl_layer/1"]) == pytest.approx(usage.kl, rel=1e-5)
        assert float(last["val/active_units"]) == usage.active_units


def test_ddp_on_gpus_this_machine_lacks_is_one_message(tmp_path):
    cfg = compose_train(["trainer=ddp", "trainer.devices=64"], tmp_path)
    import torch

    expected = "has no CUDA GPU" if torch.cuda.device_count() == 0 else "asks for more GPUs than this machine has"
    with pytest.raises(ConfigError, match=expected):
        build_trainer(cfg, [], [])
