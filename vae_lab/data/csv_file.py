"""CSV files in and out: read a file as a table of text cells, write tables atomically.

Reading keeps every cell as the exact text of the file (Arrow strings, never null), so the schema
decides what a cell means (``table_schema``) and ``vae-lab impute`` can write observed cells back
unchanged. A file that cannot be a table raises one DataError naming the file and the line or
column: missing, empty, header only, duplicate column names, ragged rows, not in the declared encoding.

Line numbers count the header as line 1, so data row i (0-based) is on line i + 2.
"""

import csv
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from vae_lab.errors import DataError

# Cells meaning "missing", as pandas reads them by default; data.na_values adds more.
DEFAULT_NA_VALUES = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip


def line_number(row: int) -> int:
    """The file line of data row `row` (0-based): the header is line 1."""
    return row + 2


def read_csv_text(path: str | Path, encoding: str = "utf-8") -> pa.Table:
    """Every cell of the CSV at `path` as text: a pyarrow Table of non-null strings, columns in file order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"CSV file {path} does not exist; set data.path (or input=) to an existing .csv file")
    if path.stat().st_size == 0:
        raise DataError(f"CSV file {path} is empty; it needs a header line with column names and one line per row")
    names = _header(path, encoding)
    read_options = pa_csv.ReadOptions(column_names=names, skip_rows=1, encoding=encoding, block_size=1 << 24)
    convert_options = pa_csv.ConvertOptions(column_types={name: pa.string() for name in names}, strings_can_be_null=False)
    try:
        table = pa_csv.read_csv(path, read_options, _parse_options(), convert_options)
    except pa.ArrowInvalid as error:
        raise _read_error(path, names, encoding, error) from None
    if table.num_rows == 0:
        raise DataError(f"CSV file {path} has a header line but no data rows")
    return table


def _parse_options(invalid_row_handler=None) -> pa_csv.ParseOptions:
    return pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=invalid_row_handler)


def _header(path: Path, encoding: str) -> list[str]:
    """The column names on line 1, checked for blanks and duplicates."""
    header_encoding = "utf-8-sig" if encoding.replace("_", "-").lower() in ("utf-8", "utf8") else encoding
    try:
        with open(path, newline="", encoding=header_encoding) as file:
            names = next(csv.reader(file), [])
    except UnicodeDecodeError:
        raise _encoding_error(path, encoding) from None
    except LookupError:
        raise DataError(f"unknown text encoding '{encoding}' for {path}; use e.g. data.encoding=utf-8 or latin-1") from None
    if not any(name.strip() for name in names):
        raise DataError(f"CSV file {path} has no column names on line 1; the first line must be a header")
    blank = [str(i + 1) for i, name in enumerate(names) if not name.strip()]
    if blank:
        raise DataError(f"CSV file {path}: column {', '.join(blank)} of the header (line 1) has no name; name every column")
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise DataError(
                f"CSV file {path}: duplicate column name '{name}' (columns {seen[name] + 1} and {i + 1} of line 1); "
                "give every column a unique name"
            )
        seen[name] = i
    return names


def _read_error(path: Path, names: list[str], encoding: str, error: pa.ArrowInvalid) -> DataError:
    message = str(error)
    if "UTF8" in message or "UTF-8" in message:
        return _encoding_error(path, encoding)
    if "Expected" in message and "columns" in message:
        return _ragged_row_error(path, names, encoding) or DataError(f"CSV file {path} cannot be parsed: {message}")
    return DataError(f"CSV file {path} cannot be parsed: {message}")


def _ragged_row_error(path: Path, names: list[str], encoding: str) -> DataError | None:
    """Re-read on one thread, which knows line numbers, to name the first row with a wrong number of cells."""
    rows = []

    def first_bad_row(row: pa_csv.InvalidRow) -> str:
        rows.append(row)
        return "error"

    read_options = pa_csv.ReadOptions(column_names=names, skip_rows=1, encoding=encoding, use_threads=False)
    try:
        pa_csv.read_csv(path, read_options, _parse_options(first_bad_row))
    except pa.ArrowInvalid:
        pass
    if not rows:
        return None
    row = rows[0]
    where = f"line {row.number}" if row.number is not None else "a row"
    text = row.text if len(row.text) <= 80 else row.text[:77] + "..."
    return DataError(
        f"CSV file {path}: {where} has {row.actual_columns} cells but the header has {row.expected_columns} "
        f"columns ({text!r}); every row needs one cell per column (quote cells that contain commas)"
    )


def _encoding_error(path: Path, encoding: str) -> DataError:
    """Name the first line that is not valid text in `encoding`."""
    with open(path, "rb") as file:
        for number, line in enumerate(file, start=1):
            try:
                line.decode(encoding)
            except UnicodeDecodeError as error:
                bad = line[error.start : error.start + 4]
                return DataError(
                    f"CSV file {path} is not {encoding} text: line {number} has the bytes {bad!r} at position "
                    f"{error.start + 1}; re-save the file as UTF-8 or set data.encoding (e.g. latin-1)"
                )
    return DataError(f"CSV file {path} is not {encoding} text; re-save the file as UTF-8 or set data.encoding (e.g. latin-1)")


def write_csv_atomically(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write `frame` as CSV (no index, missing cells empty) so that `path` is never seen half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with open(partial, "w", newline="", encoding="utf-8") as file:
            frame.to_csv(file, index=False, na_rep="", lineterminator="\n")
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path
