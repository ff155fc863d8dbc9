"""DDP jobs that start their extra processes as copies of themselves, and leave their process as they
found it, so a sweep can run several in one process.

Lightning's process launcher exports ``MASTER_ADDR``, ``MASTER_PORT``, ``LOCAL_RANK``, ``NODE_RANK`` and
``WORLD_SIZE`` into the launching process and keeps its process group alive after ``fit``/``test``.
The next DDP job of a sweep would then join the finished job's process group and, seeing
``LOCAL_RANK``, believe its processes had been started for it.
"""

import os
import sys

import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict, read_write


class ProcessState:
    """Captures the environment when created; ``restore()`` ends the job's process group and restores it."""

    def __init__(self) -> None:
        self.environment = dict(os.environ)

    def restore(self) -> None:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for name in set(os.environ) - set(self.environment):
            del os.environ[name]
        os.environ.update(self.environment)


def prepare_ddp_subprocesses(command: str) -> None:
    """Make Lightning's DDP launcher start copies of *this job* rather than of the whole command line.

    Lightning re-runs ``sys.argv`` plus ``hydra.run.dir=<HydraConfig.run.dir>`` for each extra local
    process. We point it at this job's overrides (no ``-m``, no comma lists of a sweep, the command
    name restored, a single run even where a config sets ``hydra.mode: MULTIRUN``) and at this job's
    actual output directory, so all processes share one run directory.
    """
    if not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    sys.argv = [sys.argv[0], command, *hydra_cfg.overrides.task, "hydra.mode=RUN"]
    with read_write(hydra_cfg), open_dict(hydra_cfg):  # type: ignore[arg-type]  # HydraConfig.get() is a DictConfig typed as its schema
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir
