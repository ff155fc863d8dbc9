"""Our checkpoints: Lightning's, plus the resolved run config, so a checkpoint alone rebuilds its run.

``RunConfigInCheckpoint`` writes the config and the checkpoint format (``FORMAT``) into every
checkpoint; ``load_run`` reads a checkpoint back into (config, data module, training plan) with clear
errors for missing, corrupt, foreign or other-format files.

Format 1 (vae_lab 0.2 and 0.3): Lightning's checkpoint with ``vae_lab_config`` (the resolved run config)
and ``vae_lab_format``; checkpoints of 0.2 carry no format number and are read as format 1.
The number changes when a checkpoint of the new layout could not be read by the old code, or back.
"""

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, OmegaConf

import vae_lab
from vae_lab.errors import CheckpointError

CONFIG_KEY = "vae_lab_config"
FORMAT_KEY = "vae_lab_format"
FORMAT = 1


class RunConfigInCheckpoint(Callback):
    """Stores the run's resolved config in every checkpoint under ``vae_lab_config``."""

    def __init__(self, config: DictConfig) -> None:
        self.config = OmegaConf.to_container(config, resolve=True)

    def on_save_checkpoint(self, trainer: L.Trainer, module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        checkpoint[CONFIG_KEY] = self.config
        checkpoint[FORMAT_KEY] = FORMAT


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict at `path`, or a CheckpointError saying what is wrong with the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass ckpt_path=PATH to a .ckpt file written by `vae-lab train`")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch.load raises many types for truncated or foreign files
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(error).__name__}: {error}); it may be truncated or not a checkpoint") from None
    if not isinstance(checkpoint, dict) or CONFIG_KEY not in checkpoint or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path} is not a vae_lab checkpoint (it holds no run config); use a checkpoint written by `vae-lab train`")
    found = checkpoint.get(FORMAT_KEY, 1)
    if found != FORMAT:
        raise CheckpointError(
            f"{path} is a vae_lab checkpoint of format {found}, and this vae_lab ({vae_lab.__version__}) reads format {FORMAT}; "
            f"open it with the vae_lab version that wrote it (see CHANGELOG.md), or retrain with this one"
        )
    return checkpoint


def run_config(checkpoint: dict[str, Any]) -> DictConfig:
    """The resolved config a checkpoint was trained with."""
    return OmegaConf.create(checkpoint[CONFIG_KEY])


def load_run(path: str | Path, data_overrides: dict[str, Any] | None = None, compile: bool | None = None, checkpoint: dict[str, Any] | None = None):
    """Rebuild (config, data module, training plan with the checkpoint's weights) from a checkpoint.

    data_overrides: values replacing ``data.*`` entries of the stored config (e.g. another data_dir).
    compile: compile the model's math (``model.compile``); None: as the run was trained.
    checkpoint: the content of `path` if the caller has read it already (``read_checkpoint``).
    """
    from vae_lab.build import build_datamodule, build_module  # avoid an import cycle at module load

    checkpoint = checkpoint or read_checkpoint(path)
    cfg = run_config(checkpoint)
    for key, value in (data_overrides or {}).items():
        OmegaConf.update(cfg, f"data.{key}", value, merge=False)
    if compile is not None:
        OmegaConf.update(cfg, "model.compile", compile, force_add=True)
    datamodule = build_datamodule(cfg, state=checkpoint.get(_datamodule_key(cfg)))
    module = build_module(cfg, datamodule.data_shape, datamodule.likelihood_kwargs(), datamodule.condition_dim)
    try:
        module.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(f"the weights in {path} do not fit the model its config describes: {str(error).splitlines()[0]}") from None
    module.eval()
    return cfg, datamodule, module


def _datamodule_key(cfg: DictConfig) -> str:
    """Lightning saves a data module's state_dict under its class's qualified name."""
    return cfg.data._target_.rsplit(".", 1)[-1]
