"""Columns of numbers: ``numeric`` (many distinct values) and ``point_mass`` (numbers where single values, such as 0
or a cap, hold large shares of the rows).

Numbers are optionally log- or quantile-transformed, then centred and scaled with the training mean and std, and
decoded rounded as the column writes them. A numeric column's ``bounds`` (the training range) go to its likelihood
factor, a Gaussian folded into them (``models.folded_normal``), so generated numbers stay in range without a point
mass on either bound.
"""

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.special import ndtri
from scipy.stats import poisson, skew

from vae_lab.data.cell_values import DATETIME, INT, TEXT, ValueFormat
from vae_lab.data.column_kinds.column import Column, ValueType
from vae_lab.data.column_kinds.distances import observed_numbers, point_mass_error
from vae_lab.errors import ConfigError
from vae_lab.models.column_factors import ColumnFactor, FoldedGaussian, PointMass

QUANTILE_KNOTS = 1000
MODEL_MARGIN = 1e-5  # standardized units: far above float32 rounding, far below any written decimal
MASS_OVER_NEIGHBOURS = 2.0  # a point mass holds at least this multiple of either neighbouring value's share
MIN_MASS_ROWS = 10  # and at least this many training rows (3 rows of 50 are chance, not a mass)
MASS_CHANCE = 1e-6  # and a count that Poisson noise around its neighbours' reaches with at most this probability
DESCRIBED_MASSES = 5  # the schema line names this many of a column's masses (the largest)


@dataclass
class NumericColumn(Column):
    """Numbers: optionally a signed log (sign(v) log(1 + |v|)) or a quantile transform (to normal scores),
    then centred and scaled with the training mean and std. Decoded numbers are rounded as the column
    writes them; generated ones stay in the training range [low, high] (``bounds``, into which the likelihood
    folds its Gaussian; without ``clip``, a column never negative in training is still never negative).

    knots, scores: the quantile transform's piecewise-linear map from values to normal scores.
    support, support_shares: the training values and their shares, when a few values repeat often (at most
    ``data.max_categories`` values, each in ``data.snap_repeats`` rows on average: household incomes coded in 24
    brackets, ages in years); generated numbers are then moved to one of them, as a measurement that only takes those
    values does (``decode_generated``, ``snapped``; empty: no snapping). Real rows decode exactly.
    """

    kind: ClassVar[str] = "numeric"
    factor: ClassVar[type[ColumnFactor]] = FoldedGaussian
    value_type = ValueType.NUMERICAL
    takes_transform: ClassVar[bool] = True
    detection_rank: ClassVar[int] = 40
    transform: str = "standard"
    mean: float = 0.0
    std: float = 1.0
    knots: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    low: float = -np.inf
    high: float = np.inf
    clip: bool = True
    support: list[float] = field(default_factory=list)
    support_shares: list[float] = field(default_factory=list)

    @classmethod
    def fit(cls, name, format, values, options) -> "NumericColumn":
        """Fitted on the training values: its transform (data.log, data.quantile, or ``data.skewed`` beyond
        ``data.skew_threshold``), scale and range."""
        column = cls(name, format, clip=options.clip)
        column.fit_values(np.asarray(values, dtype=np.float64), options)
        return column

    @classmethod
    def detect(cls, name, format, values, options):
        """Claims every column of numbers; integers with at most ``data.max_categories`` values are guessed to be
        amounts, which the schema line says, with the override that makes them labels."""
        if format.type == TEXT:
            return None
        column = cls.fit(name, format, values, options)
        column.guess = amount_guess(name, format, len(np.unique(values)), options)
        return column

    def fit_values(self, values: np.ndarray, options: Any) -> None:
        """Choose the transform and fit it, the scale and the range on training values (float64)."""
        transform = "log" if self.name in options.log else "quantile" if self.name in options.quantile else "standard"
        is_date = self.format.type == DATETIME  # a time index: its spread is the calendar's, not a skewed measurement's
        if transform == "standard" and options.skewed and self.name != options.target and not is_date and len(np.unique(values)) > 2:
            if abs(float(skew(values))) > options.skew_threshold:
                transform = options.skewed
        self.transform = transform
        distinct, counts = np.unique(values, return_counts=True)
        if options.clip and options.snap_repeats and len(distinct) <= options.max_categories and len(values) >= options.snap_repeats * len(distinct):
            self.support, self.support_shares = distinct.tolist(), (counts / counts.sum()).tolist()
        if transform == "quantile" and len(np.unique(values)) < 2:
            raise ConfigError(f"data.quantile: column '{self.name}' needs at least 2 different training values for a quantile transform")
        self.fit_scale(values, options.standardize)

    def fitted_finite(self) -> bool:
        return bool(np.isfinite([self.mean, self.std]).all())

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

    def decode_generated(self, block: np.ndarray) -> np.ndarray:
        """Generated numbers, on the training values where the column has a ``support``."""
        return self.snap(self.decode(block))

    def generate_on_training_values(self, values: np.ndarray) -> bool:
        """A number that fixes other columns (a county code that fixes each county's share of minorities) is a code:
        generated on its training values (a ``support``), which it may not repeat ``data.snap_repeats`` times."""
        if self.support:
            return False
        distinct, counts = np.unique(np.asarray(values, dtype=np.float64), return_counts=True)
        self.support, self.support_shares = distinct.tolist(), (counts / counts.sum()).tolist()
        return True

    def snap(self, values: np.ndarray) -> np.ndarray:
        """`values` moved to the ``support`` (unchanged without one)."""
        return snapped(values, np.asarray(self.support), np.asarray(self.support_shares)) if self.support else values

    def fidelity(self, real: pd.Series, synthetic: pd.Series) -> dict[str, Any]:
        """Also ``range_violation``: the share of synthetic values outside the training range."""
        row = super().fidelity(real, synthetic)
        synthetic_values = observed_numbers(synthetic)
        if len(synthetic_values):
            row["range_violation"] = float(np.mean((synthetic_values < self.low) | (synthetic_values > self.high)))
        return row

    def describe(self) -> str:
        snapped = f", on its {len(self.support)} values" if self.support else ""
        return f"{self.kind} ({self.format.describe()}, {self.transform}{snapped})"


@dataclass
class PointMassColumn(NumericColumn):
    """Numbers where single values hold large shares of the rows (``masses``, e.g. exact zeros or a cap).

    Slots: [v, one-hot over (mass_1, ..., mass_m, continuous)], where v is the standardized value of a
    continuous cell (0 on a mass); the scale (transform, mean, std) is fitted on the continuous values.
    shares: training shares of the masses and of the continuous part.
    """

    kind: ClassVar[str] = "point_mass"
    factor: ClassVar[type[ColumnFactor]] = PointMass
    detection_rank: ClassVar[int] = 30
    masses: list[float] = field(default_factory=list)
    shares: list[float] = field(default_factory=list)

    @classmethod
    def fit(cls, name, format, values, options) -> "PointMassColumn":
        """Its masses (when none holds ``data.point_mass_share``: the most common value) and the continuous part's scale."""
        values = np.asarray(values, dtype=np.float64)
        labels, counts = np.unique(values, return_counts=True)
        masses = point_masses(labels, counts, options.point_mass_share) or [float(labels[counts.argmax()])]
        return cls.fitted(name, format, values, masses, options)

    @classmethod
    def fitted(cls, name: str, format: ValueFormat, values: np.ndarray, masses: list[float], options: Any) -> "PointMassColumn":
        column = cls(name, format, clip=options.clip, masses=masses)
        on_mass = np.isin(values, masses)
        column.shares = [float(np.mean(values == mass)) for mass in masses] + [float(np.mean(~on_mass))]
        continuous = values[~on_mass] if (~on_mass).any() else values[:1]  # every value a mass (forced): never drawn
        column.fit_values(continuous, options)
        column.low, column.high = float(values.min()), float(values.max())
        return column

    @classmethod
    def detect(cls, name, format, values, options):
        """Claims numbers where a value holds at least ``data.point_mass_share`` of the rows (and 10 rows) and at least
        twice the share of either neighbouring value (exact zeros, a cap)."""
        if format.type == TEXT:
            return None
        values = np.asarray(values, dtype=np.float64)
        labels, counts = np.unique(values, return_counts=True)
        masses = point_masses(labels, counts, options.point_mass_share)
        if not masses:
            return None
        column = cls.fitted(name, format, values, masses, options)
        column.guess = amount_guess(name, format, len(labels), options)
        return column

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

    def decode_generated(self, block: np.ndarray) -> np.ndarray:
        """Generated numbers; those of the continuous part on its training values where it has a ``support``."""
        values = self.decode(block)
        on_mass = block[:, 1:].argmax(axis=1) < len(self.masses)
        return np.where(on_mass, values, self.snap(values))

    def fidelity(self, real: pd.Series, synthetic: pd.Series) -> dict[str, Any]:
        """Also ``point_mass_error``: the mean over the masses of |share of real values there - share of synthetic ones|."""
        row = super().fidelity(real, synthetic)
        error = point_mass_error(observed_numbers(real), observed_numbers(synthetic), self.masses)
        return row if error is None else {**row, "point_mass_error": error}

    def describe(self) -> str:
        """The masses with their shares; of many (heaps of a measurement), the DESCRIBED_MASSES largest and the total."""
        largest = sorted(np.argsort(self.shares[:-1])[::-1][:DESCRIBED_MASSES])
        shown = ", ".join(f"{self.masses[i]:g} ({self.shares[i]:.0%})" for i in largest)
        if len(self.masses) > DESCRIBED_MASSES:
            shown += f", ... {len(self.masses)} in all with {sum(self.shares[:-1]):.0%} of the rows"
        snapped = f", the rest on its {len(self.support)} values" if self.support else ""
        return f"{self.kind} ({self.format.describe()}, masses {shown}, {self.transform}{snapped})"


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


def snapped(values: np.ndarray, support: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Each value between the second and the second-to-last of the sorted `support` values moved to one of them: the one
    whose interval holds it, where the boundary between two neighbours s_i < s_j divides the gap by their training
    shares, s_i + (s_j - s_i) f_i / (f_i + f_j). A model's density spreads each value's mass around it in proportion
    to its share, so a rare value beside a common one (72 beside 70 in a column of incomes) takes only its share of
    the gap. Values in an end gap stay as they are where the end value is rare: moved, they would gather on the range's
    end a mass the data does not give it (a tail's values are rare, and a value missing from a tail, 90 between ages 89
    and 91, is chance). Where the end value is common (at least the average share of a value: 7% of people with no
    chronic disease, the next value 3.4), its gap is no tail and is snapped like the others."""
    if len(support) < 3:
        return values
    boundaries = support[:-1] + np.diff(support) * shares[:-1] / (shares[:-1] + shares[1:])
    common = shares[[0, -1]] >= 1 / len(support)
    inside = (values >= support[0 if common[0] else 1]) & (values <= support[-1 if common[1] else -2])
    return np.where(inside, support[np.searchsorted(boundaries, values, side="right")], values)


def amount_guess(name: str, format: ValueFormat, distinct: int, options: Any) -> str:
    """The guess a column of integers with at most ``data.max_categories`` values makes when modelled as numbers: they may
    be codes (states, regions); "" for other columns."""
    if format.type == INT and distinct <= options.max_categories:
        return f"an amount; if its {distinct} integer values are codes (states, regions), data.categorical=[{name}]"
    return ""


def point_masses(labels: np.ndarray, counts: np.ndarray, min_share: float) -> list[float]:
    """Values holding at least `min_share` of the rows (MIN_MASS_ROWS at least) and MASS_OVER_NEIGHBOURS times either
    neighbour's count, more than chance gives a value: a count that Poisson noise around the larger neighbour's count
    (at least 1) reaches with probability under MASS_CHANCE. Heaps of a measurement (ratios written as 0.36, 0.37 among
    0.3612) and exact zeros are masses; a smooth column's busiest value (11 people aged 62 beside 5 aged 61) is not."""
    shares = counts / counts.sum()
    neighbours = np.maximum(np.r_[0, counts[:-1]], np.r_[counts[1:], 0])
    beyond_chance = poisson.sf(counts - 1, np.maximum(neighbours, 1)) < MASS_CHANCE
    chosen = (shares >= min_share) & (counts >= MASS_OVER_NEIGHBOURS * neighbours) & (counts >= MIN_MASS_ROWS) & beyond_chance
    return [float(v) for v in labels[chosen]]
