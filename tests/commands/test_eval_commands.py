"""`vae-lab eval`, `sample` and `encode` end to end on the checkpoint of one tiny CLI training run."""

import json
import shutil

import numpy as np
import pytest
import torch
from conftest import TINY_MNIST, assert_one_clear_message, run_cli
from hydra import compose, initialize_config_module
from PIL import Image
from wandb_offline import offline_runs, read_offline_run

from vae_lab.api import load_run
from vae_lab.commands.encode import encode
from vae_lab.commands.evaluate import evaluate
from vae_lab.commands.sample import sample
from vae_lab.config_schema import check_config
from vae_lab.errors import CheckpointError, ConfigError, DataError
from vae_lab.training.checkpoint_format import CONFIG_KEY

QUICK_EVAL = ["eval.iwae_samples=200", "eval.refine_examples=20", "eval.refine_steps=30"]
QUICKER_EVAL = ["eval.iwae_samples=20", "eval.elbo_samples=2", "eval.refine_examples=10", "eval.refine_steps=5", "log_to_run=false"]


@pytest.fixture(scope="module")
def trained(tiny_data_dir, tmp_path_factory):
    """One CLI training run on dynamically binarized synthetic digits, logging to CSV and offline W&B."""
    cwd = tmp_path_factory.mktemp("eval_cli")
    run_dir = cwd / "run"
    result = run_cli(
        ["train", *TINY_MNIST, "data.pixels=dynamic", "logger=csv_wandb", f"paths.data_dir={tiny_data_dir}", f"hydra.run.dir={run_dir}"],
        cwd=cwd,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return cwd, run_dir, run_dir / "checkpoints" / "last.ckpt"


def compose_command(name: str, overrides: list[str]):
    with initialize_config_module(config_module="vae_lab.conf", version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


def test_eval_cli_writes_eval_json_beside_the_checkpoint_and_logs_to_the_run(trained):
    cwd, run_dir, checkpoint = trained
    result = run_cli(["eval", f"ckpt_path={checkpoint}", *QUICK_EVAL], cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((checkpoint.parent / "eval.json").read_text())

    assert report["log_likelihood"] >= report["elbo"]
    assert report["nll"] == -report["log_likelihood"] and report["gap"] == pytest.approx(report["log_likelihood"] - report["elbo"])
    assert len(report["kl_per_dim"]) == 4 and sum(report["kl_per_dim"]) == pytest.approx(report["kl"], rel=1e-5)
    assert 0 <= report["active_units"] <= 4 and report["amortization_gap"] is not None
    provenance = report["provenance"]
    assert provenance["dataset"] == "mnist" and provenance["pixels"] == "dynamic" and "dynamic" in provenance["binarization"]
    assert (provenance["split"], provenance["examples"], provenance["iwae_samples"], provenance["seed"]) == ("test", 200, 200, 0)
    assert provenance["checkpoint"] == str(checkpoint) and provenance["global_step"] == 20
    assert provenance["compiled"] is False  # compile=auto: 200 x 200 decodes do not repay a compilation
    assert sorted(p.name for p in cwd.iterdir()) == ["run"]  # no run directory, no log file in the working directory

    header, *rows = (run_dir / "metrics.csv").read_text().splitlines()
    columns = header.split(",")
    last = dict(zip(columns, rows[-1].split(",")))
    assert float(last["eval/test/nll"]) == pytest.approx(report["nll"]) and last["step"] == "20"
    assert "train/loss" in columns  # the training rows are kept

    train_run, eval_run = (read_offline_run(path) for path in offline_runs(run_dir))
    assert eval_run.run_id == train_run.run_id == (run_dir / "wandb_run_id").read_text().strip()
    assert eval_run.summary["eval/test/log_likelihood"] == pytest.approx(report["log_likelihood"])
    assert any("eval/test/active_units" in row for row in eval_run.history)


def test_same_command_same_numbers_and_output_elsewhere(trained, tmp_path):
    _, _, checkpoint = trained
    reports = [
        evaluate(compose_command("eval", [f"ckpt_path={checkpoint}", *QUICKER_EVAL, f"output={tmp_path / name}.json", *extra]))
        for name, extra in (("a", []), ("b", ["eval.memory_budget_mb=0.05"]), ("c", ["seed=1"]))
    ]
    first, again, other_seed = (json.loads((tmp_path / f"{name}.json").read_text()) for name in "abc")
    assert first == reports[0]
    for key in ("elbo", "log_likelihood", "amortization_gap"):
        assert first[key] == pytest.approx(again[key], rel=1e-4) and first[key] != other_seed[key]


def test_eval_of_the_val_split_and_a_data_dir_that_moved(trained, tiny_data_dir, tmp_path):
    _, _, checkpoint = trained
    moved = tmp_path / "moved"
    shutil.copytree(tiny_data_dir, moved)
    overrides = [
        f"ckpt_path={checkpoint}",
        "split=val",
        f"data_dir={moved}",
        "eval.iwae_samples=5",
        "eval.refine_examples=0",
        "log_to_run=false",
        f"output={tmp_path / 'val.json'}",
    ]
    report = evaluate(compose_command("eval", overrides))
    assert report["provenance"]["split"] == "val" and report["examples"] == 100
    with pytest.raises(DataError, match=str(tmp_path / "nowhere")):
        evaluate(compose_command("eval", [*overrides[:2], f"data_dir={tmp_path / 'nowhere'}"]))


def test_sample_cli_writes_a_png_grid_and_tensors_in_both_modes(trained, tmp_path):
    cwd, _, checkpoint = trained
    result = run_cli(["sample", f"ckpt_path={checkpoint}", "n=10", "sample.mode=sample", f"output={tmp_path / 'drawn'}"], cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    drawn = torch.load(tmp_path / "drawn.pt")
    assert drawn.shape == (10, 1, 28, 28) and set(drawn.unique().tolist()) <= {0.0, 1.0}
    with Image.open(tmp_path / "drawn.png") as image:
        assert image.size == (4 * 29 + 1, 3 * 29 + 1)

    paths = sample(compose_command("sample", [f"ckpt_path={checkpoint}", "n=6"]))
    assert [p.name for p in paths] == ["samples_mean.pt", "samples_mean.png"] and paths[0].parent == checkpoint.parent
    means = torch.load(paths[0])
    assert means.shape == (6, 1, 28, 28) and ((means > 0) & (means < 1)).all()


def test_encode_writes_posterior_parameters_with_labels(trained):
    _, _, checkpoint = trained
    output = encode(compose_command("encode", [f"ckpt_path={checkpoint}", "batch_size=64"]))
    assert output == checkpoint.parent / "latents_test.npz"
    latents = np.load(output)
    run = load_run(checkpoint)
    datamodule, module = run.datamodule, run.module
    test = datamodule.split("test")
    with torch.no_grad():
        mean, log_var = module.vae.encoder(test.x)
    assert np.allclose(latents["mean"], mean.numpy(), atol=1e-6) and np.allclose(latents["log_var"], log_var.numpy(), atol=1e-6)
    assert np.array_equal(latents["y"], test.y.numpy()) and np.array_equal(latents["index"], np.arange(200))


def test_bad_input_is_one_clear_message(trained, tmp_path):
    _, _, checkpoint = trained
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(checkpoint.read_bytes()[:5000])
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"layer.weight": torch.zeros(2)}, "epoch": 3}, foreign)
    other_model = tmp_path / "other_model.ckpt"
    content = torch.load(checkpoint, weights_only=False)
    content[CONFIG_KEY]["model"]["latent_dim"] = 7
    torch.save(content, other_model)
    cases = [
        (["split=test"], ConfigError, "ckpt_path is required: vae-lab eval ckpt_path="),
        ([f"ckpt_path={tmp_path / 'missing.ckpt'}"], CheckpointError, "missing.ckpt does not exist"),
        ([f"ckpt_path={truncated}"], CheckpointError, "cannot be read"),
        ([f"ckpt_path={foreign}"], CheckpointError, "is not a vae_lab checkpoint"),
        ([f"ckpt_path={other_model}"], CheckpointError, "do not fit the model its config describes"),
        ([f"ckpt_path={checkpoint}", "eval.iwae_samples=0"], ConfigError, "eval.iwae_samples=0: must be greater than or equal to 1"),
        ([f"ckpt_path={checkpoint}", "split=valid"], ConfigError, "unknown split 'valid'; choose one of: train, val, test"),
        ([f"ckpt_path={checkpoint}", "device=tpu"], ConfigError, "device=tpu"),
        ([f"ckpt_path={checkpoint}", "+encoder=conv"], ConfigError, "rebuilds model and data from the checkpoint, so encoder cannot"),
    ]
    for overrides, error, message in cases:
        with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
            evaluate(compose_command("eval", [*overrides, f"output={tmp_path / 'never.json'}"]))
    assert not (tmp_path / "never.json").exists()
    (tmp_path / "a_file").write_text("")
    with pytest.raises(ConfigError, match="is not a writable folder; pass output=PATH"):
        evaluate(compose_command("eval", [f"ckpt_path={checkpoint}", f"output={tmp_path / 'a_file' / 'eval.json'}"]))
    with pytest.raises(ConfigError, match="sample.mode='median': must be 'mean' or 'sample'"):
        check_config(compose_command("sample", [f"ckpt_path={checkpoint}", "sample.mode=median"]))
    with pytest.raises(ConfigError, match="ckpt_path is required: vae-lab encode"):
        encode(compose_command("encode", []))


def test_the_cli_reports_a_corrupt_checkpoint_without_a_traceback(trained, tmp_path):
    _, _, checkpoint = trained
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(checkpoint.read_bytes()[:5000])
    result = run_cli(["encode", f"ckpt_path={truncated}"], cwd=tmp_path)
    assert_one_clear_message(result, f"checkpoint {truncated} cannot be read", "truncated or not a checkpoint", code=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["truncated.ckpt"]
