"""A checkpoint of format 1 (vae_lab 0.3: the tabular likelihood's sigmas in one tensor) opens in format 2 with the
same weights; resuming its training, whose optimizer state no longer fits, is refused with one message."""

import numpy as np
import pandas as pd
import pytest
import torch
from mixed_table import TABULAR

import vae_lab
from vae_lab.errors import CheckpointError


def zero_inflated_table(rows: int, seed: int) -> pd.DataFrame:
    """A point-mass column (40% exact zeros), two numeric ones and a label."""
    rng = np.random.default_rng(seed)
    spend = np.where(rng.random(rows) < 0.4, 0.0, np.round(rng.gamma(2.0, 30.0, rows), 2))
    return pd.DataFrame({"age": np.round(rng.normal(40, 12, rows), 1), "spend": spend,
                         "score": np.round(rng.normal(0, 1, rows), 3), "city": rng.choice(["a", "b", "c"], rows)})  # fmt: skip


def as_format_1(checkpoint: dict) -> dict:
    """The checkpoint as vae_lab 0.3 wrote it: numeric columns' sigmas, then point-mass columns', in one tensor."""
    weights = checkpoint["state_dict"]
    numeric = weights.pop("vae.likelihood.factors.numeric.gaussian.raw_sigma")
    point_mass = weights.pop("vae.likelihood.factors.point_mass.gaussian.raw_sigma")
    weights["vae.likelihood.gaussian.raw_sigma"] = torch.cat([numeric, point_mass])
    return checkpoint | {"vae_lab_format": 1}


def test_a_format_1_table_checkpoint_opens_with_its_weights_and_refuses_to_resume(tmp_path):
    run = vae_lab.fit_table(zero_inflated_table(600, seed=0), [*TABULAR, "trainer.max_epochs=2", f"paths.output_dir={tmp_path / 'run'}"])
    kinds = run.datamodule.fitted_schema().columns_by_kind()
    assert kinds["numeric"] == ["age", "score"] and kinds["point_mass"] == ["spend"]
    checkpoint = torch.load(run.path, weights_only=True)
    assert checkpoint["vae_lab_format"] == 2
    torch.save(as_format_1(checkpoint), tmp_path / "old.ckpt")

    old = vae_lab.load_run(tmp_path / "old.ckpt")
    now = vae_lab.load_run(run.path)
    assert old.module.state_dict().keys() == now.module.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(old.module.state_dict().values(), now.module.state_dict().values()))
    pd.testing.assert_frame_equal(old.sample_table(100, seed=1), now.sample_table(100, seed=1))

    with pytest.raises(CheckpointError, match="cannot resume training from .*old.ckpt.*optimizer state"):
        vae_lab.train([*TABULAR, f"data.path={run.run_dir / 'table.parquet'}", "trainer.max_epochs=3",
                       f"paths.output_dir={tmp_path / 'resumed'}", f"ckpt_path={tmp_path / 'old.ckpt'}"])  # fmt: skip
