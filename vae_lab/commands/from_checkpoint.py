"""What the commands that start from a trained checkpoint share (eval, sample, encode, impute).

They rebuild model and data from the config stored in the checkpoint, so no training override is
repeated; the only things they change are where the data is (``data_dir=``, or ``data_path=`` for a
CSV, when it moved) and their own keys. Their outputs go beside the checkpoint unless ``output=`` says otherwise, and they write
nothing else (``conf/hydra/command.yaml``).
"""

import os
from pathlib import Path

import torch
from omegaconf import DictConfig

from vae_lab.api import Run, load_run
from vae_lab.errors import ConfigError

TRAINING_GROUPS = (
    "data",
    "encoder",
    "decoder",
    "likelihood",
    "prior",
    "model",
    "optimizer",
    "scheduler",
    "trainer",
    "callbacks",
    "logger",
    "paths",
    "experiment",
)


def load_checkpoint_run(cfg: DictConfig) -> Run:
    """The run of ``cfg.ckpt_path`` (``vae_lab.load_run``), with ``cfg.data_dir`` / ``cfg.data_path`` (if set) replacing where its data was."""
    chosen = [group for group in TRAINING_GROUPS if group in cfg]
    if chosen:
        raise ConfigError(
            f"vae-lab {cfg.task_name} rebuilds model and data from the checkpoint, so {', '.join(chosen)} cannot be "
            "chosen here; for data that moved pass data_dir=PATH (a CSV: data_path=FILE), to change the model train another one"
        )
    if not cfg.get("ckpt_path"):
        raise ConfigError(
            f"ckpt_path is required: vae-lab {cfg.task_name} ckpt_path=runs/train/<run> (a run directory of `vae-lab train`: its best "
            "checkpoint; or a .ckpt file such as runs/train/<run>/checkpoints/last.ckpt)"
        )
    compile = cfg.get("compile")  # true | false; null or eval's auto: as the run was trained
    return load_run(
        cfg.ckpt_path,
        compile=compile if isinstance(compile, bool) else None,
        trusted_modules=list(cfg.get("trusted_modules") or []),
        data_dir=cfg.get("data_dir"),
        data_path=cfg.get("data_path"),
    )


def choose_device(name: str) -> torch.device:
    """``auto`` (a GPU if there is one), ``cpu``, ``cuda`` or ``cuda:N``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device={name} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={name} but no CUDA GPU is visible; use device=cpu or device=auto")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"device={name} but only {torch.cuda.device_count()} GPU(s) are visible")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"device={name} is not supported; use auto, cpu, cuda or cuda:N")
    return device


def output_path(cfg: DictConfig, run: Run, default_name: str) -> Path:
    """``cfg.output`` if given, else `default_name` beside the checkpoint; checked to be writable before any work."""
    path = Path(cfg.output).expanduser() if cfg.get("output") else run.path.parent / default_name
    folder = next((parent for parent in path.absolute().parents if parent.exists()), None)
    if folder is None or not folder.is_dir() or not os.access(folder, os.W_OK):
        raise ConfigError(f"cannot write {path}: {folder} is not a writable folder; pass output=PATH somewhere writable")
    return path
