"""Which kind of column (``column_kinds``) a column of training values is, or why it is dropped.

For a column whose cells are numbers (plain, decorated, booleans or dates' time indices), on its
observed training values:

- one distinct value: constant, dropped; two: ``binary``;
- at most ``discrete_values`` distinct values (and on average at least two rows per value):
  ``categorical`` over those values, so samples only take values that occur (discrete numbers: age
  brackets, a rate with five levels, 0-5 children);
- integers that all differ and run in order down the file: an identifier, dropped;
- values that hold at least ``point_mass_share`` of the rows (and 10 rows) and at least twice the
  share of either neighbouring value (exact zeros, a cap): ``point_mass``;
- otherwise ``numeric``, with a quantile or log transform when |skewness| > ``skew_threshold``.

Text: two values ``binary``; dates, free text, identifiers and more than ``max_categories`` labels are
dropped with the reason; otherwise ``categorical``. ``data.categorical``, ``data.numeric`` and
``data.point_mass`` set a kind by name. Integers with at most ``max_categories`` values that are not discrete enough to
be categorical are modelled as amounts, and their schema line says so with the override that makes them labels.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.stats import skew

from vae_lab.data.cell_values import INT, TEXT, ValueFormat
from vae_lab.data.column_kinds import BinaryColumn, CategoricalColumn, Column, NumericColumn, PointMassColumn
from vae_lab.errors import ConfigError

MIN_ID_VALUES = 20  # a column whose values (at least this many) all differ is an identifier
ID_SHARE = 0.9  # a text column with at least this share of distinct values (names, keys) is an identifier
FREE_TEXT_WORDS = 3.0  # mean words per cell from which a high-cardinality text column is free text
ROWS_PER_DISCRETE_VALUE = 2  # a column is discrete only if its values repeat on average this often
MASS_OVER_NEIGHBOURS = 2.0  # a point mass holds at least this multiple of either neighbouring value's share
MIN_MASS_ROWS = 10  # and at least this many training rows (3 rows of 50 are chance, not a mass)


def infer_column(name: str, format: ValueFormat, values: np.ndarray | pa.ChunkedArray, options) -> tuple[Column | None, str]:
    """(the fitted column, "") or (None, why it is dropped) from the observed training values of a column.

    options: ``table_schema.SchemaOptions``.
    """
    keep = f"keep it with data.categorical=[{name}]"
    if format.type == TEXT:
        distinct = pc.count_distinct(values).as_py()
    else:
        labels, counts = np.unique(values, return_counts=True)
        distinct = len(labels)
    if name in options.categorical:
        return CategoricalColumn.fit(name, format, values), ""
    forced_numeric = name in options.numeric or name in options.point_mass
    if distinct == 1 and not forced_numeric:
        shown = values[0].as_py() if format.type == TEXT else str(format.write(np.asarray(values[:1]), np.ones(1, bool))[0])
        return None, f"constant (every value is {shown!r}); {keep}"
    if distinct == 2 and not forced_numeric:
        return BinaryColumn.fit(name, format, values), ""
    if format.type == TEXT:
        return text_column(name, format, values, distinct, options)
    if not forced_numeric and distinct <= options.discrete_values and distinct * ROWS_PER_DISCRETE_VALUE <= len(values):
        return CategoricalColumn.fit(name, format, values), ""
    if not forced_numeric and format.type == INT and MIN_ID_VALUES <= distinct == len(values):
        steps = np.diff(values)
        if (steps > 0).all() or (steps < 0).all():
            return None, f"ID-like (every value is different, in order down the file); keep it with data.numeric=[{name}]"
    masses = point_masses(labels, counts, options.point_mass_share) if name not in options.numeric else []
    if name in options.point_mass and not masses:
        masses = [float(labels[counts.argmax()])]
    column = numeric_column(name, format, np.asarray(values, dtype=np.float64), masses, options)
    if not forced_numeric and format.type == INT and distinct <= options.max_categories:
        column.guess = f"an amount; if its {distinct} integer values are codes (states, regions), data.categorical=[{name}]"
    return column, ""


def text_column(name: str, format: ValueFormat, observed: pa.ChunkedArray, distinct: int, options) -> tuple[Column | None, str]:
    keep = f"keep it with data.categorical=[{name}]"
    words = pc.mean(pc.add(pc.count_substring_regex(pc.utf8_trim_whitespace(observed), r"\s+"), 1)).as_py()
    if words >= FREE_TEXT_WORDS and distinct > options.discrete_values:
        return None, f"free text ({distinct} different values of {words:.1f} words on average); {keep}"
    if distinct >= MIN_ID_VALUES and distinct >= ID_SHARE * len(observed):
        every = "every one" if distinct == len(observed) else f"{distinct} of {len(observed)}"
        return None, f"ID-like ({every} of its values is different); {keep}"
    if distinct <= options.max_categories:
        return CategoricalColumn.fit(name, format, observed), ""
    return None, f"{distinct} different values, more than data.max_categories={options.max_categories}; raise it or {keep}"


def point_masses(labels: np.ndarray, counts: np.ndarray, min_share: float) -> list[float]:
    """Values holding at least `min_share` of the rows and MASS_OVER_NEIGHBOURS times either neighbour's share."""
    shares = counts / counts.sum()
    neighbours = np.maximum(np.r_[0.0, shares[:-1]], np.r_[shares[1:], 0.0])
    chosen = (shares >= min_share) & (shares >= MASS_OVER_NEIGHBOURS * neighbours) & (counts >= MIN_MASS_ROWS)
    return [float(v) for v in labels[chosen]]


def numeric_column(name: str, format: ValueFormat, values: np.ndarray, masses: list[float], options) -> NumericColumn:
    """A numeric column, or a point-mass one when `masses` is not empty, fitted on training values (float64)."""
    transform = "log" if name in options.log else "quantile" if name in options.quantile else "standard"
    column: NumericColumn
    if masses:
        column = PointMassColumn(name, format, clip=options.clip, masses=masses)
        on_mass = np.isin(values, masses)
        column.shares = [float(np.mean(values == mass)) for mass in masses] + [float(np.mean(~on_mass))]
        continuous = values[~on_mass]
        if len(continuous) == 0:  # every value is a mass (forced): the continuous part is never drawn
            continuous = values[:1]
    else:
        column = NumericColumn(name, format, clip=options.clip)
        continuous = values
    if transform == "standard" and options.skewed and name != options.target and len(np.unique(continuous)) > 2:
        if abs(float(skew(continuous))) > options.skew_threshold:
            transform = options.skewed
    column.transform = transform
    if transform == "quantile" and len(np.unique(continuous)) < 2:
        raise ConfigError(f"data.quantile: column '{name}' needs at least 2 different training values for a quantile transform")
    column.fit_scale(continuous, options.standardize)
    if masses:
        column.low, column.high = float(values.min()), float(values.max())
    return column


def target_bins(values: np.ndarray, bins: int) -> list[float]:
    """Edges of the quantile bins that label a numeric target."""
    return np.quantile(np.asarray(values, dtype=np.float64), np.linspace(0, 1, bins + 1)).tolist()
