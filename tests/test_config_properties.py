"""Generated config values (hypothesis): wrong types, ranges and choices in every config group either pass the config
check or are refused with our one-message error (ConfigError), and a config that passes builds its cheap pieces (optimizer,
scheduler, KL schedule, evaluation settings) or is refused the same way; nothing else. Two bad values also go through the CLI."""

import concurrent.futures
import copy
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import REPO, run_cli
from hydra import compose, initialize_config_module
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from vae_lab.config_schema import check_config
from vae_lab.errors import ConfigError, VaeLabError
from vae_lab.evaluation.split_evaluation import EvalSettings
from vae_lab.training.assembly import build_kl_schedule, build_optimizer, build_scheduler

EXAMPLES = max(500, settings.default.max_examples)  # the thorough profile (HYPOTHESIS_PROFILE=thorough) runs more
# The train config's groups, each with the node its options set (None: anywhere, as an experiment sets several groups).
GROUPS = {
    "data": "data", "likelihood": "likelihood", "encoder": "encoder", "decoder": "decoder", "prior": "prior", "hierarchy": "hierarchy",
    "model/kl_schedule": "model.kl_schedule", "remedy": "model", "optimizer": "optimizer", "scheduler": "scheduler", "trainer": "trainer",
    "callbacks": "callbacks", "logger": "logger", "cluster": "cluster", "hparams_search": "callbacks.trial_pruning", "experiment": None,
}  # fmt: skip
REQUIRED = {  # what an option needs on the command line besides its choice (its ??? values)
    "data=csv": ["data.path=t.csv"], "data=array": ["data.path=a.npy"], "data=image_folder": ["data.path=images"],
    "data=dataset": ["data.dataset._target_=torchvision.datasets.FakeData"], "experiment=tabular": ["data.path=t.csv"],
    "experiment=tabular_conditional": ["data.path=t.csv", "model.condition=c"],
}  # fmt: skip
COMMANDS = {"eval": ["ckpt_path=a.ckpt"], "sample": ["ckpt_path=a.ckpt"], "encode": ["ckpt_path=a.ckpt"], "impute": ["ckpt_path=a.ckpt"], "figure": ["runs=r"]}


@dataclass
class Base:
    """A composed config (`plain`: as plain data, uninterpolated): the command and overrides it was composed with, and the
    keys (paths into it) a mutation may set."""

    command: str
    overrides: list[str]
    config: DictConfig
    plain: dict[str, Any]
    keys: list[tuple[Any, ...]]


def paths(value: Any, node: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every value in a plain container (`value` from OmegaConf.to_container), nodes and leaves, outermost first."""
    if isinstance(value, dict):
        children = value.items()
    elif isinstance(value, list):
        children = enumerate(value)
    else:
        return []
    return [path for key, child in children for path in [(*node, key), *paths(child, (*node, key))]]


def compose_bases() -> dict[str, list[Base]]:
    """Every option of every train group, and every other command, composed once: group (or command) -> its bases."""
    bases: dict[str, list[Base]] = {}
    with initialize_config_module(config_module="vae_lab.conf", version_base="1.3"):
        for group, node in GROUPS.items():
            for option in sorted(path.stem for path in (REPO / "conf" / group).glob("*.yaml")):
                choice = f"+{group}={option}" if group == "remedy" else f"{group}={option}"
                overrides = [choice, *REQUIRED.get(choice, [])]
                config = compose("train", [*overrides, "paths.output_dir=out"])
                plain = OmegaConf.to_container(config)
                within = () if node is None else tuple(node.split("."))
                keys = [path for path in paths(plain) if path[: len(within)] == within and path != within]
                bases.setdefault(group, []).append(Base("train", overrides, config, plain, keys))
        train = compose("train", ["paths.output_dir=out"])
        top_level = [(key,) for key, value in train.items() if not isinstance(value, DictConfig)]
        bases["train"] = [Base("train", [], train, OmegaConf.to_container(train), [*top_level, ("model", "latent_dim")])]
        for command, overrides in COMMANDS.items():
            config = compose(command, [*overrides, "paths.output_dir=out"] if command == "figure" else overrides)
            plain = OmegaConf.to_container(config)
            bases[command] = [Base(command, overrides, config, plain, paths(plain))]
    return bases


@pytest.fixture(scope="module")
def bases() -> dict[str, list[Base]]:
    composed = compose_bases()
    for group_bases in composed.values():
        for base in group_bases:
            check_config(base.config)  # every shipped option passes as composed
            assert base.keys, f"{base.overrides}: nothing to mutate"
    return composed


SPECIAL_TEXTS = ["", " ", "abc", "1e3", "0x1F", "True", "None", "nan", "-inf", "???", "${nope}", "${oc.env:VAE_LAB_NO_SUCH_VARIABLE}",
                 "${seed}", "${trainer}", "torch.optim.SGD", "builtins.dict", "math.sqrt", "vae_lab.nothing.Here"]  # fmt: skip
NUMBERS = st.one_of(
    st.integers(-3, 3),
    st.integers(-(2**70), 2**70),
    st.sampled_from([2**31, 2**63, -(2**63) - 1, 10**400]),
    st.floats(),
    st.sampled_from([0.0, -0.0, 0.5, 1.5, -1.5, 1e-320, 1e308, math.nan, math.inf, -math.inf]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=6), st.sampled_from(SPECIAL_TEXTS))
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(st.sampled_from(["a", "lr", "_target_", "0"]), SCALARS, max_size=2))


def near_misses(current: Any) -> st.SearchStrategy:
    """Values close to `current`: a misspelt choice, a number out by one, of the wrong sign or kind, a list of the wrong length."""
    if isinstance(current, bool):
        return st.sampled_from([not current, int(current), str(current).lower(), "yes", 2])
    if isinstance(current, int):
        return st.sampled_from([current + 1, current - 1, -current, 0, current * 10**6, current + 0.5, float(current), str(current)])
    if isinstance(current, float):
        return st.sampled_from([-current, 0.0, current * 1e300, current / 1e300, math.ulp(0.0), current + 1, str(current), math.nan])
    if isinstance(current, str):
        return st.sampled_from([current.upper(), current + "x", current[:-1], " " + current, current.replace("_", "-"), f"[{current}]"])
    if isinstance(current, list):
        return st.sampled_from([[], current[:1], current * 2, [*current, "x"], [-1], current[0] if current else 0])
    return VALUES


@dataclass
class Mutated:
    """A base config with new values at some keys."""

    group: str
    base: Base
    changes: dict[tuple[Any, ...], Any]
    config: DictConfig | None  # None: OmegaConf refused a value, as Hydra's override parser would


def value_at(plain: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        plain = plain[key]
    return plain


@st.composite
def mutated_configs(draw, bases: dict[str, list[Base]]) -> Mutated:
    group = draw(st.sampled_from(sorted(bases)))
    base = draw(st.sampled_from(bases[group]))
    drawn = draw(st.lists(st.sampled_from(base.keys), min_size=1, max_size=3, unique=True))
    keys = [key for key in drawn if not any(key[: len(other)] == other != key for other in drawn)]  # not inside another changed node
    changes = {key: draw(st.one_of(near_misses(value_at(base.plain, key)), VALUES)) for key in keys}
    config = copy.deepcopy(base.config)
    try:
        for key, value in changes.items():
            parent = config
            for part in key[:-1]:
                parent = parent[part]  # a container of the base (a changed node's insides are not drawn)
            parent[key[-1]] = value
    except OmegaConfBaseException:
        return Mutated(group, base, changes, None)
    return Mutated(group, base, changes, config)


def build_cheap_pieces(cfg: DictConfig, command: str) -> None:
    """What a command builds from the config without data or a model: the optimizer, scheduler and KL schedule of
    train (the schedule evaluated over a run), the evaluation settings of eval."""
    if command == "train":
        build_optimizer(cfg.optimizer)
        if cfg.get("scheduler"):
            build_scheduler(cfg.scheduler, cfg.optimizer)
        schedule = build_kl_schedule(cfg)
        for step, epoch in ((0, 0.0), (1, 0.01), (10**6, 1e3)):
            assert math.isfinite(schedule(step, epoch)), f"KL weight {schedule(step, epoch)} at step {step}"
    elif command == "eval":
        EvalSettings.from_config(cfg.eval, cfg.seed)  # as vae_lab.commands.evaluate reads them


def test_every_generated_config_value_passes_the_check_and_builds_or_is_one_message(bases):
    outcomes: Counter[str] = Counter()
    mutated_groups: Counter[str] = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(mutated_configs(bases))
    def check(mutated: Mutated) -> None:
        mutated_groups[mutated.group] += 1
        if mutated.config is None:
            outcomes["refused by OmegaConf"] += 1
            return
        try:
            check_config(mutated.config)
        except ConfigError as error:
            outcomes["refused by the check"] += 1
            assert str(error), "an empty message"
            return
        try:
            build_cheap_pieces(mutated.config, mutated.base.command)
        except VaeLabError as error:
            outcomes["refused when built"] += 1
            assert str(error), "an empty message"
            return
        outcomes["passed"] += 1

    check()
    total = sum(outcomes.values())
    assert total >= EXAMPLES, outcomes
    assert outcomes["refused by the check"] >= total / 5 and outcomes["passed"] >= total / 10, outcomes  # both sides are exercised
    assert set(mutated_groups) == set(bases), f"groups never mutated: {set(bases) - set(mutated_groups)}"


BAD_COMMANDS = {  # a bad value: what the one message says
    "model.beta=${nope}": "model.beta cannot be resolved (Interpolation key 'nope' not found)",
    "model.compile='no'": "model.compile='no': must be true or false, not text",
}


@pytest.mark.slow
def test_bad_generated_values_exit_2_from_the_cli_with_one_message(tmp_path):
    folders = [tmp_path / f"case{i}" for i in range(len(BAD_COMMANDS))]
    for folder in folders:
        folder.mkdir()
    commands = [["train", "data=ring", "likelihood=gaussian", "trainer.max_epochs=1", value] for value in BAD_COMMANDS]
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(commands)) as pool:
        done = list(pool.map(lambda case: run_cli(*case), zip(commands, folders)))
    for command, folder, result, message in zip(commands, folders, done, BAD_COMMANDS.values()):
        output = result.stdout + result.stderr
        assert result.returncode == 2, f"{command}: exit {result.returncode}\n{output}"
        assert "Traceback" not in output, output
        errors = [line for line in output.splitlines() if "ERROR" in line]
        assert len(errors) == 1 and message in errors[0], output
        assert list(folder.iterdir()) == [], f"{command} wrote {list(folder.iterdir())}"
