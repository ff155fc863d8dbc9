"""CSV files in and out: read a file as saved as a table of text cells, write tables atomically.

Reading keeps every cell as the exact text of the file (Arrow strings, never null), so the schema
decides what a cell means (``table_schema``) and ``vae-lab impute`` can write observed cells back
unchanged. Files are read as people save them:

- the delimiter (comma, semicolon, tab or pipe) is the one that splits the header and the first rows
  into the same number of cells; ``.tsv`` means tab; ``data.delimiter`` forces one;
- ``.gz``, ``.bz2``, ``.xz``, ``.zst`` and ``.zip`` (one member) are decompressed by their suffix;
- a byte-order mark names the encoding (UTF-8 with BOM, UTF-16 little- or big-endian: Excel's "Unicode Text")
  unless ``data.encoding`` names another than UTF-8;
- header names lose surrounding whitespace and one pair of surrounding quotes (``'popul'`` -> ``popul``),
  as pandas would read them; a blank first header cell, the row names that R's ``write.csv`` and pandas'
  ``to_csv`` write, names the column ``Unnamed: 0`` (as pandas does; written back blank).

The table's metadata keeps how the file was written, so that tables written back look the same
(``write_csv_atomically``): ``delimiter``, ``encoding`` (as detected), ``quoting`` (``QUOTING``: every
cell quoted, only the header and text, or only where needed) and ``header`` (JSON: the names whose header
cell was written otherwise, e.g. ``{"popul": "'popul'"}``).

A file that cannot be a table raises one DataError naming the file and the line or column: missing,
empty, header only, duplicate column names, ragged rows, not in the declared encoding, an ambiguous delimiter.

Line numbers count the header as line 1, so data row i (0-based) is on line i + 2.
"""

import bz2
import codecs
import contextlib
import csv
import gzip
import io
import json
import lzma
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

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
ROW_NAMES = "Unnamed: 0"  # the column of a blank first header cell (R's write.csv, pandas' to_csv), as pandas names it
SNIFF_BYTES = 1 << 16  # the header and first rows that decide the delimiter
SNIFF_ROWS = 50
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zip")
BYTE_ORDER_MARKS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
QUOTING = {"minimal": csv.QUOTE_MINIMAL, "nonnumeric": csv.QUOTE_NONNUMERIC, "all": csv.QUOTE_ALL}
UNQUOTED_NUMBER = r"^\s*[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?\s*$"  # a number cell, with a decimal point or comma


def line_number(row: int) -> int:
    """The file line of data row `row` (0-based): the header is line 1."""
    return row + 2


def read_csv_text(path: str | Path, encoding: str = "utf-8", delimiter: str | None = None) -> pa.Table:
    """Every cell of the table file at `path` as text: a pyarrow Table of non-null strings, columns in file order,
    with how the file is written in its metadata (module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"CSV file {path} does not exist; set data.path (or input=) to an existing .csv file")
    if path.stat().st_size == 0:
        raise DataError(f"CSV file {path} is empty; it needs a header line with column names and one line per row")
    content = _decompressed(path)
    if content is not None and len(content) == 0:
        raise DataError(f"CSV file {path} is empty once decompressed; it needs a header line with column names and one line per row")
    encoding = _marked_encoding(path, content, encoding)
    head = _head_text(path, content, encoding)
    forced = delimiter is not None or ".tsv" in [suffix.lower() for suffix in path.suffixes]
    delimiter = _delimiter(path, head, delimiter)
    names = _header(path, head, delimiter, detected=not forced)
    written_names = next(csv.reader(io.StringIO(head, newline=""), delimiter=delimiter))
    read_encoding = "utf-8" if encoding == "utf-8-sig" else encoding  # pyarrow's own UTF-8 path; the header line with the mark is skipped
    read_options = pa_csv.ReadOptions(column_names=names, skip_rows_after_names=1, encoding=read_encoding, block_size=1 << 24)
    convert_options = pa_csv.ConvertOptions(column_types={name: pa.string() for name in names}, strings_can_be_null=False)
    try:
        table = pa_csv.read_csv(_source(path, content), read_options, _parse_options(delimiter), convert_options)
    except pa.ArrowInvalid as error:
        raise _read_error(path, content, names, encoding, delimiter, error) from None
    if table.num_rows == 0:
        raise DataError(f"CSV file {path} has a header line but no data rows")
    header = {name: written for name, written in zip(names, written_names) if written != name}
    return table.replace_schema_metadata({"delimiter": delimiter, "encoding": encoding, "quoting": _quoting(head, delimiter), "header": json.dumps(header)})


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


def _marked_encoding(path: Path, content: bytes | None, encoding: str) -> str:
    """The encoding a byte-order mark at the start of the file names (utf-8-sig, utf-16), unless `encoding` is not UTF-8."""
    if encoding.replace("_", "-").lower() not in ("utf-8", "utf8"):
        return encoding
    with _lines_of(path, content) as file:
        start = file.read(4)
    return next((marked for mark, marked in BYTE_ORDER_MARKS if start.startswith(mark)), encoding)


def _head_text(path: Path, content: bytes | None, encoding: str) -> str:
    """The first SNIFF_BYTES of the file as text, cut after its last complete line; a byte-order mark is dropped."""
    with _lines_of(path, content) as file:
        head = file.read(SNIFF_BYTES)
    header_encoding = "utf-8-sig" if encoding.replace("_", "-").lower() in ("utf-8", "utf8") else encoding
    try:
        text = codecs.getincrementaldecoder(header_encoding)().decode(head, final=len(head) < SNIFF_BYTES)
        text = text if len(head) < SNIFF_BYTES else text[: text.rfind("\n") + 1] or text
    except UnicodeDecodeError:
        raise _encoding_error(path, content, encoding) from None
    except LookupError:
        raise DataError(f"unknown text encoding '{encoding}' for {path}; use e.g. data.encoding=utf-8 or latin-1") from None
    if "\0" in text:  # no table holds NUL characters: UTF-16 or UTF-32 read as a one-byte encoding, or not text at all
        line = text[: text.index("\0")].count("\n") + 1
        raise DataError(
            f"CSV file {path} is not {encoding} text: line {line} holds NUL characters, as UTF-16 text or a binary file does; "
            f"re-save the file as UTF-8 or set data.encoding (e.g. utf-16)"
        )
    return text


def _delimiter(path: Path, head: str, forced: str | None) -> str:
    """The forced delimiter, tab for .tsv, or the one candidate that splits the header and first rows alike."""
    if forced is not None:
        forced = {"\\t": "\t", "tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}.get(forced, forced)
        if len(forced) != 1 or forced in '"\r\n':
            raise ConfigError(f"data.delimiter must be one character other than a quote or a line break (or tab, comma, semicolon, pipe), got {forced!r}")
        return forced
    if ".tsv" in [suffix.lower() for suffix in path.suffixes]:
        return "\t"
    consistent = []
    for candidate in DELIMITERS:
        rows = list(csv.reader(io.StringIO(head, newline=""), delimiter=candidate))[:SNIFF_ROWS]
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


def _quoting(head: str, delimiter: str) -> str:
    """How the header and first rows quote their cells (a key of QUOTING): every cell ("all"); the header and no
    number ("nonnumeric", as R and pandas' QUOTE_NONNUMERIC write); else only where needed ("minimal")."""
    rows: list[list[tuple[bool, str]]] = []
    for line in head.splitlines()[:SNIFF_ROWS]:
        cells = _quoted_cells(line, delimiter)
        if cells is None:  # a quoted cell goes on over the next line: judge on the rows before it
            break
        rows.append(cells)
    if not rows:
        return "minimal"
    if all(quoted for row in rows for quoted, _ in row):
        return "all"
    numbers_only = all(re.match(UNQUOTED_NUMBER, cell) or cell.strip() in DEFAULT_NA_VALUES for row in rows[1:] for quoted, cell in row if not quoted)
    return "nonnumeric" if all(quoted for quoted, _ in rows[0]) and numbers_only else "minimal"


def _quoted_cells(line: str, delimiter: str) -> list[tuple[bool, str]] | None:
    """(whether it is quoted, its raw text) for each cell of one line; None if a quoted cell does not end on it."""
    cells: list[tuple[bool, str]] = []
    quoted = inside = False
    start = 0
    for position, char in enumerate(line):
        if inside:
            inside = char != '"'
        elif char == '"' and (quoted or not line[start:position].strip()):  # opens the cell, or a doubled quote inside it
            quoted = inside = True
        elif char == delimiter:
            cells.append((quoted, line[start:position]))
            quoted, start = False, position + 1
    cells.append((quoted, line[start:]))
    return None if inside else cells


def _parse_options(delimiter: str, invalid_row_handler=None) -> pa_csv.ParseOptions:
    return pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True, invalid_row_handler=invalid_row_handler)


def _header(path: Path, head: str, delimiter: str, detected: bool) -> list[str]:
    """The column names on line 1 (surrounding spaces and quotes stripped), checked for blanks and duplicates,
    and, for a `detected` delimiter, for a single name that holds another delimiter."""
    raw = next(csv.reader(io.StringIO(head, newline=""), delimiter=delimiter), [])
    names = [_unquoted(name) for name in raw]
    if not any(names):
        raise DataError(f"CSV file {path} has no column names on line 1; the first line must be a header")
    if not names[0] and len(names) > 1:  # the row names R's write.csv and pandas' to_csv write first
        names[0] = ROW_NAMES
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
    if "straddl" in message:  # Arrow's words for a header record that the file ends in
        return DataError(
            f'CSV file {path} has no data rows after its header (line 1): the file ends in it, or a quote (") in it opens a name '
            f"that is never closed; add rows after the header, or close the quote"
        )
    return DataError(f"CSV file {path} cannot be parsed: {message}")


def _ragged_row_error(path: Path, content: bytes | None, names: list[str], encoding: str, delimiter: str) -> DataError | None:
    """Re-read on one thread, which knows line numbers, to name the first row with a wrong number of cells."""
    rows = []

    def first_bad_row(row: pa_csv.InvalidRow) -> str:
        rows.append(row)
        return "error"

    read_options = pa_csv.ReadOptions(column_names=names, skip_rows_after_names=1, encoding=encoding, use_threads=False)
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


def write_csv_atomically(
    frame: pd.DataFrame, path: str | Path, delimiter: str = ",", decimal: str = ".", quoting: str = "minimal", encoding: str = "utf-8"
) -> Path:
    """Write `frame` as CSV (no index, missing cells empty; `quoting` a key of QUOTING), compressed as the suffix of `path`
    says (``.gz``, ``.bz2``, ``.xz``, ``.zst``, ``.zip``), so that `path` is never seen half-written."""
    path = Path(path)

    def write(file) -> None:
        with _compressing(file, path) as stream:
            text = io.TextIOWrapper(stream, encoding=encoding, newline="")
            frame.to_csv(text, index=False, sep=delimiter, decimal=decimal, quoting=QUOTING[quoting], na_rep="", lineterminator="\n")
            text.flush()
            text.detach()

    replace_atomically(path, write)
    return path


@contextlib.contextmanager
def _compressing(file: IO[bytes], path: Path) -> Iterator[IO[bytes]]:
    """A binary stream that writes into `file` compressed as the suffix of `path` says (as is for any other suffix)."""
    suffix = path.suffix.lower()
    if suffix == ".gz":
        with gzip.GzipFile(filename=path.stem, mode="wb", fileobj=file, mtime=0) as stream:
            yield stream  # type: ignore[misc]
    elif suffix in (".bz2", ".xz"):
        opener = bz2.BZ2File if suffix == ".bz2" else lzma.LZMAFile
        with opener(file, "wb") as stream:
            yield stream
    elif suffix == ".zip":
        with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as archive, archive.open(path.stem, "w") as stream:
            yield stream
    elif suffix == ".zst":
        plain = io.BytesIO()
        yield plain
        file.write(pa.Codec("zstd").compress(plain.getvalue(), asbytes=True))
    else:
        yield file
