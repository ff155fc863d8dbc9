"""How closely synthetic rows follow real ones, column by column and pair by pair, and how close they
come to copying the training rows.

Per column (``columns``: one row each, with ``metric`` and ``value`` its main distance): what the column's kind
reports (``Column.fidelity``): for the built-in kinds, numbers get the two-sample Kolmogorov-Smirnov statistic,
max_v |F_real(v) - F_synthetic(v)|, and ``range_violation`` (the share of synthetic values outside the training
range; point-mass columns also ``point_mass_error``), labels the total-variation distance of the value frequencies,
(1/2) sum_c |p_real(c) - p_synthetic(c)|, ``off_support`` (the share of synthetic values that are not training
values) and ``coverage`` (the share of the real values that appear in the samples).

Means over columns: ``ks_mean``, ``tv_mean`` and ``ks_tv_mean`` (every column's main distance, the
figure the TVAE comparison ranks by), ``point_mass_error_mean``, ``off_support_share``,
``range_violation_share``, ``coverage_mean``.

Pairs, by the columns' value types (numerical, categorical, boolean; ``Column.value_type``): ``correlation_mad``,
the mean |corr_real - corr_synthetic| over pairs of numerical and boolean columns (0 to 2), and its similarity form
``correlation_similarity`` = 1 - mad / 2 (as SDMetrics' CorrelationSimilarity); ``contingency_similarity``, 1 - the
total-variation distance of the joint frequencies, averaged over pairs of categorical and boolean columns (as
SDMetrics' ContingencySimilarity).

Privacy (``privacy``): the share of synthetic rows identical to a training row, and the median distance
(in model space: standardized numbers, one-hot categories) from synthetic rows to their closest training
row, beside the same for held-out real rows: synthetic rows much closer than real ones are copies.
``dcr_share``: the share of synthetic rows whose closest real row, among the held-out rows and as many
training rows (a random subset), is a training row; a tie counts half. 0.5: no copying. A model that
copies training rows scores 0.5 + 0.5 * n_holdout / n_train in expectation (a copy of a row outside
the subset is as near the subset as the held-out rows), e.g. 0.5625 with 80% training and 10% held out.

Detection (``detection``, with scikit-learn): 1 - (2 * max(AUC, 0.5) - 1), the AUC of a classifier
(HistGradientBoostingClassifier at its defaults, 5-fold stratified cross-validation, seeded) telling the
real rows from as many synthetic ones; labels become category codes, missing cells stay NaN. 1: the
classifier cannot tell them apart; 0: it always can.

Missing cells are left out of every comparison (correlations use the rows where both are observed).
SDMetrics does the same things but pulls in plotly and a second copy of the RDT transformers for a
few lines of arithmetic per metric; these are tested against closed forms instead.
"""

import importlib.util
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
import torch

from vae_lab.data.column_kinds import Column, ValueType

PAIR_LIMIT = 20  # columns beyond which pairwise metrics use the first PAIR_LIMIT of each kind
DETECTION_FOLDS = 5


def tabular_fidelity(real: pd.DataFrame, synthetic: pd.DataFrame, columns: Sequence[Column]) -> dict[str, Any]:
    """Fidelity of `synthetic` to `real` (values: numbers and labels, ``TableSchema.values``) over the modelled
    `columns` (``TableSchema.columns``, fitted on the training rows); plain data."""
    rows = [column.fidelity(real[column.name], synthetic[column.name]) for column in columns]
    correlated = [column.name for column in columns if column.value_type in (ValueType.NUMERICAL, ValueType.BOOLEAN)]
    discrete = [column.name for column in columns if column.value_type in (ValueType.CATEGORICAL, ValueType.BOOLEAN)]
    correlation = correlation_difference(real[correlated], synthetic[correlated])
    return {
        "columns": rows,
        "ks_mean": _mean(row["value"] for row in rows if row["metric"] == "ks"),
        "tv_mean": _mean(row["value"] for row in rows if row["metric"] == "tv"),
        "ks_tv_mean": _mean(row["value"] for row in rows),
        "point_mass_error_mean": _mean(row.get("point_mass_error") for row in rows),
        "off_support_share": _mean(row.get("off_support") for row in rows),
        "range_violation_share": _mean(row.get("range_violation") for row in rows),
        "coverage_mean": _mean(row.get("coverage") for row in rows),
        "correlation_mad": correlation,
        "correlation_similarity": None if correlation is None else 1 - correlation / 2,
        "contingency_similarity": contingency_similarity(real[discrete[:PAIR_LIMIT]], synthetic[discrete[:PAIR_LIMIT]]),
        "real_rows": len(real),
        "synthetic_rows": len(synthetic),
    }


def correlation_difference(real: pd.DataFrame, synthetic: pd.DataFrame) -> float | None:
    """Mean |corr_real - corr_synthetic| over column pairs above the diagonal; None with fewer than 2 columns."""
    if real.shape[1] < 2:
        return None
    real, synthetic = _as_numbers(real, synthetic)
    above = np.triu_indices(real.shape[1], k=1)
    difference = np.abs(real.corr().to_numpy() - synthetic.corr().to_numpy())[above]
    finite = difference[np.isfinite(difference)]
    return float(finite.mean()) if len(finite) else None


def contingency_similarity(real: pd.DataFrame, synthetic: pd.DataFrame) -> float | None:
    """Mean over column pairs of 1 - TV distance of their joint frequencies; None with fewer than 2 columns."""
    if real.shape[1] < 2:
        return None
    similarities = []
    for a, b in combinations(real.columns, 2):
        p = real[[a, b]].dropna().value_counts(normalize=True)
        q = synthetic[[a, b]].dropna().value_counts(normalize=True)
        if len(p) and len(q):
            similarities.append(1 - 0.5 * p.sub(q, fill_value=0.0).abs().sum())
    return float(np.mean(similarities)) if similarities else None


def privacy(train: torch.Tensor, synthetic: torch.Tensor, holdout: torch.Tensor, train_values: pd.DataFrame,
            synthetic_values: pd.DataFrame, chunk: int = 1024, seed: int = 0) -> dict[str, float | None]:  # fmt: skip
    """Copies and closeness: share of synthetic rows equal to a training row (in values), median distances to
    the closest training row of synthetic and of held-out rows, and the DCR share (``dcr_share``; the training
    rows subsampled by `seed`) (in model space, (n, width))."""
    seen = pd.util.hash_pandas_object(train_values.astype(str), index=False)
    identical = pd.util.hash_pandas_object(synthetic_values.astype(str), index=False).isin(seen).mean()
    return {
        "identical_share": float(identical),
        "dcr_synthetic_median": float(_closest(synthetic, train, chunk).median()),
        "dcr_holdout_median": float(_closest(holdout, train, chunk).median()),
        "dcr_share": dcr_share(train, synthetic, holdout, chunk, seed),
    }


def dcr_share(train: torch.Tensor, synthetic: torch.Tensor, holdout: torch.Tensor, chunk: int = 1024, seed: int = 0) -> float | None:
    """Share of synthetic rows whose closest real row is a training row, among the held-out rows and as many
    training rows drawn at random (`seed`), ties counting half; 0.5 means the samples are no nearer the
    training rows than rows the model never saw. None without rows to compare."""
    count = min(len(train), len(holdout))
    if count == 0 or len(synthetic) == 0:
        return None
    generator = torch.Generator().manual_seed(seed)
    train = train[torch.randperm(len(train), generator=generator)[:count]]
    holdout = holdout[torch.randperm(len(holdout), generator=generator)[:count]]
    to_train, to_holdout = _closest(synthetic, train, chunk), _closest(synthetic, holdout, chunk)
    return float(((to_train < to_holdout).double() + 0.5 * (to_train == to_holdout).double()).mean())


def _closest(rows: torch.Tensor, reference: torch.Tensor, chunk: int) -> torch.Tensor:
    """Each row's Euclidean distance to its closest reference row (float64)."""
    rows, reference = rows.double(), reference.double()
    return torch.cat([torch.cdist(rows[i : i + chunk], reference).min(dim=1).values for i in range(0, len(rows), chunk)])


def detection_available() -> bool:
    """Whether scikit-learn, which the detection score needs, is installed (``pip install "vae_lab[eval]"``)."""
    return importlib.util.find_spec("sklearn") is not None


def detection(real: pd.DataFrame, synthetic: pd.DataFrame, seed: int = 0) -> float | None:
    """1 - (2 * max(AUC, 0.5) - 1) of HistGradientBoostingClassifier (defaults, seeded) telling `real` rows
    from as many `synthetic` ones (the larger frame subsampled by `seed`), by 5-fold stratified ROC AUC: 1
    when it cannot tell them apart, 0 when it always can. Labels are category codes, missing cells NaN.
    None with fewer than 5 rows of either, or without scikit-learn."""
    if not detection_available():
        return None
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    count = min(len(real), len(synthetic))
    if count < DETECTION_FOLDS:
        return None
    rng = np.random.default_rng(seed)
    real = real.iloc[np.sort(rng.permutation(len(real))[:count])].reset_index(drop=True)
    synthetic = synthetic.iloc[np.sort(rng.permutation(len(synthetic))[:count])].reset_index(drop=True)
    real, synthetic = _as_numbers(real, synthetic)
    features = np.concatenate([real.to_numpy(np.float64), synthetic.to_numpy(np.float64)])
    labels = np.concatenate([np.zeros(count), np.ones(count)])
    folds = StratifiedKFold(n_splits=DETECTION_FOLDS, shuffle=True, random_state=seed)
    auc = float(cross_val_score(HistGradientBoostingClassifier(random_state=seed), features, labels, cv=folds, scoring="roc_auc").mean())
    return 1 - (2 * max(auc, 0.5) - 1)


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


def _mean(values) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None
