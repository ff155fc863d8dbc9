"""A training run's directory: where its files are, and the one process that may write them.

Layout (``RunDir``): ``results.json``, ``metrics.csv``, ``wandb_run_id``, ``checkpoints/last.ckpt`` (and the
best one), Lightning's ``hpc_ckpt_*.ckpt`` (SLURM's time limit), ``.hydra/``, and ``run.lock``.

One writer per run directory. Before anything is written, a run takes ``run.lock``: a small JSON file
(host, pid, SLURM job id, start time and a heartbeat refreshed every ``heartbeat_s`` seconds by a thread),
created with O_EXCL, so it works on shared filesystems where ``flock`` does not. A second process on the
same directory exits with status 2 and one message naming the holder and what to do. A stale lock is
taken over with a warning: its holder is dead on this host, it belongs to this very SLURM job (a requeued
job's earlier run, which SLURM has stopped), or its heartbeat is older than ``stale_after_s``.
The extra processes of a DDP run (Lightning's children, SLURM's other tasks) share their rank 0's lock.
``vae-lab eval`` takes the lock only while it appends to a run's logs, and skips the append (with a
warning) while a training holds it.
"""

import json
import logging
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from vae_lab.atomic_files import write_json
from vae_lab.errors import VaeLabError

log = logging.getLogger(__name__)

RANK_VARIABLES = ("LOCAL_RANK", "RANK", "SLURM_PROCID", "NODE_RANK")


class RunDirInUse(VaeLabError):
    """Another live process holds the run directory's lock."""


class RunDir:
    """The files of one run directory (a ``vae-lab train`` run or a sweep's job)."""

    LOCK = "run.lock"
    RESULTS = "results.json"
    METRICS = "metrics.csv"
    WANDB_RUN_ID = "wandb_run_id"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def lock_file(self) -> Path:
        return self.path / self.LOCK

    @property
    def results(self) -> Path:
        return self.path / self.RESULTS

    @property
    def metrics(self) -> Path:
        return self.path / self.METRICS

    @property
    def wandb_run_id(self) -> Path:
        return self.path / self.WANDB_RUN_ID

    @property
    def last_checkpoint(self) -> Path:
        return self.path / "checkpoints" / "last.ckpt"

    def newest_checkpoint(self) -> Path | None:
        """The most recently written of ``checkpoints/last.ckpt`` and Lightning's ``hpc_ckpt_*.ckpt``."""
        candidates = [self.last_checkpoint, *self.path.glob("hpc_ckpt_*.ckpt")]
        existing = [path for path in candidates if path.is_file()]
        return max(existing, key=lambda path: path.stat().st_mtime) if existing else None

    def checkpoints_newest_first(self) -> list[Path]:
        """Every checkpoint of the run: ``newest_checkpoint()`` first, then the others (``checkpoints/*.ckpt``), newest first."""
        newest = self.newest_checkpoint()
        others = {*self.path.glob("hpc_ckpt_*.ckpt"), *self.last_checkpoint.parent.glob("*.ckpt")} - {newest}
        return ([newest] if newest else []) + sorted((p for p in others if p.is_file()), key=lambda path: path.stat().st_mtime, reverse=True)

    # -- the lock ------------------------------------------------------------------------------

    def holder(self) -> dict[str, Any] | None:
        """The lock's content, or None if there is no (readable) lock."""
        try:
            return json.loads(self.lock_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def acquire(self, stale_after_s: float) -> dict[str, Any]:
        """Take the lock (or a stale one over); RunDirInUse if a live process holds it. Returns our entry."""
        self.path.mkdir(parents=True, exist_ok=True)
        entry = {"host": socket.gethostname(), "pid": os.getpid(), "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
                 "started": time.time(), "heartbeat": time.time(), "argv": sys.argv[1:]}  # fmt: skip
        for _ in range(3):
            try:
                handle = os.open(self.lock_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self.holder()
                if holder is None:  # being written this instant, or unreadable: look again
                    time.sleep(0.2)
                    holder = self.holder()
                reason = stale_reason(holder, stale_after_s)
                if reason is None and holder is not None:  # a lock without a readable holder is stale (stale_reason)
                    raise RunDirInUse(in_use_message(self.path, holder)) from None
                log.warning("run directory %s: taking over the lock of %s pid %s (%s)", self.path, holder.get("host") if holder else "?",
                            holder.get("pid") if holder else "?", reason)  # fmt: skip
                self.lock_file.unlink(missing_ok=True)
                continue
            with os.fdopen(handle, "w") as file:
                json.dump(entry, file)
            return entry
        raise RunDirInUse(f"run directory {self.path}: another process keeps taking its lock; choose another run_name")

    def heartbeat(self, entry: dict[str, Any]) -> None:
        """Refresh our heartbeat, if the lock is still ours."""
        holder = self.holder()
        if holder is not None and (holder.get("host"), holder.get("pid")) == (entry["host"], entry["pid"]):
            write_json(self.lock_file, entry | {"heartbeat": time.time()})

    def release(self, entry: dict[str, Any]) -> None:
        holder = self.holder()
        if holder is not None and (holder.get("host"), holder.get("pid")) == (entry["host"], entry["pid"]):
            self.lock_file.unlink(missing_ok=True)

    @contextmanager
    def locked(self, stale_after_s: float = 300.0, heartbeat_s: float = 30.0) -> Iterator[dict[str, Any]]:
        """Hold the lock (with its heartbeat) for the duration of the block."""
        entry = self.acquire(stale_after_s)
        stop = threading.Event()
        beating = threading.Thread(target=self._beat, args=(entry, stop, heartbeat_s), daemon=True)
        beating.start()
        try:
            yield entry
        finally:
            stop.set()
            beating.join()
            self.release(entry)

    def _beat(self, entry: dict[str, Any], stop: threading.Event, every_s: float) -> None:
        while not stop.wait(every_s):
            self.heartbeat(entry)


def stale_reason(holder: dict[str, Any] | None, stale_after_s: float) -> str | None:
    """Why a lock may be taken over, or None if its holder may still be writing."""
    if holder is None:
        return "the lock file is unreadable"
    same_job = holder.get("slurm_job_id") and holder.get("slurm_job_id") == os.environ.get("SLURM_JOB_ID")
    if same_job:
        return f"it belongs to this SLURM job {holder['slurm_job_id']}, requeued"
    if holder.get("host") == socket.gethostname():
        return None if pid_alive(int(holder.get("pid", -1))) else "its process is gone"
    age = time.time() - float(holder.get("heartbeat", 0))
    return f"no heartbeat for {age:.0f} s" if age > stale_after_s else None


def in_use_message(path: Path, holder: dict[str, Any]) -> str:
    age = time.time() - float(holder.get("heartbeat", time.time()))
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(holder.get("started", 0))))
    return (
        f"run directory {path} is in use by pid {holder.get('pid')} on {holder.get('host')} (started {started}, "
        f"last heartbeat {age:.0f} s ago): wait for it to finish, stop it, or use another run_name. "
        f"A lock whose holder died is taken over by itself ({path / RunDir.LOCK})"
    )


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_secondary_process() -> bool:
    """True in the extra processes of a DDP run (Lightning's children, SLURM's other tasks, torchrun ranks)."""
    return any(os.environ.get(name, "0").isdigit() and int(os.environ.get(name, "0")) > 0 for name in RANK_VARIABLES)


# What a run directory holds before its run has written anything of its own (and the command's <name>.log).
BEFORE_THE_RUN = {".hydra", RunDir.LOCK}


def remove_if_nothing_written(path: Path) -> bool:
    """Remove the run directory `path` if it holds only what Hydra and the lock put there before the run
    (a command refused at startup then leaves nothing behind); returns whether it was removed.
    The current directory is never removed."""
    path = Path(path)
    if not path.is_dir() or path.resolve() == Path.cwd().resolve() or not (path / ".hydra").is_dir():
        return False
    if any(entry.name not in BEFORE_THE_RUN and entry.suffix != ".log" for entry in path.iterdir()):
        return False
    RunDirLock.release_held()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, logging.FileHandler) and Path(h.baseFilename).parent == path.absolute()]:
        root.removeHandler(handler)
        handler.close()
    shutil.rmtree(path, ignore_errors=True)
    for parent in path.absolute().parents:  # runs/train/ left empty by this run
        if parent == Path.cwd().resolve() or any(parent.iterdir()):
            break
        parent.rmdir()
    return True


class RunDirLock(Callback):
    """Hydra callback: a run (or a sweep's job) holds its directory's lock from before Hydra writes into it
    until it ends. Settings: ``hydra.callbacks.run_dir_lock.stale_after_s`` and ``heartbeat_s``."""

    held_by_this_process: "RunDirLock | None" = None

    def __init__(self, stale_after_s: float = 300.0, heartbeat_s: float = 30.0) -> None:
        self.stale_after_s, self.heartbeat_s = stale_after_s, heartbeat_s
        self.held: Any = None

    @classmethod
    def release_held(cls) -> None:
        """Let go of the lock this process holds, if any (before its run directory is removed)."""
        if cls.held_by_this_process is not None:
            cls.held_by_this_process._let_go()

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._take(Path(config.hydra.run.dir))

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._let_go()

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.mode.name == "MULTIRUN":  # a single run took its lock in on_run_start already
            self._take(Path(config.hydra.runtime.output_dir))

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if config.hydra.mode.name == "MULTIRUN":
            self._let_go()

    def _take(self, path: Path) -> None:
        if is_secondary_process():
            return
        lock = RunDir(path).locked(self.stale_after_s, self.heartbeat_s)
        try:
            lock.__enter__()
        except RunDirInUse as error:
            print(f"vae-lab: {error}", file=sys.stderr)  # logging is not set up yet, and nothing may be written
            sys.exit(error.exit_code)
        self.held = lock
        RunDirLock.held_by_this_process = self

    def _let_go(self) -> None:
        if self.held is not None:
            self.held.__exit__(None, None, None)
            self.held = None
            RunDirLock.held_by_this_process = None
