"""Values that compose but would fail later (in the first epoch, at sbatch) are one message when the run is built."""

import importlib.resources

import pytest
from conftest import TINY, compose_train, run_cli

from vae_lab.errors import ConfigError
from vae_lab.training.assembly import build_scheduler

RING = [*TINY, "data=ring", "likelihood=gaussian", "data.num_samples=300"]
SCHEDULERS = sorted(entry.name.removesuffix(".yaml") for entry in importlib.resources.files("vae_lab.conf").joinpath("scheduler").iterdir())


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_every_offered_scheduler_is_built_and_stepped_when_the_run_is_built(scheduler, tmp_path):
    cfg = compose_train([*RING, f"scheduler={scheduler}"], tmp_path)
    config = build_scheduler(cfg.scheduler, cfg.optimizer)
    assert callable(config["scheduler"]) and config["interval"] in ("epoch", "step")


def test_a_scheduler_value_that_fails_in_its_first_steps_is_one_message_before_training(tmp_path):
    cfg = compose_train([*RING, "scheduler=cosine", "scheduler.scheduler.T_max=0"], tmp_path)
    with pytest.raises(
        ConfigError, match=r"scheduler \(torch.optim.lr_scheduler.CosineAnnealingLR\) fails in its first steps with scheduler.scheduler.T_max=0"
    ):
        build_scheduler(cfg.scheduler, cfg.optimizer)
    result = run_cli(["train", *RING, "scheduler=cosine", "scheduler.scheduler.T_max=0", "run_name=refused"], cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in output and "scheduler.scheduler.T_max=0" in output
    assert "epoch 1/" not in output and not (tmp_path / "runs" / "train" / "refused").exists()  # refused before any epoch, nothing left


@pytest.mark.parametrize("value", ["cluster.gpus_per_node=0", "cluster.gpus_per_node=-2"])
def test_slurm_with_no_gpu_per_node_names_the_cpu_cluster_before_submitting(value, tmp_path):
    result = run_cli(["train", *RING, "cluster=slurm", value], cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in output
    assert f"cluster.gpus_per_node={value.split('=')[1]}" in output and "use cluster=slurm_cpu" in output
    assert not (tmp_path / "runs").exists()  # nothing submitted, nothing written


def test_other_launcher_values_sbatch_would_refuse_are_one_message(tmp_path):
    result = run_cli(["train", *RING, "cluster=slurm_cpu", "cluster.tasks_per_node=0"], cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in output and "cluster.tasks_per_node=0" in output
