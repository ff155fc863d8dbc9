"""Fidelity metrics on tables whose answers are known in closed form."""

import numpy as np
import pandas as pd
import pytest
import torch

from vae_lab.data.cell_values import FLOAT, TEXT, ValueFormat
from vae_lab.data.column_kinds import BinaryColumn, CategoricalColumn, NumericColumn
from vae_lab.data.column_kinds.distances import total_variation
from vae_lab.evaluation import tabular_fidelity as fidelity_module
from vae_lab.evaluation.tabular_fidelity import correlation_difference, dcr_share, detection, privacy, tabular_fidelity

COLUMNS = [
    NumericColumn("a", ValueFormat(FLOAT), low=-5.0, high=5.0),
    NumericColumn("b", ValueFormat(FLOAT), low=-5.0, high=5.0),
    CategoricalColumn("colour", ValueFormat(TEXT), categories=["g", "r"], frequencies=[0.5, 0.5]),
    BinaryColumn("smoker", ValueFormat(TEXT), categories=["no", "yes"], frequencies=[0.5, 0.5]),
]


def test_total_variation_of_known_frequencies():
    real = pd.Series(["red"] * 50 + ["blue"] * 30 + ["green"] * 20 + [None] * 7)
    synthetic = pd.Series(["red"] * 40 + ["blue"] * 40 + ["pink"] * 20)
    # |0.5-0.4| + |0.3-0.4| + |0.2-0| + |0-0.2| = 0.6, halved; missing cells are left out
    assert total_variation(real, synthetic) == pytest.approx(0.3)
    assert total_variation(real, real) == 0


def test_correlation_difference_of_known_matrices():
    rng = np.random.default_rng(0)
    a = rng.normal(size=1000)
    noise = rng.normal(size=1000)
    real = pd.DataFrame({"a": a, "b": a, "c": noise})  # corr(a, b) = 1, corr(a, c) = corr(b, c) ~ 0
    synthetic = pd.DataFrame({"a": a, "b": -a, "c": noise})  # corr(a, b) = -1
    expected = (2 + 2 * abs(np.corrcoef(a, noise)[0, 1])) / 3
    assert correlation_difference(real, synthetic) == pytest.approx(expected)
    assert correlation_difference(real[["a"]], synthetic[["a"]]) is None


def test_identical_tables_score_zero_and_disjoint_ones_score_one():
    rng = np.random.default_rng(1)
    real = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200), "colour": rng.choice(["r", "g"], 200),
                         "smoker": pd.array(rng.choice(["yes", "no"], 200), dtype="string")})  # fmt: skip
    same = tabular_fidelity(real, real, COLUMNS)
    assert same["ks_mean"] == 0 and same["tv_mean"] == 0 and same["correlation_mad"] == pytest.approx(0, abs=1e-12)
    assert [row["column"] for row in same["columns"]] == ["a", "b", "colour", "smoker"]
    assert {row["metric"] for row in same["columns"]} == {"ks", "tv"}
    disjoint = real.assign(a=real["a"] + 100, colour="blue", smoker="maybe")
    different = tabular_fidelity(real, disjoint, COLUMNS)
    values = {row["column"]: row["value"] for row in different["columns"]}
    assert values["a"] == 1 and values["b"] == 0 and values["colour"] == 1 and values["smoker"] == 1
    assert different["real_rows"] == different["synthetic_rows"] == 200


def normal_rows(rows: int, seed: int, width: int = 4) -> torch.Tensor:
    return torch.randn(rows, width, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_dcr_share_is_one_for_copies_and_one_half_for_independent_rows():
    train, holdout = normal_rows(2000, 0), normal_rows(2000, 1)
    copies = train[torch.randperm(2000, generator=torch.Generator().manual_seed(2))[:1000]]
    assert dcr_share(train, copies, holdout) == 1.0  # distance 0 to a training row, > 0 to every held-out row
    # Fresh rows of the same distribution: each is nearest a training row with probability 1/2 by symmetry. The share
    # averages 2000 such draws (binomial sd 0.5 / sqrt(2000) = 0.011) against one draw of the two reference sets, whose
    # Voronoi cells' total mass varies by about as much again: sd ~0.015 (0.013 measured over 20 seeds), so 0.05 is > 3 sd.
    assert dcr_share(train, normal_rows(2000, 3), holdout) == pytest.approx(0.5, abs=0.05)
    # Training rows subsampled to the held-out count: a copy of a row outside the subset is as near the subset as the
    # held-out rows, so a copier of 4x as many training rows scores 0.5 + 0.5 / 4 = 0.625 (sd 0.007 over 10 seeds).
    large_train = normal_rows(8000, 4)
    assert dcr_share(large_train, large_train[:2000], holdout) == pytest.approx(0.625, abs=0.05)


def test_dcr_share_counts_a_tie_half_and_privacy_reports_it():
    same = torch.zeros(50, 3)  # every row equal: every synthetic row is as near a training row as a held-out one
    assert dcr_share(same, same, same) == 0.5
    assert dcr_share(same, same[:0], same) is None
    train, holdout = normal_rows(300, 5), normal_rows(300, 6)
    values = pd.DataFrame(train.numpy())
    report = privacy(train, train[:100], holdout, values, values.iloc[:100])
    assert report["identical_share"] == 1.0 and report["dcr_share"] == 1.0 and report["dcr_synthetic_median"] == 0.0
    assert report["dcr_holdout_median"] > 0


def mixed_frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=rows) + shift
    frame = pd.DataFrame({"a": a, "b": a + rng.normal(size=rows), "colour": rng.choice(["r", "g", "b"], rows)})
    frame["b"] = frame["b"].where(rng.random(rows) > 0.2)  # missing cells: NaN, which the classifier handles
    frame["colour"] = frame["colour"].where(rng.random(rows) > 0.1)
    return frame


def test_detection_cannot_tell_copies_and_always_tells_a_shifted_table():
    real = mixed_frame(600, seed=0)
    assert detection(real, real.copy(), seed=0) > 0.9  # nothing to learn: AUC <= 0.5 up to noise
    assert detection(real, mixed_frame(600, seed=1, shift=3.0), seed=0) < 0.1  # a shifted by 3 sd: AUC ~ 1
    assert detection(real, mixed_frame(600, seed=1), seed=0) > 0.7  # the same distribution, drawn independently
    assert detection(real.iloc[:4], real.iloc[:4], seed=0) is None  # fewer rows than folds


def test_detection_is_left_out_without_scikit_learn(monkeypatch):
    monkeypatch.setattr(fidelity_module.importlib.util, "find_spec", lambda name: None)
    assert not fidelity_module.detection_available()
    assert detection(mixed_frame(100, seed=0), mixed_frame(100, seed=1), seed=0) is None
