"""The Optuna sweeper (vae_lab/optuna_search.py) through the real CLI on current Optuna: stored studies that
survive a killed command, two commands on one study, pruning, several objectives; and its search-space parsing."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from conftest import TINY, cli_environment, run_cli
from hydra.core.override_parser.overrides_parser import OverridesParser
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from vae_lab.optuna_search import distribution, open_storage, search_space

RING = [*TINY, "data=ring", "data.num_samples=600", "likelihood=gaussian", "trainer.max_epochs=4", "logger=csv"]
SEARCH = ["train", "hparams_search=optuna", *RING]


def load_study(storage: str, name: str = "vae_lab") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(storage, "."))


def outcomes(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The trials that count towards n_trials: not interrupted by a killed command, not surplus."""
    return [t for t in study.trials if t.state != TrialState.RUNNING and not ({"interrupted", "surplus"} & t.user_attrs.keys())]


def sweep_rows(cwd: Path) -> list[dict]:
    rows = []
    for summary in sorted((cwd / "runs" / "train" / "multirun").glob("*/sweep.csv")):
        with open(summary) as file:
            rows += list(csv.DictReader(file))
    return rows


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vae_lab", *args], cwd=cwd, env=cli_environment(), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip


def test_search_space_entries_become_optuna_distributions():
    parse = OverridesParser.create().parse_overrides
    cases = {
        "a=choice(8,16,32)": CategoricalDistribution([8, 16, 32]),
        "a=1,2": CategoricalDistribution([1, 2]),
        "a=range(2,10,2)": IntDistribution(2, 8, step=2),  # Hydra's range excludes its stop
        "a=interval(0.5,2.0)": FloatDistribution(0.5, 2.0),
        "a=tag(log,interval(0.0001,0.01))": FloatDistribution(0.0001, 0.01, log=True),
    }
    for line, expected in cases.items():
        assert distribution(parse([line])[0]) == expected, line
    distributions, fixed = search_space(["model.beta=interval(0.5,2.0)", "seed=3", "model.beta=1.0", "x=choice(a,b)"])
    assert distributions == {"x": CategoricalDistribution(["a", "b"])} and fixed == {"model.beta": "1.0", "seed": "3"}


def wait_for_a_trial_in_progress_after_a_finished_one(runs: Path, deadline: float) -> None:
    """Return once one trial's job folder holds results.json and a later job's folder has started without one.

    Watching the folders, not the clock, keeps the kill inside a trial however fast or loaded the machine is."""
    while time.time() < deadline:
        started = {path.parent for path in runs.glob("train/multirun/*/*/.hydra")}
        finished = {path.parent for path in runs.glob("train/multirun/*/*/results.json")}
        if finished and started - finished:
            return
        time.sleep(0.02)
    raise AssertionError(f"no trial started after a finished one within the deadline: {sorted(runs.rglob('*'))}")


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_killed_search_continues_to_exactly_n_trials(tmp_path, kind):
    """SIGKILL while a trial trains; the same command again finishes the study at n_trials, asking the killed trial's
    parameters again, and never repeats a finished trial."""
    storage = f"sqlite:///{tmp_path / 'optuna.db'}" if kind == "sqlite" else str(tmp_path / "study.journal")
    command = [*SEARCH, "hydra.sweeper.n_trials=4", f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=killed"]
    process = start(command, tmp_path)
    wait_for_a_trial_in_progress_after_a_finished_one(tmp_path / "runs", deadline=time.time() + 120)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = load_study(storage, "killed").trials
    assert 1 <= len([t for t in before if t.state == TrialState.COMPLETE]) < 4
    again = run_cli(command, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    study = load_study(storage, "killed")
    counted = outcomes(study)
    assert len(counted) == 4 and all(t.state == TrialState.COMPLETE for t in counted)
    assert len({t.number for t in study.trials}) == len(study.trials)
    finished_before = {t.number for t in before if t.state == TrialState.COMPLETE}
    assert {t.number for t in counted} >= finished_before  # finished trials are kept, not run again
    for trial in [t for t in before if t.state == TrialState.RUNNING]:  # killed mid-trial: failed, asked again
        assert "interrupted" in study.trials[trial.number].user_attrs
        assert any(t.user_attrs.get("retry_of") == trial.number and t.params == trial.params for t in counted)


def test_two_search_commands_share_one_journal_study(tmp_path):
    """Two commands at once on one study (as two SLURM jobs would): n_trials between them, no trial twice."""
    journal = tmp_path / "shared.journal"
    command = [*SEARCH, "hydra.sweeper.n_trials=5", f"hydra.sweeper.storage={journal}", "hydra.sweeper.study_name=shared"]
    folders = [tmp_path / "a", tmp_path / "b"]
    processes = []
    for folder in folders:
        folder.mkdir()
        processes.append(start(command, folder))
    outputs = [process.communicate(timeout=300)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    study = load_study(str(journal), "shared")
    counted = outcomes(study)
    assert len(counted) == 5 and all(t.state == TrialState.COMPLETE for t in counted)
    ran = [int(row["overrides"].rsplit("trial=", 1)[1].split()[0]) for folder in folders for row in sweep_rows(folder)]
    assert sorted(ran) == sorted(t.number for t in counted)  # every finished trial ran once, in one of the two commands
    assert all(rows for rows in (sweep_rows(folder) for folder in folders))  # both took part


def test_pruned_trials_stop_early_and_are_recorded(tmp_path):
    """A threshold pruner stops the trials whose learning rate is too small to learn (val/loss 2.73 against 2.49 after epoch 1).
    Fixed values on the command line (model.beta=1.0, model.latent_dim=4) take those keys out of the config's space."""
    result = run_cli(
        [*SEARCH, "hydra.sweeper.n_trials=4", "optimizer.lr=choice(0.000001,0.003)", "model.latent_dim=4", "model.beta=1.0",
         "hydra.sweeper.pruner={_target_:optuna.pruners.ThresholdPruner,upper:2.62,n_warmup_steps:1}",
         f"hydra.sweeper.storage={tmp_path / 'study.journal'}"],
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    rows = sweep_rows(tmp_path)
    for row in rows:
        lr = float(row["overrides"].split("optimizer.lr=")[1].split()[0])
        if lr < 1e-5:
            assert row["status"] == "pruned" and row["pruned_epoch"] == "1" and float(row["pruned_val/loss"]) > 2.62, row
            assert not row.get("test/elbo")  # a pruned trial is not tested
        else:
            assert row["status"] == "completed" and float(row["best_val_loss"]) < 2.62
    assert {row["status"] for row in rows} == {"pruned", "completed"}
    study = load_study(str(tmp_path / "study.journal"))
    assert sorted(t.state.name for t in study.trials) == sorted({"pruned": "PRUNED", "completed": "COMPLETE"}[r["status"]] for r in rows)


def test_two_objectives_give_the_pareto_front(tmp_path):
    result = run_cli([*SEARCH, "hydra.sweeper.n_trials=3", "optimized_metric=[val/loss,val/kl]", "hydra.sweeper.direction=[minimize,minimize]"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (sweep_dir,) = (tmp_path / "runs" / "train" / "multirun").iterdir()
    front = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())["solutions"]
    rows = {int(row["overrides"].rsplit("trial=", 1)[1].split()[0]): row for row in sweep_rows(tmp_path)}
    assert front and all(len(solution["values"]) == 2 for solution in front)
    for solution in front:
        row = rows[solution["trial"]]
        assert solution["values"] == pytest.approx([float(row["best_val_loss"]), float(row["last_val/kl"])])
    dominated = [a for a in rows.values() for b in rows.values()
                 if float(b["best_val_loss"]) < float(a["best_val_loss"]) and float(b["last_val/kl"]) < float(a["last_val/kl"])]  # fmt: skip
    assert len(front) == len(rows) - len({id(a) for a in dominated})
    assert json.loads((Path(rows[front[0]["trial"]]["run_dir"]) / "results.json").read_text())["status"] == "completed"
