"""Columns that are a function of one or two other columns in every training row, kept so in generated rows.

Real exports hold such rules: a state's unemployment rate and maximum benefit are the same for every person
displaced in that state and year; a region code fixes the region's name. A model generates each column from z
and so breaks the rule now and then, which a classifier sees at once. ``find_determined_columns`` finds, on the
training rows, every modelled column B whose value is the same in every row that shares the values of one or two
columns A with few values (``DeterminedColumn``): each combination of A's values seen in training gives B's value.
Rows the model generates whose A values are such a combination take that B (``DeterminedColumn.apply``); others
keep what the model drew. Real rows are never changed.

A rule must be evidence, not chance: every A group could hold a single B value by accident when the groups are
small or B is nearly constant. A rule is kept only where that chance, with B drawn independently of A at its
training shares, is below ``CHANCE`` (the product over groups g of sum_v p_v ** n_g), and where A's groups hold
``MIN_ROWS_PER_GROUP`` rows on average.

A number can also be a monotone function of another number (``MonotoneColumn``): a wage and its logarithm, a price
in two currencies, a population that grows month by month. Drawn each from z, the two disagree; generated rows take
B at their A by interpolating between the training pairs, exact at every training value of A. Such a rule is kept
only where A has ``MIN_MONOTONE_VALUES`` distinct values, which chance does not order.
"""

from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import numpy as np
from scipy.special import logsumexp

CHANCE = 1e-6
MIN_ROWS_PER_GROUP = 3
MAX_DETERMINANT_VALUES = 100  # A's columns have at most this many distinct values (labels, codes, years)
MAX_DETERMINANTS = 30  # pairs are sought among the MAX_DETERMINANTS such columns with the fewest values
MIN_MONOTONE_VALUES = 20  # a monotone rule's A has at least this many distinct training values
RELATIVE_TOLERANCE = 1e-9  # a generated number equals a training value within this (a real row decodes within float error)

Decoded = dict[str, tuple[np.ndarray, np.ndarray]]  # column -> (values (n,), observed (n,) bool), as TableSchema decodes rows


@dataclass
class DeterminedColumn:
    """`column` is a function of the columns `by` in every training row.

    keys: per column of `by`, its distinct training values (numbers or labels; missing is one more key after them).
    values: `column`'s value for each combination of keys, in row-major order over `by` (None: missing, or a
    combination never seen in training, where ``seen`` is False). groups: how many combinations were seen.
    """

    column: str
    by: list[str]
    keys: list[list[Any]]
    values: list[Any]
    seen: list[bool]
    groups: int

    def describe(self) -> str:
        return f"{self.column} = f({', '.join(self.by)}) in every training row ({self.groups} combinations)"

    def apply(self, decoded: Decoded) -> None:
        """Set `column` in the generated rows of `decoded` whose `by` values are a combination seen in training with a
        value of `column` (where that combination's value was missing, the model's draw stays)."""
        combination = np.zeros(len(decoded[self.column][0]), dtype=np.int64)
        known = np.ones(len(combination), dtype=bool)
        for name, keys in zip(self.by, self.keys):
            codes = key_codes(*decoded[name], keys)
            known &= codes >= 0
            combination = combination * (len(keys) + 1) + np.maximum(codes, 0)
        has_value = np.array([seen and value is not None for seen, value in zip(self.seen, self.values)], dtype=bool)
        rows = np.flatnonzero(known & has_value[combination])
        values, observed = decoded[self.column]
        values, observed = values.astype(object) if values.dtype.kind in "US" else values.copy(), observed.copy()  # no truncated text
        values[rows] = np.array(self.values, dtype=object)[combination[rows]].astype(values.dtype)
        observed[rows] = True
        decoded[self.column] = (values, observed)

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> "DeterminedColumn":
        return cls(**state)


@dataclass
class MonotoneColumn:
    """The number `column` is a monotone function of the number `of` in every training row, and is observed where `of` is.

    knots: `of`'s distinct training values, sorted; values: `column`'s value at each.
    """

    column: str
    of: str
    knots: list[float]
    values: list[float]

    def describe(self) -> str:
        return f"{self.column} = a monotone function of {self.of} in every training row ({len(self.knots)} values of {self.of})"

    def apply(self, decoded: Decoded) -> None:
        """Set `column` in the generated rows of `decoded` to the piecewise-linear interpolation of the training pairs at
        their `of`, and missing where `of` is."""
        numbers, observed = decoded[self.of]
        at = np.where(observed, np.asarray(numbers, dtype=np.float64), self.knots[0])
        decoded[self.column] = (np.interp(at, self.knots, self.values), observed.copy())

    def state_dict(self) -> dict[str, Any]:
        return {"rule": "monotone", **asdict(self)}


def rule_from_state_dict(state: dict[str, Any]) -> "DeterminedColumn | MonotoneColumn":
    """A rule saved by ``state_dict`` (a checkpoint's schema)."""
    if state.get("rule") == "monotone":
        return MonotoneColumn(**{key: value for key, value in state.items() if key != "rule"})
    return DeterminedColumn.from_state_dict(state)


def key_codes(values: np.ndarray, observed: np.ndarray, keys: list[Any]) -> np.ndarray:
    """(n,) index of each value in `keys` (len(keys) where missing; -1: a value not among them)."""
    codes = np.full(len(values), -1, dtype=np.int64)
    codes[~observed] = len(keys)
    if not keys:
        return codes
    if isinstance(keys[0], str):
        index = {key: i for i, key in enumerate(keys)}
        codes[observed] = [index.get(str(value), -1) for value in values[observed]]
        return codes
    numbers, sorted_keys = values[observed].astype(np.float64), np.asarray(keys, dtype=np.float64)
    position = np.clip(np.searchsorted(sorted_keys, numbers), 0, len(keys) - 1)
    below = np.clip(position - 1, 0, len(keys) - 1)
    nearest = np.where(np.abs(sorted_keys[below] - numbers) < np.abs(sorted_keys[position] - numbers), below, position)
    close = np.abs(sorted_keys[nearest] - numbers) <= RELATIVE_TOLERANCE * np.maximum(1.0, np.abs(sorted_keys[nearest]))
    codes[observed] = np.where(close, nearest, -1)
    return codes


def distinct_keys(values: np.ndarray, observed: np.ndarray) -> list[Any]:
    """The sorted distinct observed values: numbers as floats, anything else as text."""
    present = values[observed]
    if present.dtype != object or all(isinstance(v, (int, float, np.number)) for v in present):
        return sorted({float(v) for v in present})
    return sorted({str(v) for v in present})


def find_determined_columns(decoded: Decoded) -> list[DeterminedColumn | MonotoneColumn]:
    """Every rule B = f(A) of the module docstring in the training rows `decoded` (each modelled column's values
    and observed mask, in column order): those of columns with few values, then the monotone ones (``find_monotone_columns``).

    Determinants A are tried from the fewest values per column up (then the fewest combinations): a state and a
    year before a rate that happens to differ in each of their combinations, so that codes and labels, which the
    model generates on their training values, determine the others. A column that a rule determines determines no
    other, and a determinant is never determined: rules never chain or loop."""
    names = list(decoded)
    rows = len(next(iter(decoded.values()))[0]) if decoded else 0
    keys = {name: distinct_keys(*decoded[name]) for name in names}
    codes = {name: key_codes(*decoded[name], keys[name]) for name in names}
    candidates = sorted((name for name in names if 2 <= len(keys[name]) <= MAX_DETERMINANT_VALUES), key=lambda name: len(keys[name]))
    candidates = candidates[:MAX_DETERMINANTS]

    def grouped(by: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Each row's combination of `by` values (n,), and the size of each combination's group."""
        combination = np.zeros(rows, dtype=np.int64)
        for name in by:
            combination = combination * (len(keys[name]) + 1) + codes[name]
        sizes = np.bincount(combination)
        return combination, sizes[sizes > 0]

    groupings = []
    for chosen in [*combinations(candidates, 1), *combinations(candidates, 2)]:
        by = tuple(sorted(chosen, key=names.index))  # in the table's order
        groups = len(grouped(by)[1])
        redundant = len(by) == 2 and groups in (len(np.unique(codes[by[0]])), len(np.unique(codes[by[1]])))
        if groups * MIN_ROWS_PER_GROUP <= rows and not redundant:
            groupings.append((max(len(keys[name]) for name in by), groups, by))
    rules: list[DeterminedColumn] = []
    determined: set[str] = set()
    determinants: set[str] = set()
    for *_, by in sorted(groupings, key=lambda grouping: grouping[:2]):
        if determined & set(by):
            continue
        combination, group_sizes = grouped(by)
        order = np.argsort(combination, kind="stable")
        same_group = combination[order][1:] == combination[order][:-1]
        for name in names:
            if name in by or name in determined or name in determinants or len(keys[name]) < 2:
                continue
            if constant_in_groups(codes[name], order, same_group) and by_chance(codes[name], group_sizes) < CHANCE:
                rules.append(rule(name, list(by), decoded, keys, combination))
                determined.add(name)
                determinants.update(by)
    return [*rules, *find_monotone_columns(decoded, determined, determinants)]


def find_monotone_columns(decoded: Decoded, determined: set[str], determinants: set[str]) -> list[MonotoneColumn]:
    """Every number B that is a monotone function of a number A in the training rows `decoded`, observed in the same
    rows, where A has MIN_MONOTONE_VALUES distinct values. A is the column with more distinct values (B = f(A) may
    merge them), the earlier one on a tie. Columns already `determined`, or `determinants` of the other rules (whose
    values those rules read), are never B; a B is never an A."""
    numbers = [name for name, (values, _) in decoded.items() if values.dtype.kind in "fiu" and name not in determined]
    distinct = {name: len(np.unique(decoded[name][0][decoded[name][1]])) for name in numbers}
    sources = sorted((name for name in numbers if distinct[name] >= MIN_MONOTONE_VALUES), key=lambda name: -distinct[name])
    rules: list[MonotoneColumn] = []
    taken: set[str] = set()
    for of in sources:
        if of in taken:
            continue
        sources_observed = decoded[of][1]
        knots, first, group = np.unique(np.asarray(decoded[of][0][sources_observed], dtype=np.float64), return_index=True, return_inverse=True)
        for name in numbers:
            if name == of or name in taken or name in determinants or not 2 <= distinct[name] <= distinct[of]:
                continue
            if distinct[name] == distinct[of] and numbers.index(name) < numbers.index(of):
                continue
            values, observed = decoded[name]
            if not np.array_equal(observed, sources_observed):
                continue
            values = np.asarray(values[observed], dtype=np.float64)
            at_knots = values[first]
            steps = np.diff(at_knots)
            one_value_per_knot = np.array_equal(values, at_knots[group])
            if one_value_per_knot and ((steps >= 0).all() or (steps <= 0).all()):
                rules.append(MonotoneColumn(name, of, knots.tolist(), at_knots.tolist()))
                taken.update((name, of))
    return rules


def constant_in_groups(codes: np.ndarray, order: np.ndarray, same_group: np.ndarray) -> bool:
    """Whether every group holds one code: rows sorted by group (`order`), `same_group` where a row's group is the one
    of the row before it."""
    ordered = codes[order]
    return bool((ordered[1:][same_group] == ordered[:-1][same_group]).all())


def by_chance(codes: np.ndarray, group_sizes: np.ndarray) -> float:
    """The chance that every group holds one value when each row's value is drawn at the codes' shares:
    prod_g sum_v p_v ** n_g."""
    shares = np.unique(codes, return_counts=True)[1] / len(codes)
    sizes, count = np.unique(group_sizes, return_counts=True)
    log_chance = sum(c * logsumexp(size * np.log(shares)) for size, c in zip(sizes, count))  # in logs: p ** 1000 underflows
    return float(np.exp(log_chance))


def rule(name: str, by: list[str], decoded: Decoded, keys: dict[str, list[Any]], combination: np.ndarray) -> DeterminedColumn:
    """The rule `name` = f(`by`) read off the rows: each combination's value from its first row (None: missing)."""
    size = int(np.prod([len(keys[column]) + 1 for column in by]))
    values: list[Any] = [None] * size
    seen = [False] * size
    column_values, observed = decoded[name]
    for row in np.unique(combination, return_index=True)[1]:
        value = column_values[row]
        values[int(combination[row])] = (value.item() if isinstance(value, np.generic) else value) if observed[row] else None
        seen[int(combination[row])] = True
    return DeterminedColumn(name, by, [keys[column] for column in by], values, seen, int(sum(seen)))
