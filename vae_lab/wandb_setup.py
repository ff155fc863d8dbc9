"""What Lightning's WandbLogger leaves to us: online or offline, the run's id, its group and tags.

- Offline unless an API key is configured (``WANDB_API_KEY`` or ``~/.netrc``) or ``WANDB_MODE`` says
  otherwise: W&B never prompts for a login and never waits for a network it does not have.
- The run id is kept in the run directory (``wandb_run_id``): re-running the same command in the same
  directory resumes the same W&B run.
- In a Hydra multirun, every job's run is grouped by the sweep (group = the sweep directory's name) and
  tagged with the job's overrides, so a dashboard compares the sweep without manual setup.
"""

import logging
import netrc
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from vae_lab.atomic_files import write_text
from vae_lab.run_dir import RunDir

log = logging.getLogger(__name__)

RUN_ID_FILE = RunDir.WANDB_RUN_ID
MAX_TAG_LENGTH = 64  # W&B rejects longer tags


def wandb_mode() -> str:
    """``online``, ``offline`` or ``disabled``: WANDB_MODE if set, else online only if a key is configured."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY") or _netrc_has_wandb_key():
        return "online"
    return "offline"


def _netrc_has_wandb_key() -> bool:
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def run_id(run_dir: Path) -> str:
    """The W&B run id of `run_dir`, created on first use and reused when the run resumes.

    Only rank 0 writes the file: the other processes of a DDP run never open the W&B run.
    """
    path = run_dir / RUN_ID_FILE
    if path.is_file():
        return path.read_text().strip()
    new_id = secrets.token_hex(4)  # W&B run ids: lowercase letters and digits
    if rank_zero_only.rank == 0:
        write_text(path, new_id + "\n")
    return new_id


def wandb_init_kwargs(cfg: DictConfig) -> dict[str, Any]:
    """Keyword arguments for WandbLogger beyond those in ``conf/logger/wandb.yaml``."""
    run_dir = Path(cfg.paths.output_dir)
    mode = wandb_mode()
    if mode == "offline" and not os.environ.get("WANDB_MODE"):
        log.info("W&B: no API key configured, logging offline to %s/wandb (upload later with `wandb sync`)", run_dir)
    node = cfg.logger.wandb
    kwargs: dict[str, Any] = {
        "offline": mode in ("offline", "dryrun"),
        "id": run_id(run_dir),
        "resume": "allow",
        "name": node.get("name") or run_dir.name,
    }
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        hydra_cfg = HydraConfig.get()
        kwargs["group"] = node.get("group") or Path(hydra_cfg.sweep.dir).name
        swept = [override[:MAX_TAG_LENGTH] for override in hydra_cfg.overrides.task]
        kwargs["tags"] = [*(node.get("tags") or []), *swept]
        kwargs["name"] = node.get("name") or f"{kwargs['group']}/{run_dir.name}"
    return kwargs


def finish_wandb_run() -> None:
    """Close this process's W&B run, if any, so the next job of a sweep starts its own run."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.finish()
