"""Silence third-party messages that tell a vae_lab user nothing they can act on."""

import logging
import warnings

IGNORED_WARNINGS = (
    ".*does not have many workers.*",  # our loaders gather whole batches from memory: workers only add start-up time
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",  # Lightning calling a torch API it will update
    ".*The `srun` command is available on your system but is not used.*",  # a machine with SLURM's tools, used or not
)
IGNORED_LOG_FRAGMENTS = ("litlogger",)  # Lightning's advertisement for its own logger
WARNINGS_ONLY_LOGGERS = ("alembic",)  # imported by optuna (hparams_search=optuna): "setup plugin ..." lines


class _DropFragments(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(fragment in message for fragment in IGNORED_LOG_FRAGMENTS)


def one_console() -> None:
    """Every log line once: ``import lightning`` gives its logger a console handler of its own ("INFO: ...")
    on top of the root logger's, which Hydra configures; drop it once Lightning is imported."""
    logging.getLogger("lightning").handlers.clear()


def quiet_third_party() -> None:
    for pattern in IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropFragments())
    for name in WARNINGS_ONLY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
