"""The ``vae-lab`` command: ``vae-lab <command> [Hydra overrides]``.

Every command is a Hydra app (overrides, ``-m`` multirun, ``--cfg job``, ``--help``) whose config is
``conf/<command>.yaml`` and whose task is the ``task`` function of its module in ``vae_lab.commands``.
That module (and with it torch and Lightning, several seconds of imports) is imported only once Hydra
has composed the config, so ``--help``, ``--cfg job`` and a wrong override answer at once. A user's
mistake (``VaeLabError``) is reported as one message and a non-zero exit status, never a traceback;
Hydra reports config composition errors the same way.
"""

import atexit
import importlib
import importlib.resources
import importlib.util
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from vae_lab import config_resolvers, sweeps
from vae_lab.config_schema import check_config
from vae_lab.errors import RunInterrupted, TrainingDiverged, VaeLabError
from vae_lab.quiet import one_console, quiet_third_party
from vae_lab.run_dir import remove_if_nothing_written

log = logging.getLogger("vae_lab")

# name (also the config's file name and task_name): (module with the task, one-line summary)
COMMANDS = {
    "train": ("vae_lab.commands.train", "fit a VAE, test its best checkpoint, write results.json"),
    "eval": ("vae_lab.commands.evaluate", "log-likelihood, ELBO, gaps and latent usage of a checkpoint: eval.json"),
    "sample": ("vae_lab.commands.sample", "decode draws from the prior of a checkpoint (.pt, and a PNG grid for images)"),
    "encode": ("vae_lab.commands.encode", "posterior means and log-variances of a split, with labels (.npz)"),
    "figure": ("vae_lab.commands.figure", "the seed's latent-space figure from trained runs, one PNG"),
    "impute": ("vae_lab.commands.impute", "fill the missing cells of a CSV with a tabular model"),
}

config_resolvers.register()


def usage() -> str:
    lines = ["usage: vae-lab <command> [overrides] [-m] [--cfg job] [--help]", "", "commands:"]
    lines += [f"  {name:<8} {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "Run `vae-lab <command> --help` for its config groups and options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Dispatch ``vae-lab <command> ...`` to the command's Hydra app."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"vae-lab: unknown command '{name}'\n\n{usage()}", file=sys.stderr)
        sys.exit(2)
    quiet_third_party()
    make_sweeper_plugin_visible()
    refuse_null_group_choices(name, rest)
    if name == "sample":  # condition.label=7 adds a key to the empty condition node: Hydra spells that +condition.label=7
        rest = [f"+{arg}" if arg.startswith("condition.") else arg for arg in rest]
    sys.argv = [sys.argv[0], *rest]  # Hydra parses sys.argv
    try:
        hydra.main(version_base="1.3", config_path="pkg://vae_lab.conf", config_name=name)(run_command)()
    except SystemExit as stop:
        # Hydra reports a config it cannot compose (an unknown key, group or option) in one message and exit
        # status 1, raised while it handles the error; that is a user's mistake like any other: status 2.
        composition_error = isinstance(stop.__context__, (HydraException, OmegaConfBaseException))
        exit_without_teardown(2 if stop.code == 1 and composition_error else stop.code)
    exit_without_teardown(0)


def refuse_null_group_choices(command: str, overrides: list[str]) -> None:
    """``scheduler=null``: Hydra (1.1 and later) drops a config group's choice with ``~scheduler`` and answers
    ``group=null`` with a traceback; say so in one message and exit with status 2."""
    groups = {entry.name for entry in importlib.resources.files("vae_lab.conf").iterdir() if entry.is_dir()}
    for override in overrides:
        key, _, value = override.partition("=")
        group = key.lstrip("+")
        if group in groups and value == "null":
            print(f"vae-lab {command}: {override} is not a choice; drop the {group} group's choice with ~{group}", file=sys.stderr)
            sys.exit(2)


def exit_without_teardown(code: int | str | None) -> None:
    """End the process as ``sys.exit(code)`` would, minus the teardown of every imported module.

    Tearing down torch and Lightning at exit takes about 3 s and raises the peak memory of the process
    by about 130 MB (measured: ``python -c "import lightning"`` peaks at 931 MB and 10.3 s, at 802 MB
    and 7.6 s without the teardown). What exit must still do is done first: non-daemon threads are
    joined (after thread pools are told to stop), exit handlers run (log files, W&B, temporary folders), and output is flushed.
    """
    if isinstance(code, str):
        print(code, file=sys.stderr)
    threading._shutdown()  # what the interpreter does first at exit: stop thread pools, join non-daemon threads
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


def make_sweeper_plugin_visible() -> None:
    """Let Hydra's plugin scan find our sweeper (``hydra_plugins.vae_lab_optuna_sweeper``) in an editable install.

    An editable install maps the package through an import hook that ``pkgutil`` cannot list, and Hydra
    only instantiates plugins its scan listed; naming the package's folder on the namespace path fixes
    that. A regular install puts the package in site-packages, where the scan finds it anyway.
    """
    import hydra_plugins

    spec = importlib.util.find_spec("hydra_plugins.vae_lab_optuna_sweeper")
    assert spec is not None and spec.origin is not None, "vae_lab is installed without its sweeper plugin"
    folder = str(Path(spec.origin).parent.parent)
    if folder not in list(hydra_plugins.__path__):
        hydra_plugins.__path__.append(folder)


def run_command(cfg: DictConfig) -> Any:
    """The Hydra task of every command (also in a launcher's process): import the command, run its task."""
    flush_denormals_to_zero()
    module = importlib.import_module(COMMANDS[cfg.task_name][0])
    one_console()
    return run_reporting_errors(module.task, cfg)


def flush_denormals_to_zero() -> None:
    """Compute with denormal floats (float32 below 1.2e-38) as zeros on the CPU, as TensorFlow does by default.

    A CPU takes tens to hundreds of times longer for arithmetic on a denormal, and training makes them: a
    Bernoulli decoder drives the logits of pixels that are always 0 (MNIST's border) towards -100, whose
    sigmoid (their gradient) is denormal, and Adam's moments of weights that stop receiving gradient decay
    through them. Flushing them makes an epoch of ``experiment=pytorch_examples`` 13% faster on the
    2-core CPU (benchmarks/whole_process.py) with the same test loss and K = 5000 log-likelihood to the
    digits reported, and eager evaluation 17% faster (benchmarks/eval_iwae.py). The setting (x86's MXCSR)
    is each thread's own and a new thread inherits its creator's: made here, before the command's first
    tensor operation starts torch's thread pool, it holds in every thread of the pool. The Python API
    leaves the user's process as it is (``torch.set_flush_denormal(True)`` at a script's top does the same).
    """
    import torch

    torch.set_flush_denormal(True)


def run_reporting_errors(task: Callable[[DictConfig], Any], cfg: DictConfig) -> Any:
    """Run a command's task; a VaeLabError becomes one logged message and a non-zero exit.

    In a multirun, any failure is recorded in the job's results.json (``vae_lab.sweeps``); with
    ``continue_on_failure`` the job then returns None (no value for a sweeper) and the sweep goes on. A stop signal
    (``RunInterrupted``: results.json says interrupted) ends the process with 128 + the signal, in a sweep too, so that a
    scheduler that sent it (SLURM's requeue or preemption) sees the job stopped and runs it again.
    """
    log_to_file_on_rank_zero_only()
    try:
        check_config(cfg)
        return task(cfg)
    except RunInterrupted as error:  # a stop signal: the run saved its step; the process stops, in a sweep too (a scheduler requeues it)
        log.error("%s", error)
        sys.exit(error.exit_code)
    except Exception as error:
        in_sweep = sweeps.in_multirun()
        if in_sweep:
            sweeps.record_failed_job(error)  # logged there, with the job's number
            if cfg.get("continue_on_failure", True):
                return None
        if not isinstance(error, VaeLabError):
            raise  # a bug, not a user's mistake: the traceback is the report
        if not in_sweep:
            log.error("%s", error)
            if not isinstance(error, TrainingDiverged):  # a refused start leaves no run directory behind
                remove_if_nothing_written(Path(HydraConfig.get().runtime.output_dir))
        sys.exit(error.exit_code)


def log_to_file_on_rank_zero_only() -> None:
    """The extra processes of a DDP run (Lightning's children, SLURM tasks) log to the console only.

    Hydra's file handler is opened lazily (``delay: true`` in conf/hydra/default.yaml), so removing it
    before anything is logged leaves no file behind.
    """
    if sweeps.is_rank_zero():
        return
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, logging.FileHandler)]:
        root.removeHandler(handler)
        handler.close()
