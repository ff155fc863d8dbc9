"""``vae-lab train``: fit a VAE, test its best checkpoint, write ``results.json`` in the run directory."""

import logging
import signal
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig

from vae_lab.atomic_files import write_json
from vae_lab.build import build_callbacks, build_datamodule, build_loggers, build_module, build_trainer
from vae_lab.checkpoints import RunConfigInCheckpoint
from vae_lab.errors import RunInterrupted, TrainingDiverged
from vae_lab.resume import checkpoint_to_resume
from vae_lab.run_dir import RunDir
from vae_lab.training.distributed import ProcessState, prepare_ddp_subprocesses
from vae_lab.training.random_state import RandomStateInCheckpoint
from vae_lab.training.stop_signals import CheckpointOnStop
from vae_lab.training.throughput import TrainingThroughput
from vae_lab.training.trial_pruning import TrialPruning
from vae_lab.wandb_setup import finish_wandb_run

log = logging.getLogger(__name__)
CHECKED_ROWS_AT_ONCE = 4096  # the training data is checked in batches, never converted to float all at once


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit, test the best checkpoint and write results.json; returns the results."""
    started = time.time()
    run_dir = Path(cfg.paths.output_dir)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    resume_from = checkpoint_to_resume(cfg, run_dir)

    datamodule = build_datamodule(cfg)
    module = build_module(cfg, datamodule.data_shape, datamodule.likelihood_kwargs(), datamodule.condition_dim)
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


def task(cfg: DictConfig) -> float | list[float] | None:
    """The Hydra task: train, then return ``optimized_metric`` (one key, or a list of keys) for sweepers.

    ``val/loss`` is the best validation loss; another ``val/...`` key its value at the last validation;
    any other key (``test/elbo``) its value in results.json. A pruned trial returns None (results.json says pruned).
    """
    results = train(cfg)
    if results["status"] == "pruned":
        return None
    keys = cfg.optimized_metric
    values = [objective_value(results, key) for key in ([keys] if isinstance(keys, str) else keys)]
    return values[0] if isinstance(keys, str) else values


def objective_value(results: dict[str, Any], key: str) -> float:
    value = results.get("best_val_loss") if key == "val/loss" else results.get(key, results.get(f"last_{key}"))
    return float("nan") if value is None else float(value)
