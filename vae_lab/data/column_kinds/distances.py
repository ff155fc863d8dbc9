"""Distances between the real and the synthetic values of one column, which the kinds' ``fidelity`` reports."""

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp


def observed_numbers(values: pd.Series) -> np.ndarray:
    """The observed values as float64 (missing cells and text left out)."""
    return pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=np.float64)


def ks_statistic(real: pd.Series, synthetic: pd.Series) -> float | None:
    """max_v |F_real(v) - F_synthetic(v)| of the observed values (0: same distribution, 1: disjoint); None when either has none."""
    real_values, synthetic_values = observed_numbers(real), observed_numbers(synthetic)
    if not len(real_values) or not len(synthetic_values):
        return None
    return float(ks_2samp(real_values, synthetic_values).statistic)


def total_variation(real: pd.Series, synthetic: pd.Series) -> float | None:
    """(1/2) sum_c |p_real(c) - p_synthetic(c)| over the observed values of two columns."""
    p = real.value_counts(normalize=True, dropna=True)
    q = synthetic.value_counts(normalize=True, dropna=True)
    if p.empty or q.empty:
        return None
    return float(0.5 * p.sub(q, fill_value=0.0).abs().sum())


def point_mass_error(real: np.ndarray, synthetic: np.ndarray, masses: list[float]) -> float | None:
    """Mean over the masses of |share of real values at the mass - share of synthetic values at it|."""
    if not len(real) or not len(synthetic):
        return None
    return float(np.mean([abs(np.mean(real == mass) - np.mean(synthetic == mass)) for mass in masses]))
