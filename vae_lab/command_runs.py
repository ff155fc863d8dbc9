"""vae-lab commands run from Python (notebooks, scripts), each a real ``python -m vae_lab`` process.

A notebook trains and evaluates with exactly what a user types in a terminal; this module only
starts the process, names a fresh run directory and reads back what the command wrote:

    run = train("data=ring", "likelihood=gaussian", "likelihood.sigma=0.1", "model.latent_dim=2")
    run.results["test/elbo"]; config, datamodule, module = run.load()
    evaluation = evaluate(run.best_checkpoint, "eval.iwae_samples=100")
"""

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from vae_lab.checkpoints import load_run
from vae_lab.run_dir import RunDir


class CommandFailed(RuntimeError):
    """A vae-lab command exited non-zero; the message holds its command line and its last output lines."""


def run(command: str, *overrides: str, tail_lines: int = 20) -> str:
    """Run ``vae-lab COMMAND OVERRIDES`` in a new process and return its output (stdout and stderr)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    finished = subprocess.run(
        [sys.executable, "-m", "vae_lab", command, *overrides],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
    )  # fmt: skip
    if finished.returncode != 0:
        tail = "\n".join(finished.stdout.splitlines()[-tail_lines:])
        raise CommandFailed(f"`vae-lab {command} {' '.join(overrides)}` exited with status {finished.returncode}:\n{tail}")
    return finished.stdout


@dataclass
class TrainedRun:
    """A finished ``vae-lab train`` run: its directory and its ``results.json``."""

    run_dir: Path
    results: dict[str, Any]

    @property
    def best_checkpoint(self) -> Path:
        return Path(self.results["best_checkpoint"])

    def load(self):
        """(config, data module, training plan) rebuilt from the best checkpoint (``checkpoints.load_run``)."""
        return load_run(self.best_checkpoint)


def train(*overrides: str, log_dir: str | Path = "runs", name: str = "run") -> TrainedRun:
    """``vae-lab train OVERRIDES`` in a fresh directory ``<log_dir>/train/<name>_<time>_<id>``."""
    run_dir = Path(log_dir).absolute() / "train" / f"{name}_{datetime.now():%Y%m%d_%H%M%S}_{uuid.uuid4().hex[:6]}"
    run("train", *overrides, f"hydra.run.dir={run_dir}")
    return TrainedRun(run_dir, json.loads(RunDir(run_dir).results.read_text()))


def evaluate(checkpoint: str | Path, *overrides: str) -> dict[str, Any]:
    """``vae-lab eval ckpt_path=CHECKPOINT OVERRIDES``; returns the eval.json it wrote (beside the checkpoint)."""
    output = Path(checkpoint).parent / f"eval_{uuid.uuid4().hex[:6]}.json"
    run("eval", f"ckpt_path={checkpoint}", f"output={output}", "log_to_run=false", *overrides)
    return json.loads(output.read_text())
