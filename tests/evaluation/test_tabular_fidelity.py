"""Fidelity metrics on tables whose answers are known in closed form."""

import numpy as np
import pandas as pd
import pytest

from vae_lab.evaluation.tabular_fidelity import correlation_difference, tabular_fidelity, total_variation

COLUMNS = [
    {"name": "a", "kind": "numeric", "low": -5.0, "high": 5.0},
    {"name": "b", "kind": "numeric", "low": -5.0, "high": 5.0},
    {"name": "colour", "kind": "categorical", "support": ["r", "g"]},
    {"name": "smoker", "kind": "binary", "support": ["no", "yes"]},
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
