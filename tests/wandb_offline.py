"""Read an offline W&B run back from disk (its ``run-<id>.wandb`` file) for tests.

The file is a LevelDB-style log (32 KiB blocks of records with a 7-byte header: CRC, length, type)
after a 7-byte W&B header; each record is a ``wandb.proto.wandb_internal_pb2.Record``.
"""

import json
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from wandb.proto import wandb_internal_pb2

BLOCK_SIZE = 32768
HEADER_SIZE = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    run_id: str = ""
    group: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def records(path: Path):
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    position, pending = HEADER_SIZE, b""
    while position + HEADER_SIZE <= len(data):
        space = BLOCK_SIZE - position % BLOCK_SIZE
        if space < HEADER_SIZE:
            position += space
            continue
        _checksum, length, kind = struct.unpack("<IHB", data[position : position + HEADER_SIZE])
        if length == 0 and kind == 0:  # zero padding up to the end of a block
            position += space
            continue
        pending += data[position + HEADER_SIZE : position + HEADER_SIZE + length]
        position += HEADER_SIZE + length
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)


def read_offline_run(path: Path) -> OfflineRun:
    """Everything a dashboard would show of one offline run file."""
    run = OfflineRun()
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.run_id, run.group, run.tags = record.run.run_id, record.run.run_group, list(record.run.tags)
            run.config.update({i.key: json.loads(i.value_json) for i in record.run.config.update})
        elif kind == "config":
            for item in record.config.update:
                run.config[_key(item)] = json.loads(item.value_json)
        elif kind == "history":
            run.history.append({_key(i): json.loads(i.value_json) for i in record.history.item})
        elif kind == "summary":
            for item in record.summary.update:
                run.summary[_key(item)] = json.loads(item.value_json)
        elif kind == "files":
            run.files += [f.path for f in record.files.files]
    return run


def offline_runs(run_dir: Path) -> list[Path]:
    """The run files of every offline W&B run under `run_dir`, oldest first."""
    return sorted(Path(run_dir).glob("wandb/offline-run-*/run-*.wandb"))


def finished_offline_run(run_dir: Path, timeout: float = 60.0) -> OfflineRun:
    """The one offline run under `run_dir`, read once its file ends with W&B's exit record.

    In-process, ``wandb.finish()`` can return before the W&B service has written the run file to disk.
    """
    deadline = time.monotonic() + timeout
    while True:
        files = offline_runs(run_dir)
        if len(files) == 1 and any(record.WhichOneof("record_type") == "exit" for record in records(files[0])):
            return read_offline_run(files[0])
        assert time.monotonic() < deadline, f"no finished W&B offline run under {run_dir} after {timeout} s: {files}"
        time.sleep(0.2)
