"""The schema of a table and its fitted preprocessor: what each column is and how it becomes model input.

Column kinds, inferred from the training rows and overridable (``SchemaOptions``):

- ``numeric``: numbers with many distinct values. Optionally a signed log (sign(v) log(1 + |v|)) or a
  quantile transform (to normal scores), then centred and scaled with the training mean and standard
  deviation (``standardize``; off only to show why it matters). One slot; Gaussian likelihood.
- ``categorical``: text, or integers with at most ``integer_categories`` distinct values. One-hot over
  the training categories; a value never seen in training is the explicit *unknown* category.
  One slot per category; Categorical likelihood.
- ``binary``: exactly two distinct values (true/false, yes/no, 0/1, any two labels). 0 or 1 in one
  slot; Bernoulli likelihood.

Dropped with a warning: constant columns, ID-like columns (every value different), free text, dates,
and text with more than ``max_categories`` distinct values. ``drop`` drops columns silently; the
``target`` column is kept out of the model and becomes the labels ``y``.

Model space, for n rows: ``x`` (n, width), the slots of every modelled column side by side in file
order, and ``mask`` (n, width), False in every slot of a missing cell or of an unknown category. Such
a cell contributes nothing to the likelihood and is fed to the encoder as the training mean of its
slots (0 for a standardized number, the frequency of the second value of a binary column, the category
frequencies of a categorical column): the encoder cannot see what is not there.

Exact round trip: ``inverse(transform(table))`` gives back the file's values in every observed cell
of a known category (integers stay integers, labels stay labels, column order and dtypes are kept).
Numbers are rounded to the decimals seen in training, which makes the round trip exact in float64 for
any number written with at most 15 decimals; through the model's float32 it is exact for numbers
with about 6 significant digits (log and quantile transforms amplify float32 error in the tails).
"""

import logging
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.special import ndtri
from scipy.stats import skew

from vae_lab.data.csv_file import DEFAULT_NA_VALUES, line_number
from vae_lab.errors import ConfigError, DataError

log = logging.getLogger(__name__)

NUMERIC, CATEGORICAL, BINARY = "numeric", "categorical", "binary"
KINDS = (NUMERIC, CATEGORICAL, BINARY)
INT, FLOAT, TEXT = "int", "float", "text"  # how a column's values are parsed and written
TRANSFORMS = ("standard", "log", "quantile")

INT_PATTERN = r"^\s*-?\d+\s*$"
FLOAT_PATTERN = r"(?i)^\s*[+-]?((\d+\.?\d*|\.\d+)(e[+-]?\d+)?|inf|infinity|nan)\s*$"
LEADING_ZERO_PATTERN = r"^\s*[+-]?0\d"  # 007, 02134: codes, not numbers
DATE_PATTERN = r"^\s*(\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4})\s*$"
STRAY_FRACTION = 0.9  # a text column whose cells are at least this often numbers is a numeric column with typos
DATE_FRACTION = 0.9
MIN_ID_VALUES = 20  # a column whose values (at least this many) all differ is an identifier
FREE_TEXT_WORDS = 3.0  # mean words per cell from which a high-cardinality text column is free text
MAX_DECIMALS = 15
QUANTILE_KNOTS = 1000
TARGET_BINS = 10  # a numeric target becomes decile labels


@dataclass
class SchemaOptions:
    """What the user tells the schema (``data.*`` in ``conf/data/csv.yaml``)."""

    categorical: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)
    drop: list[str] = field(default_factory=list)
    target: str | None = None
    log: list[str] = field(default_factory=list)
    quantile: list[str] = field(default_factory=list)
    skewed: str | None = "quantile"
    skew_threshold: float = 2.0
    max_categories: int = 100
    integer_categories: int = 10
    na_values: list[str] = field(default_factory=list)
    standardize: bool = True

    def __post_init__(self) -> None:
        for name in ("categorical", "numeric", "drop", "log", "quantile", "na_values"):
            setattr(self, name, [str(value) for value in getattr(self, name) or []])
        self.target = None if self.target is None else str(self.target)  # Hydra reads data.target=2024 as a number
        if not isinstance(self.standardize, bool):
            raise ConfigError(f"data.standardize must be true or false, got {self.standardize!r}")
        if self.skewed not in (None, "log", "quantile"):
            raise ConfigError(f"data.skewed must be null, log or quantile, got '{self.skewed}'")
        if self.max_categories < 2 or self.integer_categories < 0:
            raise ConfigError(
                f"data.max_categories must be >= 2 and data.integer_categories >= 0, "
                f"got {self.max_categories} and {self.integer_categories}"
            )
        roles = {"data.categorical": self.categorical, "data.numeric": self.numeric, "data.drop": self.drop,
                 "data.target": [self.target] if self.target is not None else []}  # fmt: skip
        owner: dict[str, str] = {}
        for role, names in roles.items():
            for name in names:
                if name in owner and owner[name] != role:
                    raise ConfigError(f"column '{name}' is in both {owner[name]} and {role}; give it one role")
                owner[name] = role
        for role, names in (("data.log", self.log), ("data.quantile", self.quantile)):
            clash = [name for name in names if owner.get(name, "data.numeric") != "data.numeric" or name in self.log and name in self.quantile]
            if clash:
                raise ConfigError(f"{role} names {clash[0]!r}, which cannot be transformed: only numeric columns take one transform")

    def check_columns(self, names: list[str], source: str) -> None:
        """Every column named in the options must be in the file."""
        listed = {"data.categorical": self.categorical, "data.numeric": self.numeric, "data.drop": self.drop,
                  "data.log": self.log, "data.quantile": self.quantile,
                  "data.target": [self.target] if self.target is not None else []}  # fmt: skip
        for role, wanted in listed.items():
            unknown = [name for name in wanted if name not in names]
            if unknown:
                raise ConfigError(f"{role} names {unknown[0]!r}, which is not a column of {source}; its columns are: {', '.join(names)}")


@dataclass
class Column:
    """One column of the schema: its kind, how its values are parsed and written, and its fitted parameters.

    categories: sorted training values of a categorical or binary column (int, float or str by dtype);
        frequencies: their training frequencies (the encoder's input for a missing cell).
    transform, mean, std: a numeric column's transform and the mean and std of its transformed training values;
        knots, scores: the quantile transform's piecewise-linear map from values to normal scores.
    decimals: decimals of a float column's training values (None: more than MAX_DECIMALS); values are written with them.
    bins: edges of the deciles that label a numeric target.
    """

    name: str
    kind: str
    dtype: str
    categories: list = field(default_factory=list)
    frequencies: list[float] = field(default_factory=list)
    transform: str = "standard"
    mean: float = 0.0
    std: float = 1.0
    knots: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    decimals: int | None = None
    bins: list[float] = field(default_factory=list)

    @property
    def width(self) -> int:
        return len(self.categories) if self.kind == CATEGORICAL else 1

    def describe(self) -> str:
        if self.kind == NUMERIC:
            return f"numeric ({self.dtype}, {self.transform})"
        return f"{self.kind} ({len(self.categories)} values)"


@dataclass
class EncodedTable:
    """A table in model space.

    x: (n, width) float; mask: (n, width) bool, None when every cell is observed and known;
    y: (n,) int64 target labels (-1: none); missing: (n, columns) bool, True where the file's cell is missing.
    """

    x: np.ndarray
    mask: np.ndarray | None
    y: np.ndarray
    missing: np.ndarray


class TableSchema:
    """The modelled columns (file order), the dropped ones with their reasons, the target, and the missing-value markers."""

    def __init__(self, columns: list[Column], dropped: dict[str, str], target: Column | None, na_values: list[str]) -> None:
        self.columns = columns
        self.dropped = dropped
        self.target = target
        self.na_values = list(na_values)
        self.starts = np.cumsum([0] + [column.width for column in columns])[:-1].tolist()

    @property
    def width(self) -> int:
        return sum(column.width for column in self.columns)

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    def layout(self) -> list[dict[str, Any]]:
        """What the likelihood needs: each column's name, kind and number of slots, in slot order."""
        return [{"name": c.name, "kind": c.kind, "width": c.width} for c in self.columns]

    def columns_by_kind(self) -> dict[str, list[str]]:
        return {kind: [c.name for c in self.columns if c.kind == kind] for kind in KINDS}

    # -- text -> model space -------------------------------------------------------------

    def transform(self, table: pa.Table, source: str, dtype: type = np.float32) -> EncodedTable:
        """Encode a text table (``csv_file.read_csv_text``) holding at least the modelled columns.

        Values never seen in training become the unknown category, with a warning naming them.
        """
        missing_columns = [name for name in self.names if name not in table.column_names]
        if missing_columns:
            raise DataError(f"{source} lacks the column(s) {', '.join(map(repr, missing_columns))} that the model was trained on")
        n = table.num_rows
        x = np.zeros((n, self.width), dtype=dtype)
        unscored = np.zeros((n, len(self.columns)), dtype=bool)
        missing = np.zeros((n, len(self.columns)), dtype=bool)
        for i, (column, start) in enumerate(zip(self.columns, self.starts)):
            text = table.column(column.name)
            missing[:, i] = is_missing(text, self.na_values)
            block = x[:, start : start + column.width]
            if column.kind == NUMERIC:
                values = parse_values(column.name, text, missing[:, i], column.dtype, source)
                block[:, 0] = np.where(missing[:, i], 0.0, forward(column, values))
                unscored[:, i] = missing[:, i]
            else:
                codes = category_codes(column, text, missing[:, i], source)
                unknown = (codes < 0) & ~missing[:, i]
                if unknown.any():
                    warn_unknown(column, text, unknown, source)
                known = codes >= 0
                if column.kind == BINARY:
                    block[:, 0] = np.where(known, codes, column.frequencies[1])
                else:
                    block[np.flatnonzero(known), codes[known]] = 1.0
                    block[~known] = np.asarray(column.frequencies, dtype=dtype)
                unscored[:, i] = ~known
        mask = None
        if unscored.any():
            mask = np.repeat(~unscored, [column.width for column in self.columns], axis=1)
        return EncodedTable(x, mask, self.labels(table, source), missing)

    def labels(self, table: pa.Table, source: str) -> np.ndarray:
        """The target column as int64 labels: category indices or deciles; -1 where missing, unknown or without a target."""
        if self.target is None or self.target.name not in table.column_names:
            return np.full(table.num_rows, -1, dtype=np.int64)
        target = self.target
        text = table.column(target.name)
        missing = is_missing(text, self.na_values)
        if target.kind == NUMERIC:
            values = parse_values(target.name, text, missing, target.dtype, source).astype(np.float64)
            return np.where(missing, -1, np.searchsorted(target.bins[1:-1], values, side="right")).astype(np.int64)
        return category_codes(target, text, missing, source).astype(np.int64)

    # -- model space -> values -----------------------------------------------------------

    def inverse(self, x: Any, mask: Any = None) -> pd.DataFrame:
        """The modelled columns, as typed values, from model space x: (n, width) (a tensor or array).

        Numbers come back in their units, rounded to the training decimals (integers as integers);
        a categorical block gives its most likely category (argmax), a binary slot its value above 0.5.
        Cells whose mask is False come back missing.
        """
        x = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)
        mask = None if mask is None else np.asarray(mask.detach().cpu() if hasattr(mask, "detach") else mask, dtype=bool)
        data = {}
        for column, start in zip(self.columns, self.starts):
            block = x[:, start : start + column.width]
            observed = np.ones(len(x), dtype=bool) if mask is None else mask[:, start]
            if column.kind == NUMERIC:
                data[column.name] = typed_array(column, backward(column, block[:, 0]), observed)
            else:
                codes = (block[:, 0] > 0.5).astype(np.int64) if column.kind == BINARY else block.argmax(axis=1)
                data[column.name] = typed_array(column, np.asarray(column.categories, dtype=object)[codes], observed)
        return pd.DataFrame(data)

    # -- checkpoints ---------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Plain Python data: saved in checkpoints by the data module."""
        return {
            "columns": [asdict(column) for column in self.columns],
            "dropped": dict(self.dropped),
            "target": None if self.target is None else asdict(self.target),
            "na_values": list(self.na_values),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> "TableSchema":
        known = {f.name for f in fields(Column)}

        def column(entry: dict[str, Any]) -> Column:
            return Column(**{key: value for key, value in entry.items() if key in known})

        target = state.get("target")
        return cls([column(c) for c in state["columns"]], dict(state["dropped"]), None if target is None else column(target), state["na_values"])


# -- inference ---------------------------------------------------------------------------


def infer_schema(table: pa.Table, train_rows: np.ndarray, options: SchemaOptions, source: str) -> TableSchema:
    """Infer each column's kind and fit its preprocessing on `train_rows` (row numbers into `table`).

    Value types (integer, float, text) and errors (a column all missing, stray text in a numeric
    column) are judged on the whole file; kinds, categories and statistics on the training rows only.
    """
    options.check_columns(table.column_names, source)
    na_values = [*DEFAULT_NA_VALUES, *options.na_values]
    train_index = pa.array(np.sort(train_rows))
    columns, dropped, target = [], {}, None
    for name in table.column_names:
        if name in options.drop:
            dropped[name] = "listed in data.drop"
            continue
        text = table.column(name)
        missing = is_missing(text, na_values)
        if missing.all():
            raise DataError(f"column '{name}' of {source} is empty: every cell is missing; remove it or add it to data.drop")
        dtype = value_type(name, text, missing, source, numeric_required=name in options.numeric,
                           text_allowed=name in options.categorical or name == options.target)  # fmt: skip
        train_text = text.take(train_index)
        train_missing = missing[np.sort(train_rows)]
        if train_missing.all():
            dropped[name] = "no value in the training rows"
            log.warning("column '%s' of %s is dropped: it has no value in the training rows", name, source)
            continue
        values = parse_values(name, train_text, train_missing, dtype, source)[~train_missing] if dtype != TEXT else None
        observed = train_text.filter(pa.array(~train_missing))
        kind, reason = column_kind(name, dtype, observed, values, options)
        if kind is None:
            dropped[name] = reason
            log.warning("column '%s' of %s is dropped: %s", name, source, reason)
            continue
        column = fit_column(name, kind, dtype, observed, values, options)
        if name == options.target:
            target = column
        else:
            columns.append(column)
    if not columns:
        reasons = "; ".join(f"'{name}': {reason}" for name, reason in dropped.items()) or "the only column is the target"
        raise DataError(
            f"{source} has no column left to model ({reasons}); keep columns with data.categorical=[...] or data.numeric=[...]"
        )
    summary = ", ".join(f"{c.name}: {c.describe()}" for c in columns)
    log.info("%s: %d modelled columns (%s)%s", source, len(columns), summary, f", target {target.name}" if target else "")
    return TableSchema(columns, dropped, target, na_values)


def value_type(name: str, text: pa.ChunkedArray, missing: np.ndarray, source: str, numeric_required: bool, text_allowed: bool) -> str:
    """INT, FLOAT or TEXT from every observed cell; a mostly numeric column with a few text cells is an error.

    Integers written with leading zeros (007, 02134) are codes: TEXT.
    """
    observed = text.filter(pa.array(~missing))
    integers = try_cast(observed, pa.int64())  # None if not integers, or beyond int64 (an identifier: text)
    if integers is not None:
        rewritten = pc.utf8_length(pc.cast(integers, pa.string()))
        padded = pc.any(pc.not_equal(pc.utf8_length(observed), rewritten)).as_py()  # 007, but also " 7"
        if padded and pc.any(pc.match_substring_regex(observed, LEADING_ZERO_PATTERN)).as_py() and not numeric_required:
            return TEXT
        return INT
    if try_cast(observed, pa.float64()) is not None:
        return FLOAT
    numeric = pc.match_substring_regex(observed, FLOAT_PATTERN)
    fraction = pc.mean(pc.cast(numeric, pa.int8())).as_py()
    if numeric_required or (fraction >= STRAY_FRACTION and not text_allowed):
        raise stray_text_error(name, text, missing, source)
    return TEXT


def column_kind(name: str, dtype: str, observed: pa.ChunkedArray, values: np.ndarray | None, options: SchemaOptions) -> tuple[str | None, str]:
    """(kind, "") for a modelled column, or (None, why it is dropped), from its observed training cells
    (text, and parsed values unless the column is TEXT)."""
    distinct = pc.count_distinct(observed).as_py() if dtype == TEXT else len(np.unique(values))
    if name in options.categorical:
        return CATEGORICAL, ""
    if name in options.numeric:
        return NUMERIC, ""
    keep = f"keep it with data.categorical=[{name}]"
    if distinct == 1:
        return None, f"constant (every value is {pc.min_max(observed)['min'].as_py()!r}); {keep}"
    if distinct == 2:
        return BINARY, ""
    if dtype == INT:
        if distinct <= options.integer_categories:
            return CATEGORICAL, ""
        steps = np.diff(values)
        if MIN_ID_VALUES <= distinct == len(values) and ((steps > 0).all() or (steps < 0).all()):
            return None, f"ID-like (every value is different, in order down the file); keep it with data.numeric=[{name}]"
        return NUMERIC, ""
    if dtype == FLOAT:
        return NUMERIC, ""
    dates = pc.mean(pc.cast(pc.match_substring_regex(observed, DATE_PATTERN), pa.int8())).as_py()
    if dates >= DATE_FRACTION:
        return None, f"dates (e.g. {observed[0].as_py()!r}), which are not modelled; derive numbers from them (e.g. days since a start) in another column"
    words = pc.mean(pc.add(pc.count_substring_regex(pc.utf8_trim_whitespace(observed), r"\s+"), 1)).as_py()
    if words >= FREE_TEXT_WORDS and distinct > options.integer_categories:
        return None, f"free text ({distinct} different values of {words:.1f} words on average); {keep}"
    if MIN_ID_VALUES <= distinct == len(observed):
        return None, f"ID-like (every one of its {distinct} values is different); {keep}"
    if distinct <= options.max_categories:
        return CATEGORICAL, ""
    return None, f"{distinct} different values, more than data.max_categories={options.max_categories}; raise it or {keep}"


def fit_column(name: str, kind: str, dtype: str, observed: pa.ChunkedArray, values: np.ndarray | None, options: SchemaOptions) -> Column:
    """Fit a column's parameters on its observed training cells (text, and parsed values unless TEXT)."""
    if kind in (CATEGORICAL, BINARY):
        if dtype == TEXT:
            counted = pc.value_counts(observed)
            order = np.argsort(np.asarray(counted.field("values").to_pylist(), dtype=object))
            categories = [counted.field("values")[int(i)].as_py() for i in order]
            counts = counted.field("counts").to_numpy()[order]
        else:
            labels, counts = np.unique(values, return_counts=True)
            categories = [int(v) for v in labels] if dtype == INT else [float(v) for v in labels]
        return Column(name, kind, dtype, categories=categories, frequencies=(counts / counts.sum()).tolist())
    values = values.astype(np.float64)
    transform = "log" if name in options.log else "quantile" if name in options.quantile else "standard"
    if transform == "standard" and options.skewed and name != options.target and abs(float(skew(values))) > options.skew_threshold:
        transform = options.skewed
    column = Column(name, NUMERIC, dtype, transform=transform, decimals=decimals(values) if dtype == FLOAT else 0)
    if transform == "quantile":
        column.knots, column.scores = quantile_knots(values)
        if len(column.knots) < 2:
            raise ConfigError(f"data.quantile: column '{name}' needs at least 2 different training values for a quantile transform")
    if name == options.target:
        column.bins = np.quantile(values, np.linspace(0, 1, TARGET_BINS + 1)).tolist()
    if options.standardize:  # false only to show why it matters (notebooks/05_tabular_csv.ipynb)
        transformed = forward(column, values)
        column.mean = float(transformed.mean())
        column.std = float(transformed.std()) or 1.0
    return column


def decimals(values: np.ndarray) -> int | None:
    """The fewest decimals that reproduce every value, or None if more than MAX_DECIMALS are needed."""
    finite = values[np.isfinite(values)]
    probe = finite[:: max(1, len(finite) // 1000)]
    for places in range(MAX_DECIMALS + 1):
        if np.array_equal(np.round(probe, places), probe) and np.array_equal(np.round(finite, places), finite):
            return places
    return None


def quantile_knots(values: np.ndarray) -> tuple[list[float], list[float]]:
    """Knots (training values at up to QUANTILE_KNOTS quantiles) and their normal scores ndtri(mid-rank / n)."""
    ordered = np.sort(values)
    knots = np.unique(np.quantile(ordered, np.linspace(0, 1, QUANTILE_KNOTS), method="inverted_cdf"))
    below = np.searchsorted(ordered, knots, side="left")
    up_to = np.searchsorted(ordered, knots, side="right")
    return knots.tolist(), ndtri((below + up_to) / (2 * len(ordered))).tolist()


# -- values <-> model space --------------------------------------------------------------


def forward(column: Column, values: np.ndarray) -> np.ndarray:
    """Numeric values -> standardized model values (float64)."""
    values = np.asarray(values, dtype=np.float64)
    if column.transform == "log":
        values = np.sign(values) * np.log1p(np.abs(values))
    elif column.transform == "quantile":
        values = piecewise_linear(values, np.asarray(column.knots), np.asarray(column.scores))
    return (values - column.mean) / column.std


def backward(column: Column, model_values: np.ndarray) -> np.ndarray:
    """Standardized model values -> numeric values (float64, rounded to the column's decimals)."""
    values = np.asarray(model_values, dtype=np.float64) * column.std + column.mean
    if column.transform == "log":
        values = np.sign(values) * np.expm1(np.minimum(np.abs(values), 700.0))
    elif column.transform == "quantile":
        values = piecewise_linear(values, np.asarray(column.scores), np.asarray(column.knots))
    return values if column.decimals is None else np.round(values, column.decimals)


def piecewise_linear(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Interpolate (xp, fp) (xp strictly increasing) at x, extending the end segments linearly (so it inverts)."""
    y = np.interp(x, xp, fp)
    below, above = x < xp[0], x > xp[-1]
    y[below] = fp[0] + (x[below] - xp[0]) * (fp[1] - fp[0]) / (xp[1] - xp[0])
    y[above] = fp[-1] + (x[above] - xp[-1]) * (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
    return y


def typed_array(column: Column, values: np.ndarray, observed: np.ndarray) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """Values (numbers or labels) as the column's pandas dtype: Int64, float64 or string; missing where not observed."""
    if column.dtype == INT:
        finite = np.where(observed, values, 0).astype(np.float64)
        integers = np.rint(np.clip(finite, -(2.0**62), 2.0**62)).astype(np.int64)
        return pd.arrays.IntegerArray(integers, ~observed)
    if column.dtype == FLOAT:
        return np.where(observed, values, np.nan).astype(np.float64)
    return pd.array(np.where(observed, values, None), dtype="string")


# -- text -> values ------------------------------------------------------------------------


def is_missing(text: pa.ChunkedArray, na_values: list[str]) -> np.ndarray:
    """(n,) bool: True where the cell is one of the missing-value markers, or only spaces."""
    marked = pc.is_in(text, value_set=pa.array(na_values, pa.string()))
    return pc.or_(marked, pc.utf8_is_space(text)).to_numpy(zero_copy_only=False)


def parse_values(name: str, text: pa.ChunkedArray, missing: np.ndarray, dtype: str, source: str) -> np.ndarray:
    """Parse a numeric column: int64 (0 where missing) or float64 (NaN where missing); DataError on text or infinity."""
    if dtype == TEXT:
        raise AssertionError("text columns have no numeric values")
    values = np.zeros(len(text), dtype=np.int64) if dtype == INT else np.full(len(text), np.nan)
    observed = text.filter(pa.array(~missing))
    try:
        parsed = cast_numbers(observed, pa.int64() if dtype == INT else pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        if dtype == INT and pc.all(pc.match_substring_regex(observed, FLOAT_PATTERN)).as_py():
            raise DataError(
                f"column '{name}' of {source} held integers in training but has other numbers here (e.g. "
                f"{first_examples(text, missing, INT_PATTERN, source)}); the model writes and reads it as integers"
            ) from None
        raise stray_text_error(name, text, missing, source) from None
    values[~missing] = parsed
    if dtype == FLOAT and np.isinf(values).any():
        rows = np.flatnonzero(np.isinf(values))[:3]
        where = ", ".join(f"{text[int(row)].as_py().strip()!r} on line {line_number(int(row))}" for row in rows)
        raise DataError(
            f"column '{name}' of {source} has infinite values ({where}); replace them, or declare them missing "
            f"with data.na_values=[inf,-inf]"
        )
    return values


def cast_numbers(text: pa.ChunkedArray, to: pa.DataType) -> pa.ChunkedArray:
    """Text -> numbers of type `to`, allowing spaces around them; ArrowInvalid if a cell is not one."""
    try:
        return pc.cast(text, to)
    except pa.ArrowInvalid:
        return pc.cast(pc.utf8_trim_whitespace(text), to)  # slower: a trimmed copy of the text


def try_cast(text: pa.ChunkedArray, to: pa.DataType, probe: int = 1000) -> pa.ChunkedArray | None:
    """``cast_numbers`` of every cell, or None if one is not a number; the first `probe` cells are tried
    first, so a text column fails fast."""
    try:
        cast_numbers(text.slice(0, probe), to)
        return cast_numbers(text, to)
    except pa.ArrowInvalid:
        return None


def stray_text_error(name: str, text: pa.ChunkedArray, missing: np.ndarray, source: str) -> DataError:
    """A numeric column with cells that are not numbers: name the column and show examples with their lines."""
    numeric = pc.match_substring_regex(text, FLOAT_PATTERN).to_numpy(zero_copy_only=False)
    count = int((~numeric & ~missing).sum())
    examples = first_examples(text, missing, FLOAT_PATTERN, source)
    first = text[int(np.flatnonzero(~numeric & ~missing)[0])].as_py().strip() if count else ""
    return DataError(
        f"column '{name}' of {source} holds numbers but {count} cell(s) are not numbers: {examples}; fix them, "
        f"declare them missing (data.na_values=[{first!r}]) or treat the column as categories (data.categorical=[{name}])"
    )


def first_examples(text: pa.ChunkedArray, missing: np.ndarray, pattern: str, source: str, count: int = 3) -> str:
    """Up to `count` observed cells not matching `pattern`, with their line numbers."""
    matching = pc.match_substring_regex(text, pattern).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(~matching & ~missing)[:count]
    return ", ".join(f"{text[int(row)].as_py()!r} on line {line_number(int(row))}" for row in rows)


def category_codes(column: Column, text: pa.ChunkedArray, missing: np.ndarray, source: str) -> np.ndarray:
    """(n,) int64 index of each cell's category; -1 where missing or never seen in training (unknown)."""
    if column.dtype == TEXT:
        codes = pc.index_in(text, value_set=pa.array(column.categories, pa.string()))
        codes = pc.fill_null(codes, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    else:
        numeric = pc.match_substring_regex(text, FLOAT_PATTERN).to_numpy(zero_copy_only=False)
        values = np.full(len(text), np.nan)
        parsable = numeric & ~missing
        values[parsable] = parse_values(column.name, text.filter(pa.array(parsable)), np.zeros(int(parsable.sum()), bool), FLOAT, source)
        categories = np.asarray(column.categories, dtype=np.float64)
        position = np.clip(np.searchsorted(categories, values), 0, len(categories) - 1)
        codes = np.where(categories[position] == values, position, -1)
    codes[missing] = -1
    return codes


def warn_unknown(column: Column, text: pa.ChunkedArray, unknown: np.ndarray, source: str) -> None:
    values = pc.unique(text.filter(pa.array(unknown))).to_pylist()
    shown = ", ".join(repr(v) for v in values[:5]) + (f" and {len(values) - 5} more" if len(values) > 5 else "")
    log.warning(
        "column '%s' of %s: %d cell(s) hold values never seen in training (%s); they are mapped to the unknown "
        "category, which the model treats like a missing cell",
        column.name, source, int(unknown.sum()), shown,
    )  # fmt: skip
