"""Hierarchical VAEs from the command line: each new option trains, and every command reads a hierarchical checkpoint."""

import csv
import json

import numpy as np
import pytest
import torch
from conftest import TINY_MNIST, read_results, run_cli
from PIL import Image

from vae_lab.api import load_run

HIERARCHY = [*TINY_MNIST, "hierarchy=ladder", "hierarchy.hidden_sizes=[16]"]


def metric_columns(run_dir) -> set[str]:
    with open(run_dir / "metrics.csv") as file:
        return set(next(csv.reader(file)))


@pytest.fixture(scope="module")
def sweep(tiny_data_dir, tmp_path_factory):
    """Two and three layers, on the IWAE objective, in one real multirun."""
    cwd = tmp_path_factory.mktemp("hierarchy")
    overrides = ["hierarchy.upper_dims=[3],[3,2]", "model.objective=iwae", "model.iwae_k=3", f"paths.data_dir={tiny_data_dir}"]
    result = run_cli(["train", "-m", *HIERARCHY, *overrides, f"hydra.sweep.dir={cwd / 'sweep'}"], cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    return cwd, cwd / "sweep"


@pytest.mark.parametrize("job, layer_dims", [("0", (4, 3)), ("1", (4, 3, 2))])
def test_two_and_three_layers_train_on_the_iwae_bound_and_log_each_layer(sweep, job, layer_dims):
    run_dir = sweep[1] / job
    results = read_results(run_dir)
    assert np.isfinite(results["test/elbo"]) and np.isfinite(results["test/iwae_bound"])
    columns = metric_columns(run_dir)
    layers = range(1, len(layer_dims) + 1)
    assert {f"val/kl_layer/{n}" for n in layers} | {f"val/active_units_layer/{n}" for n in layers} | {f"train/kl_layer/{n}" for n in layers} <= columns
    assert f"val/kl_layer/{len(layer_dims) + 1}" not in columns
    run = load_run(run_dir / "checkpoints" / "last.ckpt")
    module = run.module
    assert module.vae.layer_dims == layer_dims and module.objective == "iwae"


def test_free_bits_per_layer_and_bottom_up_inference_train_and_draw_pictures(tiny_data_dir, tmp_path):
    overrides = ["hierarchy.inference=bottom_up", "model.free_bits=0.3", "model.free_bits_per=layer", "callbacks=[default,pictures]"]
    result = run_cli(["train", *HIERARCHY, *overrides, f"paths.data_dir={tiny_data_dir}", f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = tmp_path / "run"
    assert np.isfinite(read_results(run_dir)["test/elbo"])
    run = load_run(run_dir / "checkpoints" / "last.ckpt")
    module = run.module
    assert (module.free_bits, module.free_bits_per, module.vae.ladder.inference) == (0.3, "layer", "bottom_up")
    for name in ("reconstructions", "samples", "traversal", "interpolation", "latent_space"):
        with Image.open(run_dir / "pictures" / f"{name}_epoch002.png") as image:
            assert image.size[0] > 100


def test_eval_sample_encode_and_figure_read_a_three_layer_checkpoint(sweep, tmp_path):
    cwd, sweep_dir = sweep
    checkpoint = sweep_dir / "1" / "checkpoints" / "last.ckpt"
    result = run_cli(
        ["eval", f"ckpt_path={checkpoint}", "eval.iwae_samples=20", "eval.elbo_samples=2", "eval.refine_examples=4", "eval.refine_steps=5",
         "eval.fidelity_samples=0", f"output={tmp_path / 'eval.json'}"],
        cwd=cwd,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["layer_dims"] == [4, 3, 2] and len(report["kl_per_layer"]) == 3 and len(report["kl_per_dim"]) == 9
    assert sum(report["kl_per_layer"]) == pytest.approx(sum(report["kl_per_dim"]))
    assert sum(report["active_units_per_layer"]) == report["active_units"]
    assert report["log_likelihood"] > report["elbo"] and report["amortization_gap"] is not None
    assert "active units" in result.stdout + result.stderr

    result = run_cli(["sample", f"ckpt_path={checkpoint}", "n=6", f"output={tmp_path / 'drawn'}"], cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    drawn = torch.load(tmp_path / "drawn.pt")
    assert drawn.shape == (6, 1, 28, 28) and ((drawn >= 0) & (drawn <= 1)).all()

    result = run_cli(["encode", f"ckpt_path={checkpoint}", f"output={tmp_path / 'latents.npz'}"], cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    latents = np.load(tmp_path / "latents.npz")
    assert latents["mean"].shape == (200, 9) and latents["layer_dims"].tolist() == [4, 3, 2]
    run = load_run(checkpoint)
    datamodule, module = run.datamodule, run.module
    with torch.no_grad():
        mean, log_var = module.vae.posterior_parameters(datamodule.split("test").x)
    assert np.allclose(latents["mean"], mean.numpy(), atol=1e-5) and np.allclose(latents["log_var"], log_var.numpy(), atol=1e-5)

    result = run_cli(["figure", f"runs={sweep_dir}", f"output={tmp_path / 'figure.png'}", f"hydra.run.dir={tmp_path / 'figure_run'}"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    with Image.open(tmp_path / "figure.png") as image:
        assert image.size == (2 * 500, 500)
