"""Multiruns through the real CLI: grid sweeps, launchers (joblib, submitit), Optuna, failed jobs, SLURM job scripts."""

import csv
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import TINY, TINY_MNIST, assert_one_clear_message, read_results, run_cli
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from wandb_offline import offline_runs, read_offline_run

from vae_lab.sweeps import write_summary

RING_DATA = [*TINY, "data=ring", "data.num_samples=600"]
RING = [*RING_DATA, "likelihood=gaussian"]
RING_ANY_LATENT = [o for o in RING if not o.startswith("model.latent_dim=")]


def sweep_dirs(cwd: Path) -> list[Path]:
    return sorted((cwd / "runs" / "train" / "multirun").iterdir())


def read_summary(sweep_dir: Path) -> tuple[list[dict], dict]:
    with open(sweep_dir / "sweep.csv") as file:
        rows = list(csv.DictReader(file))
    return rows, json.loads((sweep_dir / "sweep.json").read_text())


@pytest.fixture(scope="module")
def grid_sweep(tiny_data_dir, tmp_path_factory):
    """The README's 2x2 grid on tiny MNIST, two jobs at a time in joblib worker processes, logging to W&B offline."""
    cwd = tmp_path_factory.mktemp("grid")
    fixed = [o for o in TINY_MNIST if not o.startswith("model.latent_dim")]
    result = run_cli(
        [
            "train",
            "-m",
            "likelihood=bernoulli,gaussian",
            "model.latent_dim=2,16",
            *fixed,
            "logger=csv_wandb",
            f"paths.data_dir={tiny_data_dir}",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
        ],
        cwd=cwd,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (sweep_dir,) = sweep_dirs(cwd)
    return sweep_dir


def test_grid_sweep_writes_four_run_directories_results_and_a_summary(grid_sweep):
    job_dirs = sorted(path for path in grid_sweep.iterdir() if path.is_dir() and not path.name.startswith("."))
    assert [path.name for path in job_dirs] == ["0", "1", "2", "3"]
    results = {path.name: read_results(path) for path in job_dirs}
    assert all(r["status"] == "completed" and r["global_step"] == 20 for r in results.values())
    rows, summary = read_summary(grid_sweep)
    assert [row["job"] for row in rows] == ["0", "1", "2", "3"] and summary["finished"] is True
    swept = set()
    for row, job_dir in zip(rows, job_dirs):
        assert row["status"] == "completed" and row["run_dir"] == str(job_dir)
        assert float(row["test/elbo"]) == pytest.approx(results[job_dir.name]["test/elbo"], rel=1e-9)
        overrides = row["overrides"].split()
        assert overrides == yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text())
        swept.add(tuple(o for o in overrides if o.startswith(("likelihood=", "model.latent_dim="))))
    assert swept == {(f"likelihood={lik}", f"model.latent_dim={dim}") for lik in ("bernoulli", "gaussian") for dim in (2, 16)}
    assert [job["job"] for job in summary["jobs"]] == [0, 1, 2, 3]
    assert {job["run_dir"] for job in summary["jobs"]} == {str(path) for path in job_dirs}


def test_grid_sweep_wandb_runs_are_grouped_by_sweep_and_tagged_with_their_values(grid_sweep):
    ids = set()
    for job_dir in sorted(path for path in grid_sweep.iterdir() if path.name.isdigit()):
        (run_file,) = offline_runs(job_dir)
        run = read_offline_run(run_file)
        overrides = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text())
        assert run.group == grid_sweep.name
        assert run.run_id == (job_dir / "wandb_run_id").read_text().strip()
        swept = [o for o in overrides if o.startswith(("likelihood=", "model.latent_dim="))]
        assert len(swept) == 2 and set(swept) <= set(run.tags)
        assert run.config["model"]["latent_dim"] == int(swept[1].split("=")[1])
        ids.add(run.run_id)
    assert len(ids) == 4


def test_a_job_whose_hydra_yaml_is_still_being_written_is_left_out_until_the_next_summary(grid_sweep, tmp_path):
    """Parallel launchers: a job can end while Hydra, in another process, is still writing a new job's hydra.yaml."""
    for job in ("0", "1"):
        shutil.copytree(grid_sweep / job, tmp_path / job, ignore=shutil.ignore_patterns("checkpoints", "wandb"))
    starting = tmp_path / "1" / ".hydra" / "hydra.yaml"
    written = starting.read_text()
    for partial in ("", written[: len(written) // 2], written[: written.index("  overrides:")]):
        starting.write_text(partial)
        assert [(row["job"], row["status"]) for row in write_summary(tmp_path, finished=False)] == [(0, "completed")]
    starting.write_text(written)
    assert [row["job"] for row in write_summary(tmp_path, finished=True)] == [0, 1]


def test_failed_job_is_recorded_and_the_other_goes_on_under_submitit(tmp_path):
    """submitit_local runs each job in its own process; job 0 (a Bernoulli likelihood on the real-valued ring) fails."""
    result = run_cli(
        ["train", "-m", "likelihood=bernoulli,gaussian", *RING_DATA, "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5"],
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stdout + result.stderr  # the sweep finished, but not every job did
    (sweep_dir,) = sweep_dirs(tmp_path)  # both job processes landed in the launching process's sweep directory
    failed, completed = read_results(sweep_dir / "0"), read_results(sweep_dir / "1")
    assert failed["status"] == "failed" and "likelihood=bernoulli needs data in [0, 1]" in failed["error"]
    assert completed["status"] == "completed" and completed["global_step"] == 18
    rows, _ = read_summary(sweep_dir)
    assert [(row["job"], row["status"]) for row in rows] == [("0", "failed"), ("1", "completed")]
    assert "likelihood=bernoulli needs data in [0, 1]" in rows[0]["error"]
    assert float(rows[1]["test/elbo"]) == pytest.approx(completed["test/elbo"], rel=1e-9)
    assert "job 0 (likelihood=bernoulli" in result.stdout + result.stderr


def test_continue_on_failure_false_stops_the_sweep_at_the_first_failed_job(tmp_path):
    result = run_cli(["train", "-m", "likelihood=bernoulli,gaussian", *RING_DATA, "continue_on_failure=false"], cwd=tmp_path)
    assert_one_clear_message(result, "likelihood=bernoulli needs data in [0, 1]", code=2)
    (sweep_dir,) = sweep_dirs(tmp_path)
    assert read_results(sweep_dir / "0")["status"] == "failed"
    assert not (sweep_dir / "1").exists()
    rows, summary = read_summary(sweep_dir)
    assert [(row["job"], row["status"]) for row in rows] == [("0", "failed")] and summary["finished"] is False


def test_optuna_search_runs_three_trials_goes_on_after_a_failed_one_and_reports_the_best(tmp_path):
    """latent_dim=0 is refused at startup: those trials fail, are told to Optuna as failed, and the search goes on."""
    result = run_cli(["train", "hparams_search=optuna", "hydra.sweeper.n_trials=3", "model.latent_dim=choice(0,2)", *RING_ANY_LATENT], cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr  # the search finished; a trial failed
    (sweep_dir,) = sweep_dirs(tmp_path)
    rows, _ = read_summary(sweep_dir)
    trials = [yaml.safe_load((Path(row["run_dir"]) / ".hydra" / "config.yaml").read_text()) for row in rows]
    assert len(rows) == 3 and len({t["optimizer"]["lr"] for t in trials}) == 3
    assert all(0.5 <= t["model"]["beta"] <= 2.0 for t in trials)
    statuses = [(t["model"]["latent_dim"], row["status"]) for t, row in zip(trials, rows)]
    assert {status for _, status in statuses} == {"completed", "failed"}  # seeded sampler: both kinds occur
    assert all(status == ("failed" if dim == 0 else "completed") for dim, status in statuses)
    best = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    completed = [float(row["best_val_loss"]) for row in rows if row["status"] == "completed"]
    assert best["best_value"] == pytest.approx(min(completed), rel=1e-9) and best["best_params"]["model.latent_dim"] == 2


def test_slurm_cluster_config_reaches_the_sbatch_script(tmp_path):
    """submitit writes the real job script, then calls `sbatch`; a stand-in sbatch keeps the script and refuses."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text('#!/bin/sh\nfor last; do :; done\ncp "$last" "$SBATCH_COPY"\necho "sbatch: no SLURM here" >&2\nexit 1\n')
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    script = tmp_path / "job.sh"
    result = run_cli(
        ["train", "cluster=slurm", "cluster.partition=gpu", "cluster.nodes=2", "cluster.gpus_per_node=4", "cluster.timeout_min=90"],
        cwd=tmp_path,
        env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "SBATCH_COPY": str(script)},
    )
    assert result.returncode != 0 and "sbatch: no SLURM here" in result.stdout + result.stderr
    lines = set(script.read_text().splitlines())
    for expected in ("--partition=gpu", "--nodes=2", "--ntasks-per-node=4", "--gpus-per-node=4", "--time=90", "--signal=USR1@120", "--requeue"):
        assert f"#SBATCH {expected}" in lines, script.read_text()
    trainer = OmegaConf.load(next((tmp_path / "runs").rglob("multirun.yaml"))).trainer  # what each job trains with
    assert (trainer.devices, trainer.num_nodes, trainer.strategy, trainer.precision) == (4, 2, "ddp", "bf16-mixed")
    assert OmegaConf.to_container(trainer.plugins, resolve=True) == [
        {"_target_": "lightning.pytorch.plugins.environments.SLURMEnvironment", "auto_requeue": True}
    ]


def test_unknown_launcher_and_sweeper_options_are_one_message(tmp_path):
    assert_one_clear_message(
        run_cli(["train", "-m", "hydra/launcher=slurm"], cwd=tmp_path), "Could not find 'hydra/launcher/slurm'", "submitit_slurm", "joblib"
    )
    # The same Hydra composition errors, without starting a process each.
    for overrides, message in (
        (["hparams_search=optuna", "hydra.sweeper.n_trails=3"], "Could not override 'hydra.sweeper.n_trails'"),
        (["hparams_search=optuan"], "Could not find 'hparams_search/optuan'"),
        (["cluster=slurm", "cluster.partiton=gpu"], "Could not override 'cluster.partiton'"),
    ):
        with initialize_config_module(config_module="vae_lab.conf", version_base="1.3"):
            with pytest.raises(ConfigCompositionException, match=message):
                compose(config_name="train", overrides=overrides, return_hydra_config=True)
