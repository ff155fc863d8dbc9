"""Test NLL at the paper setting (K = 5000) of a trained experiment, next to the published numbers.

    python benchmarks/model_quality.py --run runs/train/burda_vae --data-dir ../shared/data [--iwae-samples 5000]

`--run` is the directory of a finished `vae-lab train` run (README, "Model quality" gives the commands).
This script evaluates its best checkpoint with the real `vae-lab eval` on the official test set
(written to `<run>/eval_k<K>.json`, reused if it is there), then prints one row of the results table
(test NLL, ELBO, active units, epochs, wall time, the data's binarization) beside the published
numbers, and the learning curve: `val/log_likelihood` (the `val_log_likelihood` callback, small K, on
the validation split) and the validation ELBO per epoch from the run's metrics.csv.
"""

import argparse
import json
import os
import platform
from pathlib import Path

import pandas as pd

from vae_lab.api import load_run
from vae_lab.atomic_files import write_json
from vae_lab.evaluation.split_evaluation import EvalSettings

PUBLISHED = """\
published (test NLL, K = 5000):
  dynamic binarization: VAE 1 layer 86.76, IWAE k=50 84.78, VAE 2 layers 85.33, IWAE 2 layers 82.90 (Burda et al. 2016); NVAE 78.01
  static binarization:  VAE 88.56, VampPrior 85.57 (Tomczak & Welling 2018); VAE 89.9 (Rezende & Mohamed 2015)"""


def evaluation(run_dir: Path, results: dict, iwae_samples: int, data_dir: Path | None, memory_budget_mb: float | None) -> dict:
    output = run_dir / f"eval_k{iwae_samples}.json"
    if not output.is_file():  # what `vae-lab eval eval.iwae_samples=K output=...` writes
        trained = load_run(results["best_checkpoint"], data_dir=data_dir.absolute() if data_dir else None)
        write_json(output, trained.evaluate("test", EvalSettings(iwae_samples=iwae_samples, memory_budget_mb=memory_budget_mb)))
    return json.loads(output.read_text())


def learning_curve(run_dir: Path) -> pd.DataFrame:
    metrics = pd.read_csv(run_dir / "metrics.csv")
    per_epoch = metrics.dropna(subset=["val/elbo"]).groupby("epoch")[["val/elbo"]].last()
    if "val/log_likelihood" in metrics:
        per_epoch = per_epoch.join(metrics.dropna(subset=["val/log_likelihood"]).groupby("epoch")[["val/log_likelihood"]].last())
    per_epoch.index = per_epoch.index + 1  # epochs completed
    return per_epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="a finished vae-lab train run directory")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--iwae-samples", type=int, default=5000)
    parser.add_argument(
        "--memory-budget-mb",
        type=float,
        default=None,
        help="per pass (default 32 on a CPU); a VampPrior re-encodes its pseudo-inputs every pass, so give it more",
    )
    args = parser.parse_args()

    results = json.loads((args.run / "results.json").read_text())
    report = evaluation(args.run, results, args.iwae_samples, args.data_dir, args.memory_budget_mb)
    provenance = report["provenance"]
    config = (args.run / ".hydra" / "overrides.yaml").read_text().split("\n")
    print(f"run: {args.run} ({' '.join(line.lstrip('- ') for line in config if line.strip())})")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, device {provenance.get('device')}")
    row = {
        "data": f"{provenance.get('dataset')} ({provenance.get('binarization', provenance.get('pixels'))})",
        f"test NLL (K={args.iwae_samples})": round(report["nll"], 2),
        "test ELBO": round(report["elbo"], 2),
        "active units": f"{report['active_units']}/{len(report['kl_per_dim'])}",
        "epochs": results["epochs"],
        "train wall time (h)": round(results["wall_time_s"] / 3600, 2),
        "eval time (min)": round(sum(report["seconds"].values()) / 60, 1),
    }
    print(pd.DataFrame([row]).to_string(index=False))
    print(PUBLISHED)
    print("\nlearning curve (validation split; val/log_likelihood with the callback's K):")
    curve = learning_curve(args.run)
    print((curve.dropna(subset=["val/log_likelihood"]) if "val/log_likelihood" in curve else curve).round(2).to_string())


if __name__ == "__main__":
    main()
