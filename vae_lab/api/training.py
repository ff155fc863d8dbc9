"""Training in this process: ``vae_lab.train(overrides)``, as ``vae-lab train OVERRIDES`` would; ``fit(cfg)`` from a composed
config; ``fit_table(frame)``, a table model of a DataFrame."""

import logging
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, open_dict

from vae_lab import config_resolvers
from vae_lab.api.run import Run, load_run
from vae_lab.atomic_files import write_json
from vae_lab.build import build_callbacks, build_loggers, build_trainer
from vae_lab.config_schema import check_config
from vae_lab.data.table_files import TableDialect, write_table
from vae_lab.errors import DataError, RunInterrupted, TrainingDiverged
from vae_lab.resume import checkpoint_to_resume
from vae_lab.run_dir import RunDir
from vae_lab.training.assembly import build_datamodule
from vae_lab.training.checkpoint_format import RunConfigInCheckpoint
from vae_lab.training.distributed import ProcessState, prepare_ddp_subprocesses
from vae_lab.training.module import VAEModule
from vae_lab.training.random_state import RandomStateInCheckpoint
from vae_lab.training.stop_signals import CheckpointOnStop
from vae_lab.training.throughput import TrainingThroughput
from vae_lab.training.trial_pruning import TrialPruning
from vae_lab.wandb_setup import finish_wandb_run

log = logging.getLogger(__name__)

TABLE_FILE = "table.parquet"  # where fit_table keeps its DataFrame, in the run directory


def train(overrides: Sequence[str] = (), config_name: str = "train") -> dict[str, Any]:
    """Train as ``vae-lab train OVERRIDES`` would, in this process; returns the run's results (results.json).

    The run directory is the CLI's (``runs/train/<run_name or a unique name>``, or ``paths.output_dir=``),
    held with the same lock; each call without a name gets a directory of its own. Logging is left as this
    process has it. Multiruns (``-m``) need the CLI.
    """
    cfg = composed(overrides, config_name)
    with RunDir(Path(cfg.paths.output_dir)).locked():
        return fit(cfg)


def fit_table(frame: pd.DataFrame, overrides: Sequence[str] = ()) -> Run:
    """Fit a model of the table `frame` (rows x columns) as ``vae-lab train experiment=tabular data.path=FILE OVERRIDES``
    would, and return the trained run: ``run.sample_table(n)``, ``run.impute(frame)``; ``vae_lab.load_run(run.run_dir)``
    opens it again. The frame is kept in the run directory as ``table.parquet`` (column types included) and nothing is
    written outside it. `overrides` choose anything else (``experiment=tabular_conditional``, ``model.latent_dim=8``)."""
    if frame.empty or len(frame.columns) == 0:
        raise DataError(f"the DataFrame has {len(frame)} rows and {len(frame.columns)} columns; a table model needs rows and columns")
    keys = {override.split("=", 1)[0].lstrip("+~") for override in overrides}
    cfg = composed([*([] if "experiment" in keys else ["experiment=tabular"]), *overrides], "train", check=False)
    table_file = Path(cfg.paths.output_dir) / TABLE_FILE
    with open_dict(cfg):
        cfg.data.path = str(table_file)
    check_config(cfg)
    with RunDir(Path(cfg.paths.output_dir)).locked():
        if not table_file.is_file():  # a rerun of a named run resumes on the table it was trained on
            write_table(frame, table_file, TableDialect(format="parquet", suffix=".parquet"))
        results = fit(cfg)
    return load_run(results["run_dir"])


def composed(overrides: Sequence[str], config_name: str, check: bool = True) -> DictConfig:
    """The ``train`` config of `overrides`, composed as the CLI composes it, with Hydra's runtime set as in a Hydra app."""
    named = {override.split("=", 1)[0].lstrip("+~") for override in overrides} & {"run_name", "hydra.run.dir", "paths.output_dir"}
    if not named:
        overrides = [*overrides, f"hydra.run.dir=${{paths.log_dir}}/${{task_name}}/{config_resolvers.fresh_run_id()}"]
    config_resolvers.register()
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="vae_lab.conf", version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(Path(cfg.hydra.run.dir).absolute())  # what paths.output_dir reads unless set
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # as in a Hydra app: the task's config without Hydra's own node (now in HydraConfig)
    if check:
        check_config(cfg)
    return cfg


CHECKED_ROWS_AT_ONCE = 4096  # the training data is checked in batches, never converted to float all at once


def fit(cfg: DictConfig) -> dict[str, Any]:
    """Train from a composed ``train`` config, as ``vae-lab train`` does: fit, test the best checkpoint, write
    results.json in ``cfg.paths.output_dir``; returns the results. (``train`` composes the config from overrides.)"""
    started = time.time()
    run_dir = Path(cfg.paths.output_dir)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    resume_from = checkpoint_to_resume(cfg, run_dir)

    datamodule = build_datamodule(cfg)
    module = VAEModule.for_data(cfg, datamodule)
    training = datamodule.split("train")
    if not training.in_memory:  # read from disk: the first rows stand for the rest (a full pass would cost an epoch)
        training = training.rows(torch.arange(min(len(training), CHECKED_ROWS_AT_ONCE)))
    for x in training.x_batches(CHECKED_ROWS_AT_ONCE):
        module.vae.likelihood.check_data(x, datamodule.name)

    throughput = TrainingThroughput()
    on_stop = CheckpointOnStop(RunDir(run_dir).last_checkpoint)
    callbacks = [*build_callbacks(cfg), throughput, RunConfigInCheckpoint(cfg), RandomStateInCheckpoint(), on_stop]
    trainer = build_trainer(cfg, callbacks, build_loggers(cfg))
    checkpoint = trainer.checkpoint_callback
    if resume_from:
        log.info("resuming from %s", resume_from)

    prepare_ddp_subprocesses(cfg.task_name)
    process_state = ProcessState()
    try:
        try:
            trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
        except TrainingDiverged as error:
            last_good = checkpoint.last_model_path if isinstance(checkpoint, ModelCheckpoint) else ""
            kept = f"the last good checkpoint is {last_good}" if last_good else "no checkpoint had been written yet"
            raise TrainingDiverged(
                f"{error}; training stopped and {kept}. Try a lower optimizer.lr or gradient clipping (trainer.gradient_clip_val=1.0)"
            ) from None
        except SystemExit:  # Lightning's SIGTERMException, or its exit after Ctrl-C
            if on_stop.signal_number is None:
                raise
            raise interrupted(trainer, on_stop.signal_number, on_stop.path, run_dir, started) from None
        has_checkpoints = isinstance(checkpoint, ModelCheckpoint)
        best = (checkpoint.best_model_path or None) if has_checkpoints else None
        best_score = checkpoint.best_model_score if has_checkpoints else None
        last = (checkpoint.last_model_path or None) if has_checkpoints else None
        last_val = {key: float(value) for key, value in trainer.callback_metrics.items() if key.startswith("val/") and key.count("/") == 1}
        pruned = next((c.pruned for c in trainer.callbacks if isinstance(c, TrialPruning) and c.pruned), None)
        # A pruned trial of a search stops here: testing it would spend what pruning saved.
        test_metrics = {} if pruned else trainer.test(module, datamodule=datamodule, ckpt_path=best, verbose=False, weights_only=True)[0]
    finally:
        finish_wandb_run()
        process_state.restore()  # the next DDP job of a sweep in this process starts afresh

    results = {
        "status": "pruned" if pruned else "completed",
        **(pruned or {}),
        **{key: float(value) for key, value in sorted(test_metrics.items())},
        **{f"last_{key}": value for key, value in sorted(last_val.items())},
        "best_val_loss": None if best_score is None else float(best_score),
        "best_checkpoint": best,
        "last_checkpoint": last,
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        "wall_time_s": round(time.time() - started, 2),
        "train_samples_per_s": round(throughput.examples_per_second, 1),
        "run_dir": str(run_dir),
    }
    if trainer.is_global_zero:
        write_json(RunDir(run_dir).results, results)
        log.info("test/elbo %.3f nats | results in %s", results.get("test/elbo", float("nan")), RunDir(run_dir).results)
    return results


def interrupted(trainer: L.Trainer, signal_number: int, checkpoint: Path, run_dir: Path, started: float) -> RunInterrupted:
    """Record the stop by `signal_number` in results.json (rank 0) and say how to go on."""
    name = signal.Signals(signal_number).name
    saved = checkpoint if checkpoint.is_file() else None
    if trainer.is_global_zero:
        write_json(RunDir(run_dir).results, {
            "status": "interrupted", "signal": name, "epochs": trainer.current_epoch, "global_step": trainer.global_step,
            "last_checkpoint": None if saved is None else str(saved), "wall_time_s": round(time.time() - started, 2), "run_dir": str(run_dir),
        })  # fmt: skip
    kept = f"saved step {trainer.global_step} in {saved}" if saved else "no step had been trained yet"
    return RunInterrupted(f"{name}: training stopped and {kept}; run the same command again to resume", signal_number)
