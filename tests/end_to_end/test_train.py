"""`vae-lab train` end to end: real Hydra composition, real Lightning fits, real files, real W&B offline runs."""

import math
import re
import subprocess
import sys

import pytest
import torch
import yaml
from conftest import TINY, TINY_MNIST, assert_one_clear_message, cli_environment, compose_train, read_results, run_cli
from wandb_offline import offline_runs, read_offline_run

from vae_lab.api import fit, load_run
from vae_lab.training.checkpoint_format import read_checkpoint

TEST_KEYS = ("test/elbo", "test/recon_loss", "test/kl", "test/loss")


@pytest.fixture(scope="module")
def cli_run(tiny_data_dir, tmp_path_factory):
    """One CLI training run with overrides, logging to CSV and an offline W&B run."""
    cwd = tmp_path_factory.mktemp("cli")
    run_dir = cwd / "run"
    result = run_cli(
        ["train", *TINY_MNIST, "logger=csv_wandb", "model.beta=0.5", f"paths.data_dir={tiny_data_dir}", f"hydra.run.dir={run_dir}"],
        cwd=cwd,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return run_dir, result


def test_cli_run_writes_results_checkpoints_config_and_metrics(cli_run):
    run_dir, _ = cli_run
    results = read_results(run_dir)
    assert results["status"] == "completed"
    for key in TEST_KEYS:
        assert math.isfinite(results[key])
    assert results["test/elbo"] == pytest.approx(-(results["test/recon_loss"] + results["test/kl"]), rel=1e-5)
    assert results["test/loss"] == pytest.approx(results["test/recon_loss"] + 0.5 * results["test/kl"], rel=1e-5)
    assert results["epochs"] == 2 and results["global_step"] == 2 * 10  # 500 rows / batch 50
    assert results["train_samples_per_s"] > 0 and results["wall_time_s"] > 0
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert results["best_checkpoint"].startswith(str(run_dir / "checkpoints"))
    config = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    assert config["model"]["beta"] == 0.5 and config["model"]["latent_dim"] == 4
    header = (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    for key in ("train/loss", "train/elbo", "train/kl", "train/recon_loss", "train/beta", "val/loss", "val/elbo", "val/beta"):
        assert key in header


def test_every_console_line_is_printed_once(cli_run):
    """Lightning's own console handler is dropped: its lines come once, through the run's logging."""
    _, result = cli_run
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert not [line for line in lines if line.startswith("INFO: ")]  # Lightning's own console format
    logged = [re.sub(r"^\[[^]]*\]", "", line) for line in lines if re.match(r"^\[[^]]*\]\[[^]]*\]\[[A-Z]+\] - ", line)]
    repeated = {line for line in logged if logged.count(line) > 1}  # same logger, level and message
    assert logged and not repeated, repeated
    assert "GPU available:" in result.stdout + result.stderr
    # The model's size in one plain line, no summary table (rich box drawing, a FLOPs column of zeros), no tips.
    assert any(re.search(r"model: [0-9.]+ K? ?trainable parameters \(encoder .*, decoder .*\)", line) for line in logged)
    assert not [line for line in lines if "FLOPs" in line or "┃" in line or "Tip:" in line]


def test_wandb_offline_run_holds_the_config_and_metrics(cli_run):
    run_dir, _ = cli_run
    (run_file,) = offline_runs(run_dir)
    run = read_offline_run(run_file)
    assert run.run_id == (run_dir / "wandb_run_id").read_text().strip()
    assert run.config["model"]["latent_dim"] == 4 and run.config["model"]["beta"] == 0.5
    assert run.config["data"]["_target_"] == "vae_lab.data.images.MNISTDataModule"
    logged = {key for row in run.history for key in row}
    assert {"train/loss", "train/elbo", "val/loss", "val/kl", "test/elbo"} <= logged
    assert run.summary["test/elbo"] == pytest.approx(read_results(run_dir)["test/elbo"], rel=1e-6)


def test_reloading_the_best_checkpoint_reproduces_the_test_metrics(cli_run, tiny_data_dir):
    import lightning as L

    run_dir, _ = cli_run
    results = read_results(run_dir)
    run = load_run(results["best_checkpoint"])
    cfg, datamodule, module = run.config, run.datamodule, run.module
    assert cfg.model.beta == 0.5
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    metrics = trainer.test(module, datamodule=datamodule, verbose=False)[0]
    for key in TEST_KEYS:
        assert metrics[key] == pytest.approx(results[key], rel=1e-6)


def test_checkpoints_carry_the_resolved_config(cli_run):
    run_dir, _ = cli_run
    checkpoint = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert checkpoint["vae_lab_config"]["encoder"]["hidden_sizes"] == [32]


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path):
    def run(seed, name):
        overrides = [*TINY, "data=ring", "likelihood=gaussian", "logger=csv", f"seed={seed}", "data.num_samples=600"]
        return fit(compose_train(overrides, tmp_path / name))

    first, again, other = run(0, "a"), run(0, "b"), run(1, "c")
    assert first["test/elbo"] == again["test/elbo"] and first["best_val_loss"] == again["best_val_loss"]
    assert first["test/elbo"] != other["test/elbo"]


def test_learned_sigma_gaussian_on_the_ring_learns(tmp_path):
    overrides = [*TINY, "data=ring", "likelihood=gaussian_learned", "logger=csv", "trainer.max_epochs=8", "model.latent_dim=2"]
    results = fit(compose_train(overrides, tmp_path))
    checkpoint = read_checkpoint(results["best_checkpoint"])
    raw_sigma = checkpoint["state_dict"]["vae.likelihood.raw_sigma"]
    assert raw_sigma.shape == (2,) and not torch.allclose(raw_sigma, torch.zeros(2))
    assert results["test/elbo"] > -2 * 2.0  # better than a unit Gaussian fit per coordinate


def test_cfg_job_prints_the_composed_config(tmp_path):
    result = run_cli(["train", "--cfg", "job", "model.latent_dim=7", "experiment=pytorch_examples"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert config["model"]["latent_dim"] == 7  # command-line values win over the experiment's
    assert config["encoder"]["hidden_sizes"] == [400] and config["optimizer"]["lr"] == 0.001
    assert not (tmp_path / "runs").exists()


def test_help_config_and_override_errors_answer_before_torch_and_lightning_are_imported(tmp_path):
    for args in (["train", "--cfg", "job"], ["train", "--help"], ["train", "model.no_such_key=1"], ["eval", "--help"]):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "vae_lab", *args],
            cwd=tmp_path,
            env=cli_environment(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
        assert "hydra" in imported and "vae_lab.cli" in imported, args
        assert not {"torch", "lightning", "vae_lab.commands.train"} & imported, args


@pytest.mark.parametrize("flushed", [False, True])
def test_commands_compute_denormals_as_zeros_in_every_thread(flushed):
    """What run_command sets before a command's first tensor operation holds in both of torch's threads;
    without it (PyTorch's default) a denormal float32 stays itself."""
    script = "\n".join(
        [
            "import torch",
            "from vae_lab.cli import flush_denormals_to_zero",
            "flush_denormals_to_zero()" if flushed else "",
            "torch.set_num_threads(2)",
            "x = torch.full((1 << 22,), 1e-39)  # a denormal float32, multiplied in chunks by both threads",
            "print((x * 1.0).count_nonzero().item(), (x.view(2048, 2048) @ torch.ones(2048, 8)).count_nonzero().item())",
        ]
    )
    result = subprocess.run([sys.executable, "-c", script], env=cli_environment(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    nonzero_products, nonzero_matmul = map(int, result.stdout.split())
    if flushed:
        assert (nonzero_products, nonzero_matmul) == (0, 0)
    else:
        assert nonzero_products == 1 << 22 and nonzero_matmul == 2048 * 8


def test_help_lists_commands_and_groups(tmp_path):
    top = run_cli(["--help"], cwd=tmp_path)
    assert top.returncode == 0 and all(f"  {name} " in top.stdout for name in ("train", "eval", "sample", "encode"))
    group_help = run_cli(["train", "--help"], cwd=tmp_path)
    assert group_help.returncode == 0
    expected = (
        "data: array, binarized_mnist, csv, dataset, fashion_mnist, image_folder, mnist, mnist_dynamic, ring",
        "likelihood: bernoulli, discretized_logistic, gaussian, gaussian_learned, tabular",
        "encoder: conv, mlp",
    )
    for line in expected:
        assert line in group_help.stdout


def test_unknown_key_and_unknown_option_are_reported_by_hydra(tmp_path):
    assert_one_clear_message(run_cli(["train", "model.latnt_dim=3"], cwd=tmp_path), "Could not override 'model.latnt_dim'")
    assert_one_clear_message(run_cli(["train", "likelihood=gausian"], cwd=tmp_path), "Could not find 'likelihood/gausian'", "gaussian_learned")
    assert_one_clear_message(run_cli(["trian"], cwd=tmp_path), "unknown command 'trian'", code=2)


def test_missing_data_is_one_message_naming_the_files(tmp_path):
    result = run_cli(["train", "data.download=false"], cwd=tmp_path, env={"VAE_LAB_DATA_DIR": str(tmp_path / "nowhere")})
    assert_one_clear_message(result, "MNIST data not found", "train-images-idx3-ubyte[.gz]", str(tmp_path / "nowhere"), code=2)


def test_bernoulli_on_real_valued_data_is_refused(tmp_path):
    result = run_cli(["train", "data=ring", "likelihood=bernoulli"], cwd=tmp_path)
    assert_one_clear_message(result, "likelihood=bernoulli needs data in [0, 1]", "likelihood=gaussian", code=2)


def test_nan_loss_stops_names_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    """A learning rate multiplied by 1e30 after the first epoch makes the second epoch diverge."""
    run_dir = tmp_path / "run"
    result = run_cli(
        [
            "train",
            *TINY,
            "data=ring",
            "likelihood=gaussian",
            "data.num_samples=600",
            "trainer.max_epochs=3",
            "scheduler=cosine",
            "scheduler.scheduler._target_=torch.optim.lr_scheduler.StepLR",
            "~scheduler.scheduler.T_max",
            "~scheduler.scheduler.eta_min",
            "+scheduler.scheduler.step_size=1",
            "+scheduler.scheduler.gamma=1e30",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=tmp_path,
    )
    last = run_dir / "checkpoints" / "last.ckpt"
    assert_one_clear_message(result, "training loss is nan at global step", f"the last good checkpoint is {last}", code=3)
    run = load_run(last)
    module = run.module
    assert all(torch.isfinite(p).all() for p in module.parameters())
    step, epoch, batch = map(int, re.search(r"nan at global step (\d+) \(epoch (\d+), batch (\d+)\)", result.stdout).groups())
    assert epoch == 1  # the first epoch with the exploded learning rate
    assert read_checkpoint(last)["global_step"] == step - batch  # saved at the end of epoch 0
    assert not (run_dir / "results.json").exists()
