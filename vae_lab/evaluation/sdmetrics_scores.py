"""SDMetrics' Column Shapes and Column Pair Trends scores (sdmetrics 0.32 ``QualityReport`` properties), without sdmetrics.

sdmetrics pins pandas < 3; these few lines redo its arithmetic on pandas 3 and are tested against numbers sdmetrics
itself computed (``tests/evaluation/test_sdmetrics_scores.py``). `sdtypes` name each column's sdmetrics type:
``numerical``, ``datetime``, ``categorical`` or ``boolean`` (``sdtypes_of``: vae_lab's columns' value types).

Column Shapes: the mean over columns of KSComplement (numerical, datetime: 1 - the two-sample Kolmogorov-Smirnov
statistic of the observed values, rounded to 14 decimals; datetimes as numbers) or TVComplement (categorical,
boolean: 1 - the total-variation distance of the observed values' frequencies; a synthetic value the real column
lacks gets a real count of 1e-6, as sdmetrics does).

Column Pair Trends: the mean over all column pairs (the real-association and real-correlation thresholds at 0, as
the papers use them: every pair counts) of CorrelationSimilarity (two continuous columns: 1 - |r_real - r_syn| / 2,
Pearson's r on the rows where both are observed; no score where either frame has a constant column or r_real is 0)
or ContingencySimilarity (otherwise: 1 - the total-variation distance of the pair's joint frequencies, missing cells
as a value of their own, a continuous column cut into the 10 equal-width bins of ``numpy.histogram_bin_edges`` of
its own frame's observed values, missing cells in a bin of their own). Like sdmetrics, pairs without a score are
left out of the mean. Unlike sdmetrics' report, contingency tables are never subsampled (sdmetrics subsamples,
unseeded, beyond 50,000 rows).
"""

import sys
from collections import Counter
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp, pearsonr

from vae_lab.data.column_kinds import Column, ValueType

CONTINUOUS = (ValueType.NUMERICAL, "datetime")
DISCRETE = (ValueType.CATEGORICAL, ValueType.BOOLEAN)
KS_DECIMALS = sys.float_info.dig - 1  # sdmetrics' KSComplement rounds to this many decimals
HISTOGRAM_BINS = 10


def sdtypes_of(columns: Sequence[Column]) -> dict[str, str]:
    """sdmetrics types of vae_lab's columns (``TableSchema.columns``): their ``value_type``, numerical, categorical or
    boolean (dates are numbers there: time indices; discrete numbers are categorical)."""
    return {column.name: str(column.value_type) for column in columns}


def ks_complement(real: pd.Series, synthetic: pd.Series) -> float:
    """1 - the KS statistic of the observed values (NaN when either has none)."""
    real, synthetic = _as_number(real.dropna()), _as_number(synthetic.dropna())
    if not len(real) or not len(synthetic):
        return float("nan")
    return 1 - float(ks_2samp(real.round(KS_DECIMALS), synthetic.round(KS_DECIMALS)).statistic)


def tv_complement(real: pd.Series, synthetic: pd.Series) -> float:
    """1 - the total-variation distance of the observed values' frequencies (NaN when either has none)."""
    real_counts, synthetic_counts = Counter(real.dropna()), Counter(synthetic.dropna())
    if not real_counts or not synthetic_counts:
        return float("nan")
    for value in synthetic_counts:
        if value not in real_counts:
            real_counts[value] += 1e-6  # type: ignore[assignment]  # sdmetrics' regularization
    real_total, synthetic_total = sum(real_counts.values()), sum(synthetic_counts.values())
    return 1 - 0.5 * sum(abs(synthetic_counts[value] / synthetic_total - count / real_total) for value, count in real_counts.items())


def column_shapes(real: pd.DataFrame, synthetic: pd.DataFrame, sdtypes: dict[str, str]) -> dict[str, Any]:
    """``score``: the mean over the columns of `sdtypes` of their scores; ``columns``: name -> score."""
    scores = {}
    for name, sdtype in sdtypes.items():
        if sdtype in CONTINUOUS:
            scores[name] = ks_complement(real[name], synthetic[name])
        elif sdtype in DISCRETE:
            scores[name] = tv_complement(real[name], synthetic[name])
    return {"score": _nanmean(scores.values()), "columns": scores}


def correlation_similarity(real: pd.DataFrame, synthetic: pd.DataFrame) -> float:
    """1 - |r_real - r_synthetic| / 2 of two continuous columns (NaN: a constant column, r_real = 0, r undefined)."""
    if (real.nunique() == 1).any() or (synthetic.nunique() == 1).any():
        return float("nan")
    real, synthetic = real.dropna(), synthetic.dropna()
    if len(real) < 2 or len(synthetic) < 2:
        return float("nan")
    r_real = float(pearsonr(real.iloc[:, 0], real.iloc[:, 1]).statistic)
    if abs(r_real) <= 0:
        return float("nan")
    r_synthetic = float(pearsonr(synthetic.iloc[:, 0], synthetic.iloc[:, 1]).statistic)
    return 1 - abs(r_real - r_synthetic) / 2


def contingency_similarity(real: pd.DataFrame, synthetic: pd.DataFrame) -> float:
    """1 - the total-variation distance of the joint frequencies of two columns (missing cells a value of their own)."""
    columns = list(real.columns[:2])
    p = real.groupby(columns, dropna=False).size() / len(real)
    q = synthetic.groupby(columns, dropna=False).size() / len(synthetic)
    index = p.index.union(q.index, sort=False).drop_duplicates()
    difference = (p.reindex(index, fill_value=0) - q.reindex(index, fill_value=0)).abs().fillna(0)
    return float(1 - difference.sum() / 2)


def column_pair_trends(real: pd.DataFrame, synthetic: pd.DataFrame, sdtypes: dict[str, str]) -> dict[str, Any]:
    """``score``: the mean over the column pairs of `sdtypes` of their scores; ``pairs``: (a, b, metric, score) rows."""
    names = [name for name, sdtype in sdtypes.items() if sdtype in CONTINUOUS + DISCRETE]
    real_numbers, real_bins = _processed(real[names], sdtypes)
    synthetic_numbers, synthetic_bins = _processed(synthetic[names], sdtypes)
    pairs = []
    for a, b in combinations(names, 2):
        continuous_a, continuous_b = sdtypes[a] in CONTINUOUS, sdtypes[b] in CONTINUOUS
        if continuous_a and continuous_b:
            metric, score = "CorrelationSimilarity", correlation_similarity(real_numbers[[a, b]], synthetic_numbers[[a, b]])
        else:
            real_pair = pd.concat([(real_bins if continuous_a else real_numbers)[a], (real_bins if continuous_b else real_numbers)[b]], axis=1)
            synthetic_pair = pd.concat(
                [(synthetic_bins if continuous_a else synthetic_numbers)[a], (synthetic_bins if continuous_b else synthetic_numbers)[b]], axis=1
            )
            metric, score = "ContingencySimilarity", contingency_similarity(real_pair, synthetic_pair)
        pairs.append({"column_1": a, "column_2": b, "metric": metric, "score": score})
    return {"score": _nanmean(pair["score"] for pair in pairs), "pairs": pairs}


def _processed(frame: pd.DataFrame, sdtypes: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The frame with datetimes as numbers, and its continuous columns cut into their own 10 equal-width bins."""
    frame = frame.copy()
    bins = {}
    for name in frame.columns:
        if sdtypes[name] in CONTINUOUS:
            frame[name] = _as_number(frame[name])
            values = frame[name].to_numpy(np.float64)
            edges = np.histogram_bin_edges(values[~np.isnan(values)], bins=HISTOGRAM_BINS)
            bins[name] = np.digitize(values, bins=edges)
    return frame, pd.DataFrame(bins, index=frame.index)


def _as_number(values: pd.Series) -> pd.Series:
    """Datetimes as nanoseconds (floats, NaT as NaN); numbers as floats."""
    if pd.api.types.is_datetime64_any_dtype(values):
        missing = values.isna()
        nanoseconds = values.astype("datetime64[ns]").to_numpy().view("int64").astype("float64")
        return pd.Series(nanoseconds, index=values.index).mask(missing)
    return pd.to_numeric(values).astype("float64")


def _nanmean(values) -> float:
    present = [float(v) for v in values if v is not None and not np.isnan(v)]
    return float(np.mean(present)) if present else float("nan")
