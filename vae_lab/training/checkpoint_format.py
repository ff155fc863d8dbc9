"""Our checkpoint files: Lightning's, plus the resolved run config, so a checkpoint alone rebuilds its run.

``RunConfigInCheckpoint`` writes the config and the checkpoint format (``FORMAT``) into every
checkpoint; ``read_checkpoint`` reads one back, safely, with clear errors for missing, corrupt, unsafe,
foreign or other-format files. ``VAEModule.rebuilt`` turns it back into a data module and training plan.

Format 1 (vae_lab 0.2 and 0.3): Lightning's checkpoint with ``vae_lab_config`` (the resolved run config)
and ``vae_lab_format``; checkpoints of 0.2 carry no format number and are read as format 1.
Format 2 (vae_lab 0.4): the tabular likelihood holds one factor per column kind, so the learned sigmas of its
numeric and point-mass columns, one tensor ``likelihood.gaussian.raw_sigma`` in format 1, are two:
``likelihood.factors.<kind>.gaussian.raw_sigma``. ``upgraded`` reads format 1 as format 2.
The number changes when a checkpoint of the new layout could not be read by the old code, or back.
"""

import pickle
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import get_object
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, OmegaConf

from vae_lab.errors import CheckpointError
from vae_lab.version import __version__

CONFIG_KEY = "vae_lab_config"
FORMAT_KEY = "vae_lab_format"
FORMAT = 2
FORMAT_1_SIGMA = "likelihood.gaussian.raw_sigma"  # format 1: numeric columns, then point-mass ones


class RunConfigInCheckpoint(Callback):
    """Stores the run's resolved config in every checkpoint under ``vae_lab_config``."""

    def __init__(self, config: DictConfig) -> None:
        self.config = OmegaConf.to_container(config, resolve=True)

    def on_save_checkpoint(self, trainer: L.Trainer, module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        checkpoint[CONFIG_KEY] = self.config
        checkpoint[FORMAT_KEY] = FORMAT


# The config nodes that loading a checkpoint instantiates, and the modules whose classes and functions they may name.
INSTANTIATED_NODES = ("data", "encoder", "decoder", "likelihood", "prior", "hierarchy", "model", "optimizer", "scheduler")
TRUSTED_MODULES = ("vae_lab", "torch.optim", "torchvision.datasets", "torchvision.transforms")
TRUST_OPTION = "trusted_modules"


def read_checkpoint(path: str | Path, trusted_modules: Iterable[str] = ()) -> dict[str, Any]:
    """The checkpoint dict at `path`, or a CheckpointError saying what is wrong with the file.

    Nothing in the file runs: it is unpickled with ``weights_only=True`` (tensors and plain containers only), and
    every ``_target_`` that loading would instantiate must name a class or function of ``TRUSTED_MODULES`` or of
    `trusted_modules` (a user's own, e.g. ``["my_package.datasets"]``: the ``trusted_modules=[...]`` option).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass ckpt_path=PATH to a .ckpt file written by `vae-lab train`")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:  # weights_only refuses any object but tensors and plain containers
        refused = str(error).split("WeightsUnpickler error:")[-1].strip().splitlines()[0]
        raise CheckpointError(
            f"{path} was refused: it holds objects that could run code when loaded ({refused}), so it is not a vae_lab checkpoint "
            "(vae_lab writes only tensors and plain values). Nothing in it was run; use a checkpoint written by `vae-lab train`"
        ) from None
    except Exception as error:  # torch.load raises many types for truncated or foreign files
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(error).__name__}: {error}); it may be truncated or not a checkpoint") from None
    if not isinstance(checkpoint, dict) or CONFIG_KEY not in checkpoint or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path} is not a vae_lab checkpoint (it holds no run config); use a checkpoint written by `vae-lab train`")
    found = checkpoint.get(FORMAT_KEY, 1)
    if found == 1:
        checkpoint = upgraded(checkpoint)
    elif found != FORMAT:
        raise CheckpointError(
            f"{path} is a vae_lab checkpoint of format {found}, and this vae_lab ({__version__}) reads format {FORMAT}; "
            f"open it with the vae_lab version that wrote it (see CHANGELOG.md), or retrain with this one"
        )
    check_targets(checkpoint[CONFIG_KEY], (*TRUSTED_MODULES, *trusted_modules), path)
    check_plugins(checkpoint[CONFIG_KEY], (*TRUSTED_MODULES, *trusted_modules), path)
    return checkpoint


def upgraded(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """A format-1 checkpoint read as format 2: wherever weights are kept by name (the model's, an EMA callback's), the
    tabular likelihood's one sigma tensor split into its numeric and point-mass factors' (how many of each: the table's
    schema, which the data module's state holds). Resuming training needs the optimizer's state laid out as the
    parameters are, which moved when both kinds are present: such a checkpoint keeps its weights but not its optimizer
    state, and ``resume`` says so."""
    schemas = [state["schema"] for state in checkpoint.values() if isinstance(state, dict) and isinstance(state.get("schema"), dict)]
    kinds = [str(column["kind"]) for schema in schemas[:1] for column in schema.get("columns", [])]  # the table data module's state
    numeric = kinds.count("numeric")

    def split(weights: Any) -> Any:
        if isinstance(weights, dict):
            renamed: dict[str, Any] = {}
            for key, value in weights.items():
                if isinstance(key, str) and key.endswith(FORMAT_1_SIGMA) and isinstance(value, torch.Tensor):
                    prefix = key[: -len(FORMAT_1_SIGMA)] + "likelihood.factors."
                    for kind, part in (("numeric", value[:numeric]), ("point_mass", value[numeric:])):
                        if len(part):
                            renamed[f"{prefix}{kind}.gaussian.raw_sigma"] = part
                else:
                    renamed[key] = split(value)
            return renamed
        return weights

    upgraded = {key: split(value) if key in ("state_dict", "callbacks") else value for key, value in checkpoint.items()}
    if "numeric" in kinds and "point_mass" in kinds:
        upgraded.pop("optimizer_states", None)
    return upgraded | {FORMAT_KEY: FORMAT}


def check_plugins(config: dict[str, Any], trusted_modules: Iterable[str], path: Path) -> None:
    """A CheckpointError naming the first module of ``data.plugins`` (imported when the data module is built) that is not
    within `trusted_modules`; nothing is imported here."""
    for module in (config.get("data") or {}).get("plugins") or []:
        if not _within(str(module), tuple(trusted_modules)):
            raise CheckpointError(
                f"{path} was refused: its config imports data.plugins=[{module}], a module that is not vae_lab's. Nothing was run. "
                f"If you trust where this checkpoint came from, name the module: {TRUST_OPTION}=[{module}] "
                f"(Python: vae_lab.load_run(path, {TRUST_OPTION}=[...]))"
            )


def check_targets(config: dict[str, Any], trusted_modules: Iterable[str], path: Path) -> None:
    """A CheckpointError naming the first ``_target_`` of the instantiated nodes that is not in `trusted_modules`.

    A target passes when its name lies in a trusted module *and* the object it resolves to was defined there, so
    ``vae_lab.run_dir.shutil.rmtree`` (a trusted module's import of another) is refused. Untrusted modules are never imported.
    """
    trusted = tuple(trusted_modules)
    for key, target in instantiated_targets(config):
        defined_in = _defining_module(target) if _within(target, trusted) else None
        if defined_in is None or not _within(defined_in, trusted):
            raise CheckpointError(
                f"{path} was refused: its config asks to build {key}._target_={target}, which is not a class of vae_lab, a torch "
                f"optimizer or scheduler, or a torchvision dataset or transform. Nothing was run. If you trust where this checkpoint "
                f"came from, name the module: {TRUST_OPTION}=[{target.rpartition('.')[0] or target}] (Python: vae_lab.load_run(path, {TRUST_OPTION}=[...]))"
            )


def instantiated_targets(config: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(key, target) of every ``_target_`` inside the nodes that loading a checkpoint instantiates."""

    def walk(node: Any, key: str) -> Iterator[tuple[str, str]]:
        if isinstance(node, dict):
            if "_target_" in node:
                yield key, str(node["_target_"])
            for name, child in node.items():
                yield from walk(child, f"{key}.{name}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                yield from walk(child, f"{key}[{index}]")

    for name in INSTANTIATED_NODES:
        yield from walk(config.get(name), name)


def _within(name: str, modules: tuple[str, ...]) -> bool:
    return any(name == module or name.startswith(module + ".") for module in modules)


def _defining_module(target: str) -> str | None:
    try:
        found = get_object(target)
    except Exception:  # not importable: refused like any untrusted target
        return None
    return getattr(found, "__module__", None)


def run_config(checkpoint: dict[str, Any]) -> DictConfig:
    """The resolved config a checkpoint was trained with."""
    return OmegaConf.create(checkpoint[CONFIG_KEY])


def datamodule_key(cfg: DictConfig) -> str:
    """Lightning saves a data module's state_dict under its class's qualified name."""
    return cfg.data._target_.rsplit(".", 1)[-1]
