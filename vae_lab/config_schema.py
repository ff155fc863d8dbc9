"""One check of every config value, right after composition and before any work or file.

Each config node with a ``_target_`` is checked against the signature of what it builds: every key must be
a parameter (``+trainer.foo=1`` is refused), and every value must fit the parameter's type annotation,
ranges included. Our classes declare their ranges in their signatures with the aliases below
(``batch_size: AtLeastOne``); third-party classes (Lightning's Trainer, torch's optimizers and
schedulers) are checked against their own annotations. The nodes without a target (``model``, ``eval``,
the top-level keys of each command) are described by the dataclasses below. pydantic does the checking;
a failure is one ConfigError naming the full key, the value and what is allowed.

Values a type cannot express (an optimizer's learning rate that torch refuses) are found by building:
``build.build_optimizer`` tries the optimizer at once.
"""

import inspect
import math
import typing
from dataclasses import dataclass, field, fields
from typing import Annotated, Any, Literal

from hydra.utils import get_method
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError
from pydantic import AfterValidator, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from vae_lab.errors import ConfigError

AtLeastOne = Annotated[int, Field(ge=1)]
AtLeastTwo = Annotated[int, Field(ge=2)]
NonNegativeInt = Annotated[int, Field(ge=0)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Share = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]  # a fraction in (0, 1]
DropoutRate = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]


def _held_out_size(size: int | float) -> int | float:
    if isinstance(size, bool) or not (isinstance(size, int) and size >= 1 or isinstance(size, float) and 0 < size < 1):
        raise ValueError("must be a count >= 1 or a fraction in (0, 1)")
    return size


HeldOutSize = Annotated[Any, AfterValidator(_held_out_size)]  # data.val_size, data.test_size
SPECIAL_KEYS = ("_target_", "_partial_", "_recursive_", "_convert_", "_args_")


@dataclass
class ModelSettings:
    """The ``model`` node (conf/model/vae.yaml); ``kl_schedule`` is a node of its own."""

    latent_dim: AtLeastOne = 20
    rows_per_hidden_unit: Positive | None = None
    beta: NonNegative = 1.0
    recon_weight: NonNegative = 1.0
    free_bits: NonNegative = 0.0
    free_bits_per: Literal["dimension", "layer"] = "dimension"
    objective: Literal["elbo", "iwae"] = "elbo"
    iwae_k: AtLeastOne = 5
    compile: bool = False
    condition: str | list[str] | None = None
    kl_schedule: Any = None


def model_settings(node: DictConfig) -> ModelSettings:
    """The ``model`` node, checked and read as ``ModelSettings`` (its schedule node aside); a ConfigError names a bad value."""
    values = {key: value for key, value in _container(node).items() if key != "kl_schedule"}
    return validated(ModelSettings, values, "model")


@dataclass
class TrainSettings:
    """The top-level keys of ``vae-lab train`` (conf/train.yaml)."""

    task_name: str = "train"
    seed: int = 0
    run_name: str | None = None
    ckpt_path: str | None = None
    trusted_modules: list[str] = field(default_factory=list)
    optimized_metric: str | list[str] = "val/loss"
    continue_on_failure: bool = True
    model: ModelSettings = field(default_factory=ModelSettings)


@dataclass
class FromCheckpointSettings:
    """The top-level keys shared by the commands that start from a checkpoint."""

    task_name: str = ""
    ckpt_path: str | None = None
    trusted_modules: list[str] = field(default_factory=list)
    output: str | None = None
    seed: int = 0
    device: str = "auto"
    data_dir: str | None = None
    data_path: str | None = None


@dataclass
class EvalCommandSettings(FromCheckpointSettings):
    eval: dict[str, Any] = field(default_factory=dict)  # the settings of conf/eval.yaml's node, checked when the command reads them
    split: Literal["train", "val", "test"] = "test"
    compile: bool | Literal["auto"] | None = "auto"
    log_to_run: bool = True


@dataclass
class SampleMode:
    mode: Literal["mean", "sample"] | None = None  # E[x|z], or a draw x ~ p(x|z); None: the data's default
    prior: Literal["model", "fitted"] = "model"  # the model's own p(z), or a mixture fitted to the training rows' posteriors
    calibrate: Literal["all", "missing", "none"] = "all"  # a table's samples get the training rows' share of every discrete state, or of missing cells


@dataclass
class SampleCommandSettings(FromCheckpointSettings):
    n: AtLeastOne = 64
    sample: SampleMode = field(default_factory=SampleMode)
    condition: dict[str, Any] = field(default_factory=dict)
    condition_file: str | None = None


@dataclass
class EncodeCommandSettings(FromCheckpointSettings):
    split: Literal["train", "val", "test"] = "test"
    batch_size: AtLeastOne = 1000


@dataclass(frozen=True)
class ImputationSettings:
    """How ``vae-lab impute`` fills (conf/impute.yaml): one fill (`mean_draws`, `iterations`), or `draws` copies,
    each the state of a Markov chain after `steps` steps; `batch_size` rows at a time; `seed` of every draw."""

    mean_draws: NonNegativeInt = 0
    iterations: AtLeastOne = 10
    draws: NonNegativeInt = 0
    steps: AtLeastOne = 100
    batch_size: AtLeastOne = 4096
    seed: int = 0


@dataclass(frozen=True)
class ImputeCommandSettings(ImputationSettings):
    task_name: str = "impute"
    ckpt_path: str | None = None
    trusted_modules: tuple[str, ...] = ()
    input: str | None = None
    output: str | None = None
    encoding: str | None = None
    device: str = "auto"


def _gpus_per_node(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise ValueError("must be at least 1 (sbatch refuses a job with no task per node); for a job without GPUs use cluster=slurm_cpu")
    return value


@dataclass
class ClusterSettings:
    """The ``cluster`` node (conf/cluster/slurm.yaml, slurm_cpu.yaml): values sbatch would refuse are refused before submission."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    nodes: AtLeastOne = 1
    gpus_per_node: Annotated[int | None, AfterValidator(_gpus_per_node)] = 1
    cpus_per_gpu: AtLeastOne = 8
    tasks_per_node: AtLeastOne = 1
    cpus_per_task: AtLeastOne = 1
    mem_gb: Annotated[float, Field(gt=0)] = 64
    timeout_min: AtLeastOne = 240
    auto_requeue: bool = True
    signal_delay_s: NonNegativeInt = 120
    max_parallel_jobs: AtLeastOne = 32


@dataclass
class FigureCommandSettings:
    task_name: str = "figure"
    run_name: str | None = None
    seed: int = 0
    runs: str | list[str] = ""
    trusted_modules: list[str] = field(default_factory=list)
    split: Literal["train", "val", "test"] = "test"
    max_points: AtLeastOne = 10000
    projection: Literal["auto", "none", "pca"] = "auto"
    titles: list[str] | None = None
    data_dir: str | None = None
    output: str = ""


COMMAND_SETTINGS: dict[str, type] = {
    "figure": FigureCommandSettings,
    "train": TrainSettings,
    "eval": EvalCommandSettings,
    "sample": SampleCommandSettings,
    "encode": EncodeCommandSettings,
    "impute": ImputeCommandSettings,
}


def check_config(cfg: DictConfig) -> None:
    """A ConfigError naming the first value of `cfg` that its schema does not allow; see the module docstring."""
    resolved = _container(cfg)  # every interpolation resolves
    missing = _missing_key(resolved)
    if missing is not None:
        raise ConfigError(f"{missing} has no value (??? in the config); give it one on the command line: {missing}=...")
    command = str(resolved.get("task_name"))
    settings = COMMAND_SETTINGS.get(command)
    if settings is not None:
        scalars = {key: value for key, value in resolved.items() if key in {f.name for f in fields(settings)}}
        validated(settings, scalars)
    check_cluster(cfg)
    for group in BUILT_GROUPS:
        check_group_is_chosen(cfg, group)
    for group in NEEDED_GROUPS.get(command, ()):
        if next(target_nodes(cfg.get(group)), None) is None:
            raise ConfigError(f"no {group} is chosen, and {command} needs one: choose one with {group}=NAME (`vae-lab {command} --help` lists them)")
    for key, node in target_nodes(cfg):
        check_target_node(node, key)


def check_cluster(cfg: DictConfig) -> None:
    """The ``cluster`` node's values (a ConfigError naming the first bad one); also called before a multirun submits its jobs."""
    if isinstance(cfg.get("cluster"), DictConfig):
        validated(ClusterSettings, _container(cfg.cluster), "cluster")


# The config groups whose every option builds something (a ``_target_`` at some depth of the node).
BUILT_GROUPS = ("data", "likelihood", "encoder", "decoder", "prior", "hierarchy", "optimizer", "scheduler")
NEEDED_GROUPS = {"train": ("data", "likelihood", "encoder", "decoder", "prior", "optimizer")}  # the rest may be chosen away (scheduler=null)


def check_group_is_chosen(cfg: DictConfig, group: str) -> None:
    """Refuse settings of a group with no option chosen: what an experiment sets for, say, the scheduler stays
    after ``~scheduler`` drops its choice, and would reach the code as a node that builds nothing."""
    node = cfg.get(group)
    if isinstance(node, DictConfig) and len(node) > 0 and next(target_nodes(node), None) is None:
        settings = [f"{group}.{key}" for key in leaf_keys(node)]
        raise ConfigError(
            f"{group} has settings ({', '.join(settings)}) but no {group} is chosen: choose one ({group}=NAME; "
            f"`vae-lab {cfg.get('task_name', 'train')} --help` lists them) or drop the settings ({' '.join('~' + key for key in settings)})"
        )


def leaf_keys(node: DictConfig, prefix: str = "") -> list[str]:
    keys = []
    for name in map(str, node.keys()):
        value = node[name]
        keys += leaf_keys(value, f"{prefix}{name}.") if isinstance(value, DictConfig) else [f"{prefix}{name}"]
    return keys


def target_nodes(node: Any, key: str = "") -> typing.Iterator[tuple[str, DictConfig]]:
    """(full key, node) of every node with a ``_target_`` in `node`, outermost first."""
    if isinstance(node, DictConfig):
        if "_target_" in node:
            yield key, node
        for name in node.keys():
            if not str(name).startswith("_") and not OmegaConf.is_missing(node, name):
                yield from target_nodes(node[name], f"{key}.{name!s}" if key else str(name))
    elif isinstance(node, ListConfig):
        for position in range(len(node)):
            if not OmegaConf.is_missing(node, position):
                yield from target_nodes(node[position], f"{key}[{position}]")


def check_target_node(node: DictConfig, key: str) -> None:
    """Check the keys and values of one node against the signature of its ``_target_``."""
    try:
        target = get_method(node._target_)
    except Exception as error:  # Hydra wraps import failures in its own exception types
        raise ConfigError(f"{key}._target_={node._target_} cannot be found ({error}); check the spelling or install its package") from None
    for flag in ("_partial_", "_recursive_"):
        if not isinstance(node.get(flag, False), bool):
            raise ConfigError(f"{key}.{flag}={node[flag]!r}: must be true or false (a flag of Hydra's instantiate)")
    try:
        signature = inspect.signature(target)
        hints = typing.get_type_hints(target.__init__ if inspect.isclass(target) else target, include_extras=True)
    except (TypeError, ValueError, NameError):
        return  # nothing to check against
    parameters = signature.parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    values = {name: value for name, value in _container(node).items() if name not in SPECIAL_KEYS}
    schema: dict[str, Any] = {}
    for name, value in values.items():
        if name not in parameters:
            if takes_any:
                continue
            accepted = ", ".join(n for n, p in parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and n != "self")
            raise ConfigError(f"{key}.{name} is not a setting of {node._target_}; it takes: {accepted}")
        nested = is_target(value) or isinstance(value, list) and any(is_target(item) for item in value)  # checked as nodes of their own
        schema[name] = (Any if nested else hints.get(name, Any), ...)
    model = create_model(key or "config", __config__=ConfigDict(arbitrary_types_allowed=True), **schema)
    validated(model, values, key, node._target_)


def is_target(value: Any) -> bool:
    return isinstance(value, dict) and "_target_" in value


def validated(schema: type, values: dict[str, Any], key: str = "", target: str | None = None) -> Any:
    """`values` checked against `schema` (a dataclass or pydantic model) and built into it; a ConfigError
    naming the full key (under `key`), the value and what is allowed.

    A value is never converted to another kind: the config keeps what the user wrote, and the code reads it from there,
    so text read as a number or a truth value ('1e3', 'no'), 2.0 read as an integer or true read as a number is refused.
    """
    try:
        result: Any = TypeAdapter(schema).validate_python(values)
    except ValidationError as error:
        raise ConfigError(_message(error, values, key, target)) from None
    converted = _converted(values, result, key)
    if converted is not None:
        full_key, value, read_as = converted
        what = "true or false" if isinstance(read_as, bool) else "a whole number" if isinstance(read_as, int) else "a number"
        given = {str: "text (write it without quotes)", bool: "true or false", float: "a decimal number", int: "a number"}[type(value)]
        where = f" (a setting of {target})" if target else ""
        raise ConfigError(f"{full_key}={value!r}: must be {what}, not {given}{where}")
    return result


def _converted(value: Any, result: Any, key: str) -> tuple[str, Any, Any] | None:
    """(full key, value, what validation made of it) of the first value in `value` that validation turned into a number
    or truth value of another type (an int becoming a float aside); None if there is none. `result` is what it built."""
    if isinstance(value, dict):
        items = [(f"{key}.{name}" if key else str(name), item, result.get(name) if isinstance(result, dict) else getattr(result, str(name), None))
                 for name, item in value.items()]  # fmt: skip
    elif isinstance(value, list) and isinstance(result, list | tuple):
        items = [(f"{key}[{position}]", item, built) for position, (item, built) in enumerate(zip(value, result))]
    else:
        read_as_another = type(result) is not type(value) and not (type(value) is int and type(result) is float)
        return (key, value, result) if read_as_another and isinstance(value, str | int | float) and isinstance(result, int | float) else None
    return next(filter(None, (_converted(item, built, full_key) for full_key, item, built in items)), None)


def _message(error: ValidationError, values: dict[str, Any], key: str, target: str | None) -> str:
    """One line for the first bad value: its full key, the value, and what is allowed."""
    problems = error.errors(include_url=False)
    path, value = [], values
    for part in problems[0]["loc"]:  # the keys down to the value; the rest names union members
        if not (isinstance(value, dict) and part in value):
            break
        path.append(str(part))
        value = value[part]
    same = [p for p in problems if [str(x) for x in p["loc"][: len(path)]] == path]
    allowed = " or ".join(dict.fromkeys(p["msg"].replace("Input should be", "must be").replace("Value error, ", "") for p in same))
    full_key = ".".join(filter(None, [key, *path]))
    where = f" (a setting of {target})" if target else ""
    shown = value if not isinstance(value, float) or math.isfinite(value) else str(value)
    return f"{full_key}={shown!r}: {allowed}{where}"


def _missing_key(value: Any, key: str = "") -> str | None:
    """The full key of the first missing value (``???``) in `value`, a config as plain data; None if there is none."""
    if isinstance(value, dict):
        found = (_missing_key(item, f"{key}.{name}" if key else str(name)) for name, item in value.items())
    elif isinstance(value, list):
        found = (_missing_key(item, f"{key}[{position}]") for position, item in enumerate(value))
    else:
        return key if isinstance(value, str) and value == MISSING else None
    return next(filter(None, found), None)


def _container(node: DictConfig) -> dict[str, Any]:
    """`node` as plain data, interpolations resolved; one that cannot be resolved (``${nope}``) is a ConfigError naming its key."""
    try:
        return typing.cast(dict[str, Any], OmegaConf.to_container(node, resolve=True, throw_on_missing=False))
    except InterpolationResolutionError as error:
        problem = str(error).splitlines()[0]
        raise ConfigError(
            f"{error.full_key} cannot be resolved ({problem}); an interpolation ${{...}} names an existing key (e.g. ${{seed}}) or a "
            "resolver (e.g. ${oc.env:NAME,default}); write \\${...} for the text itself"
        ) from None
