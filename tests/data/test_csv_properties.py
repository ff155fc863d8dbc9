"""Generated table files (hypothesis): each one loads as the CSV data module loads it, into finite numbers of one row
per record, or raises our one-message error (VaeLabError); nothing else. A few bad files also go through the CLI."""

import bz2
import concurrent.futures
import gzip
import io
import lzma
import math
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
import torch
from conftest import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vae_lab.data.csv_table import CSVDataModule
from vae_lab.errors import ConfigError, DataError

EXAMPLES = max(500, settings.default.max_examples)  # the thorough profile (HYPOTHESIS_PROFILE=thorough) runs more
DELIMITERS = [",", ";", "\t", "|"]
SPECIAL_CELLS = ["", " ", "NA", "null", "nan", "NaN", "NAN", "-nan", "inf", "-inf", "+inf", "Infinity", "-Infinity", "INF", "1e309", "-1e309"]
HUGE_NUMBERS = ["1e308", "-1.7976931348623157e308", "1.7976931348623157e+308", "5e-324", "1e-320", "9223372036854775807",
                "-9223372036854775808", "9223372036854775808", "99999999999999999999999999", "1" + "0" * 400, "123456789.123456789012345"]  # fmt: skip
TEXT_ALPHABET = st.sampled_from(list("abcXYZ019 .-_\"',;|\t\n\r#%$€é漢") + ["\u00a0", "\ufeff"])


@dataclass
class TableFile:
    """A generated file: its bytes, name suffix, the encoding and delimiter the data module is told, and the
    records it holds (None where a cell breaks the structure and the count is not known)."""

    content: bytes
    suffix: str
    encoding: str
    delimiter: str | None
    records: int | None


def number_cells(draw_numbers: st.SearchStrategy) -> st.SearchStrategy[str]:
    return st.one_of(draw_numbers, st.sampled_from(SPECIAL_CELLS[:4]))  # mostly numbers, some missing


CELLS = {
    "integer": number_cells(st.integers(-(10**6), 10**6).map(str)),
    "small integer": number_cells(st.integers(0, 4).map(str)),
    "float": number_cells(st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr)),
    "any float": st.floats(width=64).map(lambda v: repr(v) if math.isfinite(v) else str(v)),
    "huge": number_cells(st.sampled_from(HUGE_NUMBERS)),
    "special": st.sampled_from(SPECIAL_CELLS),
    "label": st.sampled_from(["red", "green", "blue", "Red", " red ", "x,y", 'say "hi"', "a\nb"]),
    "boolean": st.sampled_from(["true", "false", "TRUE", "False", "yes", "no", "T", "f", "1", "0", ""]),
    "date": st.datetimes().flatmap(lambda t: st.sampled_from([t.date().isoformat(), t.isoformat(sep=" "), t.strftime("%d/%m/%Y"), t.strftime("%b %d %Y")])),
    "decorated": st.sampled_from(["$1,234.50", "12.5%", "1.234,5", "€ 3", "-$0.99", "1 234,5", "$", "%", "1,2,3"]),
    "text": st.text(TEXT_ALPHABET, max_size=6),
}
ODD_NAMES = st.one_of(
    st.sampled_from(["", " ", '"', '""', "'x'", '"x"', " x ", "a,b", "a;b", "x\ty", "a\nb", "NA", "1", "age", "Age"]),
    st.text(TEXT_ALPHABET, max_size=5),
)  # empty, duplicate (once stripped of spaces and quotes), holding delimiters, quotes or line breaks
NAME_FORMS = ["{}", " {} ", '"{}"', "'{}'", "{} name", "{}漢"]  # unique names, written in odd ways


def quoted(cell: str, delimiter: str, quoting: str) -> str:
    """A cell as a CSV writer writes it: `all` quotes every cell, `minimal` those that need it, `none` none."""
    needs = any(c in cell for c in (delimiter, '"', "\n", "\r")) or cell != cell.strip(" ")
    if quoting == "all" or quoting == "minimal" and needs:
        return '"' + cell.replace('"', '""') + '"'
    return cell


@st.composite
def table_files(draw) -> TableFile:
    width = draw(st.integers(1, 5))
    if draw(st.integers(0, 3)):
        header = [draw(st.sampled_from(NAME_FORMS)).format(f"c{i}") for i in range(width)]
    else:
        header = draw(st.lists(ODD_NAMES, min_size=width, max_size=width))
    kinds = draw(st.lists(st.sampled_from(list(CELLS)), min_size=width, max_size=width))
    size = draw(st.integers(4, 15) if draw(st.integers(0, 7)) else st.integers(0, 3))  # mostly enough rows for the splits
    columns = [draw(st.lists(CELLS[kind], min_size=size, max_size=size)) for kind in kinds]
    rows = [list(row) for row in zip(*columns)]
    if rows and draw(st.integers(0, 9)) == 0:  # a ragged row: one cell short or one too many
        row = draw(st.integers(0, len(rows) - 1))
        rows[row] = rows[row][:-1] if draw(st.booleans()) else [*rows[row], "extra"]
    delimiter = draw(st.sampled_from(DELIMITERS))
    quoting = draw(st.sampled_from(["minimal", "minimal", "all", "none"]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines = [delimiter.join(quoted(cell, delimiter, quoting) for cell in row) for row in [header, *rows]]
    text = newline.join(lines) + draw(st.sampled_from([newline, ""]))
    written_as = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "latin-1", "utf-16"]))
    told = written_as.replace("-sig", "") if draw(st.integers(0, 5)) else draw(st.sampled_from(["utf-8", "latin-1", "ascii", "no-such-codec"]))
    content = text.encode(written_as, errors="replace")
    suffix = draw(st.sampled_from([".csv", ".csv", ".csv", ".txt", ".tsv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zst", ".csv.zip", ".CSV.GZ"]))
    content = compressed(content, suffix) if draw(st.integers(0, 9)) else content  # one in ten: a suffix that lies
    forced = None if draw(st.integers(0, 5)) else draw(st.sampled_from([delimiter, "tab", "\\t", "semicolon", "ab", "", '"', "\n"]))
    told_delimiter = {"tab": "\t", "\\t": "\t", "semicolon": ";"}.get(forced, forced) if forced is not None else "\t" if suffix == ".tsv" else delimiter
    unbroken = quoting != "none" or not any(c in cell for row in [header, *rows] for cell in row for c in (delimiter, '"', "\n", "\r"))
    decoded_as_written = told == written_as.replace("-sig", "") or told == "utf-8" and written_as in ("utf-8-sig", "utf-16")  # a byte-order mark says
    structured = unbroken and told_delimiter == delimiter and decoded_as_written
    blank = sum(1 for line in lines[1:] if line == "")  # a one-column row of an empty cell is an empty line: not a record
    return TableFile(content, suffix, told, forced, len(rows) - blank if structured else None)


def compressed(content: bytes, suffix: str) -> bytes:
    """`content` compressed as its `suffix` says (a zip archive of one member; plain for other suffixes)."""
    suffix = suffix.lower()
    if suffix.endswith(".gz"):
        return gzip.compress(content)
    if suffix.endswith(".bz2"):
        return bz2.compress(content)
    if suffix.endswith(".xz"):
        return lzma.compress(content)
    if suffix.endswith(".zst"):
        sink = pa.BufferOutputStream()
        with pa.CompressedOutputStream(sink, "zstd") as stream:
            stream.write(content)
        return sink.getvalue().to_pybytes()
    if suffix.endswith(".zip"):
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr("table.csv", content)
        return archive.getvalue()
    return content


def load(path: Path, table: TableFile) -> torch.Tensor:
    """The rows of every split of the file, in model space, as ``data=csv`` loads them (read, split, schema, encode)."""
    datamodule = CSVDataModule(str(path), val_size=1, test_size=1, encoding=table.encoding, delimiter=table.delimiter, min_epoch_rows=0)
    return torch.cat([split.x for split in datamodule.load_splits().values()])


def test_every_generated_table_file_loads_into_finite_rows_or_is_one_message(tmp_path):
    outcomes: Counter[str] = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(table_files())
    def check(table: TableFile) -> None:
        path = tmp_path / f"table{sum(outcomes.values())}{table.suffix}"
        path.write_bytes(table.content)
        try:
            x = load(path, table)
        except ConfigError as error:
            outcomes["refused config"] += 1
            assert "data." in str(error), str(error)  # a config value: named by its key
            return
        except DataError as error:
            outcomes["refused file"] += 1
            assert str(path) in str(error), str(error)  # a file's fault: named by its path
            return
        outcomes["loaded"] += 1
        assert x.dtype == torch.float32 and x.ndim == 2 and x.shape[1] >= 1
        assert torch.isfinite(x).all(), f"non-finite values in the encoded rows of {table}"
        if table.records is not None:
            assert x.shape[0] == table.records

    check()
    total = sum(outcomes.values())
    assert total >= EXAMPLES, outcomes
    assert outcomes["loaded"] >= total / 10 and outcomes["refused file"] >= total / 10, outcomes  # both sides of the property are exercised


BAD_FILES = {  # name: (content, what the one message says)
    "ragged.csv": (b"a,b,c\n1,2,3\n4,5\n6,7,8\n9,10,11\n12,13,14\n", "line 3 has 2 cells but the header has 3 columns"),
    "times.csv": (
        b"when,n\n2024-01-01 10:00:00.5,1\n2024-01-02 10:00:00.25,2\n2024-01-03 10:00:01.0,3\n2024-01-04 10:00:02.125,4\n",
        "column 'when' of times.csv holds times with fractions of a second (e.g. '2024-01-01 10:00:00.5')",
    ),
    "old-mac.csv": (b"a,b\r1,2\r3,4\r5,6\r7,1e300\r9,-1e300\r", "column 'b' of old-mac.csv holds numbers too large to model"),
}


@pytest.mark.slow
def test_bad_table_files_exit_2_from_the_cli_with_one_message(tmp_path):
    cases = []
    for name, (content, _) in BAD_FILES.items():
        folder = tmp_path / name.split(".")[0]
        folder.mkdir()
        (folder / name).write_bytes(content)
        args = ["train", "experiment=tabular", f"data.path={name}", "data.val_size=1", "data.test_size=1", "trainer.max_epochs=1", "trainer.accelerator=cpu"]
        cases.append((args, folder))
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(cases)) as pool:
        done = list(pool.map(lambda case: run_cli(*case), cases))
    for (args, folder), result, (_, message) in zip(cases, done, BAD_FILES.values()):
        output = result.stdout + result.stderr
        assert result.returncode == 2, f"{args}: exit {result.returncode}\n{output}"
        assert "Traceback" not in output, output
        errors = [line for line in output.splitlines() if "ERROR" in line]
        assert len(errors) == 1 and message in errors[0], output
        assert [path.name for path in folder.iterdir()] == [args[2].split("=")[1]], "a refused run leaves nothing behind"
