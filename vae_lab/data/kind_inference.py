"""Which kind of column (``column_kinds``) a column of training values is, or why it is dropped.

A column named in an override (``data.<kind>=[...]``) is that kind. Otherwise, on its observed training values,
it is dropped when it is

- constant (one distinct value);
- an identifier: integers with at least 20 values that all differ and run in order down the file, by steps of at
  most ``ID_STEP`` on average (row numbers, not a monthly series' population), or text whose values (at least 20)
  nearly all differ;
- free text (text of 3 or more words per cell on average, with more than ``discrete_values`` distinct values);
- text with more than ``max_categories`` distinct values;

and else the kinds are asked in their ``detection_rank`` order (``Column.detect``) until one claims it: two values
are binary, text and numbers with few distinct values categorical, numbers with large single-value shares point
masses, other numbers numeric.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vae_lab.data.cell_values import INT, TEXT, ValueFormat
from vae_lab.data.column_kinds import Column, detection_order, kind_named

MIN_ID_VALUES = 20  # a column whose values (at least this many) all differ is an identifier
ID_SHARE = 0.9  # a text column with at least this share of distinct values (names, keys) is an identifier
FREE_TEXT_WORDS = 3.0  # mean words per cell from which a high-cardinality text column is free text
ID_STEP = 10  # integer IDs in order step by at most this on average (row numbers, also of a split or a sample)


def infer_column(name: str, format: ValueFormat, values: np.ndarray | pa.ChunkedArray, options) -> tuple[Column | None, str]:
    """(the fitted column, "") or (None, why it is dropped) from the observed training values of a column.

    options: ``table_schema.SchemaOptions``.
    """
    named = options.kind_of(name)
    if named is not None:
        return kind_named(named).fit(name, format, values, options), ""
    reason = drop_reason(name, format, values, options)
    if reason:
        return None, reason
    for kind in detection_order():
        column = kind.detect(name, format, values, options)
        if column is not None:
            return column, ""
    return None, f"no column kind claims it; set one with data.<kind>=[{name}]"


def drop_reason(name: str, format: ValueFormat, values: np.ndarray | pa.ChunkedArray, options) -> str:
    """Why a column no override names is not modelled ("" if it is)."""
    keep = f"keep it with data.categorical=[{name}]"
    distinct = pc.count_distinct(values).as_py() if format.type == TEXT else len(np.unique(values))
    if distinct == 1:
        shown = values[0].as_py() if format.type == TEXT else str(format.write(np.asarray(values[:1]), np.ones(1, bool))[0])
        return f"constant (every value is {shown!r}); {keep}"
    if format.type == TEXT:
        words = pc.mean(pc.add(pc.count_substring_regex(pc.utf8_trim_whitespace(values), r"\s+"), 1)).as_py()
        if words >= FREE_TEXT_WORDS and distinct > options.discrete_values:
            return f"free text ({distinct} different values of {words:.1f} words on average); {keep}"
        if distinct >= MIN_ID_VALUES and distinct >= ID_SHARE * len(values):
            every = "every one" if distinct == len(values) else f"{distinct} of {len(values)}"
            return f"ID-like ({every} of its values is different); {keep}"
        if distinct > options.max_categories:
            return f"{distinct} different values, more than data.max_categories={options.max_categories}; raise it or {keep}"
    elif row_numbering(format, values) is not None:
        return f"ID-like (every value is different, in order down the file); keep it with data.numeric=[{name}]"
    return ""


def row_numbering(format: ValueFormat, values: np.ndarray | pa.ChunkedArray) -> tuple[int, int] | None:
    """(first value, direction +1 or -1) of integer IDs numbering the rows in order down the file (at least
    ``MIN_ID_VALUES``, all different, by steps of at most ``ID_STEP`` on average: not a growing population), else None."""
    if format.type != INT or not MIN_ID_VALUES <= len(np.unique(values)) == len(values):
        return None
    steps = np.diff(values)
    steps_like_row_numbers = abs(float(values[-1]) - float(values[0])) <= ID_STEP * (len(values) - 1)
    if not (((steps > 0).all() or (steps < 0).all()) and steps_like_row_numbers):
        return None
    return int(values[0]), 1 if steps[0] > 0 else -1


def target_bins(values: np.ndarray, bins: int) -> list[float]:
    """Edges of the quantile bins that label a numeric target."""
    return np.quantile(np.asarray(values, dtype=np.float64), np.linspace(0, 1, bins + 1)).tolist()
