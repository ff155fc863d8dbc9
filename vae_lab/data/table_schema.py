"""The schema of a table: which columns are modelled as what, fitted on the training rows, and the map
between text cells and model space.

Three parts, each its own module: ``cell_values`` reads cells (numbers, decorated numbers, booleans,
dates, labels) and writes them back; ``kind_inference`` decides each column's kind from its training
values; ``column_kinds`` holds the kinds, in one registry, each encoding and decoding its own block of
slots. This module puts them together over a whole table, and names no kind.

Dropped with a warning: constant columns, columns without a value, ID-like columns (every value
different), free text, and text with more than ``max_categories`` distinct values; the constant columns
and those without a value keep the texts of their training cells (``constants``), and integer IDs that number
the rows their first value and direction (``numbered``). Written tables have every column of the file in its
place (``with_dropped_columns``): constants as they were, row numbers counted afresh, the others empty. ``drop``
drops columns silently; the ``target`` column is kept out of the model and becomes the labels ``y``; the
``condition`` columns (``model.condition`` of a conditional VAE) are kept out of the modelled columns and
become the condition's codes: their categories, or deciles of a numeric column.

Model space, for n rows: ``x`` (n, width), the slots of every modelled column side by side in file
order, and ``mask`` (n, width), False in the value slots of a missing cell or of an unknown category. Such
a value contributes nothing to the likelihood and is fed to the encoder as the training mean of its slots.
A column with missing training cells (unless ``generate_missing`` is false) also has a missingness indicator
slot, always observed: the model generates the missing state, and ``generated_mask`` reads it off samples.

Exact round trip: ``inverse(transform(table))`` gives back the file's values in every observed cell
of a known category (integers stay integers, labels stay labels, dates in their own format, column
order and dtypes are kept). Numbers are rounded to the decimals written in the file, which makes the
round trip exact in float64 for any number written with at most 15 decimals; through the model's
float32 it is exact for numbers with about 6 significant digits (log and quantile transforms amplify
float32 error in the tails).
"""

import logging
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from vae_lab.data.cell_values import TEXT, infer_format
from vae_lab.data.column_kinds import Column, ValueType, kind_named, overridable_kinds
from vae_lab.data.column_rules import Decoded, DeterminedColumn, MonotoneColumn, find_determined_columns, rule_from_state_dict
from vae_lab.data.conditions import Conditions, ConditionVariable
from vae_lab.data.csv_file import DEFAULT_NA_VALUES, line_number
from vae_lab.data.kind_inference import infer_column, row_numbering, target_bins
from vae_lab.errors import ConfigError, DataError

log = logging.getLogger(__name__)
RULE_ROWS = 20_000  # training rows read for the rules between columns (column_rules): at most seconds for 40 columns

TARGET_BINS = 10  # a numeric target becomes decile labels


@dataclass
class SchemaOptions:
    """What the user tells the schema (``data.*`` in ``conf/data/csv.yaml``).

    kinds: a registered kind's override name -> the columns set to that kind (``data.<kind>=[...]``).
    """

    kinds: dict[str, list[str]] = field(default_factory=dict)
    datetime: list[str] = field(default_factory=list)
    drop: list[str] = field(default_factory=list)
    target: str | None = None
    condition: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    quantile: list[str] = field(default_factory=list)
    skewed: str | None = "quantile"
    skew_threshold: float = 2.0
    max_categories: int = 100
    discrete_values: int = 20
    point_mass_share: float = 0.01
    snap_repeats: float | None = 5
    clip: bool = True
    generate_missing: bool = True
    determined_columns: bool = True
    datetime_format: str | None = None
    thousands: str | None = None
    decimal: str | None = None
    na_values: list[str] = field(default_factory=list)
    standardize: bool = True

    def __post_init__(self) -> None:
        for name in ("datetime", "drop", "log", "quantile", "na_values", "condition"):
            setattr(self, name, [str(value) for value in getattr(self, name) or []])
        overridable = overridable_kinds()
        unknown = [kind for kind in self.kinds if kind not in overridable]
        if unknown:
            raise ConfigError(
                f"data.{unknown[0]} is not a column kind that can be set by name; those are data.{', data.'.join(overridable)} "
                "(a kind of your own: name the module that registers it in data.plugins)"
            )
        self.kinds = {kind: [str(name) for name in names or []] for kind, names in self.kinds.items()}
        self.target = None if self.target is None else str(self.target)  # Hydra reads data.target=2024 as a number
        for name in ("standardize", "clip", "generate_missing", "determined_columns"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"data.{name} must be true or false, got {getattr(self, name)!r}")
        if self.skewed not in (None, "log", "quantile"):
            raise ConfigError(f"data.skewed must be null, log or quantile, got '{self.skewed}'")
        if self.max_categories < 2 or self.discrete_values < 0:
            raise ConfigError(f"data.max_categories must be >= 2 and data.discrete_values >= 0, got {self.max_categories} and {self.discrete_values}")
        if self.snap_repeats is not None and self.snap_repeats <= 0:
            raise ConfigError(f"data.snap_repeats must be above 0 (or null: never snap), got {self.snap_repeats}")
        if not 0 < self.point_mass_share <= 1:
            raise ConfigError(f"data.point_mass_share must be a share in (0, 1], got {self.point_mass_share}")
        roles = {**{f"data.{kind}": names for kind, names in self.kinds.items()},
                 "data.drop": self.drop, "data.target": [self.target] if self.target is not None else [],
                 "model.condition": [name for name in self.condition if name != self.target]}  # fmt: skip
        owner: dict[str, str] = {}
        for role, names in roles.items():
            for name in names:
                if name in owner and owner[name] != role:
                    raise ConfigError(f"column '{name}' is in both {owner[name]} and {role}; give it one role")
                owner[name] = role
        for role, names in (("data.log", self.log), ("data.quantile", self.quantile)):
            clash = [name for name in names if not self.may_transform(owner.get(name)) or name in self.log and name in self.quantile]
            if clash:
                raise ConfigError(f"{role} names {clash[0]!r}, which cannot be transformed: only numeric columns take one transform")

    @classmethod
    def of(cls, **settings: Any) -> "SchemaOptions":
        """The options from ``data.*`` settings: a name that is no option is a kind's override (``categorical=[...]``),
        checked against the registry."""
        options = {f.name for f in fields(cls)}
        kinds = {name: settings.pop(name) for name in list(settings) if name not in options}
        return cls(kinds=kinds, **settings)

    @staticmethod
    def may_transform(role: str | None) -> bool:
        """Whether data.log or data.quantile may name a column of this role (None: its kind is inferred)."""
        return role is None or role.startswith("data.") and role[5:] in overridable_kinds() and kind_named(role[5:]).takes_transform

    def kind_of(self, name: str) -> str | None:
        """The kind an override sets the column `name` to, or None."""
        return next((kind for kind, names in self.kinds.items() if name in names), None)

    def check_columns(self, names: list[str], source: str) -> None:
        """Every column named in the options must be in the file."""
        listed = {**{f"data.{kind}": names for kind, names in self.kinds.items()},
                  "data.datetime": self.datetime, "data.drop": self.drop, "data.log": self.log, "data.quantile": self.quantile,
                  "data.target": [self.target] if self.target is not None else [], "model.condition": self.condition}  # fmt: skip
        for role, wanted in listed.items():
            unknown = [name for name in wanted if name not in names]
            if unknown:
                raise ConfigError(f"{role} names {unknown[0]!r}, which is not a column of {source}; its columns are: {', '.join(names)}")


@dataclass
class EncodedTable:
    """A table in model space.

    x: (n, width) float; mask: (n, width) bool, None when every cell is observed and known;
    y: (n,) int64 target labels (-1: none); missing: (n, columns) bool, True where the file's cell is missing;
    condition_codes: (n, condition columns) int64 codes of the condition columns (-1: missing or unknown).
    """

    x: np.ndarray
    mask: np.ndarray | None
    y: np.ndarray
    missing: np.ndarray
    condition_codes: np.ndarray


class TableSchema:
    """The modelled columns (file order), the dropped ones with their reasons, the target (with the
    bins that label a numeric one), the condition columns (with their bins), and the missing-value markers.

    constants: each dropped column with at most one value in the training rows -> the share of each text of
    its training cells (``{"EUR": 0.98, "": 0.02}``); numbered: each dropped column of integer IDs that number the
    rows in order -> [its first training value, +1 or -1]; file_columns: every column of the file, in its order;
    determined: the modelled columns that are a function of one or two others in every training row
    (``column_rules``), which generated rows keep.
    """

    def __init__(self, columns: list[Column], dropped: dict[str, str], target: Column | None, na_values: list[str],
                 bins: list[float] | None = None, condition_columns: list[tuple[Column, list[float]]] | None = None,
                 constants: dict[str, dict[str, float]] | None = None, file_columns: list[str] | None = None,
                 determined: list[DeterminedColumn | MonotoneColumn] | None = None,
                 numbered: dict[str, list[int]] | None = None) -> None:  # fmt: skip
        self.columns = columns
        self.numbered = dict(numbered or {})
        self.determined = list(determined or [])
        self.constants = dict(constants or {})
        self.file_columns = list(file_columns or [column.name for column in columns])
        self.dropped = dropped
        self.target = target
        self.bins = list(bins or [])
        self.condition_columns = list(condition_columns or [])
        self.na_values = list(na_values)
        self.starts = np.cumsum([0] + [column.slots for column in columns])[:-1].tolist()

    @property
    def width(self) -> int:
        return sum(column.slots for column in self.columns)

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    def layout(self) -> list[dict[str, Any]]:
        """What the likelihood needs: each column's name, factor (kind) and number of slots, in slot order."""
        return [column.layout() for column in self.columns]

    def slot_means(self) -> np.ndarray:
        """(width,) the training mean of each model-space slot where it is observed: each column's ``neutral`` block
        (a category's share, a point mass's share), then its share of missing cells where it has a missing state."""
        return np.concatenate([np.r_[column.neutral(), [column.missing_share] * column.generates_missing] for column in self.columns])

    def columns_by_kind(self) -> dict[str, list[str]]:
        """Names of the modelled columns by kind, for the kinds present (in the order they first appear)."""
        by_kind: dict[str, list[str]] = {}
        for column in self.columns:
            by_kind.setdefault(column.kind, []).append(column.name)
        return by_kind

    def describe(self) -> str:
        return ", ".join(f"{c.name}: {c.described()}" for c in self.columns)

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
        observed = np.ones((n, self.width), dtype=bool)
        missing = np.zeros((n, len(self.columns)), dtype=bool)
        for i, (column, start) in enumerate(zip(self.columns, self.starts)):
            text = table.column(column.name)
            missing[:, i] = is_missing(text, self.na_values)
            values = column.format.parse(column.name, text, missing[:, i], source)
            block, observed[:, start : start + column.slots] = column.encode_cells(values, missing[:, i])
            unknown = ~observed[:, start] & ~missing[:, i]
            if unknown.any():
                warn_unknown(column, text, unknown, source)
            with np.errstate(over="ignore"):  # float32 overflow is checked right after
                x[:, start : start + column.slots] = block
            unencodable = ~np.isfinite(x[:, start : start + column.slots]).all(axis=1)
            if unencodable.any():
                raise too_large_error(column.name, text, np.flatnonzero(unencodable), source)
        mask = None if observed.all() else observed
        condition_codes = np.stack([self.codes(column, bins, table, source) for column, bins in self.condition_columns], axis=1) \
            if self.condition_columns else np.zeros((n, 0), dtype=np.int64)  # fmt: skip
        return EncodedTable(x, mask, self.labels(table, source), missing, condition_codes)

    def labels(self, table: pa.Table, source: str) -> np.ndarray:
        """The target column as int64 labels: category indices or deciles; -1 where missing, unknown or without a target."""
        if self.target is None or self.target.name not in table.column_names:
            return np.full(table.num_rows, -1, dtype=np.int64)
        return self.codes(self.target, self.bins, table, source)

    def codes(self, column: Column, bins: list[float], table: pa.Table, source: str) -> np.ndarray:
        """A held-out column (target, condition) as int64 codes: category indices, or the bin of a number; -1 where missing or unknown."""
        if column.name not in table.column_names:
            raise DataError(f"{source} lacks the column '{column.name}' that the model is conditioned on")
        text = table.column(column.name)
        missing = is_missing(text, self.na_values)
        values = column.format.parse(column.name, text, missing, source)
        if column.value_type == ValueType.NUMERICAL:
            return np.where(missing, -1, np.searchsorted(bins[1:-1], values.astype(np.float64), side="right")).astype(np.int64)
        return column.codes(values, missing).astype(np.int64)

    def conditions(self) -> Conditions | None:
        """The condition variables of a conditional VAE: each condition column's categories, or its bins; None without any."""
        if not self.condition_columns:
            return None
        variables = []
        for column, bins in self.condition_columns:
            if column.value_type == ValueType.NUMERICAL:
                labels = [f"[{low:g}, {high:g}{']' if i == len(bins) - 2 else ')'}" for i, (low, high) in enumerate(zip(bins[:-1], bins[1:]))]
                variables.append(ConditionVariable(column.name, labels, list(bins)))
            else:
                variables.append(ConditionVariable(column.name, [str(value) for value in column.categories]))
        return Conditions(variables)

    # -- model space -> values -----------------------------------------------------------

    def generated_mask(self, x: Any) -> np.ndarray:
        """The mask of generated rows x (n, width) (tensor or array; a sample or E[x|z]): (n, width) bool, False in
        the value slots of every cell whose missingness indicator is set, as ``transform`` masks a missing cell."""
        x = as_array(x)
        mask = np.ones(x.shape, dtype=bool)
        for column, start in zip(self.columns, self.starts):
            mask[:, start : start + column.width] = ~column.generated_missing(x[:, start : start + column.slots])[:, None]
        return mask

    def values(self, x: Any, mask: Any = None, generated: bool = False) -> pd.DataFrame:
        """The modelled columns as values the metrics compare: numbers (dates as their time index) and labels.

        x: (n, width) model space (a tensor or array), a sample or E[x|z]; cells whose mask is False come back missing
        (for generated rows: ``generated_mask``; without a mask every cell has a value). generated: the rows are the
        model's (``Column.decode_generated``), not real rows encoded (decoded exactly).
        """
        return self._decoded(x, mask, written=False, generated=generated)

    def inverse(self, x: Any, mask: Any = None, generated: bool = False) -> pd.DataFrame:
        """The modelled columns as the file writes them: numbers in their units, rounded as written (integers
        as integers), labels, dates and decorated numbers as their text; missing where the mask is False.

        A categorical block gives its most likely category (argmax), a binary slot its value above 0.5. generated: as
        in ``values``.
        """
        return self._decoded(x, mask, written=True, generated=generated)

    def with_dropped_columns(self, frame: pd.DataFrame, generator: np.random.Generator) -> pd.DataFrame:
        """Decoded rows (``inverse``) with every other column of the file in its place, so that a written table has the
        file's columns in the file's order: a constant column's cells each one of its training texts drawn at its share
        (`generator`), row numbers counted afresh from the training rows' first one, and the columns not generated
        (the target, other IDs, free text, ``data.drop``) empty. Condition columns stay out (the caller puts the
        conditions asked)."""
        conditions = {column.name for column, _ in self.condition_columns}
        columns = {}
        for name in self.file_columns:
            if name in frame:
                columns[name] = frame[name]
            elif name in self.constants:
                texts, shares = list(self.constants[name]), np.array(list(self.constants[name].values()))
                cells = generator.choice(texts, size=len(frame), p=shares / shares.sum()) if len(texts) > 1 else [texts[0]] * len(frame)
                columns[name] = pd.array(cells, dtype="string")
            elif name in self.numbered:
                first, direction = self.numbered[name]
                columns[name] = pd.array(first + direction * np.arange(len(frame)), dtype="Int64")
            elif name not in conditions:
                columns[name] = pd.array([pd.NA] * len(frame), dtype="string")
        return pd.DataFrame(columns, index=frame.index)

    def decoded(self, x: Any, mask: Any = None, generated: bool = False) -> Decoded:
        """Each modelled column's values (n,) and observed mask (n,) of model rows x (n, width); generated rows also
        keep the ``determined`` columns' rules."""
        x = as_array(x)
        mask = None if mask is None else np.asarray(mask.detach().cpu() if hasattr(mask, "detach") else mask, dtype=bool)
        decoded = {}
        for column, start in zip(self.columns, self.starts):
            block = x[:, start : start + column.width]
            values = column.decode_generated(block) if generated else column.decode(block)
            decoded[column.name] = (values, np.ones(len(x), dtype=bool) if mask is None else mask[:, start])
        if generated:
            formats = {column.name: column.format for column in self.columns}
            for rule in self.determined:
                rule.apply(decoded)
                values, observed = decoded[rule.column]
                if values.dtype.kind == "f":  # an interpolated number, rounded as its column writes it
                    decoded[rule.column] = (formats[rule.column].round(values), observed)
        return decoded

    def _decoded(self, x: Any, mask: Any, written: bool, generated: bool) -> pd.DataFrame:
        decoded, data = self.decoded(x, mask, generated), {}
        for column in self.columns:
            values, observed = decoded[column.name]
            if written or column.format.type == TEXT:
                data[column.name] = column.format.write(values, observed)
            elif values.dtype == object:  # numeric categories: numbers
                data[column.name] = np.where(observed, values.astype(np.float64), np.nan)
            else:
                data[column.name] = np.where(observed, values, np.nan)
        return pd.DataFrame(data)

    # -- checkpoints ---------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Plain Python data: saved in checkpoints by the data module."""
        return {
            "columns": [column.state_dict() for column in self.columns],
            "dropped": dict(self.dropped),
            "target": None if self.target is None else self.target.state_dict(),
            "bins": list(self.bins),
            "na_values": list(self.na_values),
            "conditions": [{"column": column.state_dict(), "bins": list(bins)} for column, bins in self.condition_columns],
            "constants": {name: dict(shares) for name, shares in self.constants.items()},
            "file_columns": list(self.file_columns),
            "determined": [rule.state_dict() for rule in self.determined],
            "numbered": {name: list(start) for name, start in self.numbered.items()},
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> "TableSchema":
        target = state.get("target")
        return cls(
            [Column.from_state_dict(c) for c in state["columns"]], dict(state["dropped"]),
            None if target is None else Column.from_state_dict(target), state["na_values"], state.get("bins"),
            [(Column.from_state_dict(c["column"]), c["bins"]) for c in state.get("conditions", [])],
            state.get("constants"), state.get("file_columns"),
            [rule_from_state_dict(rule) for rule in state.get("determined", [])], state.get("numbered"),
        )  # fmt: skip


# -- inference ---------------------------------------------------------------------------


def infer_schema(table: pa.Table, train_rows: np.ndarray, options: SchemaOptions, source: str) -> TableSchema:
    """Infer each column's format and kind and fit its preprocessing on `train_rows` (row numbers into `table`).

    Formats (integer, float, decorated number, boolean, date, text) and errors (stray text in a numeric
    column) are judged on the whole file; kinds, categories and statistics on the training rows only.
    """
    options.check_columns(table.column_names, source)
    na_values = [*DEFAULT_NA_VALUES, *options.na_values]
    delimiter = (table.schema.metadata or {}).get(b"delimiter", b",").decode()
    train_rows = np.sort(train_rows)
    train_index = pa.array(train_rows)
    columns, dropped, target, bins = [], {}, None, []
    constants, numbered = {}, {}
    condition_columns = []
    for name in table.column_names:
        if name in options.drop:
            dropped[name] = "listed in data.drop"
            continue
        text = table.column(name)
        missing = is_missing(text, na_values)
        train_missing = missing[train_rows]
        train_text = text.take(train_index)
        if missing.all() or train_missing.all():
            reason = "empty (every cell is missing)" if missing.all() else "no value in the training rows"
            if options.kind_of(name) or name in (*options.datetime, options.target, *options.condition):
                raise DataError(f"column '{name}' of {source} is {reason}, but the config names it; remove it from the data options")
            dropped[name] = reason
            constants[name] = text_shares(train_text)
            log.warning("column '%s' of %s is dropped: %s", name, source, reason)
            continue
        named = options.kind_of(name)
        format = infer_format(
            name, text, missing, source, numeric_required=named is not None and not kind_named(named).reads_text,
            text_allowed=named is not None and kind_named(named).reads_text or name == options.target or name in options.condition,
            datetime_declared=name in options.datetime,
            datetime_format=options.datetime_format if name in options.datetime else None,
            thousands=options.thousands, decimal=options.decimal, delimiter=delimiter,
        )  # fmt: skip
        values = format.parse(name, train_text, train_missing, source)
        observed = values.filter(pa.array(~train_missing)) if format.type == TEXT else values[~train_missing]
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is checked right after
            column, reason = infer_column(name, format, observed, options)
        if column is not None and not column.fitted_finite():  # squares beyond float64: |values| over 1e154
            raise too_large_error(name, text, train_rows[[np.argmax(np.abs(np.nan_to_num(values)))]], source)
        if column is None and name in options.condition:
            raise DataError(f"model.condition names '{name}' of {source}, which cannot be a condition: {reason}")
        if column is None:
            dropped[name] = reason
            if (pc.count_distinct(observed).as_py() if format.type == TEXT else len(np.unique(observed))) == 1:
                constants[name] = text_shares(train_text)
            elif (numbering := row_numbering(format, observed)) is not None:
                numbered[name] = list(numbering)
            log.warning("column '%s' of %s is dropped: %s", name, source, reason)
        elif name in options.condition or name == options.target:
            if name in options.condition:
                edges = sorted(set(target_bins(observed, TARGET_BINS))) if column.value_type == ValueType.NUMERICAL else []
                condition_columns.append((column, edges))
            if name == options.target:
                target = column
                bins = target_bins(observed, TARGET_BINS) if column.value_type == ValueType.NUMERICAL else []
        else:
            column.missing_share = float(train_missing.mean()) if options.generate_missing else 0.0
            columns.append(column)
    if not columns:
        reasons = "; ".join(f"'{name}': {reason}" for name, reason in dropped.items()) or "the only column is the target"
        raise DataError(f"{source} has no column left to model ({reasons}); keep columns with data.categorical=[...] or data.numeric=[...]")
    order = {name: i for i, name in enumerate(options.condition)}  # the condition's slots in the order model.condition names them
    condition_columns.sort(key=lambda pair: order[pair[0].name])
    schema = TableSchema(columns, dropped, target, na_values, bins, condition_columns, constants, table.column_names, numbered=numbered)
    log.info("%s: %d modelled columns (%s)%s", source, len(columns), schema.describe(), f", target {target.name}" if target else "")
    if options.determined_columns:
        rows = pa.array(train_rows[:RULE_ROWS])  # exact decoding (float64), so that numbers match their training values
        encoded = schema.transform(table.take(rows), source, dtype=np.float64)
        decoded = schema.decoded(encoded.x, encoded.mask)
        schema.determined = find_determined_columns(decoded)
        for rule in schema.determined:
            log.info("%s: %s; generated rows keep it (data.determined_columns=false: as the model draws them)", source, rule.describe())
        by_name = {column.name: column for column in schema.columns}
        determinants = sorted({name for rule in schema.determined if isinstance(rule, DeterminedColumn) for name in rule.by}, key=schema.names.index)
        for name in determinants:
            values, observed = decoded[name]
            if by_name[name].generate_on_training_values(values[observed]):
                log.info("%s: '%s' fixes other columns, so it is generated on its training values, as codes are "
                         "(data.categorical=[%s] models it as labels)", source, name, name)  # fmt: skip
    return schema


def as_array(x: Any) -> np.ndarray:
    """Model rows (a tensor on any device, or an array) as a float64 array."""
    return np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)


def text_shares(text: pa.ChunkedArray) -> dict[str, float]:
    """Each distinct cell text -> its share of the cells, the most common first."""
    counts = pc.value_counts(text)
    order = np.argsort(-counts.field("counts").to_numpy(), kind="stable")
    return {counts.field("values")[int(i)].as_py(): counts.field("counts")[int(i)].as_py() / len(text) for i in order}


def is_missing(text: pa.ChunkedArray, na_values: list[str]) -> np.ndarray:
    """(n,) bool: True where the cell is one of the missing-value markers, or only spaces."""
    marked = pc.is_in(text, value_set=pa.array(na_values, pa.string()))
    return pc.or_(marked, pc.utf8_is_space(text)).to_numpy(zero_copy_only=False)


def too_large_error(name: str, text: pa.ChunkedArray, rows: np.ndarray, source: str) -> DataError:
    """Numbers too large to model, the first three of `rows` (row numbers) shown: too large to standardize at all,
    or far enough beyond the training values to overflow float32 once standardized."""
    shown = ", ".join(f"{text[int(row)].as_py().strip()!r} on line {line_number(int(row))}" for row in rows[:3])
    return DataError(
        f"column '{name}' of {source} holds numbers too large to model once scaled by its training values ({shown}); "
        f"rescale the column, model it as sign(v) log(1 + |v|) with data.log=[{name}], or declare them missing (data.na_values=[...])"
    )


def warn_unknown(column: Column, text: pa.ChunkedArray, unknown: np.ndarray, source: str) -> None:
    values = pc.unique(text.filter(pa.array(unknown))).to_pylist()
    shown = ", ".join(repr(v) for v in values[:5]) + (f" and {len(values) - 5} more" if len(values) > 5 else "")
    log.warning(
        "column '%s' of %s: %d cell(s) hold values never seen in training (%s); they are mapped to the unknown "
        "category, which the model treats like a missing cell",
        column.name, source, int(unknown.sum()), shown,
    )  # fmt: skip
