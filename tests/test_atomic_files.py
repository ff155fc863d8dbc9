"""Atomic replacement: a failed or killed write never touches the existing file."""

import json

import pytest

from vae_lab.atomic_files import replace_atomically, write_json


def test_write_json_replaces_the_file_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "deep" / "results.json"
    write_json(path, {"a": 1})
    write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]


def test_a_writer_that_fails_midway_leaves_the_old_content(tmp_path):
    path = tmp_path / "last.ckpt"
    path.write_bytes(b"old checkpoint")

    def fail_midway(file):
        file.write(b"half of a new")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_atomically(path, fail_midway)
    assert path.read_bytes() == b"old checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
