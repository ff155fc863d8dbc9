"""Resuming a run: which checkpoint to continue from, and whether it belongs to the composed config.

Re-running a command in an existing run directory (``run_name=NAME`` or ``hydra.run.dir=DIR``)
continues from the directory's newest checkpoint: ``checkpoints/last.ckpt`` (written every
``callbacks.step_checkpoint.every_n_train_steps`` steps and at every epoch end) or an
``hpc_ckpt_*.ckpt`` that Lightning saves when SLURM signals the end of a job's time. ``ckpt_path=last``
asks for that explicitly; ``ckpt_path=PATH`` names a checkpoint.

A checkpoint is only resumed into the model it was trained as: the config stored in it
(``training.checkpoint_format``) must agree with the composed one on everything that defines the model and
its data. What may change on resume (``trainer.*`` such as ``max_epochs``, ``paths.*``, loggers,
callbacks, where the data files are) is not compared.
"""

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from vae_lab.errors import CheckpointError, ConfigError
from vae_lab.run_dir import RunDir
from vae_lab.training.checkpoint_format import CONFIG_KEY, INSTANTIATED_NODES, instantiated_targets, read_checkpoint

log = logging.getLogger(__name__)

LAST = "last"
MODEL_DEFINING_KEYS = ("data", "encoder", "decoder", "likelihood", "prior", "model")
FREE_ON_RESUME = {"data.data_dir", "data.download", "data.pin_memory", "data.eval_batch_size"}


def checkpoint_to_resume(cfg: DictConfig, run_dir: Path) -> str | None:
    """The checkpoint to resume from (checked against `cfg`), or None to start afresh.

    Resuming a run directory takes its newest checkpoint that can be read: one that is truncated (a copy or a
    crash outside our atomic writes) or refused as unsafe is skipped with a warning naming it and why.
    """
    requested = cfg.get("ckpt_path")
    if requested and str(requested) != LAST:
        path = Path(str(requested))
        stored = read_checkpoint(path, trusted_modules(cfg))
        check_same_model(path, stored, cfg)
        check_optimizer_state(path, stored)
        return str(path)
    candidates = RunDir(run_dir).checkpoints_newest_first()
    for path in candidates:
        try:
            stored = read_checkpoint(path, trusted_modules(cfg))
        except CheckpointError as error:
            log.warning("not resuming from %s: %s", path, error)
            continue
        if path != candidates[0]:
            log.warning("resuming from %s, the newest checkpoint of %s that can be read", path, run_dir)
        check_same_model(path, stored, cfg)
        check_optimizer_state(path, stored)
        return str(path)
    if candidates:
        raise CheckpointError(
            f"none of the checkpoints in {run_dir} can be read ({', '.join(map(str, candidates))}; the warnings above say why). "
            "Start a new run with another run_name (or none), or pass ckpt_path=PATH to a readable checkpoint"
        )
    if requested:
        raise CheckpointError(
            f"ckpt_path=last: there is no checkpoint in {run_dir} to resume from. Name the run to resume "
            "with run_name=NAME (or hydra.run.dir=DIR), or leave ckpt_path unset to start a new run"
        )
    return None


def newest_checkpoint(run_dir: Path) -> Path | None:
    """The most recently written of ``checkpoints/last.ckpt`` and Lightning's ``hpc_ckpt_*.ckpt``."""
    return RunDir(run_dir).newest_checkpoint()


def check_same_model(path: Path, checkpoint: dict[str, Any], cfg: DictConfig) -> None:
    """Raise a ConfigError naming the differences if `checkpoint` (read from `path`) was trained with another model or data."""
    stored = checkpoint[CONFIG_KEY]
    now = {key: OmegaConf.to_container(cfg[key], resolve=True) for key in MODEL_DEFINING_KEYS if key in cfg}
    differences = [
        f"{key}: {before!r} in the checkpoint, {after!r} now"
        for key, (before, after) in sorted(_differing(_flatten({k: stored.get(k) for k in now}), _flatten(now)).items())
        if key not in FREE_ON_RESUME
    ]
    if differences:
        shown = "; ".join(differences[:5]) + (f"; and {len(differences) - 5} more" if len(differences) > 5 else "")
        raise ConfigError(
            f"cannot resume from {path}: it was trained with a different config ({shown}). "
            "Start a new run (another run_name, or none for a fresh directory), "
            "or repeat the original settings to resume it"
        )


def check_optimizer_state(path: Path, checkpoint: dict[str, Any]) -> None:
    """A CheckpointError if `checkpoint` keeps its weights but not its optimizer's state (an older format whose
    parameters moved: ``checkpoint_format.upgraded``), so training cannot go on from it."""
    if "optimizer_states" not in checkpoint:
        raise CheckpointError(
            f"cannot resume training from {path}: it was written by an older vae_lab whose tabular likelihood kept its "
            "parameters in another layout, so its optimizer state does not fit this one. Evaluate, sample, encode or impute "
            "with it as it is, or start a new run"
        )


def trusted_modules(cfg: DictConfig) -> list[str]:
    """What a resumed checkpoint may name: ``trusted_modules``, and the targets' modules and ``data.plugins`` that this
    config names itself."""
    composed = OmegaConf.to_container(cfg, resolve=False)
    own = {target.rpartition(".")[0] for _, target in instantiated_targets({k: composed.get(k) for k in INSTANTIATED_NODES})}
    plugins = [str(module) for module in (composed.get("data") or {}).get("plugins") or []]
    return [*cfg.get("trusted_modules", []), *sorted(own - {""}), *plugins]


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        flat: dict[str, Any] = {}
        for key, value in tree.items():
            flat |= _flatten(value, f"{prefix}{key}.")
        return flat or {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): tree}


def _differing(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    missing = "(not set)"
    return {
        key: (before.get(key, missing), after.get(key, missing)) for key in before.keys() | after.keys() if before.get(key, missing) != after.get(key, missing)
    }
