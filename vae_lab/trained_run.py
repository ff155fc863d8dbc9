"""A trained run, opened: the checkpoint a path names, its run config, data module and training plan rebuilt.

This is the one place that turns a path into a run; ``vae_lab.load_run`` (the API's ``Run``) and every command
that starts from a checkpoint go through ``TrainedRun.open``. Nothing in the file runs code
(``training.checkpoint_format.read_checkpoint``).
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from omegaconf import DictConfig, OmegaConf

from vae_lab.data.in_memory import InMemoryDataModule
from vae_lab.errors import CheckpointError
from vae_lab.models.vae import VAE
from vae_lab.run_dir import RunDir
from vae_lab.training.checkpoint_format import read_checkpoint, run_config
from vae_lab.training.module import VAEModule

Opened = TypeVar("Opened", bound="TrainedRun")


@dataclass
class TrainedRun:
    """A trained checkpoint, rebuilt: its ``path``, run ``config``, ``datamodule`` and training plan ``module`` with the weights."""

    path: Path
    config: DictConfig
    datamodule: InMemoryDataModule
    module: VAEModule
    epoch: int
    global_step: int

    @classmethod
    def open(
        cls: type[Opened],
        path: str | Path,
        data_dir: str | Path | None = None,
        data_path: str | Path | None = None,
        compile: bool | None = None,
        trusted_modules: Sequence[str] = (),
    ) -> Opened:
        """The run at `path`: a run directory (its best checkpoint, else ``checkpoints/last.ckpt``) or a checkpoint file.

        data_dir, data_path: where the data (a table: its file) is now, if it moved since training.
        compile: compile the model's math (None: as it was trained).
        trusted_modules: modules of your own whose classes the stored config may build (``read_checkpoint``).
        """
        checkpoint_path = checkpoint_of(Path(path).expanduser()).absolute()
        checkpoint = read_checkpoint(checkpoint_path, trusted_modules)
        cfg = run_config(checkpoint)
        moved = {"data_dir": data_dir, "path": data_path}
        for key, value in moved.items():
            if value and key in cfg.data:
                OmegaConf.update(cfg, f"data.{key}", str(value), merge=False)
        if compile is not None:
            OmegaConf.update(cfg, "model.compile", compile, force_add=True)
        datamodule, module = VAEModule.rebuilt(checkpoint, cfg, checkpoint_path)
        return cls(checkpoint_path, cfg, datamodule, module, checkpoint.get("epoch", 0), checkpoint.get("global_step", 0))

    @property
    def vae(self) -> VAE:
        """The plain-torch VAE (encoder, decoder, likelihood, prior), in eval mode."""
        return self.module.vae

    @property
    def run_dir(self) -> Path:
        """The training run's directory: the parent of the checkpoint's ``checkpoints/`` folder."""
        folder = self.path.parent
        return folder.parent if folder.name == "checkpoints" else folder


def checkpoint_of(path: Path) -> Path:
    """The checkpoint a path names: itself, or the best (else the last) checkpoint of a run directory."""
    if not path.is_dir():
        return path
    run_dir = RunDir(path)
    if run_dir.results.is_file():
        best = json.loads(run_dir.results.read_text()).get("best_checkpoint")
        if best and Path(best).is_file():
            return Path(best)
    if run_dir.last_checkpoint.is_file():
        return run_dir.last_checkpoint
    raise CheckpointError(f"{path} holds no checkpoint (checkpoints/last.ckpt); pass a run directory of `vae-lab train` or a .ckpt file")
