"""Files as people save them: delimiters, compression, quoted headers, booleans, decorated numbers and dates."""

import bz2
import gzip
import logging
import lzma
import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from vae_lab.data.cell_values import BOOLEAN, DATETIME, FLOAT, INT
from vae_lab.data.csv_file import read_csv_text
from vae_lab.data.table_schema import SchemaOptions, infer_schema
from vae_lab.errors import ConfigError, DataError

ROWS = 'id,name,amount\n1,Ann,1.5\n2,"Bo, Jr.",2.5\n3,Cy,3.0\n'


def write(tmp_path, name: str, content: bytes | str):
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def schema_of(path, **options):
    table = read_csv_text(path)
    return table, infer_schema(table, np.arange(table.num_rows), SchemaOptions.of(**options), str(path))


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"], ids=["comma", "semicolon", "tab", "pipe"])
def test_each_delimiter_is_detected(tmp_path, delimiter):
    content = ROWS.replace(",", delimiter).replace(f'"Bo{delimiter} Jr."', '"Bo, Jr."')
    table = read_csv_text(write(tmp_path, "t.csv", content))
    assert table.column_names == ["id", "name", "amount"]
    assert table.column("name").to_pylist() == ["Ann", "Bo, Jr.", "Cy"]
    assert table.schema.metadata[b"delimiter"].decode() == delimiter


def test_tsv_means_tab_and_a_forced_delimiter_wins(tmp_path):
    assert read_csv_text(write(tmp_path, "t.tsv", "a\tb;c\n1\t2;3\n")).column_names == ["a", "b;c"]
    assert read_csv_text(write(tmp_path, "t.csv", "a;b\n1;2\n"), delimiter=",").column_names == ["a;b"]
    with pytest.raises(ConfigError, match="data.delimiter must be one character"):
        read_csv_text(write(tmp_path, "t.csv", "a;b\n1;2\n"), delimiter=";;")


def test_an_ambiguous_delimiter_names_the_candidates_and_the_override(tmp_path):
    with pytest.raises(DataError, match=r"the delimiter is ambiguous, comma \(','\), semicolon \(';'\) .*data.delimiter"):
        read_csv_text(write(tmp_path, "t.csv", "a,b;c\n1,2;3\n4,5;6\n"))


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz", ".zst", ".zip"])
def test_each_compression_is_read_by_its_suffix(tmp_path, suffix):
    raw = ROWS.replace(",", ";").replace('"Bo; Jr."', '"Bo, Jr."').encode()
    if suffix == ".zip":
        path = tmp_path / "t.csv.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("t.csv", raw)
    elif suffix == ".zst":
        path = tmp_path / "t.csv.zst"
        with pa.CompressedOutputStream(str(path), "zstd") as stream:
            stream.write(raw)
    else:
        path = write(tmp_path, f"t.csv{suffix}", {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}[suffix](raw))
    table = read_csv_text(path)
    assert table.column_names == ["id", "name", "amount"] and table.column("amount").to_pylist() == ["1.5", "2.5", "3.0"]


def test_a_corrupt_or_many_member_archive_is_one_message(tmp_path):
    with pytest.raises(DataError, match=r"t.csv.gz cannot be decompressed as .gz"):
        read_csv_text(write(tmp_path, "t.csv.gz", b"not gzip at all"))
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", "a\n1\n")
        archive.writestr("b.csv", "b\n2\n")
    with pytest.raises(DataError, match=r"two.zip is a zip archive of 2 files \(a.csv, b.csv\); it must hold exactly one table"):
        read_csv_text(path)


def test_header_names_lose_surrounding_quotes_and_spaces(tmp_path):
    table = read_csv_text(write(tmp_path, "t.tsv", "'popul'\t 'TV news' \t\"vote\"\n0\t7\t1\n"))
    assert table.column_names == ["popul", "TV news", "vote"]


def test_case_mixed_booleans_are_one_binary_column(tmp_path):
    cells = ["True", "false", "TRUE", "False", "true", "FALSE", "True", "False"] * 5
    table, schema = schema_of(write(tmp_path, "t.csv", "flag,v\n" + "".join(f"{c},{i}\n" for i, c in enumerate(cells))))
    flag = schema.columns[0]
    assert flag.kind == "binary" and flag.format.type == BOOLEAN and flag.format.labels == ["False", "True"]
    encoded = schema.transform(table, "t.csv", dtype=np.float64)
    assert encoded.x[:, 0].tolist() == [float(c.lower() == "true") for c in cells]
    assert schema.inverse(encoded.x)["flag"].tolist() == [("True" if c.lower() == "true" else "False") for c in cells]


def test_decorated_numbers_are_parsed_and_written_back(tmp_path):
    rng = np.random.default_rng(0)
    amounts = rng.integers(1, 5_000_000, 60)
    frame = pd.DataFrame({
        "price": [f"${a / 100:,.2f}" for a in amounts],
        "share": [f"{a % 1000 / 10:.1f}%" for a in amounts],
        "count": [f"{a:,}" for a in amounts],
    })  # fmt: skip
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    table, schema = schema_of(path)
    formats = {c.name: c.format for c in schema.columns}
    assert (formats["price"].type, formats["price"].prefix, formats["price"].thousands, formats["price"].decimals) == (FLOAT, "$", ",", 2)
    assert (formats["share"].type, formats["share"].suffix) == (FLOAT, "%") and formats["count"].type == INT
    encoded = schema.transform(table, "t.csv", dtype=np.float64)
    values = schema.values(encoded.x)
    assert np.allclose(values["price"], amounts / 100) and np.array_equal(values["count"], amounts)
    pd.testing.assert_frame_equal(schema.inverse(encoded.x).astype(str), frame.astype(str))


def test_an_ambiguous_comma_is_read_by_the_delimiter_with_a_warning(tmp_path, caplog):
    rng = np.random.default_rng(0)
    cells = "".join(f'"{a},{b:03d}"\n' for a, b in zip(rng.integers(1, 999, 40), rng.integers(0, 999, 40)))
    with caplog.at_level(logging.WARNING):
        _, schema = schema_of(write(tmp_path, "t.csv", "amount\n" + cells))
    assert schema.columns[0].format.thousands == "," and "set data.thousands and data.decimal" in caplog.text
    _, schema = schema_of(write(tmp_path, "t.csv", "amount\n" + cells), thousands="", decimal=",")
    assert schema.columns[0].format.decimal == ","


DATES = {
    "%Y-%m-%d": ["2024-01-05", "2023-12-31", "2024-02-29", "2022-07-04"],
    "%Y/%m/%d %H:%M:%S": ["2010/01/01 00:00:00", "2010/01/01 13:00:00", "2010/06/30 23:00:00", "2011/02/03 04:00:00"],
    "%b %-d %Y": ["Jan 1 2000", "Feb 12 2001", "Mar 1 2000", "Dec 31 2009"],
    "%Y-%m-%dT%H:%M:%S": ["2024-01-05T10:30:15", "2023-12-31T00:00:01", "2024-02-29T23:59:59", "2022-07-04T12:00:00"],
    "%d/%m/%Y": ["25/12/2020", "01/02/2021", "31/01/2021", "15/06/2019"],  # day-first: 25 and 31 cannot be months
}


@pytest.mark.parametrize("write_format", list(DATES), ids=list(DATES))
def test_each_date_format_round_trips_exactly(tmp_path, write_format):
    cells = DATES[write_format] * 6
    path = write(tmp_path, "t.csv", "when,v\n" + "".join(f"{c},{i * 0.37:.2f}\n" for i, c in enumerate(cells)))
    table, schema = schema_of(path, discrete_values=0)
    when = schema.columns[0]
    assert when.format.type == DATETIME and when.format.write_format == write_format
    encoded = schema.transform(table, str(path), dtype=np.float64)
    assert schema.inverse(encoded.x)["when"].tolist() == cells


def test_numbers_only_dates_are_dates_only_when_declared(tmp_path):
    cells = ["20240320", "20231201", "20220715", "20240101"] * 6
    path = write(tmp_path, "t.csv", "day,v\n" + "".join(f"{c},{i}\n" for i, c in enumerate(cells)))
    assert schema_of(path)[1].columns[0].format.type == INT
    table, schema = schema_of(path, datetime=["day"])
    assert schema.columns[0].format.type == DATETIME and schema.columns[0].format.unit == "D"
    assert schema.inverse(schema.transform(table, "t", dtype=np.float64).x)["day"].tolist() == cells
    with pytest.raises(DataError, match=r"column 'v' of .* is declared as dates but '0' is not written as .*data.datetime_format"):
        schema_of(path, datetime=["v"])
