"""A generated mixed table for the tabular tests: correlated numbers shifted by a group, a count, a yes/no column, an ID."""

import numpy as np
import pandas as pd

GROUPS = {"a": (0.5, (0.0, 0.0)), "b": (0.3, (3.0, 1.0)), "c": (0.2, (-2.0, 3.0))}  # frequency, shift of (x1, x2)
MODELLED = ["x1", "x2", "group", "visits", "member"]
TABULAR = [
    "experiment=tabular", "encoder.hidden_sizes=[64,64]", "decoder.hidden_sizes=[64,64]", "model.latent_dim=4",
    "data.batch_size=128", "data.min_epoch_rows=0", "data.test_size=0.2", "trainer.accelerator=cpu", "trainer.log_every_n_steps=10", "logger=csv",
]  # fmt: skip


def mixed_table(rows: int, seed: int) -> pd.DataFrame:
    """Two correlated Gaussians (rho = 0.8) whose mean the group shifts, a count, a yes/no column, an ID; 5% missing."""
    rng = np.random.default_rng(seed)
    group = rng.choice(list(GROUPS), size=rows, p=[f for f, _ in GROUPS.values()])
    xy = rng.multivariate_normal([0, 0], [[1, 0.8], [0.8, 1]], size=rows) + np.array([GROUPS[g][1] for g in group])
    frame = pd.DataFrame({
        "id": np.arange(1000, 1000 + rows),
        "x1": np.round(xy[:, 0], 3),
        "x2": np.round(10 * xy[:, 1] + 50, 2),
        "group": group,
        "visits": rng.poisson(np.where(group == "b", 12, 6)),
        "member": rng.choice(["yes", "no"], size=rows, p=[0.3, 0.7]),
    })  # fmt: skip
    frame["x1"] = frame["x1"].where(rng.random(rows) > 0.05)
    frame["group"] = frame["group"].where(rng.random(rows) > 0.05)
    return frame
