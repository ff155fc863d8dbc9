"""Real SLURM: a single-node cluster (munged, slurmctld, slurmd from Debian's slurm-wlm and munge, which
.ci/run installs) started for these tests: an Optuna search whose trials run as a job array of 2-task DDP
jobs, and a requeued job resuming to the same end as an uninterrupted one.

The tests skip, saying why, only where the daemons cannot start (no slurm-wlm, not root). Not covered
here: the time-limit path (USR1 before the limit): SLURM's smallest time limit is a minute and it may send
the signal up to a minute early, so a test would take several minutes; Lightning's SLURMEnvironment
handles it, and resuming from its hpc_ckpt_*.ckpt is tested in test_resume.py.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import PROBES, TINY, cli_environment, read_results

RING = [*TINY, "data=ring", "data.num_samples=2000", "likelihood=gaussian", "logger=csv", "cluster=slurm_cpu", "cluster.mem_gb=1"]
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "scontrol", "sinfo")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def slurm_conf(folder: Path) -> str:
    host = socket.gethostname()
    memory_mb = int(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 * 0.8)
    ports = free_port(), free_port()
    return "\n".join([
        "ClusterName=vaelabtest", f"SlurmctldHost={host}", "SlurmUser=root", "SlurmdUser=root", "AuthType=auth/munge",
        f"StateSaveLocation={folder}/state", f"SlurmdSpoolDir={folder}/spool", f"SlurmctldPidFile={folder}/slurmctld.pid",
        f"SlurmdPidFile={folder}/slurmd.pid", f"SlurmctldLogFile={folder}/slurmctld.log", f"SlurmdLogFile={folder}/slurmd.log",
        f"SlurmctldPort={ports[0]}", f"SlurmdPort={ports[1]}", "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
        "SchedulerType=sched/backfill", "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core", "ReturnToService=2",
        "MpiDefault=none", "JobCompType=jobcomp/none", "AccountingStorageType=accounting_storage/none", "InactiveLimit=0",
        "MinJobAge=300", "KillWait=5", "Waittime=0",
        f"NodeName={host} CPUs={os.cpu_count()} RealMemory={memory_mb} State=UNKNOWN",
        f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4",
    ]) + "\n"  # fmt: skip


def munge_works() -> bool:
    encoded = subprocess.run(["munge", "-n"], capture_output=True)
    return encoded.returncode == 0 and subprocess.run(["unmunge"], input=encoded.stdout, capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """SLURM_CONF of a running single-node cluster; skips with the reason when one cannot start here."""
    missing = [tool for tool in DAEMONS if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists()]
    if missing:
        pytest.skip(f"no SLURM here ({', '.join(missing)} missing): apt-get install slurm-wlm munge, as .ci/run does")
    if os.geteuid() != 0:
        pytest.skip("a test SLURM cluster runs its daemons as root")
    folder = tmp_path_factory.mktemp("slurm")
    (folder / "state").mkdir(), (folder / "spool").mkdir()
    conf = folder / "slurm.conf"
    conf.write_text(slurm_conf(folder))
    if not munge_works():
        Path("/run/munge").mkdir(exist_ok=True)
        shutil.chown("/run/munge", "munge", "munge")
        subprocess.run(["/usr/sbin/munged", "--force"], capture_output=True)
        if not munge_works():
            pytest.skip("munged does not start: SLURM cannot authenticate")
    env = {**os.environ, "SLURM_CONF": str(conf)}
    for daemon in ("slurmctld", "slurmd"):
        started = subprocess.run([f"/usr/sbin/{daemon}", "-f", str(conf)], env=env, capture_output=True, text=True)
        if started.returncode != 0:
            pytest.skip(f"{daemon} does not start: {started.stderr.strip()}")
    deadline = time.time() + 60
    while "idle" not in subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True).stdout:
        if time.time() > deadline:
            pytest.skip(f"the SLURM node never became idle: {(folder / 'slurmd.log').read_text()[-500:]}")
        time.sleep(0.5)
    yield str(conf)
    for pid_file in ("slurmd.pid", "slurmctld.pid"):
        if (folder / pid_file).is_file():
            try:
                os.kill(int((folder / pid_file).read_text()), signal.SIGTERM)
            except ProcessLookupError:
                pass


def slurm_cli(args: list[str], cwd: Path, conf: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vae_lab", *args], cwd=cwd,
                            env=cli_environment({**PROBES, "SLURM_CONF": conf}), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip


def test_a_requeued_job_resumes_to_the_same_end_as_an_uninterrupted_one(slurm, tmp_path):
    """`scontrol requeue` of a running job: it restarts in the same run directory from last.ckpt (a mid-epoch
    checkpoint every 20 steps) and ends at the uninterrupted run's final step and test ELBO. The first run waits at
    step 21 until it is killed: left to run, it could finish within SLURM's KillWait, and the requeue resume nothing."""
    common = [*RING, "data.num_samples=6000", "trainer.max_epochs=2", "cluster.tasks_per_node=1", "callbacks.step_checkpoint.every_n_train_steps=20"]
    marker = tmp_path / "held"
    hold = ["+callbacks.hold._target_=lightning_probes.HoldAtStep", "+callbacks.hold.step=21", f"+callbacks.hold.marker={marker}"]
    runs = {name: tmp_path / name for name in ("requeued", "uninterrupted")}
    processes = {}
    for name, folder in runs.items():
        folder.mkdir()
        processes[name] = slurm_cli(["train", *common, "run_name=r", *(hold if name == "requeued" else [])], folder, slurm)
    checkpoint = runs["requeued"] / "runs" / "train" / "multirun" / "r" / "0" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while not marker.is_file() and time.time() < deadline:
        time.sleep(0.5)
    assert checkpoint.is_file(), "the first run never reached step 21"
    env = {**os.environ, "SLURM_CONF": slurm}
    submitted = runs["requeued"] / "runs" / "train" / "multirun" / "r" / ".submitit"
    job_id = next(p.name for p in submitted.iterdir() if p.is_dir() and p.name[0].isdigit()).split("_")[0]
    subprocess.run(["scontrol", "requeue", job_id], env=env, check=True)
    while subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], env=env, capture_output=True, text=True).stdout.strip() != "PENDING":
        time.sleep(0.2)  # the first run is being stopped
    subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], env=env, check=True)  # not SLURM's 2-minute hold
    outputs = {name: process.communicate(timeout=600)[0] for name, process in processes.items()}
    assert all(process.returncode == 0 for process in processes.values()), outputs
    requeued, reference = (read_results(folder / "runs" / "train" / "multirun" / "r" / "0") for folder in runs.values())
    assert requeued["global_step"] == reference["global_step"] and requeued["epochs"] == reference["epochs"]
    assert requeued["test/elbo"] == pytest.approx(reference["test/elbo"], rel=1e-5)
    log = (runs["requeued"] / "runs" / "train" / "multirun" / "r" / "0" / "train.log").read_text()
    assert "resuming from" in log and "last.ckpt" in log


def test_an_optuna_search_runs_its_trials_as_a_slurm_array_of_ddp_jobs(slurm, tmp_path):
    """`hparams_search=optuna cluster=slurm_cpu`: two trials asked at once (n_jobs=2) run as one job array, each
    job one DDP run over its 2 SLURM tasks (Lightning's SLURMEnvironment); the study and the results see both."""
    process = slurm_cli(["train", "hparams_search=optuna", *RING, "trainer.max_epochs=2", "hydra.sweeper.n_trials=2",
                         "hydra.sweeper.n_jobs=2"], tmp_path, slurm)  # fmt: skip
    output = process.communicate(timeout=400)[0]
    assert process.returncode == 0, output
    (sweep_dir,) = (tmp_path / "runs" / "train" / "multirun").iterdir()
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert results["trials"]["complete"] == 2 and results["best_trial"] in (0, 1)
    jobs = [read_results(sweep_dir / str(n)) for n in (0, 1)]
    assert [job["status"] for job in jobs] == ["completed", "completed"] and all(job["epochs"] == 2 for job in jobs)
    job_folders = [folder for folder in sweep_dir.glob(".submitit/*_*") if folder.is_dir()]
    assert len(job_folders) == 2
    for folder in job_folders:  # each job: one DDP run over its two tasks
        logs = "\n".join(path.read_text() for path in folder.glob("*_log.*"))
        assert "GLOBAL_RANK: 0, MEMBER: 1/2" in logs and "GLOBAL_RANK: 1, MEMBER: 2/2" in logs
    script = next(sweep_dir.glob(".submitit/*/*_submission.sh")).read_text()
    assert "#SBATCH --array=0-1" in script and "#SBATCH --ntasks-per-node=2" in script and "gpus" not in script
