"""What every column kind is: one class holding what the kind does, from detecting itself to its fidelity metric.

A kind (``Column`` subclass) has:

- its name ``kind`` (in layouts, checkpoints and schema lines) and, if ``overridable``, the override
  ``data.<kind>=[...]`` that sets it by name;
- ``detect``: whether it claims a column of training values the user did not name (tried in ``detection_rank``
  order; the default claims none, so such a kind is only chosen by its override), and ``fit``: the column fitted
  on its training values, with its state (the dataclass fields, saved in checkpoints by ``state_dict``);
- ``encode`` and ``decode``: values to model-space slots (``width`` of them) and back; ``neutral``: the slots of a
  cell the model cannot see;
- ``factor``: its likelihood factor (``vae_lab.models.column_factors``), which reads ``layout``;
- ``value_type`` (numerical, categorical or boolean, as sdmetrics' sdtypes) and ``fidelity``: how its samples are
  compared with real values, and whether a condition or target on it is binned (numerical) or coded by category.

Model space: a column's ``encode`` gives its value slots and which rows it cannot score (missing cells, unknown
categories); such a row's slots hold ``neutral()``, the training mean of the slots, so the encoder cannot see
what is not there.

The missing state: a column with missing cells in the training rows (``missing_share`` > 0) has one more slot
after its value slots, the missingness indicator (1: the cell is missing), which the tabular likelihood models
as a Bernoulli (``encode_cells``, ``generated_missing``). The indicator is observed in every row; a missing
cell's value slots are not.
"""

from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa

from vae_lab.data.cell_values import ValueFormat
from vae_lab.data.column_kinds.distances import ks_statistic, total_variation
from vae_lab.data.column_kinds.registry import kind_named
from vae_lab.models.column_factors import ColumnFactor


class ValueType(StrEnum):
    """What a column's values are to metrics (sdmetrics' sdtypes) and to conditions: numbers (compared by their
    distribution, binned as a condition), labels or two values (compared by frequencies, coded by category)."""

    NUMERICAL = "numerical"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"


@dataclass
class Column:
    """What every kind has: its name, value format and the share of missing cells in the training rows
    (``missing_share``: above 0, the column generates missing cells); subclasses add their fitted parameters."""

    kind: ClassVar[str]
    factor: ClassVar[type[ColumnFactor]]
    value_type: ClassVar[ValueType]
    overridable: ClassVar[bool] = True  # data.<kind>=[...] sets it by name
    reads_text: ClassVar[bool] = False  # its values may be text (labels); else they must be numbers
    takes_transform: ClassVar[bool] = False  # data.log and data.quantile may name it
    detection_rank: ClassVar[int] = 0  # detect() is asked in increasing rank; built-in kinds 10 to 40

    name: str
    format: ValueFormat
    missing_share: float = 0.0
    guess: str = ""  # what the inference could not know and guessed, with the override that changes it (schema line)

    # -- detection and fitting (values: the observed training values, ``ValueFormat.parse``; options: table_schema.SchemaOptions)

    @classmethod
    def fit(cls, name: str, format: ValueFormat, values: np.ndarray | pa.ChunkedArray, options: Any) -> "Column":
        """The column fitted on its observed training values."""
        raise NotImplementedError

    @classmethod
    def detect(cls, name: str, format: ValueFormat, values: np.ndarray | pa.ChunkedArray, options: Any) -> "Column | None":
        """The fitted column if this kind claims values no override names, else None."""
        return None

    def fitted_finite(self) -> bool:
        """Whether the fitted state is finite (False: the values are too large to model)."""
        return True

    # -- model space

    @property
    def width(self) -> int:
        """Number of value slots."""
        return 1

    @property
    def generates_missing(self) -> bool:
        return self.missing_share > 0

    @property
    def slots(self) -> int:
        """Number of slots in model space: the value slots, then the missingness indicator if the column has one."""
        return self.width + int(self.generates_missing)

    def layout(self) -> dict[str, Any]:
        """What the likelihood needs: name, factor (``kind``), number of slots, and whether the last is a missingness indicator."""
        return {"name": self.name, "kind": self.kind, "width": self.slots, "missing": self.generates_missing}

    def encode(self, values: np.ndarray | pa.ChunkedArray, missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values (``ValueFormat.parse``) -> (value slots (n, width) float64, unscored (n,) bool)."""
        raise NotImplementedError

    def encode_cells(self, values: np.ndarray | pa.ChunkedArray, missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values and missing (n,) bool -> (block (n, slots) float64, observed (n, slots) bool): the value slots
        (``encode``; unobserved where unscored), then the missingness indicator (1: missing), observed in every row."""
        block, unscored = self.encode(values, missing)
        observed = np.repeat(~unscored[:, None], self.width, axis=1)
        if self.generates_missing:
            block = np.c_[block, missing.astype(np.float64)]
            observed = np.c_[observed, np.ones(len(block), dtype=bool)]
        return block, observed

    def generated_missing(self, block: np.ndarray) -> np.ndarray:
        """(n, slots) model values (a sample, or E[x|z]) -> (n,) bool: True where the missingness indicator is above 0.5."""
        if not self.generates_missing:
            return np.zeros(len(block), dtype=bool)
        return block[:, self.width] > 0.5

    def neutral(self) -> np.ndarray:
        """(width,) the block of a cell the model cannot see: the training mean of the slots."""
        raise NotImplementedError

    def decode(self, block: np.ndarray) -> np.ndarray:
        """(n, width) model values -> (n,) values (numbers or labels)."""
        raise NotImplementedError

    def decode_generated(self, block: np.ndarray) -> np.ndarray:
        """(n, width) model values the model generated (a sample, E[x|z], an imputed cell) -> (n,) values: ``decode``,
        where a kind may keep generated values to what the data holds (real rows decode exactly, with ``decode``)."""
        return self.decode(block)

    def generate_on_training_values(self, values: np.ndarray) -> bool:
        """Keep generated values to the observed training `values` (n,) from now on, as a column that fixes others
        (``column_rules``) must be for its rules to apply; whether that changed anything (kinds whose generated values
        are labels already keep to them)."""
        return False

    def codes(self, values: np.ndarray | pa.ChunkedArray, missing: np.ndarray) -> np.ndarray:
        """(n,) int64 category index of each value, -1 where missing or unknown: what a condition or target on a column
        that is not numerical is coded as (``categories`` name the codes)."""
        raise NotImplementedError

    # -- what users see

    def describe(self) -> str:
        raise NotImplementedError

    def described(self) -> str:
        """The column's schema line: ``describe()``, and the guess the inference made, if any."""
        return self.describe() + (f" [guessed: {self.guess}]" if self.guess else "")

    def fidelity(self, real: pd.Series, synthetic: pd.Series) -> dict[str, Any]:
        """How synthetic values follow real ones (``TableSchema.values``; missing cells left out): ``metric`` and its
        ``value``, the two-sample Kolmogorov-Smirnov statistic of a numerical column or the total-variation distance
        of the value frequencies otherwise (0: same distribution, 1: disjoint); ``coverage``: the share of the real
        values that the samples reach (not for numbers). Kinds add their own keys."""
        row: dict[str, Any] = {"column": self.name, "kind": self.kind}
        if self.value_type == ValueType.NUMERICAL:
            return {**row, "metric": "ks", "value": ks_statistic(real, synthetic)}
        row.update(metric="tv", value=total_variation(real, synthetic))
        real_set = set(real.dropna())
        if real_set:
            row["coverage"] = len(real_set & set(synthetic.dropna())) / len(real_set)
        return row

    # -- checkpoints

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> "Column":
        kind = kind_named(state["kind"])
        known = {f.name for f in fields(kind)}
        entry = {key: value for key, value in state.items() if key in known}
        entry["format"] = ValueFormat(**entry["format"])
        return kind(**entry)
