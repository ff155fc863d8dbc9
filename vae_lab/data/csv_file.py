"""CSV files in and out: read a file as saved as a table of text cells, write tables atomically.

Reading keeps every cell as the exact text of the file (Arrow strings, never null), so the schema
decides what a cell means (``table_schema``) and ``vae-lab impute`` can write observed cells back
unchanged. Files are read as people save them:

- the delimiter (comma, semicolon, tab or pipe) is the one that splits the header and the first rows
  into the same number of cells; ``.tsv`` means tab; ``data.delimiter`` forces one;
- ``.gz``, ``.bz2``, ``.xz``, ``.zst`` and ``.zip`` (one member) are decompressed by their suffix;
- header names lose surrounding whitespace and one pair of surrounding quotes (``'popul'`` -> ``popul``),
  as pandas would read them.

A file that cannot be a table raises one DataError naming the file and the line or column: missing,
empty, header only, duplicate column names, ragged rows, not in the declared encoding, an ambiguous delimiter.

Line numbers count the header as line 1, so data row i (0-based) is on line i + 2.
"""

import bz2
import csv
import gzip
import io
import lzma
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from vae_lab.atomic_files import replace_atomically
from vae_lab.errors import ConfigError, DataError

# Cells meaning "missing", as pandas reads them by default; data.na_values adds more.
DEFAULT_NA_VALUES = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
SNIFF_BYTES = 1 << 16  # the header and first rows that decide the delimiter
SNIFF_ROWS = 50
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zip")


def line_number(row: int) -> int:
    """The file line of data row `row` (0-based): the header is line 1."""
    return row + 2


def read_csv_text(path: str | Path, encoding: str = "utf-8", delimiter: str | None = None) -> pa.Table:
    """Every cell of the table file at `path` as text: a pyarrow Table of non-null strings, columns in file order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"CSV file {path} does not exist; set data.path (or input=) to an existing .csv file")
    if path.stat().st_size == 0:
        raise DataError(f"CSV file {path} is empty; it needs a header line with column names and one line per row")
    content = _decompressed(path)
    if content is not None and len(content) == 0:
        raise DataError(f"CSV file {path} is empty once decompressed; it needs a header line with column names and one line per row")
    head = _head_text(path, content, encoding)
    forced = delimiter is not None or ".tsv" in [suffix.lower() for suffix in path.suffixes]
    delimiter = _delimiter(path, head, delimiter)
    names = _header(path, head, delimiter, detected=not forced)
    read_options = pa_csv.ReadOptions(column_names=names, skip_rows=1, encoding=encoding, block_size=1 << 24)
    convert_options = pa_csv.ConvertOptions(column_types={name: pa.string() for name in names}, strings_can_be_null=False)
    try:
        table = pa_csv.read_csv(_source(path, content), read_options, _parse_options(delimiter), convert_options)
    except pa.ArrowInvalid as error:
        raise _read_error(path, content, names, encoding, delimiter, error) from None
    if table.num_rows == 0:
        raise DataError(f"CSV file {path} has a header line but no data rows")
    return table.replace_schema_metadata({"delimiter": delimiter})


def _decompressed(path: Path) -> bytes | None:
    """The decompressed bytes of a compressed file (by its suffix); None for a plain file (read from disk)."""
    suffix = path.suffix.lower()
    if suffix not in COMPRESSED_SUFFIXES:
        return None
    try:
        if suffix == ".gz":
            return gzip.decompress(path.read_bytes())
        if suffix == ".bz2":
            return bz2.decompress(path.read_bytes())
        if suffix == ".xz":
            return lzma.decompress(path.read_bytes())
        if suffix == ".zst":
            with pa.CompressedInputStream(pa.OSFile(str(path)), "zstd") as stream:
                return stream.read()
        with zipfile.ZipFile(path) as archive:
            members = [member for member in archive.namelist() if not member.endswith("/")]
            if len(members) != 1:
                raise DataError(f"CSV file {path} is a zip archive of {len(members)} files ({', '.join(members[:5])}); it must hold exactly one table")
            return archive.read(members[0])
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile, pa.ArrowException) as error:
        raise DataError(f"CSV file {path} cannot be decompressed as {suffix} ({error}); check the file or its suffix") from None


def _source(path: Path, content: bytes | None):
    return path if content is None else pa.BufferReader(content)


def _lines_of(path: Path, content: bytes | None):
    return io.BytesIO(content) if content is not None else open(path, "rb")  # noqa: SIM115 (closed by the caller's with)


def _head_text(path: Path, content: bytes | None, encoding: str) -> str:
    """The first SNIFF_BYTES of the file as text, cut after its last complete line; a byte-order mark is dropped."""
    with _lines_of(path, content) as file:
        head = file.read(SNIFF_BYTES)
        complete = head if len(head) < SNIFF_BYTES else head[: head.rfind(b"\n") + 1] or head
    header_encoding = "utf-8-sig" if encoding.replace("_", "-").lower() in ("utf-8", "utf8") else encoding
    try:
        return complete.decode(header_encoding)
    except UnicodeDecodeError:
        raise _encoding_error(path, content, encoding) from None
    except LookupError:
        raise DataError(f"unknown text encoding '{encoding}' for {path}; use e.g. data.encoding=utf-8 or latin-1") from None


def _delimiter(path: Path, head: str, forced: str | None) -> str:
    """The forced delimiter, tab for .tsv, or the one candidate that splits the header and first rows alike."""
    if forced is not None:
        forced = {"\\t": "\t", "tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}.get(forced, forced)
        if len(forced) != 1:
            raise ConfigError(f"data.delimiter must be one character (or tab, comma, semicolon, pipe), got {forced!r}")
        return forced
    if ".tsv" in [suffix.lower() for suffix in path.suffixes]:
        return "\t"
    consistent = []
    for candidate in DELIMITERS:
        rows = list(csv.reader(io.StringIO(head), delimiter=candidate))[:SNIFF_ROWS]
        widths = {len(row) for row in rows if row}
        if len(widths) == 1 and widths.pop() > 1:
            consistent.append(candidate)
    if len(consistent) > 1:
        named = ", ".join(f"{DELIMITERS[c]} ({c!r})" for c in consistent)
        raise DataError(
            f"CSV file {path}: the delimiter is ambiguous, {named} each split the header and first rows into the same "
            f"number of cells; choose one with data.delimiter (e.g. data.delimiter='{consistent[0]}')"
        )
    return consistent[0] if consistent else ","


def _parse_options(delimiter: str, invalid_row_handler=None) -> pa_csv.ParseOptions:
    return pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True, invalid_row_handler=invalid_row_handler)


def _header(path: Path, head: str, delimiter: str, detected: bool) -> list[str]:
    """The column names on line 1 (surrounding spaces and quotes stripped), checked for blanks and duplicates,
    and, for a `detected` delimiter, for a single name that holds another delimiter."""
    raw = next(csv.reader(io.StringIO(head), delimiter=delimiter), [])
    names = [_unquoted(name) for name in raw]
    if not any(names):
        raise DataError(f"CSV file {path} has no column names on line 1; the first line must be a header")
    blank = [str(i + 1) for i, name in enumerate(names) if not name]
    if blank:
        raise DataError(f"CSV file {path}: column {', '.join(blank)} of the header (line 1) has no name; name every column")
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise DataError(
                f"CSV file {path}: duplicate column name '{name}' (columns {seen[name] + 1} and {i + 1} of line 1); give every column a unique name"
            )
        seen[name] = i
    if detected and len(names) == 1 and any(c in names[0] for c in DELIMITERS if c != delimiter):
        others = ", ".join(DELIMITERS[c] for c in DELIMITERS if c != delimiter and c in names[0])
        raise DataError(
            f"CSV file {path}: the header reads as one column {names[0][:60]!r} with '{delimiter}' as the delimiter, but it "
            f"holds {others} characters and the rows do not split alike; set the delimiter with data.delimiter"
        )
    return names


def _unquoted(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "'\"":
        name = name[1:-1].strip()
    return name


def _read_error(path: Path, content: bytes | None, names: list[str], encoding: str, delimiter: str, error: pa.ArrowInvalid) -> DataError:
    message = str(error)
    if "UTF8" in message or "UTF-8" in message:
        return _encoding_error(path, content, encoding)
    if "Expected" in message and "columns" in message:
        return _ragged_row_error(path, content, names, encoding, delimiter) or DataError(f"CSV file {path} cannot be parsed: {message}")
    return DataError(f"CSV file {path} cannot be parsed: {message}")


def _ragged_row_error(path: Path, content: bytes | None, names: list[str], encoding: str, delimiter: str) -> DataError | None:
    """Re-read on one thread, which knows line numbers, to name the first row with a wrong number of cells."""
    rows = []

    def first_bad_row(row: pa_csv.InvalidRow) -> str:
        rows.append(row)
        return "error"

    read_options = pa_csv.ReadOptions(column_names=names, skip_rows=1, encoding=encoding, use_threads=False)
    try:
        pa_csv.read_csv(_source(path, content), read_options, _parse_options(delimiter, first_bad_row))
    except pa.ArrowInvalid:
        pass
    if not rows:
        return None
    row = rows[0]
    where = f"line {row.number}" if row.number is not None else "a row"
    text = row.text if len(row.text) <= 80 else row.text[:77] + "..."
    return DataError(
        f"CSV file {path}: {where} has {row.actual_columns} cells but the header has {row.expected_columns} "
        f"columns ({text!r}); every row needs one cell per column (quote cells that contain '{delimiter}')"
    )


def _encoding_error(path: Path, content: bytes | None, encoding: str) -> DataError:
    """Name the first line that is not valid text in `encoding`."""
    with _lines_of(path, content) as file:
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

    def write(file) -> None:
        text = io.TextIOWrapper(file, encoding="utf-8", newline="")
        frame.to_csv(text, index=False, na_rep="", lineterminator="\n")
        text.flush()
        text.detach()

    replace_atomically(path, write)
    return path
