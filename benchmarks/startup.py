"""Startup: seconds from `vae-lab train experiment=pytorch_examples` to its first training step.

    python benchmarks/startup.py --data-dir ../shared/data [--runs 3] [--source DIR]

Each run is a fresh process; a callback (FirstStep, below) notes the time when the first training batch
starts and ends the process there. Beside it, the floor no change of ours can cut: a process that only
imports what every vae_lab run imports (`import lightning`, which imports torch, torchmetrics,
torchvision, scipy and matplotlib). `--source DIR` times another checkout of vae_lab (e.g. an older
commit, `git worktree add /tmp/old <commit>`) with the same command. Prints the medians.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightning as L


class FirstStep(L.Callback):
    """Writes the wall-clock time of the first training batch to `marker`, then ends the process."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch, batch_idx: int) -> None:
        Path(self.marker).write_text(repr(time.time()))
        os._exit(0)


def to_first_step(data_dir: Path, source: Path | None, folder: Path) -> float:
    marker = folder / "first_step"
    marker.unlink(missing_ok=True)
    paths = [str(Path(__file__).parent), *([str(source)] if source else [])]
    env = os.environ | {"VAE_LAB_DATA_DIR": str(data_dir), "PYTHONPATH": os.pathsep.join(paths), "WANDB_MODE": "disabled"}
    command = [
        sys.executable,
        "-m",
        "vae_lab",
        "train",
        "experiment=pytorch_examples",
        "data.download=false",
        f"hydra.run.dir={folder / 'run'}",
        "+callbacks.first_step._target_=startup.FirstStep",
        f"+callbacks.first_step.marker={marker}",
    ]
    started = time.time()
    subprocess.run(command, env=env, cwd=folder, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return float(marker.read_text()) - started


def import_floor() -> float:
    started = time.time()
    subprocess.run([sys.executable, "-c", "import lightning, os; os._exit(0)"], check=True)
    return time.time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--source", type=Path, default=None, help="another checkout's folder to time as well")
    args = parser.parse_args()
    timings: dict[str, list[float]] = {"vae_lab (this checkout)": [], "import lightning (floor)": []}
    if args.source:
        timings[f"vae_lab ({args.source})"] = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            timings["vae_lab (this checkout)"].append(to_first_step(args.data_dir.absolute(), None, Path(tmp)))
            if args.source:
                timings[f"vae_lab ({args.source})"].append(to_first_step(args.data_dir.absolute(), args.source.absolute(), Path(tmp)))
            timings["import lightning (floor)"].append(import_floor())
    print(f"\nseconds to the first training step, median of {args.runs}")
    print("| process | seconds |\n|---|---:|")
    for name, values in timings.items():
        print(f"| {name} | {statistics.median(values):.2f} |")


if __name__ == "__main__":
    main()
