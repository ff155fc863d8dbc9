"""vae_lab.command_runs: real vae-lab processes from Python, as the notebooks use them."""

import pytest
from conftest import TINY

from vae_lab.command_runs import CommandFailed, evaluate, train


def test_train_and_evaluate_return_what_the_commands_wrote(tmp_path):
    run = train("data=ring", "likelihood=gaussian", *TINY, log_dir=tmp_path, name="ring")
    assert run.run_dir.parent == tmp_path / "train" and run.run_dir.name.startswith("ring_")
    assert run.results["status"] == "completed" and run.best_checkpoint.is_file()
    config, datamodule, module = run.load()
    assert config.model.latent_dim == 4 and module.vae.latent_dim == 4
    report = evaluate(run.best_checkpoint, "eval.iwae_samples=5", "eval.refine_examples=0")
    assert report["provenance"]["dataset"] == "ring" and report["log_likelihood"] >= report["elbo"] - 1e-6


def test_a_failing_command_raises_with_its_message(tmp_path):
    with pytest.raises(CommandFailed, match="model.no_such_key") as failure:
        train("data=ring", "model.no_such_key=1", log_dir=tmp_path)
    assert "exited with status" in str(failure.value)
