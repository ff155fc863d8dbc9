"""How closely synthetic rows follow real ones, column by column and pair by pair.

- numeric column: the two-sample Kolmogorov-Smirnov statistic, max_v |F_real(v) - F_synthetic(v)|
  (0: same distribution, 1: disjoint);
- categorical or binary column: the total-variation distance of the category frequencies,
  (1/2) sum_c |p_real(c) - p_synthetic(c)| (0: same frequencies, 1: disjoint);
- pairs: the mean absolute difference between the Pearson correlation matrices of the numeric and
  binary columns (binary as 0/1), over the pairs above the diagonal (0 to 2).

Missing cells are left out of every comparison (correlations use the rows where both are observed).
"""

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp


def tabular_fidelity(real: pd.DataFrame, synthetic: pd.DataFrame, columns_by_kind: dict[str, list[str]]) -> dict[str, Any]:
    """Fidelity of `synthetic` to `real` (same columns, typed values); plain numbers, lists and dicts.

    columns_by_kind: {"numeric": [...], "categorical": [...], "binary": [...]} column names.
    Returns ``columns`` (one row per column: column, kind, metric, value), the means ``ks_mean`` and
    ``tv_mean``, ``correlation_mad``, and the row counts compared.
    """
    rows = []
    for name in columns_by_kind.get("numeric", []):
        real_values, synthetic_values = _observed(real[name]), _observed(synthetic[name])
        statistic = float(ks_2samp(real_values, synthetic_values).statistic) if len(real_values) and len(synthetic_values) else None
        rows.append({"column": name, "kind": "numeric", "metric": "ks", "value": statistic})
    for kind in ("categorical", "binary"):
        for name in columns_by_kind.get(kind, []):
            rows.append({"column": name, "kind": kind, "metric": "tv", "value": total_variation(real[name], synthetic[name])})
    correlated = [*columns_by_kind.get("numeric", []), *columns_by_kind.get("binary", [])]
    return {
        "columns": rows,
        "ks_mean": _mean(row["value"] for row in rows if row["metric"] == "ks"),
        "tv_mean": _mean(row["value"] for row in rows if row["metric"] == "tv"),
        "correlation_mad": correlation_difference(real[correlated], synthetic[correlated]),
        "real_rows": len(real),
        "synthetic_rows": len(synthetic),
    }


def total_variation(real: pd.Series, synthetic: pd.Series) -> float | None:
    """(1/2) sum_c |p_real(c) - p_synthetic(c)| over the observed values of two columns."""
    p = real.value_counts(normalize=True, dropna=True)
    q = synthetic.value_counts(normalize=True, dropna=True)
    if p.empty or q.empty:
        return None
    return float(0.5 * p.sub(q, fill_value=0.0).abs().sum())


def correlation_difference(real: pd.DataFrame, synthetic: pd.DataFrame) -> float | None:
    """Mean |corr_real - corr_synthetic| over column pairs above the diagonal; None with fewer than 2 columns."""
    if real.shape[1] < 2:
        return None
    real, synthetic = _as_numbers(real, synthetic)
    above = np.triu_indices(real.shape[1], k=1)
    difference = np.abs(real.corr().to_numpy() - synthetic.corr().to_numpy())[above]
    finite = difference[np.isfinite(difference)]
    return float(finite.mean()) if len(finite) else None


def _as_numbers(real: pd.DataFrame, synthetic: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Numbers stay; a column of labels becomes 0, 1, ... by the sorted labels of both frames together."""
    real, synthetic = real.copy(), synthetic.copy()
    for name in real.columns:
        if pd.api.types.is_numeric_dtype(real[name]) and pd.api.types.is_numeric_dtype(synthetic[name]):
            real[name], synthetic[name] = real[name].astype("float64"), synthetic[name].astype("float64")
            continue
        labels = sorted(set(real[name].dropna()) | set(synthetic[name].dropna()), key=str)
        codes = {label: float(i) for i, label in enumerate(labels)}
        real[name], synthetic[name] = real[name].map(codes).astype("float64"), synthetic[name].map(codes).astype("float64")
    return real, synthetic


def _observed(values: pd.Series) -> np.ndarray:
    return values.dropna().to_numpy(dtype=np.float64)


def _mean(values) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None
