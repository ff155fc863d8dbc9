"""Builds a run's Trainer, with its callbacks and loggers, from a composed Hydra config.

The model's pieces (data module, VAE, optimizer) are built by ``vae_lab.training.assembly``, the training
plan by ``VAEModule.from_config``.
"""

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import Logger
from lightning.pytorch.plugins.io import CheckpointIO
from omegaconf import DictConfig, ListConfig, OmegaConf

from vae_lab.errors import ConfigError
from vae_lab.training.assembly import build
from vae_lab.training.atomic_checkpoint_io import AtomicCheckpointIO
from vae_lab.wandb_setup import wandb_init_kwargs


def build_callbacks(cfg: DictConfig) -> list[Callback]:
    return [build(node) for node in (cfg.get("callbacks") or {}).values() if node is not None]


def build_loggers(cfg: DictConfig) -> list[Logger]:
    loggers = []
    for node in (cfg.get("logger") or {}).values():
        if node is None:
            continue
        is_wandb = node.get("_target_", "").endswith("WandbLogger")
        loggers.append(build(node, **(wandb_init_kwargs(cfg) if is_wandb else {})))
    return loggers


def build_trainer(cfg: DictConfig, callbacks: list[Callback], loggers: list[Logger]) -> L.Trainer:
    """The Trainer; its checkpoints are always written atomically (unless the config names another CheckpointIO)."""
    check_devices_exist(cfg.trainer)
    plugins = [build(node) for node in cfg.trainer.get("plugins") or []]
    if not any(isinstance(plugin, CheckpointIO) for plugin in plugins):
        plugins.append(AtomicCheckpointIO())
    trainer = build(cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=plugins)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for logger in trainer.loggers:
        logger.log_hyperparams(resolved)  # the resolved config is the run's config (W&B, hparams.yaml)
    return trainer


def check_devices_exist(trainer: DictConfig) -> None:
    """A ConfigError, at startup, when the trainer asks for more GPUs per node than this machine has."""
    if str(trainer.get("accelerator")) not in ("gpu", "cuda"):
        return
    devices, available = trainer.get("devices"), torch.cuda.device_count()
    if available == 0:
        raise ConfigError(
            f"trainer.accelerator={trainer.accelerator} but this machine has no CUDA GPU (torch.cuda.device_count() is 0); "
            "use trainer=cpu, or trainer=ddp_cpu for DDP across CPU processes, or run on a GPU machine"
        )
    if isinstance(devices, ListConfig):  # GPU indices
        too_many = any(int(index) >= available for index in devices)
    else:
        too_many = isinstance(devices, int) and devices > available
    if too_many:
        raise ConfigError(
            f"trainer.devices={devices} asks for more GPUs than this machine has ({available}); use trainer.devices={available} (or -1: all of them)"
        )
