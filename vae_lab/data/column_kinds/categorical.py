"""Columns of labels: ``categorical`` (labels, or numbers with few distinct values: generated only on their training
values) and ``binary`` (exactly two values)."""

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from vae_lab.data.cell_values import INT, TEXT, ValueFormat
from vae_lab.data.column_kinds.column import Column, ValueType
from vae_lab.models.column_factors import Bernoulli, Categorical, ColumnFactor

ROWS_PER_DISCRETE_VALUE = 2  # numbers are discrete only if their values repeat on average this often
ROWS_PER_CODE = 5  # integers with more values are codes only if each is in this many rows on average
JAGGED_COUNTS = 10.0  # integers whose counts jump between neighbouring values this much more than chance are codes


def distinct_count(format: ValueFormat, values: np.ndarray | pa.ChunkedArray) -> int:
    return pc.count_distinct(values).as_py() if format.type == TEXT else len(np.unique(values))


def count_jaggedness(counts: np.ndarray) -> float:
    """How far each count (of the sorted distinct values) is from the mean of its two neighbours', in units of the
    variance that Poisson noise alone gives that difference (1.5 times the local count): about 1 for counts of a
    smooth distribution (ages, years of tenure), far above for codes whose shares follow no order (a state's
    population, not its code, sets its count). 0 for fewer than three values."""
    counts = np.asarray(counts, dtype=np.float64)
    if len(counts) < 3:
        return 0.0
    middle, neighbours = counts[1:-1], (counts[:-2] + counts[2:]) / 2
    local = np.maximum((counts[:-2] + counts[1:-1] + counts[2:]) / 3, 1.0)
    return float(np.mean((middle - neighbours) ** 2 / (1.5 * local)))


def looks_like_codes(format: ValueFormat, values: np.ndarray, options) -> bool:
    """Integers with more than ``data.discrete_values`` but at most ``data.max_categories`` values, each in
    ROWS_PER_CODE rows on average, whose counts are jagged (``count_jaggedness`` over JAGGED_COUNTS): labels such
    as state or region codes, whose shares a smooth density over the numbers cannot give."""
    if format.type != INT:  # not dates, not booleans
        return False
    labels, counts = np.unique(values, return_counts=True)
    few_enough = options.discrete_values < len(labels) <= options.max_categories and len(labels) * ROWS_PER_CODE <= len(values)
    return few_enough and count_jaggedness(counts) > JAGGED_COUNTS


@dataclass
class CategoricalColumn(Column):
    """Labels or discrete numbers, one-hot over the sorted training values (``categories``), with their training
    ``frequencies``. A value never seen in training is the unknown category: unscored. Claims text (a column of more
    than ``data.max_categories`` labels is dropped before), numbers with at most ``data.discrete_values`` distinct
    values, each in at least two rows on average (age brackets, a rate with five levels, 0-5 children), and integer
    codes (``looks_like_codes``: state or region codes)."""

    kind: ClassVar[str] = "categorical"
    factor: ClassVar[type[ColumnFactor]] = Categorical
    value_type = ValueType.CATEGORICAL
    reads_text: ClassVar[bool] = True
    detection_rank: ClassVar[int] = 20
    categories: list = field(default_factory=list)
    frequencies: list[float] = field(default_factory=list)

    @classmethod
    def fit(cls, name, format, values, options=None) -> "CategoricalColumn":
        if format.type == TEXT:
            counted = pc.value_counts(values)
            order = np.argsort(np.asarray(counted.field("values").to_pylist(), dtype=object))
            categories = [counted.field("values")[int(i)].as_py() for i in order]
            counts = counted.field("counts").to_numpy()[order]
        else:
            labels, counts = np.unique(values, return_counts=True)
            categories = [int(v) for v in labels] if format.integral or labels.dtype.kind == "i" else [float(v) for v in labels]
        return cls(name, format, categories=categories, frequencies=(counts / counts.sum()).tolist())

    @classmethod
    def detect(cls, name, format, values, options):
        distinct = distinct_count(format, values)
        if format.type == TEXT or (distinct <= options.discrete_values and distinct * ROWS_PER_DISCRETE_VALUE <= len(values)):
            return cls.fit(name, format, values, options)
        if looks_like_codes(format, values, options):
            column = cls.fit(name, format, values, options)
            column.guess = f"codes, as their counts jump between neighbouring values; if its {distinct} integers are amounts, data.numeric=[{name}]"
            return column
        return None

    @property
    def width(self) -> int:
        return len(self.categories)

    def codes(self, values: np.ndarray | pa.ChunkedArray, missing: np.ndarray) -> np.ndarray:
        """(n,) int64 index of each value's category; -1 where missing or never seen in training (unknown)."""
        if self.format.type == TEXT:
            codes = pc.fill_null(pc.index_in(values, value_set=pa.array(self.categories, pa.string())), -1)
            codes = codes.to_numpy(zero_copy_only=False).astype(np.int64)
        else:
            categories = np.asarray(self.categories, dtype=np.float64)
            numbers = np.asarray(values, dtype=np.float64)
            position = np.clip(np.searchsorted(categories, numbers), 0, len(categories) - 1)
            codes = np.where(categories[position] == numbers, position, -1)
        codes[missing] = -1
        return codes

    def encode(self, values, missing):
        codes = self.codes(values, missing)
        known = codes >= 0
        block = np.zeros((len(codes), self.width))
        block[np.flatnonzero(known), codes[known]] = 1.0
        block[~known] = self.neutral()
        return block, ~known

    def neutral(self) -> np.ndarray:
        return np.asarray(self.frequencies, dtype=np.float64)

    def decode(self, block: np.ndarray) -> np.ndarray:
        """The most likely category of each row (argmax of a probability or one-hot block)."""
        return np.asarray(self.categories, dtype=object)[block.argmax(axis=1)]

    def fidelity(self, real: pd.Series, synthetic: pd.Series) -> dict[str, Any]:
        """Also ``off_support``: the share of synthetic values that are not training values."""
        row = super().fidelity(real, synthetic)
        observed = synthetic.dropna()
        if len(observed):
            row["off_support"] = float(1 - observed.isin(self.categories).mean())
        return row

    def describe(self) -> str:
        what = "" if self.format.type == TEXT else f", {self.format.describe()}"
        return f"{self.kind} ({len(self.categories)} values{what})"


@dataclass
class BinaryColumn(CategoricalColumn):
    """Exactly two training values: 0 or 1 in one slot (1: the second, sorted). Found by itself (with data.categorical a
    two-valued column is a category of two values instead)."""

    kind: ClassVar[str] = "binary"
    factor: ClassVar[type[ColumnFactor]] = Bernoulli
    value_type = ValueType.BOOLEAN
    overridable: ClassVar[bool] = False
    detection_rank: ClassVar[int] = 10

    @classmethod
    def detect(cls, name, format, values, options):
        return cls.fit(name, format, values, options) if distinct_count(format, values) == 2 else None

    @property
    def width(self) -> int:
        return 1

    def encode(self, values, missing):
        codes = self.codes(values, missing)
        known = codes >= 0
        return np.where(known, codes, self.frequencies[1]).astype(np.float64)[:, None], ~known

    def neutral(self) -> np.ndarray:
        return np.asarray([self.frequencies[1]])

    def decode(self, block: np.ndarray) -> np.ndarray:
        return np.asarray(self.categories, dtype=object)[(block[:, 0] > 0.5).astype(np.int64)]
