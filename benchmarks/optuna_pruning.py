"""Does pruning pay? The same Optuna search run twice through the real CLI, with and without a pruner.

    python benchmarks/optuna_pruning.py [--trials 16] [--epochs 12] [--pruner median] [--threads 1]

The search space is built so that half of the configurations are clearly bad: the learning rate is
drawn from choice(3e-3, 1e-3, 1e-6, 3e-7), and the two tiny rates barely move the model in the epochs
given; the latent size and beta are searched too. Both searches use the same seeded TPE sampler and
the same data (the ring, 20,000 points). The script prints each search's wall time, the summed
training time of its trials (results.json's ``wall_time_s``), how many trials were pruned, the best
validation loss found, and the ratios.
"""

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEARCH = [
    "train", "hparams_search=optuna", "data=ring", "data.num_samples=20000", "likelihood=gaussian", "logger=csv",
    "trainer.accelerator=cpu", "optimizer.lr=choice(0.003,0.001,0.000001,0.0000003)", "model.latent_dim=choice(2,4,8)",
]  # fmt: skip


def run_search(folder: Path, trials: int, epochs: int, pruner: str, threads: int) -> dict:
    folder.mkdir(parents=True)
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vae_lab", *SEARCH, f"hydra.sweeper.n_trials={trials}", f"trainer.max_epochs={epochs}",
                    f"hydra.sweeper.pruner={pruner}"], cwd=folder, env=env, check=True, capture_output=True)  # fmt: skip
    wall = time.perf_counter() - started
    (summary,) = folder.glob("runs/train/multirun/*/sweep.csv")
    with open(summary) as file:
        rows = list(csv.DictReader(file))
    completed = [float(row["best_val_loss"]) for row in rows if row["status"] == "completed"]
    return {
        "wall_s": wall,
        "train_s": sum(float(row["wall_time_s"]) for row in rows),
        "pruned": sum(row["status"] == "pruned" for row in rows),
        "best": min(completed),
        "trials": len(rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--pruner", default="median")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        plain = run_search(Path(folder) / "none", args.trials, args.epochs, "none", args.threads)
        pruned = run_search(Path(folder) / args.pruner, args.trials, args.epochs, args.pruner, args.threads)
    print(f"{args.trials} trials x up to {args.epochs} epochs, ring 20,000 points, half the learning rates clearly too small")
    print(f"{'':10} {'wall s':>8} {'train s':>8} {'pruned':>7} {'best val/loss':>14}")
    for name, row in (("no pruner", plain), (args.pruner, pruned)):
        print(f"{name:10} {row['wall_s']:8.1f} {row['train_s']:8.1f} {row['pruned']:7d} {row['best']:14.4f}")
    print(f"ratio {args.pruner} / none: wall {pruned['wall_s'] / plain['wall_s']:.2f}, training {pruned['train_s'] / plain['train_s']:.2f}; "
          f"best value {pruned['best'] - plain['best']:+.4f} nats")  # fmt: skip


if __name__ == "__main__":
    main()
