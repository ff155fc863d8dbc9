"""A checkpoint from elsewhere runs no code: pickled callables and foreign ``_target_`` are refused by every reader."""

import concurrent.futures
import os
from pathlib import Path

import pytest
import torch
from conftest import TINY, compose_train, run_cli

import vae_lab
from vae_lab.api import fit
from vae_lab.errors import CheckpointError
from vae_lab.training.checkpoint_format import CONFIG_KEY, read_checkpoint
from vae_lab.training.module import VAEModule

RING = [*TINY, "data=ring", "likelihood=gaussian", "data.num_samples=300", "trainer.max_epochs=1"]

# A module that leaves a marker file when it is imported: a foreign _target_ must never import it.
MARKING_MODULE = """
import os
from pathlib import Path

Path(os.environ["VAE_LAB_TEST_MARKER"]).write_text("imported")


class Encoder:
    def __init__(self, *args, **kwargs):
        Path(os.environ["VAE_LAB_TEST_MARKER"]).write_text("built")
"""


class RunsCommand:
    """Unpickled without weights_only, this object runs a shell command that writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("trained")
    fit(compose_train(RING, folder / "run"))
    return folder / "run" / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def malicious(trained, tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """name: (checkpoint, the marker file that exists if its code ran)."""
    folder = tmp_path_factory.mktemp("malicious")
    (folder / "marking_plugin.py").write_text(MARKING_MODULE)
    checkpoint = torch.load(trained, weights_only=True)
    pickled = folder / "pickled_callable.ckpt"
    torch.save({**checkpoint, "extra": RunsCommand(folder / "pickled.marker")}, pickled)
    foreign = folder / "foreign_target.ckpt"
    config = checkpoint[CONFIG_KEY]
    torch.save({**checkpoint, CONFIG_KEY: {**config, "encoder": {**config["encoder"], "_target_": "marking_plugin.Encoder"}}}, foreign)
    return {"pickled_callable": (pickled, folder / "pickled.marker"), "foreign_target": (foreign, folder / "foreign.marker")}


def commands_taking_a_checkpoint(checkpoint: Path, folder: Path) -> dict[str, list[str]]:
    table = folder / "table.csv"
    table.write_text("a,b\n1.0,\n2.0,3.0\n")
    return {
        "eval": ["eval", f"ckpt_path={checkpoint}", f"output={folder / 'eval.json'}"],
        "sample": ["sample", f"ckpt_path={checkpoint}", f"output={folder / 'samples'}"],
        "encode": ["encode", f"ckpt_path={checkpoint}", f"output={folder / 'z.npz'}"],
        "impute": ["impute", f"ckpt_path={checkpoint}", f"input={table}", f"output={folder / 'filled.csv'}"],
        "train": ["train", *RING, f"ckpt_path={checkpoint}", f"paths.output_dir={folder / 'resumed'}"],
    }


@pytest.mark.parametrize("kind", ["pickled_callable", "foreign_target"])
def test_every_command_refuses_a_malicious_checkpoint_and_runs_nothing(malicious, kind, tmp_path):
    checkpoint, marker = malicious[kind]
    env = {"PYTHONPATH": str(checkpoint.parent), "VAE_LAB_TEST_MARKER": str(marker)}
    commands = commands_taking_a_checkpoint(checkpoint, tmp_path)
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(commands)) as pool:  # five processes that mostly import
        results = list(pool.map(lambda args: run_cli(args, cwd=tmp_path, env=env), commands.values()))
    for name, result in zip(commands, results):
        output = result.stdout + result.stderr
        assert result.returncode == 2, f"{name}: {output}"
        assert "Traceback" not in output and f"{checkpoint} was refused" in output, f"{name}: {output}"
        assert not marker.exists(), f"vae-lab {name} ran the checkpoint's code"
    assert not (tmp_path / "resumed").exists() and not (tmp_path / "filled.csv").exists()


@pytest.mark.parametrize("kind", ["pickled_callable", "foreign_target"])
def test_the_python_api_refuses_a_malicious_checkpoint(malicious, kind, monkeypatch):
    checkpoint, marker = malicious[kind]
    monkeypatch.syspath_prepend(str(checkpoint.parent))
    monkeypatch.setenv("VAE_LAB_TEST_MARKER", str(marker))
    message = "holds objects that could run code" if kind == "pickled_callable" else "encoder._target_=marking_plugin.Encoder"
    with pytest.raises(CheckpointError, match=message):
        vae_lab.load_run(checkpoint)
    with pytest.raises(CheckpointError, match=message):
        VAEModule.load_from_checkpoint(checkpoint)
    assert not marker.exists()


def test_a_target_reached_through_a_trusted_module_is_refused(trained, tmp_path):
    """``vae_lab.run_dir.shutil.rmtree`` names a vae_lab module, but resolves to shutil's function."""
    checkpoint = torch.load(trained, weights_only=True)
    config = checkpoint[CONFIG_KEY]
    for key, target in [("data", "vae_lab.run_dir.shutil.rmtree"), ("optimizer", "torch.optim.adam.torch.load"), ("prior", "builtins.eval")]:
        path = tmp_path / f"{key}.ckpt"
        torch.save({**checkpoint, CONFIG_KEY: {**config, key: {**config[key], "_target_": target}}}, path)
        with pytest.raises(CheckpointError, match=f"{key}._target_={target}"):
            read_checkpoint(path)


USERS_ENCODER = """
from vae_lab.models.encoders import MLPEncoder


class WideMLPEncoder(MLPEncoder):
    pass
"""


def test_a_users_own_class_loads_once_its_module_is_trusted(tmp_path, monkeypatch):
    (tmp_path / "users_encoders.py").write_text(USERS_ENCODER)
    monkeypatch.syspath_prepend(str(tmp_path))
    fit(compose_train([*RING, "encoder._target_=users_encoders.WideMLPEncoder"], tmp_path / "run"))
    checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"

    with pytest.raises(CheckpointError, match=r"encoder._target_=users_encoders.WideMLPEncoder.*trusted_modules=\[users_encoders\]"):
        vae_lab.load_run(checkpoint)
    run = vae_lab.load_run(checkpoint, trusted_modules=["users_encoders"])
    assert type(run.model.encoder).__name__ == "WideMLPEncoder"

    env = {"PYTHONPATH": str(tmp_path)}
    refused = run_cli(["eval", f"ckpt_path={checkpoint}", "eval.iwae_samples=5", "eval.refine_examples=0"], cwd=tmp_path, env=env)
    assert refused.returncode == 2 and "trusted_modules=[users_encoders]" in refused.stderr + refused.stdout
    trusted = run_cli(
        ["eval", f"ckpt_path={checkpoint}", "eval.iwae_samples=5", "eval.refine_examples=0", "trusted_modules=[users_encoders]"], cwd=tmp_path, env=env
    )
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    # Resuming trusts the classes the composed config names itself.
    resumed = fit(compose_train([*RING, "encoder._target_=users_encoders.WideMLPEncoder", "trainer.max_epochs=2"], tmp_path / "run"))
    assert resumed["epochs"] == 2
