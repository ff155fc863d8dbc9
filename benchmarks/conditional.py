"""Conditional VAEs on real data: do they generate what they are asked for?

    python benchmarks/conditional.py [--mnist-epochs 20] [--mnist-override KEY=VALUE ...]
                                     [--table ../shared/data/tables/cars.csv --condition Origin]
                                     [--table-epochs 300] [--imputation-rows 4000] [--json FILE]

Three measurements, each through the platform's own API (``vae_lab.train``, ``vae_lab.load_run``):

1. MNIST (``experiment=cvae_mnist``): an MLP classifier trained on the real training digits labels 1,000
   conditional samples E[x|z, c], 100 per digit; the share labelled as asked is printed beside the
   classifier's accuracy on the real test digits (``conditional_fidelity.label_agreement``).
2. A real table (``experiment=tabular_conditional``, a categorical condition): every row sampled given a
   value carries it; the mean KS/TV of samples given each value against the real training rows with that
   value (``fidelity_per_condition``, weighted by rows; 5,000 samples shared in proportion, each value at
   least 1,000) beside the unconditional figure at the same sizes (as many random training rows of any
   value, against samples given their own conditions) and their ratio; and, for reference, the
   unconditional figure against all training rows (smaller: a distance to more real rows has less noise).
3. Multiple imputation on a generated table where ``c = a + b + noise`` (noise sd 0.3): a tabular VAE is
   trained on complete rows; on held-out rows with ``c`` removed, M = 50 draws give a 90% interval per
   row (5% and 95% quantiles), and the share of true values inside it is printed (nominal: 0.90).
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import vae_lab
from vae_lab.evaluation.conditional_fidelity import label_agreement
from vae_lab.evaluation.sample_fidelity import sample_fidelity
from vae_lab.quiet import quiet_third_party

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
COMMON = ["logger=csv", "trainer.accelerator=cpu", "callbacks.collapse_monitor=null"]
SAMPLES = 5000  # table samples, unconditional and given the condition (each value at least 1,000)


def mnist(args: argparse.Namespace, folder: Path) -> dict:
    started = time.perf_counter()
    overrides = ["experiment=cvae_mnist", f"trainer.max_epochs={args.mnist_epochs}", *args.mnist_override]
    results = vae_lab.train([*overrides, f"paths.output_dir={folder}/mnist", *COMMON])
    run = vae_lab.load_run(results["best_checkpoint"])
    vae = run.model

    def sample(condition: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(0)
        return vae.sample(len(condition), "mean", condition)

    conditions = run.datamodule.conditions
    agreement = label_agreement(sample, conditions, run.datamodule.split("train"), run.datamodule.split("test"), 1000, seed=0)
    seconds = round(time.perf_counter() - started, 1)
    return {"epochs": args.mnist_epochs, "overrides": args.mnist_override, "test_elbo": results["test/elbo"], "seconds": seconds, **agreement}


def table(args: argparse.Namespace, folder: Path) -> dict:
    overrides = ["experiment=tabular_conditional", f"data.path={args.table}", f"model.condition={args.condition}", f"trainer.max_epochs={args.table_epochs}"]
    results = vae_lab.train([*overrides, f"paths.output_dir={folder}/table", *COMMON])
    run = vae_lab.load_run(results["best_checkpoint"])
    datamodule, vae = run.datamodule, run.model
    values = datamodule.conditions.variables[0].values
    carried = all((run.sample_table(50, seed=1, condition={args.condition: value})[args.condition] == value).all() for value in values)

    def sample(condition: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(0)
        return vae.sample(len(condition), "sample", condition)

    per_condition = datamodule.fidelity_given(sample, "train", SAMPLES)
    whole = sample_fidelity(datamodule, sample(datamodule.draw_conditions(SAMPLES, seed=0)), "train")["ks_tv_mean"]
    return {
        "table": str(args.table), "condition": args.condition, "values": values, "every_row_carries_its_value": carried,
        "per_condition_ks_tv_mean": per_condition["ks_tv_mean"], "unconditional_ks_tv_mean": per_condition["unconditional_ks_tv_mean"],
        "ratio": per_condition["ratio"], "unconditional_ks_tv_mean_all_rows": whole, "groups": per_condition["groups"],
    }  # fmt: skip


def imputation(args: argparse.Namespace, folder: Path) -> dict:
    generator = np.random.default_rng(0)
    n = args.imputation_rows
    a, b = generator.normal(size=n), generator.normal(size=n)
    frame = pd.DataFrame({"a": a.round(4), "b": b.round(4), "c": (a + b + 0.3 * generator.normal(size=n)).round(4)})
    held_out = frame.iloc[: n // 5].reset_index(drop=True)
    frame.iloc[n // 5 :].to_csv(folder / "sum.csv", index=False)
    results = vae_lab.train(["experiment=tabular", f"data.path={folder / 'sum.csv'}", "trainer.max_epochs=100", f"paths.output_dir={folder}/sum", *COMMON])
    run = vae_lab.load_run(results["best_checkpoint"])
    draws = run.impute(held_out.assign(c=np.nan), draws=50, seed=0)
    filled = draws["c"].astype(float).to_numpy().reshape(50, len(held_out))
    low, high = np.quantile(filled, [0.05, 0.95], axis=0)
    truth = held_out["c"].to_numpy()
    return {"rows": len(held_out), "draws": 50, "coverage_90": float(((truth >= low) & (truth <= high)).mean()), "mean_width_90": float((high - low).mean()),
            "exact_width_90": 2 * 1.6449 * 0.3}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist-epochs", type=int, default=20)
    parser.add_argument("--mnist-override", action="append", default=[], help="a training override of the MNIST model, e.g. prior=standard_normal")
    parser.add_argument("--table", type=Path, default=SHARED / "tables" / "cars.csv")
    parser.add_argument("--condition", default="Origin")
    parser.add_argument("--table-epochs", type=int, default=300)
    parser.add_argument("--imputation-rows", type=int, default=4000)
    parser.add_argument("--only", choices=["mnist", "table", "imputation"], action="append")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    quiet_third_party()
    torch.set_num_threads(2)
    report = {}
    with tempfile.TemporaryDirectory() as name:
        for part in args.only or ["mnist", "table", "imputation"]:
            report[part] = globals()[part](args, Path(name))
            print(json.dumps({part: report[part]}, indent=1, default=str), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
