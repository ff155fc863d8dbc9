"""Posterior collapse and the seed's latent spaces on real MNIST: the numbers and pictures in README.

    OMP_NUM_THREADS=1 python benchmarks/posterior_collapse.py --data-dir ../shared/data --out runs/benchmark --docs docs/collapse

Every run is a real `vae-lab train` command line (printed), in its own directory under --out; a run
whose results.json exists is not run again.
1. ``experiment=posterior_collapse`` alone and with each remedy: ``+remedy=warmup``, ``+remedy=cyclical``,
   ``+remedy=free_bits``.
2. Why a KL schedule does not prevent this collapse: the same experiment at ``model.beta=16`` and ``24``,
   with and without ``+remedy=warmup`` (beta 32 is part 1): does the end state depend on the path?
3. ``-m experiment=latent_recon_only,latent_kl_only,latent_vae``, then ``vae-lab figure`` on the sweep.

Prints markdown tables: the collapse monitor's numbers after the last epoch (validation KL and active
units, whether it warned), the test ELBO of the best checkpoint and the latent usage of the test split
under that checkpoint. Writes the curves of part 1 (KL weight, KL, active units per epoch) and copies
the figure and a few pictures into --docs.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from vae_lab.api import load_run
from vae_lab.evaluation.latent_usage import latent_usage
from vae_lab.visualization.images import figure_to_image, write_png

COLLAPSE_RUNS = {
    "posterior_collapse": [],
    "+remedy=warmup": ["+remedy=warmup"],
    "+remedy=cyclical": ["+remedy=cyclical"],
    "+remedy=free_bits": ["+remedy=free_bits"],
}
WHY_RUNS = {
    f"beta={beta}{' +remedy=warmup' if warm else ''}": [f"model.beta={beta}", *(["+remedy=warmup"] if warm else [])]
    for beta in (16, 24)
    for warm in (False, True)
}
LATENT_EXPERIMENTS = ("latent_recon_only", "latent_kl_only", "latent_vae")
EXTRA: list[str] = []  # --overrides


def vae_lab(args: list[str], env: dict[str, str]) -> None:
    print("$ vae-lab " + " ".join(args), flush=True)
    started = time.time()
    subprocess.run([sys.executable, "-m", "vae_lab", *args], env=env, check=True, stdout=subprocess.DEVNULL)
    print(f"  {time.time() - started:.0f} s", flush=True)


def train(run_dir: Path, overrides: list[str], env: dict[str, str]) -> Path:
    if not (run_dir / "results.json").is_file():
        vae_lab(["train", *overrides, *EXTRA, f"hydra.run.dir={run_dir}"], env)
    return run_dir


def summary(run_dir: Path) -> dict:
    """The monitor's numbers after the last epoch, the test ELBO, and the test split's latent usage."""
    metrics = pd.read_csv(run_dir / "metrics.csv")
    last = metrics.dropna(subset=["val/active_units"]).iloc[-1]
    results = json.loads((run_dir / "results.json").read_text())
    run = load_run(results["best_checkpoint"])
    datamodule, module = run.datamodule, run.module
    usage = latent_usage(module.vae, datamodule.split("test").x.split(1000))
    warnings = [line for line in (run_dir / "train.log").read_text().splitlines() if "posterior collapse after epoch" in line]
    return {
        "val KL": f"{last['val/kl']:.2f}",
        "val active units": int(last["val/active_units"]),
        "monitor": warnings[-1].split("posterior collapse ")[1].split(":")[0] if warnings else "silent",
        "test ELBO": f"{results['test/elbo']:.1f}",
        "test KL": f"{usage.kl:.2f}",
        "test active units": f"{usage.active_units}/{len(usage.kl_per_dim)}",
        "wall s": f"{results['wall_time_s']:.0f}",
    }


def table(rows: dict[str, dict]) -> str:
    """A markdown table: one row per run, one column per summary key."""
    columns = list(next(iter(rows.values())))
    lines = ["| run | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    lines += [f"| {name} | " + " | ".join(str(row[column]) for column in columns) + " |" for name, row in rows.items()]
    return "\n".join(lines)


def curves(runs: dict[str, Path], output: Path) -> None:
    """KL weight in force, validation KL and active units per epoch, one line per run."""
    figure = Figure(figsize=(15, 4), dpi=100, layout="constrained")
    weight_ax, kl_ax, units_ax = figure.subplots(1, 3)
    for name, run_dir in runs.items():
        metrics = pd.read_csv(run_dir / "metrics.csv")
        steps = metrics.dropna(subset=["train/beta"])
        epochs = metrics.dropna(subset=["val/active_units"])
        per_epoch = (steps["step"] + 1) / (epochs["step"].iloc[0] + 1)  # the first validation comes after one epoch
        weight_ax.plot(per_epoch, steps["train/beta"], label=name)
        kl_ax.plot(epochs["epoch"] + 1, epochs["val/kl"], marker="o", label=name)
        units_ax.plot(epochs["epoch"] + 1, epochs["val/active_units"], marker="o", label=name)
    for ax, title in ((weight_ax, "KL weight in force (train/beta)"), (kl_ax, "validation KL, nats"), (units_ax, "active units (of 16)")):
        ax.set_title(title)
        ax.set_xlabel("epoch")
    kl_ax.set_yscale("symlog", linthresh=0.1)
    units_ax.legend(fontsize="small")
    write_png(figure_to_image(figure), output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("runs/benchmark_collapse"))
    parser.add_argument("--docs", type=Path, default=None, help="copy the figure and pictures here")
    parser.add_argument("--overrides", nargs="*", default=[], help="extra overrides of every training run (a smoke test)")
    args = parser.parse_args()
    EXTRA.extend(args.overrides)
    out = args.out.absolute()
    env = {**os.environ, "VAE_LAB_DATA_DIR": str(args.data_dir.absolute()), "WANDB_MODE": "offline"}

    collapse = {name: train(out / name.strip("+").replace("=", "_"), ["experiment=posterior_collapse", *extra], env) for name, extra in COLLAPSE_RUNS.items()}
    why = {
        name: train(out / name.replace("+", "").replace("=", "").replace(" ", "_"), ["experiment=posterior_collapse", *extra], env)
        for name, extra in WHY_RUNS.items()
    }
    sweep = out / "latent_spaces"
    if not all((sweep / str(job) / "results.json").is_file() for job in range(len(LATENT_EXPERIMENTS))):
        vae_lab(["train", "-m", f"experiment={','.join(LATENT_EXPERIMENTS)}", *EXTRA, f"hydra.sweep.dir={sweep}"], env)
    figure_png = out / "latent_spaces.png"
    vae_lab(["figure", f"runs={sweep}", f"output={figure_png}", f"hydra.run.dir={out / 'figure'}"], env)

    print("\n## experiment=posterior_collapse (beta 32) and its remedies\n")
    print(table({name: summary(run_dir) for name, run_dir in collapse.items()}))
    print("\n## The end state depends on beta, not on the path (experiment=posterior_collapse)\n")
    shown = {**why, "beta=32": collapse["posterior_collapse"], "beta=32 +remedy=warmup": collapse["+remedy=warmup"]}
    print(table({name: summary(run_dir) for name, run_dir in shown.items()}))
    print("\n## The seed's latent spaces (2-D latent)\n")
    print(table({name: summary(sweep / str(job)) for job, name in enumerate(LATENT_EXPERIMENTS)}))
    curves_png = out / "collapse_curves.png"
    curves(collapse, curves_png)

    if args.docs:
        args.docs.mkdir(parents=True, exist_ok=True)
        shutil.copy(figure_png, args.docs / "latent_spaces.png")
        shutil.copy(curves_png, args.docs / "collapse_curves.png")
        for name, run_dir in (("collapse", collapse["posterior_collapse"]), ("free_bits", collapse["+remedy=free_bits"])):
            for picture in ("reconstructions", "samples"):
                (last,) = sorted((run_dir / "pictures").glob(f"{picture}_epoch*.png"))[-1:]
                shutil.copy(last, args.docs / f"{picture}_{name}.png")
        print(f"\npictures copied to {args.docs}")


if __name__ == "__main__":
    main()
