"""Table files in and out in their own dialect: delimited text as people save it, Parquet, Feather and Arrow IPC.

``read_table_text`` reads every cell as text (the schema decides what a cell means): delimited text through
``csv_file.read_csv_text``; a Parquet (``.parquet``), Feather (``.feather``) or Arrow IPC (``.arrow``) table
with its column types, each cast to text (no delimiter or decimal detection: numbers are numbers). Its metadata
holds the file's ``TableDialect``, which a table written back with ``write_table`` follows, so that what read
the input reads the output the same way: the same delimiter, decimal mark, quoting, encoding, header names,
compression and, for Arrow formats, the same column types.
"""

import base64
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather
import pyarrow.parquet as pq
import torch

from vae_lab.atomic_files import replace_atomically
from vae_lab.data.cell_values import FLOAT, ValueFormat
from vae_lab.data.csv_file import COMPRESSED_SUFFIXES, read_csv_text, write_csv_atomically
from vae_lab.data.table_schema import TableSchema
from vae_lab.errors import DataError

ARROW_FORMATS = {".parquet": "parquet", ".feather": "feather", ".arrow": "arrow"}
TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
ZERO_FRACTION = r"\.0+$"  # 2020-01-01 00:00:00.000000000: whole seconds, written without the fraction


@dataclass
class TableDialect:
    """How a table file is written; the defaults are those of files read before dialects were recorded.

    format: ``csv`` (delimited text) or a value of ARROW_FORMATS; suffix: the file's suffix before any compression
    (``.csv``, ``.tsv``, ``.txt``, ``.parquet``); compression: a suffix of ``csv_file.COMPRESSED_SUFFIXES`` or "".
    delimiter, decimal (the decimal mark of the number columns), quoting (a key of ``csv_file.QUOTING``), encoding
    (``utf-8-sig`` and ``utf-16`` write a byte-order mark), header (name -> its header cell where they differ).
    arrow_schema: an Arrow format's schema, serialized as base64 text ("" for delimited text).
    """

    format: str = "csv"
    suffix: str = ".csv"
    compression: str = ""
    delimiter: str = ","
    decimal: str = "."
    quoting: str = "minimal"
    encoding: str = "utf-8"
    header: dict[str, str] = field(default_factory=dict)
    arrow_schema: str = ""

    @classmethod
    def of(cls, table: pa.Table, formats: list[ValueFormat]) -> "TableDialect":
        """The dialect `read_table_text` found, with the decimal mark of the columns' `formats`: a comma when
        every number column with decimals writes one."""
        dialect = cls.from_state(json.loads((table.schema.metadata or {}).get(b"dialect", b"{}")))
        marks = {format.decimal for format in formats if format.type == FLOAT}
        dialect.decimal = "," if marks == {","} else "."
        return dialect

    def state_dict(self) -> dict[str, Any]:
        """Plain Python data: saved in checkpoints by the data module."""
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> "TableDialect":
        """The dialect of `state`; None (a checkpoint from before dialects were recorded): the defaults."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in (state or {}).items() if key in known})

    def output(self, output: Path) -> Path:
        """`output` itself when its name ends in a table suffix (``.csv``, ``.tsv``, ``.txt``, the input's, an Arrow
        format; compressed or not), else `output` with the input's suffix and compression (``samples.csv.gz``)."""
        suffixes = [suffix.lower() for suffix in output.suffixes]
        table_suffix = suffixes[-2:-1] if suffixes[-1:] and suffixes[-1] in COMPRESSED_SUFFIXES else suffixes[-1:]
        if table_suffix and table_suffix[0] in (*TEXT_SUFFIXES, self.suffix, *ARROW_FORMATS):
            return output
        return output.parent / f"{output.name}{self.suffix}{self.compression}"


def read_table_text(path: str | Path, encoding: str = "utf-8", delimiter: str | None = None) -> pa.Table:
    """Every cell of the table file at `path` as text (``csv_file.read_csv_text``), with its ``TableDialect`` in
    the metadata (``dialect``, JSON) beside the ``delimiter`` that reading numbers needs."""
    path = Path(path)
    suffixes = [suffix.lower() for suffix in path.suffixes]
    compression = suffixes[-1] if suffixes[-1:] and suffixes[-1] in COMPRESSED_SUFFIXES else ""
    suffix = (suffixes[:-1] if compression else suffixes)[-1:] or [".csv"]
    format = ARROW_FORMATS.get(path.suffix.lower())
    if format is None:
        table = read_csv_text(path, encoding, delimiter)
        metadata = {key.decode(): value.decode() for key, value in (table.schema.metadata or {}).items()}
        dialect = TableDialect(
            suffix=suffix[0], compression=compression, delimiter=metadata["delimiter"], quoting=metadata["quoting"],
            encoding=metadata["encoding"], header=json.loads(metadata["header"]),
        )  # fmt: skip
    else:
        typed = read_arrow(path, format)
        table = pa.table({name: text_cells(name, column, path) for name, column in zip(typed.column_names, typed.columns)})
        schema = base64.b64encode(typed.schema.remove_metadata().serialize().to_pybytes()).decode()
        dialect = TableDialect(format=format, suffix=path.suffix.lower(), arrow_schema=schema)
    return table.replace_schema_metadata({"delimiter": dialect.delimiter, "dialect": json.dumps(asdict(dialect))})


def read_arrow(path: Path, format: str) -> pa.Table:
    """The table of a Parquet, Feather or Arrow IPC (file or stream) file, with its column types."""
    if not path.is_file():
        raise DataError(f"table file {path} does not exist; set data.path (or input=) to an existing file")
    try:
        if format == "parquet":
            table = pq.read_table(path)
        elif format == "feather":
            table = feather.read_table(path)
        else:
            try:
                table = pa.ipc.open_file(path).read_all()
            except pa.ArrowInvalid:
                table = pa.ipc.open_stream(path).read_all()
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{path} cannot be read as a {format} table ({error}); check the file or its suffix") from None
    if table.num_rows == 0:
        raise DataError(f"table file {path} has no rows")
    return table


def text_cells(name: str, column: pa.ChunkedArray, path: Path) -> pa.ChunkedArray:
    """A typed column as the text the schema reads: numbers as Arrow writes them, times in UTC without a zero fraction,
    missing cells empty."""
    if pa.types.is_timestamp(column.type) and column.type.tz is not None:
        column = pc.cast(column, pa.timestamp(column.type.unit))  # the UTC time; written back in the column's zone
    try:
        text = pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise DataError(f"column '{name}' of {path} holds {column.type}, which has no text form; drop it from the table or store it as text") from None
    if pa.types.is_timestamp(column.type):
        text = pc.replace_substring_regex(text, ZERO_FRACTION, "")
    return text.fill_null("")


def write_table(frame: pd.DataFrame, path: str | Path, dialect: TableDialect) -> Path:
    """Write `frame` atomically at `path` in the format its suffix names (an Arrow format, else delimited text
    compressed as the suffix says) and in `dialect`: delimited text with its delimiter (tab for ``.tsv``), decimal
    mark, quoting, encoding and header cells; an Arrow format with the dialect's column types where it has them
    (a text cell "" is missing there)."""
    path = Path(path)
    format = ARROW_FORMATS.get(path.suffix.lower())
    if format is None:
        text = dialect if dialect.format == "csv" else TableDialect()
        delimiter = "\t" if ".tsv" in [suffix.lower() for suffix in path.suffixes] else text.delimiter
        renamed = frame.rename(columns=text.header)
        return write_csv_atomically(renamed, path, delimiter, text.decimal, text.quoting, text.encoding)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if dialect.arrow_schema:
        types = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(dialect.arrow_schema)))
        table = pa.table(
            {name: typed(name, column, types.field(name).type) if name in types.names else column for name, column in zip(table.column_names, table.columns)}
        )

    def write(file) -> None:
        if format == "parquet":
            pq.write_table(table, file)
        else:
            feather.write_feather(table, file, compression=None if format == "feather" else "uncompressed")

    replace_atomically(path, write)
    return path


def typed(name: str, column: pa.ChunkedArray, to: pa.DataType) -> pa.ChunkedArray:
    """A written column (numbers, or text as ``text_cells`` gives it) cast to the Arrow type `to`."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        column = pc.if_else(pc.equal(column, ""), pa.scalar(None, column.type), column)
    try:
        if pa.types.is_timestamp(to) and to.tz is not None:
            return pc.cast(pc.cast(column, pa.timestamp(to.unit)), to)
        return pc.cast(column, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise DataError(f"column '{name}' cannot be written as {to}, its type in the input table ({error})") from None


def frame_as_text(frame: pd.DataFrame, dialect: TableDialect) -> pa.Table:
    """A DataFrame as the table of text cells a file of `dialect` would be read as (``read_table_text``): numbers
    with the dialect's decimal mark, missing cells empty; an Arrow dialect's cells as Arrow writes them. A float
    column with missing cells whose other values are all whole is written as integers: pandas holds a column of
    integers with a missing cell as floats."""
    if dialect.format != "csv":
        typed = pa.Table.from_pandas(frame, preserve_index=False)
        return pa.table({name: text_cells(name, column, Path("the DataFrame")) for name, column in zip(typed.column_names, typed.columns)})
    columns = {}
    for name in frame.columns:
        is_float = pd.api.types.is_float_dtype(frame[name])
        observed = frame[name].dropna()
        if is_float and len(observed) < len(frame) and np.isfinite(observed).all() and (observed == np.round(observed)).all():
            frame = frame.assign(**{str(name): frame[name].astype("Int64")})
            is_float = False
        cells = [cell_text(value, is_float) for value in frame[name]]
        columns[str(name)] = pa.array([cell.replace(".", dialect.decimal) if is_float else cell for cell in cells], pa.string())
    return pa.table(columns)


def written_copy(frame: pd.DataFrame, schema: TableSchema, missing: np.ndarray, filled: torch.Tensor) -> pd.DataFrame:
    """`frame` (the input as text) with the missing cells of the modelled columns set from model rows `filled` (n, width)."""
    values = schema.inverse(filled, generated=True)
    for i, column in enumerate(schema.columns):
        rows = missing[:, i]
        if rows.any():
            frame[column.name] = frame[column.name].astype(object)
            plain_float = column.format.type == FLOAT and not column.format.decorated
            frame.loc[rows, column.name] = [cell_text(value, plain_float) for value in values[column.name][rows]]
    return frame


def cell_text(value: Any, is_float: bool) -> str:
    """A filled value as CSV text: integers as integers, floats in their shortest exact form, labels as they are."""
    if pd.isna(value):
        return ""
    if is_float:
        return repr(float(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)
