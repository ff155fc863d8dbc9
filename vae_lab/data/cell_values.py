"""What the text of a column's cells means, and how values are written back: ``ValueFormat``.

A column's cells are one of:

- ``int`` / ``float``: plain numbers (``float``: written with the decimals seen in training);
  numbers with a currency sign, a percent sign or thousands separators (``$1,234.50``, ``12.5%``,
  ``1.234,5``) are numbers too: the decoration is stripped to read them and put back to write them;
- ``boolean``: true/false, yes/no, t/f, y/n, on/off in any mix of case: 0 and 1, written back as the
  most common spelling of each;
- ``datetime``: dates and date-times in a recognized format (``DATE_FORMATS``, or ``data.datetime_format``),
  read as an integer time index in the column's resolution (years, months, days, hours, minutes or
  seconds since 1970, the coarsest that holds every training value) and written back in their own format;
- ``text``: anything else: labels.

``infer_format`` decides from the observed cells of the whole file; ``parse`` reads cells into values
(int64 or float64 numpy arrays; text stays a pyarrow array); ``write`` turns values back into the
column's pandas values (numbers typed, decorated numbers and dates as their text).
"""

import logging
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from vae_lab.data.csv_file import line_number
from vae_lab.errors import DataError

log = logging.getLogger(__name__)

INT, FLOAT, TEXT, BOOLEAN, DATETIME = "int", "float", "text", "boolean", "datetime"

FLOAT_PATTERN = r"(?i)^\s*[+-]?((\d+\.?\d*|\.\d+)(e[+-]?\d+)?|inf|infinity|nan)\s*$"
INT_PATTERN = r"^\s*-?\d+\s*$"
LEADING_ZERO_PATTERN = r"^\s*[+-]?0\d"  # 007, 02134: codes, not numbers
CODE_PATTERN = r"^\s*[A-Za-z]*\d[A-Za-z0-9]*\s*$"  # letters and digits, at least one digit: 207a, c168
CURRENCY = "$€£¥₹"
NUMBER_LIKE = rf"^\s*[+-]?[{re.escape(CURRENCY)}]?\s*[+-]?[\d.,  ]+\s*%?\s*$"  # a decorated number, loosely
BOOLEAN_PAIRS = (("false", "true"), ("no", "yes"), ("f", "t"), ("n", "y"), ("off", "on"), ("0", "1"))
MAX_DECIMALS = 15
STRAY_FRACTION = 0.9  # a text column whose cells are at least this often numbers is a numeric column with typos

# (format read by pandas, the formats it may be written with): the first that reads every cell wins;
# the written one is the first variant that gives every training cell back exactly (padded or not).
DATE_FORMATS = [
    "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f",
    "%Y/%m/%d", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
    "%b %d %Y", "%B %d %Y", "%b %d, %Y", "%B %d, %Y", "%d %b %Y", "%d %B %Y", "%d-%b-%Y", "%d-%b-%y",
    "%m/%d/%Y", "%d/%m/%Y", "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S",
    "%d.%m.%Y", "%d.%m.%Y %H:%M", "%d-%m-%Y", "%m-%d-%Y", "%Y-%m",
]  # fmt: skip
DATE_HINT = r"^\s*(\d{4}[-/]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|[A-Za-z]{3,9}\.? \d{1,2},? \d{4}|\d{1,2}[ -][A-Za-z]{3,9}[ -]\d{2,4})"
DATE_FRACTION = 0.9  # share of cells that look like dates for a text column to be tried as dates
TIME_UNITS = ("Y", "M", "D", "h", "m", "s")  # numpy datetime64 units, coarsest first
STAMP_TYPE = "datetime64[us]"  # timestamps as read: years 1 to 9999 fit (nanoseconds end in 2262)
UNIT_NAMES = {"Y": "years", "M": "months", "D": "days", "h": "hours", "m": "minutes", "s": "seconds"}


@dataclass
class ValueFormat:
    """How one column's cells are read and written.

    type: INT, FLOAT, TEXT, BOOLEAN or DATETIME.
    decimals: decimals a FLOAT is written with (None: as many as needed).
    prefix, suffix, thousands, decimal: a decorated number's currency sign, percent sign and separators.
    labels: a BOOLEAN's spellings of false and true.
    datetime_format, write_format, unit: a DATETIME's read format, write format and resolution (``TIME_UNITS``).
    """

    type: str
    decimals: int | None = None
    prefix: str = ""
    suffix: str = ""
    thousands: str = ""
    decimal: str = "."
    labels: list[str] = field(default_factory=list)
    datetime_format: str = ""
    write_format: str = ""
    unit: str = ""

    @property
    def decorated(self) -> bool:
        return bool(self.prefix or self.suffix or self.thousands or self.decimal != ".")

    @property
    def integral(self) -> bool:
        """Values are integers (and written as integers)."""
        return self.type in (INT, BOOLEAN, DATETIME)

    def describe(self) -> str:
        if self.type == DATETIME:
            return f"datetime '{self.write_format}' in {UNIT_NAMES[self.unit]}"
        if self.type == BOOLEAN:
            return f"boolean {'/'.join(self.labels)}"
        decoration = f" as {self.prefix}1{self.thousands}234{self.decimal}5{self.suffix}" if self.decorated else ""
        return f"{self.type}{decoration}"

    # -- text -> values ----------------------------------------------------------------------

    def parse(self, name: str, text: pa.ChunkedArray, missing: np.ndarray, source: str) -> np.ndarray | pa.ChunkedArray:
        """Cells -> values: int64 (0 where missing) or float64 (NaN where missing); TEXT cells stay text. An integer
        column whose cells here hold other numbers is read as float64, with a warning.

        Raises DataError naming the column and lines of a cell that does not fit (text in a number column, infinity).
        """
        if self.type == TEXT:
            return text
        observed = text.filter(pa.array(~missing))
        integer = self.integral
        values = np.zeros(len(text), dtype=np.int64) if integer else np.full(len(text), np.nan)
        if self.type == BOOLEAN:
            parsed = pc.index_in(pc.utf8_lower(pc.utf8_trim_whitespace(observed)), value_set=pa.array(self._boolean_pair()))
            if pc.any(pc.is_null(parsed)).as_py():
                raise self._unfit(name, text, missing, source, f"are not {' or '.join(self._boolean_pair())}")
            values[~missing] = parsed.to_numpy(zero_copy_only=False)
            return values
        if self.type == DATETIME:
            values[~missing] = self._time_index(name, observed, text, missing, source)
            return values
        cleaned = self._undecorated(observed)
        try:
            parsed = cast_numbers(cleaned, pa.int64() if self.type == INT else pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:
            if self.type != INT or not pc.all(pc.match_substring_regex(cleaned, FLOAT_PATTERN)).as_py():
                raise stray_text_error(name, text, missing, source) from None
            # Integers in training, other numbers here (a mean filled into one cell): read as numbers, which a column
            # of numbers takes as they are and a column of integer labels as unknown.
            log.warning("column '%s' of %s held integers in training but has other numbers here (e.g. %s); they are read as numbers",
                        name, source, first_examples(text, missing, INT_PATTERN))  # fmt: skip
            parsed, values = cast_numbers(cleaned, pa.float64()).to_numpy(zero_copy_only=False), np.full(len(text), np.nan)
        values[~missing] = parsed
        if values.dtype.kind == "f" and np.isinf(values).any():
            rows = np.flatnonzero(np.isinf(values))[:3]
            where = ", ".join(f"{text[int(row)].as_py().strip()!r} on line {line_number(int(row))}" for row in rows)
            raise DataError(f"column '{name}' of {source} has infinite values ({where}); replace them, or declare them missing with data.na_values=[inf,-inf]")
        return values

    def _boolean_pair(self) -> list[str]:
        return [label.strip().lower() for label in self.labels]

    def _undecorated(self, text: pa.ChunkedArray) -> pa.ChunkedArray:
        if not self.decorated:
            return text
        strip = "[" + re.escape(CURRENCY + "%") + r"\s" + (re.escape(self.thousands) if self.thousands else "") + "]"
        text = pc.replace_substring_regex(text, strip, "")
        return pc.replace_substring(text, self.decimal, ".") if self.decimal != "." else text

    def _time_index(self, name: str, observed: pa.ChunkedArray, text: pa.ChunkedArray, missing: np.ndarray, source: str) -> np.ndarray:
        stamps = pd.to_datetime(pd.Series(observed.to_numpy(zero_copy_only=False)).str.strip(), format=self.datetime_format, errors="coerce")
        if stamps.isna().any():
            bad = np.flatnonzero(~missing)[np.flatnonzero(stamps.isna().to_numpy())[:3]]
            where = ", ".join(f"{text[int(row)].as_py()!r} on line {line_number(int(row))}" for row in bad)
            raise DataError(
                f"column '{name}' of {source} holds dates written as '{self.datetime_format}' but {where} are not; fix them, "
                f"declare them missing (data.na_values=[...]) or give the format with data.datetime_format"
            )
        return time_index(stamps.to_numpy().astype(STAMP_TYPE), self.unit)

    def _unfit(self, name: str, text: pa.ChunkedArray, missing: np.ndarray, source: str, what: str) -> DataError:
        return DataError(f"column '{name}' of {source}: cells {what} ({first_examples(text, missing, '^$')})")

    # -- values -> pandas values ---------------------------------------------------------------

    def round(self, values: np.ndarray) -> np.ndarray:
        """Numbers rounded as the column writes them (integers, or its decimals)."""
        if self.integral:
            return np.rint(values)
        return values if self.decimals is None else np.round(values, self.decimals)

    def write(self, values: np.ndarray, observed: np.ndarray) -> pd.api.extensions.ExtensionArray | np.ndarray:
        """Values (numbers or labels) as the column's pandas values: Int64, float64, or string for labels,
        booleans, dates and decorated numbers; missing where not observed."""
        if self.type == TEXT:
            return pd.array(np.where(observed, values, None), dtype="string")
        numbers = np.where(observed, np.asarray(values, dtype=np.float64), 0.0)
        if self.type == INT and not self.decorated:
            integers = np.rint(np.clip(numbers, -(2.0**62), 2.0**62)).astype(np.int64)
            return pd.arrays.IntegerArray(integers, ~observed)
        if self.type == FLOAT and not self.decorated:
            return np.where(observed, numbers, np.nan)
        if self.type == BOOLEAN:
            text = np.asarray(self.labels, dtype=object)[(numbers > 0.5).astype(np.int64)]
        elif self.type == DATETIME:
            text = self.dates(numbers).strftime(self.write_format).to_numpy(dtype=object)
        else:
            text = np.asarray([self._decorate(v) for v in numbers], dtype=object)
        return pd.array(np.where(observed, text, None), dtype="string")

    def dates(self, index: np.ndarray) -> pd.DatetimeIndex:
        """A DATETIME's time index -> timestamps."""
        return pd.DatetimeIndex(np.rint(index).astype(np.int64).astype(f"datetime64[{self.unit}]").astype("datetime64[s]"))

    def _decorate(self, value: float) -> str:
        places = 0 if self.type == INT else self.decimals
        text = f"{abs(value):,.{places}f}" if places is not None else f"{abs(value):,}"
        text = text.replace(",", "\0").replace(".", self.decimal).replace("\0", self.thousands)
        return f"{'-' if value < 0 else ''}{self.prefix}{text}{self.suffix}"


# -- inference -----------------------------------------------------------------------------------


def infer_format(
    name: str,
    text: pa.ChunkedArray,
    missing: np.ndarray,
    source: str,
    *,
    numeric_required: bool = False,
    text_allowed: bool = False,
    datetime_declared: bool = False,
    datetime_format: str | None = None,
    thousands: str | None = None,
    decimal: str | None = None,
    delimiter: str = ",",
) -> ValueFormat:
    """The format of a column from every observed cell of the file.

    Integers written with leading zeros (007, 02134) are codes: TEXT. A mostly numeric column with a few
    text cells is an error naming them. Numbers-only dates (20240320) are dates only when declared.
    """  # fmt: skip
    observed = text.filter(pa.array(~missing))
    if datetime_declared or datetime_format:
        declared = datetime_format_of(name, observed, source, datetime_format, required=True)
        assert declared is not None  # required=True: a column that is not dates is an error there
        return declared
    if thousands is None and decimal is None:
        integers = try_cast(observed, pa.int64())  # None if not integers, or beyond int64 (an identifier: text)
        if integers is not None:
            rewritten = pc.utf8_length(pc.cast(integers, pa.string()))
            padded = pc.any(pc.not_equal(pc.utf8_length(observed), rewritten)).as_py()  # 007, but also " 7"
            if padded and pc.any(pc.match_substring_regex(observed, LEADING_ZERO_PATTERN)).as_py() and not numeric_required:
                return ValueFormat(TEXT)
            return ValueFormat(INT)
        floats = try_cast(observed, pa.float64())
        if floats is not None:
            return ValueFormat(FLOAT, decimals=decimals(floats.to_numpy(zero_copy_only=False)))
    boolean = boolean_format(observed)
    if boolean is not None:
        return boolean
    number = decorated_number_format(name, observed, source, thousands, decimal, delimiter)
    if number is not None:
        return number
    if not numeric_required:
        dates = datetime_format_of(name, observed, source, None, required=False)
        if dates is not None:
            return dates
    numeric = pc.match_substring_regex(observed, FLOAT_PATTERN)
    fraction = pc.mean(pc.cast(numeric, pa.int8())).as_py()
    if numeric_required or (fraction >= STRAY_FRACTION and not text_allowed and not codes_among_numbers(name, observed, numeric, source)):
        raise stray_text_error(name, text, missing, source)
    return ValueFormat(TEXT)


def codes_among_numbers(name: str, observed: pa.ChunkedArray, numeric: pa.ChunkedArray, source: str) -> bool:
    """Whether the cells of a mostly numeric column that are not numbers are all codes of letters and digits
    ('207a', 'c168': subject or station codes, so the column is labels), said in a warning; a typo ('forty', 'n.a.',
    '4,9') is not one."""
    others = observed.filter(pc.invert(numeric))
    codes = pc.and_(pc.match_substring_regex(others, CODE_PATTERN), pc.match_substring_regex(others, r"[A-Za-z]"))
    if not pc.all(codes).as_py():
        return False
    log.warning("column '%s' of %s holds numbers and %d code(s) of letters and digits such as %r: read as text (labels or IDs); "
                "data.numeric=[%s] reads it as numbers and names those cells", name, source, len(others), others[0].as_py().strip(), name)  # fmt: skip
    return True


def boolean_format(observed: pa.ChunkedArray) -> ValueFormat | None:
    """BOOLEAN when the cells are one pair of BOOLEAN_PAIRS in more than two spellings (two are a binary text column)."""
    counts = pc.value_counts(pc.utf8_trim_whitespace(observed))
    spellings = counts.field("values").to_pylist()
    lowered = {spelling.lower() for spelling in spellings}
    if len(spellings) <= 2:
        return None
    for pair in BOOLEAN_PAIRS:
        if lowered <= set(pair) and len(lowered) == 2:
            frequency = dict(zip(spellings, counts.field("counts").to_pylist()))
            labels = [max((s for s in spellings if s.lower() == word), key=lambda s: (frequency[s], s)) for word in pair]
            return ValueFormat(BOOLEAN, labels=labels)
    return None


def decorated_number_format(
    name: str, observed: pa.ChunkedArray, source: str, thousands: str | None, decimal: str | None, delimiter: str
) -> ValueFormat | None:
    """Numbers with a currency sign, percent sign or thousands separators, when every cell is one.

    Where a comma could be a thousands separator or a decimal comma (every comma cell like 1,234), the
    file's delimiter decides (a semicolon file writes decimal commas), with a warning naming the override.
    """
    sample = observed.slice(0, 5000)
    if not pc.all(pc.match_substring_regex(sample, NUMBER_LIKE)).as_py():
        return None  # fails fast on a text column
    prefix = _common(pc.extract_regex(sample, rf"^\s*[+-]?(?P<p>[{re.escape(CURRENCY)}]?)"), "p")
    suffix = _common(pc.extract_regex(sample, r"(?P<s>%?)\s*$"), "s")
    core = pc.replace_substring_regex(observed, rf"^\s*([+-]?)\s*[{re.escape(CURRENCY)}]?\s*|\s*%\s*$", r"\1")
    patterns = {  # (thousands, decimal): a number written that way
        (",", "."): r"^[+-]?\d{1,3}(,\d{3})*(\.\d+)?$",
        (".", ","): r"^[+-]?\d{1,3}(\.\d{3})*(,\d+)?$",
        ("", ","): r"^[+-]?\d+(,\d+)?$",
        ("", "."): r"^[+-]?(\d+\.?\d*|\.\d+)$",
        (" ", ","): r"^[+-]?\d{1,3}( \d{3})*(,\d+)?$",
    }
    if thousands is not None or decimal is not None:
        wanted = (thousands or "", decimal or ".")
        patterns = {wanted: patterns.get(wanted, "^" + r"[+-]?\d+" + (re.escape(wanted[0]) + r"\d{3}" if wanted[0] else "") + "*$")}
    fits = [style for style, pattern in patterns.items() if pc.all(pc.match_substring_regex(core, pattern)).as_py()]
    if not fits or prefix is None or suffix is None or (("", ".") in fits and not prefix and not suffix):
        return None  # not numbers, decorations that differ, or plain numbers (which the cast read already)
    if ("", ".") in fits:
        chosen = ("", ".")
    elif (",", ".") in fits and any(style[1] == "," for style in fits):
        comma_decimal = next(style for style in fits if style[1] == ",")
        chosen = comma_decimal if delimiter == ";" else (",", ".")
        log.warning(
            "column '%s' of %s: a comma in its numbers (e.g. %r) could be a thousands separator or a decimal comma; "
            "read as %s (the file's delimiter is %r); set data.thousands and data.decimal to read it the other way",
            name, source, observed[0].as_py(), "a decimal comma" if chosen[1] == "," else "thousands", delimiter,
        )  # fmt: skip
    else:
        chosen = fits[0]
    thousands_used = chosen[0] and pc.any(pc.match_substring(core, chosen[0])).as_py()
    places = pc.extract_regex(core, re.escape(chosen[1]) + r"(?P<d>\d*)$")
    written = [len(d) for d in pc.struct_field(places, "d").to_pylist() if d is not None]
    return ValueFormat(
        FLOAT if written else INT,
        decimals=max(written) if written else 0,
        prefix=prefix,
        suffix=suffix,
        thousands=chosen[0] if thousands_used else "",
        decimal=chosen[1],
    )


def _common(extracted: pa.ChunkedArray, field_name: str) -> str | None:
    """The one non-empty decoration every cell shares, '' when none has one, None when they differ."""
    found = set(pc.struct_field(extracted, field_name).to_pylist()) if len(extracted) else {""}
    found.discard(None)
    return found.pop() if len(found) == 1 else ("" if not found else None)


def datetime_format_of(name: str, observed: pa.ChunkedArray, source: str, given: str | None, required: bool) -> ValueFormat | None:
    """DATETIME with the first format of DATE_FORMATS (or `given`) that reads every cell; None if none does."""
    cells = pd.Series(observed.to_numpy(zero_copy_only=False), dtype=object).str.strip()
    if not given and not required:
        hinted = cells.head(1000).str.match(DATE_HINT).mean()
        if not hinted >= DATE_FRACTION:
            return None
    candidates = [given] if given else ["%Y%m%d", "%Y%m%d%H%M%S", *DATE_FORMATS] if required else DATE_FORMATS
    readable = [f for f in candidates if not pd.to_datetime(cells, format=f, errors="coerce").isna().any()]
    if not readable:
        if required:
            shown = given or "any of the known formats (ISO, YYYY/MM/DD HH:MM:SS, Mon D YYYY, DD/MM/YYYY, ...)"
            raise DataError(
                f"column '{name}' of {source} is declared as dates but {cells.iloc[0]!r} is not written as {shown}; "
                f"give its format with data.datetime_format (e.g. '%d.%m.%Y')"
            )
        return None
    chosen = readable[0]
    if "%m/%d" in chosen and chosen.replace("%m/%d", "%d/%m") in readable:
        log.warning(
            "column '%s' of %s: dates such as %r read as month/day ('%s'); set data.datetime_format='%s' if they are day/month",
            name, source, cells.iloc[0], chosen, chosen.replace("%m/%d", "%d/%m"),
        )  # fmt: skip
    stamps = pd.to_datetime(cells, format=chosen).to_numpy().astype(STAMP_TYPE)
    unit = next((u for u in TIME_UNITS if np.array_equal(stamps.astype(f"datetime64[{u}]").astype(STAMP_TYPE), stamps)), None)
    if unit is None:
        fraction = cells[stamps != stamps.astype("datetime64[s]").astype(STAMP_TYPE)].iloc[0]
        raise DataError(
            f"column '{name}' of {source} holds times with fractions of a second (e.g. {fraction!r}), which are modelled to the second "
            f"at most; round them to whole seconds, or drop the column (data.drop=[{name}])"
        )
    write_format = _write_format(chosen, cells.head(1000), stamps[:1000])
    return ValueFormat(DATETIME, datetime_format=chosen, write_format=write_format, unit=unit)


def _write_format(read_format: str, cells: pd.Series, stamps: np.ndarray) -> str:
    """The variant of `read_format` (zero-padded fields or not) that writes the cells back exactly."""
    variants = [read_format]
    for padded in ("%d", "%m", "%H"):
        variants += [v.replace(padded, padded.replace("%", "%-")) for v in variants if padded in v]
    index = pd.DatetimeIndex(stamps)
    for variant in variants:
        if (index.strftime(variant) == cells.to_numpy()).all():
            return variant
    return read_format


def time_index(stamps: np.ndarray, unit: str) -> np.ndarray:
    """datetime64 -> int64 count of `unit` since 1970 (floored)."""
    return stamps.astype(f"datetime64[{unit}]").astype(np.int64)


def decimals(values: np.ndarray) -> int | None:
    """The fewest decimals that reproduce every value, or None if more than MAX_DECIMALS are needed."""
    finite = values[np.isfinite(values)]
    probe = finite[:: max(1, len(finite) // 1000)]
    with np.errstate(over="ignore"):  # rounding numbers near the float limit overflows: they are not written with few decimals
        for places in range(MAX_DECIMALS + 1):
            if np.array_equal(np.round(probe, places), probe) and np.array_equal(np.round(finite, places), finite):
                return places
    return None


# -- helpers -------------------------------------------------------------------------------------


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
    examples = first_examples(text, missing, FLOAT_PATTERN)
    first = text[int(np.flatnonzero(~numeric & ~missing)[0])].as_py().strip() if count else ""
    return DataError(
        f"column '{name}' of {source} holds numbers but {count} cell(s) are not numbers: {examples}; fix them, "
        f"declare them missing (data.na_values=[{first!r}]) or treat the column as categories (data.categorical=[{name}])"
    )


def first_examples(text: pa.ChunkedArray, missing: np.ndarray, pattern: str, count: int = 3) -> str:
    """Up to `count` observed cells not matching `pattern`, with their line numbers."""
    matching = pc.match_substring_regex(text, pattern).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(~matching & ~missing)[:count]
    return ", ".join(f"{text[int(row)].as_py()!r} on line {line_number(int(row))}" for row in rows)
