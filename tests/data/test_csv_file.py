"""Reading CSV files as text: exact cells, and one clear DataError per kind of bad file."""

import pandas as pd
import pytest

from vae_lab.data.csv_file import read_csv_text, write_csv_atomically
from vae_lab.errors import DataError


def write(tmp_path, content: bytes | str, name: str = "table.csv"):
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_cells_are_read_as_their_exact_text(tmp_path):
    path = write(tmp_path, '\ufeffid,name,amount\n007,"Smith, J.",1.50\n8,"say ""hi""",\n9,"two\nlines",NA\n')
    table = read_csv_text(path)
    assert table.column_names == ["id", "name", "amount"]
    assert table.to_pydict() == {"id": ["007", "8", "9"], "name": ["Smith, J.", 'say "hi"', "two\nlines"], "amount": ["1.50", "", "NA"]}


def test_latin1_is_read_when_declared(tmp_path):
    path = write(tmp_path, "city,n\nK\xf6ln,1\nZ\xfcrich,2\n".encode("latin-1"))
    assert read_csv_text(path, encoding="latin-1").column("city").to_pylist() == ["Köln", "Zürich"]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", r"is empty; it needs a header line"),
        (b"a,b,c\n", r"has a header line but no data rows"),
        (b"a,b,a\n1,2,3\n", r"duplicate column name 'a' \(columns 1 and 3 of line 1\)"),
        (b"a,,c\n1,2,3\n", r"column 2 of the header \(line 1\) has no name"),
        (b"a,b,c\n1,2,3\n4,5\n6,7,8\n", r"line 3 has 2 cells but the header has 3 columns \('4,5'\)"),
        (b"a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n", r"line 4 has 4 cells but the header has 3 columns"),
        (b"a,b\n1,ok\n2,caf\xe9\n", r"is not utf-8 text: line 3 has the bytes b'\\xe9\\n' at position 6.*data.encoding"),
        (b"a,caf\xe9\n1,2\n", r"is not utf-8 text: line 1"),
    ],
    ids=["empty", "header-only", "duplicate-names", "blank-name", "short-row", "long-row", "not-utf8", "not-utf8-header"],
)
def test_bad_files_raise_one_clear_error_naming_file_and_line(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(DataError, match=message) as error:
        read_csv_text(path)
    assert str(path) in str(error.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match=rf"CSV file {tmp_path / 'nope.csv'} does not exist"):
        read_csv_text(tmp_path / "nope.csv")


def test_writing_is_atomic_and_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out" / "table.csv"
    write_csv_atomically(pd.DataFrame({"a": pd.array([1, None], dtype="Int64"), "b": ["x,y", "z"]}), target)
    assert target.read_text() == 'a,b\n1,"x,y"\n,z\n'

    class Unwritable:
        def to_csv(self, file, **kwargs):
            file.write("a,b\n1,")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_csv_atomically(Unwritable(), target)
    assert target.read_text() == 'a,b\n1,"x,y"\n,z\n'  # the old file is intact
    assert sorted(p.name for p in target.parent.iterdir()) == ["table.csv"]
