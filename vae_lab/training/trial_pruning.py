"""Pruning the trials of an Optuna search (``hparams_search=optuna``, ``hydra.sweeper.pruner``).

Each validation epoch the trial's job reports its monitored metric to the study, and stops training
when Optuna's pruner says so; ``vae-lab train`` then records ``status: pruned`` with the epoch and the
last value in results.json (and sweep.csv), and the sweeper tells Optuna the trial was pruned.
Only rank 0 talks to the study; the decision is broadcast, so every DDP process stops together.
A job that is not a trial of a search (``trial`` null) does nothing here. We use our own callback rather
than optuna-integration's PyTorchLightningPruningCallback because that one raises out of ``fit`` (no
graceful end, no results) and refuses DDP without a database storage.
"""

import math
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig


class TrialPruning(L.Callback):
    """trial: the Optuna trial number of this job (the sweeper sets ``trial=N``), or None; monitor: the metric reported
    (``optimized_metric``; a list of several objectives is never pruned: Optuna prunes single-objective studies only)."""

    def __init__(self, trial: int | None = None, monitor: str | list[str] = "val/loss") -> None:
        self.trial_number = trial
        self.monitor = monitor
        self.trial: Any = None  # the optuna.Trial of this job, from setup
        self.pruned: dict[str, Any] | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.trial_number is None or not trainer.is_global_zero or not HydraConfig.initialized():
            return
        import optuna

        from vae_lab.training.optuna_study import make_pruner, open_storage

        hydra_cfg = HydraConfig.get()
        sweeper = hydra_cfg.sweeper
        study = optuna.load_study(study_name=sweeper.study_name, storage=open_storage(sweeper.storage, hydra_cfg.sweep.dir),
                                  pruner=make_pruner(sweeper.pruner))  # fmt: skip
        trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, int(self.trial_number))
        self.trial = optuna.Trial(study, trial_id)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.trial_number is None or trainer.sanity_checking:
            return
        prune = False
        if self.trial is not None:
            metric = trainer.callback_metrics.get(self.monitor) if isinstance(self.monitor, str) else None
            value = float("nan") if metric is None else float(metric)
            if math.isfinite(value):
                self.trial.report(value, step=trainer.current_epoch)
                prune = self.trial.should_prune()
            if prune:
                self.pruned = {"pruned_epoch": trainer.current_epoch, f"pruned_{self.monitor}": value}
        if trainer.strategy.broadcast(prune, src=0):
            trainer.should_stop = True
            self.pruned = self.pruned or {"pruned_epoch": trainer.current_epoch}
