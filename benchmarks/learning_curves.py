"""The learning curves of finished runs in one picture: validation NLL per epoch, next to the published test NLLs.

    python benchmarks/learning_curves.py --run runs/train/burda_vae --run runs/train/mnist_best \
        --run runs/train/mnist_best_static --output docs/quality/learning_curves.png

Each run must have logged `val/log_likelihood` (train with 'callbacks=[default,val_log_likelihood]').
The curve is -val/log_likelihood from the run's metrics.csv; the legend names the run and its data.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

PUBLISHED = [  # (test NLL, label, line style): the reference numbers
    (86.76, "Burda et al. VAE (dynamic) 86.76", "--"),
    (84.78, "IWAE k=50 (dynamic) 84.78", ":"),
    (85.57, "VampPrior (static) 85.57", "-."),
    (82.90, "IWAE 2 layers (dynamic) 82.90", (0, (1, 3))),
]


def validation_curve(run_dir: Path) -> pd.Series:
    """-val/log_likelihood (nats) indexed by epoch (1-based), from `run_dir/metrics.csv`."""
    metrics = pd.read_csv(run_dir / "metrics.csv")
    if "val/log_likelihood" not in metrics:
        raise SystemExit(f"{run_dir}/metrics.csv has no val/log_likelihood: train with 'callbacks=[default,val_log_likelihood]'")
    rows = metrics.dropna(subset=["val/log_likelihood"])
    return pd.Series(-rows["val/log_likelihood"].to_numpy(), index=rows["epoch"].to_numpy() + 1)


def data_name(run_dir: Path) -> str:
    data = yaml.safe_load((run_dir / "hparams.yaml").read_text())["data"]
    return "static" if data["_target_"].endswith("BinarizedMNISTDataModule") else data.get("pixels", "grey")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, action="append", required=True, help="a finished run directory (repeat)")
    parser.add_argument("--output", type=Path, required=True, help="the PNG to write")
    args = parser.parse_args()

    figure, axes = plt.subplots(figsize=(7.5, 4.5))
    for run_dir in args.run:
        curve = validation_curve(run_dir)
        axes.plot(curve.index, curve.to_numpy(), marker="o", label=f"{run_dir.name} ({data_name(run_dir)} binarization)")
        print(f"{run_dir.name}: " + ", ".join(f"{epoch}: {nll:.2f}" for epoch, nll in curve.items()))
    for nll, label, style in PUBLISHED:
        axes.axhline(nll, color="grey", linestyle=style, linewidth=1.2)
        axes.annotate(label, (1.0, nll), xycoords=("axes fraction", "data"), ha="right", va="bottom", fontsize=8, color="grey")
    axes.set_xlabel("epoch")
    axes.set_ylabel("validation NLL (nats, K = 100)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.output, dpi=100)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
