"""The Optuna study a search's trials share: its storage and its pruner (``hparams_search=optuna``).

Used by the sweeper (``vae_lab.optuna_search``) and by each trial's pruning callback (``training.trial_pruning``).
"""

from pathlib import Path
from typing import Any

import optuna
from hydra.utils import instantiate

from vae_lab.errors import ConfigError

JOURNAL_IN_SWEEP_DIR = "optuna.journal"
PRUNERS = {
    "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=2),
    "hyperband": lambda: optuna.pruners.HyperbandPruner(min_resource=1),
}


def open_storage(storage: str | None, sweep_dir: str | Path) -> optuna.storages.BaseStorage:
    """The study's storage: a journal file (``storage`` a path, or null: in the sweep directory) or a database URL."""
    if storage and "://" in str(storage):
        return optuna.storages.RDBStorage(str(storage))
    path = Path(storage) if storage else Path(sweep_dir) / JOURNAL_IN_SWEEP_DIR
    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


def make_pruner(pruner: Any) -> optuna.pruners.BasePruner:
    """null/none, median, hyperband, or a ``_target_`` config of any Optuna pruner."""
    if pruner is None or pruner == "none":
        return optuna.pruners.NopPruner()
    if isinstance(pruner, str):
        if pruner not in PRUNERS:
            raise ConfigError(f"hydra.sweeper.pruner must be none, median, hyperband or a _target_ config, got '{pruner}'")
        return PRUNERS[pruner]()
    return instantiate(pruner)
