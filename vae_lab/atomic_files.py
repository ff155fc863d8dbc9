"""Files that are replaced atomically: a reader, or a run killed mid-write, never sees half a file.

The new content goes to a temporary file in the *same directory* (so the final rename never crosses a
filesystem), is flushed and fsync'ed, then ``os.replace`` swaps it in; the directory is fsync'ed so
the rename itself survives a crash. A kill at any point leaves either the old file or the new one.
A write that finds the disk, the quota or the file-size limit full is one ``StorageFull`` error naming the file.
"""

import errno
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from vae_lab.errors import StorageFull

FULL = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up", errno.EFBIG: "the file-size limit is reached"}


def replace_atomically(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(file)`` on a temporary file beside `path`, then rename it to `path`."""
    path = Path(path)
    with reporting_full_storage(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        # A unique name, so that concurrent writers (jobs of a parallel sweep) never share a temporary file.
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
        try:
            with os.fdopen(handle, "wb") as file:
                write(file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    _fsync_directory(path.parent)


@contextmanager
def reporting_full_storage(path: Path) -> Iterator[None]:
    """Turn a write error caused by full storage (also when a library wraps it, as torch.save does) into StorageFull."""
    try:
        yield
    except Exception as error:
        cause: BaseException | None = error
        while cause is not None and not (isinstance(cause, OSError) and cause.errno in FULL):
            cause = cause.__cause__ or cause.__context__
        if cause is None:
            raise
        assert isinstance(cause, OSError)
        raise StorageFull(
            f"cannot write {path}: {FULL[cause.errno]} ({cause.strerror}). The files written before it are intact; "
            "free space (or raise the limit) and run the same command again: a training run resumes from its last checkpoint"
        ) from None


def _fsync_directory(directory: Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:  # some filesystems do not allow opening a directory
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def write_text(path: str | Path, text: str) -> None:
    def write(file: IO[bytes]) -> None:
        file.write(text.encode())

    replace_atomically(path, write)


def write_json(path: str | Path, content: dict[str, Any]) -> None:
    """Write JSON atomically: a reader never sees a half-written file."""
    write_text(path, json.dumps(content, indent=2) + "\n")
