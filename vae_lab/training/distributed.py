"""DDP jobs that leave their process as they found it, so a sweep can run several in one process.

Lightning's process launcher exports ``MASTER_ADDR``, ``MASTER_PORT``, ``LOCAL_RANK``, ``NODE_RANK`` and
``WORLD_SIZE`` into the launching process and keeps its process group alive after ``fit``/``test``.
The next DDP job of a sweep would then join the finished job's process group and, seeing
``LOCAL_RANK``, believe its processes had been started for it.
"""

import os

import torch


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
