"""Resuming a run: which checkpoint to continue from, and whether it belongs to the composed config.

Re-running a command in an existing run directory (``run_name=NAME`` or ``hydra.run.dir=DIR``)
continues from the directory's newest checkpoint: ``checkpoints/last.ckpt`` (written every
``callbacks.step_checkpoint.every_n_train_steps`` steps and at every epoch end) or an
``hpc_ckpt_*.ckpt`` that Lightning saves when SLURM signals the end of a job's time. ``ckpt_path=last``
asks for that explicitly; ``ckpt_path=PATH`` names a checkpoint.

A checkpoint is only resumed into the model it was trained as: the config stored in it
(``vae_lab.checkpoints``) must agree with the composed one on everything that defines the model and
its data. What may change on resume (``trainer.*`` such as ``max_epochs``, ``paths.*``, loggers,
callbacks, where the data files are) is not compared.
"""

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from vae_lab.checkpoints import CONFIG_KEY, read_checkpoint
from vae_lab.errors import CheckpointError, ConfigError
from vae_lab.run_dir import RunDir

LAST = "last"
MODEL_DEFINING_KEYS = ("data", "encoder", "decoder", "likelihood", "prior", "model")
FREE_ON_RESUME = {"data.data_dir", "data.download", "data.pin_memory", "data.eval_batch_size"}


def checkpoint_to_resume(cfg: DictConfig, run_dir: Path) -> str | None:
    """The checkpoint to resume from (checked against `cfg`), or None to start afresh."""
    requested = cfg.get("ckpt_path")
    if requested and str(requested) != LAST:
        path: Path | None = Path(str(requested))
    else:
        path = newest_checkpoint(run_dir)
        if path is None and requested:
            raise CheckpointError(
                f"ckpt_path=last: there is no checkpoint in {run_dir} to resume from. Name the run to resume "
                "with run_name=NAME (or hydra.run.dir=DIR), or leave ckpt_path unset to start a new run"
            )
    if path is None:
        return None
    check_same_model(path, cfg)
    return str(path)


def newest_checkpoint(run_dir: Path) -> Path | None:
    """The most recently written of ``checkpoints/last.ckpt`` and Lightning's ``hpc_ckpt_*.ckpt``."""
    return RunDir(run_dir).newest_checkpoint()


def check_same_model(path: Path, cfg: DictConfig) -> None:
    """Raise a ConfigError naming the differences if the checkpoint at `path` was trained with another model or data."""
    stored = read_checkpoint(path)[CONFIG_KEY]
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
