"""The kinds of table column: how each is fitted on training values, encoded into model space and decoded.

Every kind is a class with the same verbs (as scvi-tools' data fields), so a new kind is one new class
here, one entry in ``KINDS`` and, if it needs one, a factor in ``models.tabular_likelihood``:

=============== ================================================ ======= ==================================
kind            values                                           slots   likelihood factor
=============== ================================================ ======= ==================================
``numeric``     numbers with many distinct values                1       ``numeric``: Gaussian (folded into
                                                                         the training range)
``categorical`` labels, or numbers with few distinct values      k       ``categorical``: softmax over k
                (discrete numbers: generated only on their
                training values)
``binary``      exactly two values                               1       ``binary``: Bernoulli
``point_mass``  numbers where single values (0, a cap) hold       1+m+1   ``point_mass``: categorical over
                large shares of the rows                                  {each mass, continuous} x Gaussian
=============== ================================================ ======= ==================================

(and one slot more, the missingness indicator, for a column with missing training cells: below).

How a value is read from and written to text (plain, decorated number, boolean, date) is the column's
``ValueFormat`` (``cell_values``): a date is a numeric, point-mass or discrete column over its time index.

Model space: a column's ``encode`` gives its value slots and which rows it cannot score (missing
cells, unknown categories); such a row's slots hold ``neutral()``, the training mean of the slots, so
the encoder cannot see what is not there. ``decode`` turns value slots (a sample, or E[x|z]) back into
values: numbers in their units, rounded as written. A numeric column's ``bounds`` (the training range)
go to its likelihood factor, a Gaussian folded into them (``models.tabular_likelihood``), so generated
numbers stay in range without a point mass on either bound.

The missing state: a column with missing cells in the training rows (``missing_share`` > 0) has one
more slot after its value slots, the missingness indicator (1: the cell is missing), which its
likelihood factor models as a Bernoulli (``encode_cells``, ``generated_missing``). The indicator is
observed in every row; a missing cell's value slots are not.
"""

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.special import ndtri

from vae_lab.data.cell_values import TEXT, ValueFormat

QUANTILE_KNOTS = 1000
MODEL_MARGIN = 1e-5  # standardized units: far above float32 rounding, far below any written decimal


@dataclass
class Column:
    """What every kind has: its name, value format and the share of missing cells in the training rows
    (``missing_share``: above 0, the column generates missing cells); subclasses add their fitted parameters."""

    kind: ClassVar[str]
    name: str
    format: ValueFormat
    missing_share: float = 0.0
    guess: str = ""  # what the inference could not know and guessed, with the override that changes it (schema line)

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

    def describe(self) -> str:
        raise NotImplementedError

    def described(self) -> str:
        """The column's schema line: ``describe()``, and the guess the inference made, if any."""
        return self.describe() + (f" [guessed: {self.guess}]" if self.guess else "")

    def fidelity_spec(self) -> dict[str, Any]:
        """What ``evaluation.tabular_fidelity`` needs to know of the column."""
        return {"name": self.name, "kind": self.kind}

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> "Column":
        kind = KINDS[state["kind"]]
        known = {f.name for f in fields(kind)}
        entry = {key: value for key, value in state.items() if key in known}
        entry["format"] = ValueFormat(**entry["format"])
        return kind(**entry)


@dataclass
class CategoricalColumn(Column):
    """Labels or discrete numbers, one-hot over the sorted training values (``categories``), with their
    training ``frequencies``. A value never seen in training is the unknown category: unscored."""

    kind: ClassVar[str] = "categorical"
    categories: list = field(default_factory=list)
    frequencies: list[float] = field(default_factory=list)

    @classmethod
    def fit(cls, name: str, format: ValueFormat, values: np.ndarray | pa.ChunkedArray) -> "CategoricalColumn":
        if format.type == TEXT:
            counted = pc.value_counts(values)
            order = np.argsort(np.asarray(counted.field("values").to_pylist(), dtype=object))
            categories = [counted.field("values")[int(i)].as_py() for i in order]
            counts = counted.field("counts").to_numpy()[order]
        else:
            labels, counts = np.unique(values, return_counts=True)
            categories = [int(v) for v in labels] if format.integral or labels.dtype.kind == "i" else [float(v) for v in labels]
        return cls(name, format, categories=categories, frequencies=(counts / counts.sum()).tolist())

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

    def fidelity_spec(self) -> dict[str, Any]:
        return {**super().fidelity_spec(), "support": list(self.categories)}

    def describe(self) -> str:
        what = "" if self.format.type == TEXT else f", {self.format.describe()}"
        return f"{self.kind} ({len(self.categories)} values{what})"


@dataclass
class BinaryColumn(CategoricalColumn):
    """Exactly two training values: 0 or 1 in one slot (1: the second, sorted)."""

    kind: ClassVar[str] = "binary"

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


@dataclass
class NumericColumn(Column):
    """Numbers: optionally a signed log (sign(v) log(1 + |v|)) or a quantile transform (to normal scores),
    then centred and scaled with the training mean and std. Decoded numbers are rounded as the column
    writes them; generated ones stay in the training range [low, high] (``bounds``, into which the likelihood
    folds its Gaussian; without ``clip``, a column never negative in training is still never negative).

    knots, scores: the quantile transform's piecewise-linear map from values to normal scores.
    """

    kind: ClassVar[str] = "numeric"
    transform: str = "standard"
    mean: float = 0.0
    std: float = 1.0
    knots: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    low: float = -np.inf
    high: float = np.inf
    clip: bool = True

    def fit_scale(self, values: np.ndarray, standardize: bool) -> None:
        """Fit the transform's knots, the mean and std, and the range on training values (float64)."""
        if self.transform == "quantile":
            self.knots, self.scores = quantile_knots(values)
        if standardize:
            transformed = self.forward(values)
            self.mean = float(transformed.mean())
            self.std = float(transformed.std()) or 1.0
        self.low, self.high = float(values.min()), float(values.max())

    def forward(self, values: np.ndarray) -> np.ndarray:
        """Values -> standardized model values (float64)."""
        values = np.asarray(values, dtype=np.float64)
        if self.transform == "log":
            values = np.sign(values) * np.log1p(np.abs(values))
        elif self.transform == "quantile":
            values = piecewise_linear(values, np.asarray(self.knots), np.asarray(self.scores))
        return (values - self.mean) / self.std

    def backward(self, model_values: np.ndarray) -> np.ndarray:
        """Standardized model values -> values (float64): rounded as written, inside the bounds."""
        values = np.asarray(model_values, dtype=np.float64) * self.std + self.mean
        if self.transform == "log":
            values = np.sign(values) * np.expm1(np.minimum(np.abs(values), 700.0))
        elif self.transform == "quantile":
            values = piecewise_linear(values, np.asarray(self.scores), np.asarray(self.knots))
        return self.format.round(values)

    def bounds(self) -> tuple[float, float]:
        """(low, high) in model space of the value slot: the training range (``clip``), or without it [0, inf) for a
        column never negative in training; every transform is increasing, so the bounds map through ``forward``."""
        low, high = (self.low, self.high) if self.clip else (0.0 if self.low >= 0 else -np.inf, np.inf)
        # Inside by MODEL_MARGIN, so that float32 model values decode inside the range, not one ulp beyond it.
        return (float(self.forward(np.asarray([low]))[0]) + MODEL_MARGIN if np.isfinite(low) else low,
                float(self.forward(np.asarray([high]))[0]) - MODEL_MARGIN if np.isfinite(high) else high)  # fmt: skip

    def layout(self) -> dict[str, Any]:
        """The factor's layout with the bounds (``low``, ``high``; infinite where there is none) of its Gaussian."""
        low, high = self.bounds()
        return {**super().layout(), "low": low, "high": high}

    def encode(self, values, missing):
        return np.where(missing, 0.0, self.forward(np.where(missing, self.mean, values)))[:, None], missing.copy()

    def neutral(self) -> np.ndarray:
        return np.zeros(1)

    def decode(self, block: np.ndarray) -> np.ndarray:
        return self.backward(block[:, 0])

    def fidelity_spec(self) -> dict[str, Any]:
        return {**super().fidelity_spec(), "low": self.low, "high": self.high}

    def describe(self) -> str:
        return f"{self.kind} ({self.format.describe()}, {self.transform})"


@dataclass
class PointMassColumn(NumericColumn):
    """Numbers where single values hold large shares of the rows (``masses``, e.g. exact zeros or a cap).

    Slots: [v, one-hot over (mass_1, ..., mass_m, continuous)], where v is the standardized value of a
    continuous cell (0 on a mass); the scale (transform, mean, std) is fitted on the continuous values.
    shares: training shares of the masses and of the continuous part.
    """

    kind: ClassVar[str] = "point_mass"
    masses: list[float] = field(default_factory=list)
    shares: list[float] = field(default_factory=list)

    @property
    def width(self) -> int:
        return len(self.masses) + 2

    def components(self, values: np.ndarray) -> np.ndarray:
        """(n,) index of each value's mass, or m (continuous)."""
        component = np.full(len(values), len(self.masses), dtype=np.int64)
        for i, mass in enumerate(self.masses):
            component[values == mass] = i
        return component

    def encode(self, values, missing):
        values = np.asarray(values, dtype=np.float64)
        component = self.components(values)
        continuous = (component == len(self.masses)) & ~missing
        block = np.zeros((len(values), self.width))
        block[:, 0] = np.where(continuous, self.forward(np.where(continuous, values, self.mean)), 0.0)
        block[np.arange(len(values)), 1 + component] = 1.0
        block[missing] = self.neutral()
        return block, missing.copy()

    def neutral(self) -> np.ndarray:
        return np.asarray([0.0, *self.shares])

    def decode(self, block: np.ndarray) -> np.ndarray:
        component = block[:, 1:].argmax(axis=1)
        masses = np.asarray([*self.masses, np.nan])[component]
        return np.where(component < len(self.masses), masses, self.backward(block[:, 0]))

    def fidelity_spec(self) -> dict[str, Any]:
        return {**super().fidelity_spec(), "masses": list(self.masses)}

    def describe(self) -> str:
        shown = ", ".join(f"{mass:g} ({share:.0%})" for mass, share in zip(self.masses, self.shares))
        return f"{self.kind} ({self.format.describe()}, masses {shown}, {self.transform})"


KINDS: dict[str, type[Column]] = {kind.kind: kind for kind in (NumericColumn, CategoricalColumn, BinaryColumn, PointMassColumn)}


def quantile_knots(values: np.ndarray) -> tuple[list[float], list[float]]:
    """Knots (training values at up to QUANTILE_KNOTS quantiles) and their normal scores ndtri(mid-rank / n)."""
    ordered = np.sort(values)
    knots = np.unique(np.quantile(ordered, np.linspace(0, 1, QUANTILE_KNOTS), method="inverted_cdf"))
    below = np.searchsorted(ordered, knots, side="left")
    up_to = np.searchsorted(ordered, knots, side="right")
    return knots.tolist(), ndtri((below + up_to) / (2 * len(ordered))).tolist()


def piecewise_linear(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Interpolate (xp, fp) (xp strictly increasing) at x, extending the end segments linearly (so it inverts)."""
    y = np.interp(x, xp, fp)
    below, above = x < xp[0], x > xp[-1]
    y[below] = fp[0] + (x[below] - xp[0]) * (fp[1] - fp[0]) / (xp[1] - xp[0])
    y[above] = fp[-1] + (x[above] - xp[-1]) * (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
    return y
