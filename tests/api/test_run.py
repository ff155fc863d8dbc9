"""The Python API (vae_lab.train, vae_lab.load_run) gives the CLI's numbers on the same checkpoint."""

import json

import numpy as np
import pytest
import torch
from conftest import TINY, run_cli

import vae_lab
from vae_lab.errors import CheckpointError, ConfigError
from vae_lab.training.module import VAEModule

RING = [*TINY, "data=ring", "likelihood=gaussian", "data.num_samples=600"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    results = vae_lab.train([*RING, f"paths.output_dir={folder / 'run'}"])
    return folder, results


def test_train_in_process_writes_the_run_the_cli_would(trained):
    folder, results = trained
    assert results["status"] == "completed" and results["run_dir"] == str(folder / "run")
    assert json.loads((folder / "run" / "results.json").read_text()) == results
    assert not (folder / "run" / "run.lock").exists()  # held while training, released after


def test_elbo_log_likelihood_and_latents_equal_the_cli_on_the_same_checkpoint(trained):
    folder, results = trained
    checkpoint = results["best_checkpoint"]
    evaluated = run_cli(["eval", f"ckpt_path={checkpoint}", "seed=7", "eval.iwae_samples=50", "eval.elbo_samples=3",
                         "eval.refine_examples=0", f"output={folder / 'eval.json'}"], cwd=folder)  # fmt: skip
    encoded = run_cli(["encode", f"ckpt_path={checkpoint}", f"output={folder / 'z.npz'}"], cwd=folder)
    assert evaluated.returncode == 0 and encoded.returncode == 0, evaluated.stderr + encoded.stderr
    report, latents = json.loads((folder / "eval.json").read_text()), np.load(folder / "z.npz")

    run = vae_lab.load_run(folder / "run")
    assert run.elbo("test", num_samples=3, seed=7).mean().item() == pytest.approx(report["elbo"], rel=1e-12)
    assert run.log_likelihood("test", num_samples=50, seed=7).mean().item() == pytest.approx(report["log_likelihood"], rel=1e-12)
    mean, log_var = run.encode("test")
    assert np.array_equal(mean.numpy(), latents["mean"]) and np.array_equal(log_var.numpy(), latents["log_var"])
    # A tensor of examples is evaluated as the split is: example i draws its own noise.
    x = run.datamodule.split("test").x
    assert torch.equal(run.log_likelihood(x, num_samples=50, seed=7), run.log_likelihood("test", num_samples=50, seed=7))
    assert run.decode(mean[:5]).shape == run.sample(5).shape == (5, 2)
    with pytest.raises(ConfigError, match=r"x has shape \(5, 3\), but this model takes \(n, 2\)"):
        run.elbo(torch.zeros(5, 3))
    with pytest.raises(ConfigError, match="needs a model of a table"):
        run.sample_table(3)


def test_lightning_load_from_checkpoint_works_and_other_formats_are_named(trained, tmp_path):
    _, results = trained
    module = VAEModule.load_from_checkpoint(results["best_checkpoint"])
    reference = vae_lab.load_run(results["best_checkpoint"]).module
    assert all(torch.equal(a, b) for a, b in zip(module.state_dict().values(), reference.state_dict().values()))
    checkpoint = torch.load(results["best_checkpoint"], weights_only=False)
    assert checkpoint["vae_lab_format"] == 2
    checkpoint["vae_lab_format"] = 3
    torch.save(checkpoint, tmp_path / "future.ckpt")
    with pytest.raises(CheckpointError, match="is a vae_lab checkpoint of format 3, and this vae_lab .* reads format 2; open it with"):
        vae_lab.load_run(tmp_path / "future.ckpt")
    with pytest.raises(CheckpointError, match="holds no checkpoint"):
        vae_lab.load_run(tmp_path)


def test_each_unnamed_training_in_one_process_gets_a_run_directory_of_its_own(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = vae_lab.train([*RING, "trainer.max_epochs=1"])
    second = vae_lab.train([*RING, "trainer.max_epochs=1", "model.latent_dim=3"])  # another model: resuming the first would be refused
    assert first["run_dir"] != second["run_dir"] and first["global_step"] == second["global_step"] == 9
    assert {path.name for path in (tmp_path / "runs" / "train").iterdir()} == {first["run_dir"].rsplit("/", 1)[1], second["run_dir"].rsplit("/", 1)[1]}
