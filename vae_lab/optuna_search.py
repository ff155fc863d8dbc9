"""Hyperparameter search with Optuna's ask/tell interface, launched through Hydra: ``hparams_search=optuna``.

Optuna does the search (sampler, pruner, study); this module asks it for trials, turns each into the
overrides of one Hydra job, launches them in batches of ``n_jobs`` with whatever launcher is configured
(basic, joblib, submitit_local, submitit_slurm) and tells Optuna how each ended.

The study lives in ``storage``:

- ``null``: a journal file in the sweep directory (``optuna.journal``), so that jobs in other processes
  can report to it for pruning; the study ends with the sweep directory;
- a path: Optuna's ``JournalFileBackend`` (a file on a shared filesystem, no database server; several
  sweep commands, e.g. several SLURM jobs, can work on one study at once);
- a database URL (``sqlite:///optuna.db``, ``postgresql://...``): Optuna's ``RDBStorage``.

Re-running a command on a stored study continues it: it runs until ``n_trials`` trials have finished
(complete, pruned, or failed in their job) in the study, whoever ran them. Trials still marked running by a process that is
gone (dead on this host, or no heartbeat for ``grace_period_s`` from another host) are marked failed and
their parameters are asked again. Pruned trials stop early (``vae_lab.training.trial_pruning``) and are
told to Optuna as pruned. The best trial (or, with several objectives, the Pareto front) is written to
``optimization_results.yaml`` in the sweep directory.
"""

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, Transformer
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from vae_lab.atomic_files import write_text
from vae_lab.errors import ConfigError
from vae_lab.run_dir import pid_alive
from vae_lab.sweeps import RESULTS
from vae_lab.training.optuna_study import JOURNAL_IN_SWEEP_DIR, make_pruner, open_storage

log = logging.getLogger(__name__)

RESULTS_FILE = "optimization_results.yaml"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
POLL_S = 2.0


def distribution(override: Override) -> BaseDistribution | str:
    """An Optuna distribution from a sweep override (``choice``, ``range``, ``interval``, ``tag(log, ...)``,
    ``a,b,c``), or the plain value of a fixed one."""
    if not override.is_sweep_override():
        return override.get_value_element_as_str()
    value: Any = override.value()  # a ChoiceSweep, RangeSweep or IntervalSweep, as the checks below say
    if override.is_choice_sweep() or (override.is_range_sweep() and value.shuffle):
        return CategoricalDistribution(list(override.sweep_iterator(transformer=Transformer.encode)))  # type: ignore[arg-type]  # encoded: str
    if override.is_range_sweep():
        if any(isinstance(v, float) for v in (value.start, value.stop, value.step)):
            return FloatDistribution(value.start, value.stop - value.step, step=value.step)
        return IntDistribution(int(value.start), int(value.stop) - int(value.step), step=int(value.step))
    if override.is_interval_sweep():
        log_scale = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log_scale)
        return FloatDistribution(value.start, value.end, log=log_scale)
    raise ConfigError(f"the search space entry '{override.input_line}' is not a choice, range or interval")


def search_space(entries: Iterable[str]) -> tuple[dict[str, BaseDistribution], dict[str, str]]:
    """(distributions, fixed overrides) from ``key=value`` lines: the config's params, then the command line."""
    distributions: dict[str, BaseDistribution] = {}
    fixed: dict[str, str] = {}
    for override in OverridesParser.create().parse_overrides(list(entries)):
        name, value = override.get_key_element(), distribution(override)
        distributions.pop(name, None)  # a later entry (the command line) replaces an earlier one (the config)
        fixed.pop(name, None)
        if isinstance(value, BaseDistribution):
            distributions[name] = value
        else:
            fixed[name] = value
    return distributions, fixed


class OptunaSearch:
    """One sweep command's part of a study: ask, launch, tell, until the study has ``n_trials`` finished trials."""

    def __init__(self, settings: dict[str, Any], hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.settings = OmegaConf.create(settings)
        self.config = config
        self.sweep_dir = Path(config.hydra.sweep.dir)
        self.launcher = Plugins.instance().instantiate_launcher(config=config, hydra_context=hydra_context, task_function=task_function)
        directions = self.settings.direction
        self.directions = [directions] if isinstance(directions, str) else list(directions)
        self.n_trials, self.n_jobs = int(self.settings.n_trials), int(self.settings.n_jobs)
        if self.n_trials < 1 or self.n_jobs < 1:
            raise ConfigError(f"hydra.sweeper.n_trials and n_jobs must be >= 1, got {self.n_trials} and {self.n_jobs}")
        if len(self.directions) > 1 and self.settings.pruner not in (None, "none"):
            raise ConfigError("Optuna prunes single-objective studies only: set hydra.sweeper.pruner=none for several directions")
        self.job_idx = 0

    # -- the study -----------------------------------------------------------------------------

    def open_study(self) -> optuna.Study:
        storage = open_storage(self.settings.storage, self.sweep_dir)
        study = optuna.create_study(
            storage=storage, study_name=self.settings.study_name, directions=self.directions,  # type: ignore[arg-type]  # checked by Optuna
            pruner=make_pruner(self.settings.pruner), load_if_exists=True,
        )  # fmt: skip
        sampler = OmegaConf.to_container(self.settings.sampler, resolve=True)
        if "seed" in sampler and sampler["seed"] is not None:  # a continued study draws new points, not its first ones again
            sampler["seed"] = int(sampler["seed"]) + len(study.trials)
        study.sampler = instantiate(sampler)
        log.info("Optuna study '%s' in %s: %d trials so far, %d finished", study.study_name,
                 self.settings.storage or self.sweep_dir / JOURNAL_IN_SWEEP_DIR, len(study.trials), self.finished(study))  # fmt: skip
        return study

    @staticmethod
    def finished(study: optuna.Study) -> int:
        """Trials with an outcome: complete, pruned, or failed in their job (not interrupted, not surplus)."""
        ended = study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.FAIL))
        return sum(not ({"interrupted", "surplus"} & trial.user_attrs.keys()) for trial in ended)

    def fail_stale_trials(self, study: optuna.Study) -> None:
        """Mark running trials whose sweep process is gone as failed, and ask their parameters again."""
        host, now = socket.gethostname(), time.time()
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            attrs = trial.user_attrs
            if "pid" not in attrs:
                continue
            on_this_host = attrs.get("host") == host
            gone = not pid_alive(int(attrs["pid"])) if on_this_host else now - float(attrs.get("heartbeat", now)) > self.settings.grace_period_s
            if not gone or (on_this_host and int(attrs["pid"]) == os.getpid()):
                continue
            try:
                study._storage.set_trial_user_attr(trial._trial_id, "interrupted", f"{attrs.get('host')} pid {attrs.get('pid')} is gone")
                study.tell(trial.number, state=TrialState.FAIL)
            except (RuntimeError, ValueError, optuna.exceptions.UpdateFinishedTrialError):  # another sweep command failed it first
                continue
            log.warning("trial %d was left running by a process that is gone (%s pid %s); its parameters are asked again",
                        trial.number, attrs.get("host"), attrs.get("pid"))  # fmt: skip
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number}, skip_if_exists=False)

    # -- the loop ------------------------------------------------------------------------------

    def run(self, arguments: list[str]) -> None:
        params = [f"{key}={value}" for key, value in (self.settings.params or {}).items()]
        distributions, fixed = search_space([*params, *arguments])
        study = self.open_study()
        self.job_idx = next_job_index(self.sweep_dir)
        failures = 0
        while True:
            self.fail_stale_trials(study)
            finished = self.finished(study)
            running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
            if finished >= self.n_trials:
                break
            batch = min(self.n_jobs, self.n_trials - finished - running)
            if batch <= 0:  # the rest runs in other sweep commands: wait until it ends (or its process is gone)
                time.sleep(POLL_S)
                continue
            trials = [trial for trial in (self.ask(study, distributions) for _ in range(batch)) if trial is not None]
            if not trials:
                continue
            returns = self.launch(study, trials, fixed)
            failures += sum(self.tell(study, trial, job) == TrialState.FAIL for trial, job in zip(trials, returns))
            if failures > self.settings.max_failure_rate * self.n_trials:
                log.error("stopping the search: %d failed trials, more than max_failure_rate=%s of n_trials=%d",
                          failures, self.settings.max_failure_rate, self.n_trials)  # fmt: skip
                break
        self.write_results(study)

    def ask(self, study: optuna.Study, distributions: dict[str, BaseDistribution]) -> optuna.Trial | None:
        """A new trial with its parameters; None if a concurrent sweep command asked the study's last one first."""
        trial = study.ask(distributions)
        for key, value in {"host": socket.gethostname(), "pid": os.getpid(), "heartbeat": time.time()}.items():
            trial.set_user_attr(key, value)
        claimed = [t.number for t in study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.FAIL, TrialState.RUNNING))
                   if not ({"interrupted", "surplus"} & t.user_attrs.keys())]  # fmt: skip
        if sorted(claimed).index(trial.number) >= self.n_trials:
            trial.set_user_attr("surplus", "asked by two sweep commands at once after the study was complete; not run")
            study.tell(trial, state=TrialState.FAIL)
            return None
        return trial

    def launch(self, study: optuna.Study, trials: list[optuna.Trial], fixed: dict[str, str]) -> list[JobReturn]:
        """Run the trials as one batch of jobs, keeping their heartbeats while they run."""
        overrides = [
            tuple([*(f"{name}={value}" for name, value in trial.params.items()), *(f"{k}={v}" for k, v in fixed.items()), f"trial={trial.number}"])
            for trial in trials
        ]  # fmt: skip
        stop = threading.Event()
        beating = threading.Thread(target=self.heartbeat, args=(study, trials, stop), daemon=True)
        beating.start()
        try:
            returns = self.launcher.launch(overrides, initial_job_idx=self.job_idx)
        finally:
            stop.set()
            beating.join()
        self.job_idx += len(returns)
        return list(returns)

    def heartbeat(self, study: optuna.Study, trials: list[optuna.Trial], stop: threading.Event) -> None:
        while not stop.wait(self.settings.heartbeat_interval_s):
            for trial in trials:
                study._storage.set_trial_user_attr(trial._trial_id, "heartbeat", time.time())

    def tell(self, study: optuna.Study, trial: optuna.Trial, job: JobReturn) -> TrialState:
        """Tell Optuna how the trial's job ended: its value(s), pruned (its results.json says so), or failed."""
        outcome = job_outcome(job)
        state, values = TrialState.FAIL, None
        if outcome == "pruned":
            state = TrialState.PRUNED
        elif job.status == JobStatus.COMPLETED and job._return_value is not None:
            returned = job._return_value
            values = [float(v) for v in (returned if isinstance(returned, (list, tuple)) else [returned])]
            if len(values) == len(self.directions) and all(v == v for v in values):  # NaN: the metric was not there
                state = TrialState.COMPLETE
            else:
                log.warning("trial %d returned %s, not %d number(s): told as failed", trial.number, returned, len(self.directions))
                values = None
        study.tell(trial, state=state, values=values)
        return state

    def write_results(self, study: optuna.Study) -> None:
        """``optimization_results.yaml``: the best trial, or the Pareto front of several objectives, and the counts."""
        counts = {state.name.lower(): len(study.get_trials(deepcopy=False, states=(state,))) for state in TrialState}
        results: dict[str, Any] = {"name": "optuna", "study_name": study.study_name,
                                   "storage": str(self.settings.storage or self.sweep_dir / JOURNAL_IN_SWEEP_DIR), "trials": counts}  # fmt: skip
        completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not completed:
            log.error("no trial of study '%s' completed: no best parameters", study.study_name)
        elif len(self.directions) == 1:
            best = study.best_trial
            results |= {"best_trial": best.number, "best_params": best.params, "best_value": best.value}
            log.info("best trial %d: %s = %s", best.number, best.params, best.value)
        else:
            results["solutions"] = [{"trial": t.number, "params": t.params, "values": t.values} for t in study.best_trials]
            log.info("Pareto front: %d trials", len(study.best_trials))
        write_text(self.sweep_dir / RESULTS_FILE, OmegaConf.to_yaml(OmegaConf.create(results)))


def job_outcome(job: JobReturn) -> str | None:
    """The status a job wrote to its results.json (completed, pruned, failed), or None if it wrote none."""
    directory = job.hydra_cfg.hydra.runtime.output_dir if job.hydra_cfg is not None else job.working_dir
    path = Path(directory) / RESULTS if directory else None
    if path is None or not path.is_file():
        return None
    return json.loads(path.read_text()).get("status")


def next_job_index(sweep_dir: Path) -> int:
    """The first job number not yet used in the sweep directory (a continued sweep keeps its jobs)."""
    numbers = [int(p.name) for p in sweep_dir.glob("*") if p.is_dir() and p.name.isdigit()] if sweep_dir.is_dir() else []
    return max(numbers, default=-1) + 1
