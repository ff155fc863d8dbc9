"""Peer comparison: vae_lab's tabular VAE vs. the TVAE synthesizer of the `ctgan` package (SDV project).

    pip install -e ".[bench]"        # ctgan
    python benchmarks/tabular_tvae.py [--rows 20000] [--epochs 100] [--samples 10000] [--threads 1] [OVERRIDES...]

Both models fit the same training rows of the same generated CSV (benchmarks/mixed_table.py, no
missing cells: TVAE does not take them) and split (vae_lab's seeded 80/10/10 split; TVAE has no use
for the validation rows). Each draws `--samples` synthetic rows, compared with the held-out test rows
by the same metrics (vae_lab.evaluation.tabular_fidelity: per-column KS / total variation, mean
absolute difference of the correlation matrices). A third row compares the training rows themselves
with the test rows: the floor any generator reaches with finite samples.

- vae_lab: `experiment=tabular` (128-128 MLPs, latent 8, Adam 1e-3, batch 500 like TVAE), the best
  checkpoint by val/loss, samples x ~ p(x|z), z ~ p(z);
- TVAE: its defaults (128-128 MLPs, embedding 128, batch 500, mode-specific normalization of numbers),
  `epochs` as given, on the CPU.
Fit time: vae_lab's `Trainer.fit` (validation and checkpoints included); TVAE's `fit` (its data
transformer included).
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from hydra import compose, initialize_config_module

from vae_lab import config_resolvers
from vae_lab.build import build_callbacks, build_datamodule, build_module, build_trainer
from vae_lab.checkpoints import RunConfigInCheckpoint, load_run
from vae_lab.evaluation.tabular_fidelity import tabular_fidelity
from vae_lab.quiet import quiet_third_party

from mixed_table import BINARY, CATEGORICAL, mixed_table, write


def for_tvae(frame: pd.DataFrame) -> pd.DataFrame:
    """Plain numpy dtypes (int64, float64, object) for ctgan."""
    return frame.astype({name: "int64" if str(dtype) == "Int64" else object for name, dtype in frame.dtypes.items() if str(dtype) in ("Int64", "string")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--skip-tvae", action="store_true", help="only vae_lab (e.g. to compare its options)")
    parser.add_argument("overrides", nargs="*", help="extra vae_lab config overrides, e.g. data.skewed=quantile")
    args = parser.parse_args()
    if not args.skip_tvae:
        from ctgan import TVAE  # the bench extra

    torch.set_num_threads(args.threads)
    quiet_third_party()
    config_resolvers.register()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mixed.csv"
        write(mixed_table(args.rows, seed=0), path)
        with initialize_config_module(config_module="vae_lab.conf", version_base="1.3"):
            cfg = compose("train", [
                "experiment=tabular", f"data.path={path}", "data.batch_size=500", f"trainer.max_epochs={args.epochs}",
                "trainer.accelerator=cpu", "logger=csv", f"paths.output_dir={folder}/run", *args.overrides,
            ])  # fmt: skip
        datamodule = build_datamodule(cfg)
        schema = datamodule.fitted_schema()
        train_split, test_split = datamodule.split("train"), datamodule.split("test")
        train_rows, test_rows = schema.inverse(train_split.x, train_split.mask), schema.inverse(test_split.x, test_split.mask)
        kinds = schema.columns_by_kind()
        results = {}

        torch.manual_seed(0)
        module = build_module(cfg, datamodule.data_shape, datamodule.likelihood_kwargs())
        trainer = build_trainer(cfg, [*build_callbacks(cfg), RunConfigInCheckpoint(cfg)], [])
        started = time.perf_counter()
        trainer.fit(module, datamodule=datamodule)
        fit_seconds = time.perf_counter() - started
        _, _, best = load_run(trainer.checkpoint_callback.best_model_path)
        torch.manual_seed(1)
        ours = schema.inverse(best.vae.sample(args.samples, mode="sample"))
        results["vae_lab"] = {"fit_s": round(fit_seconds, 1), **tabular_fidelity(test_rows, ours, kinds)}

        if not args.skip_tvae:
            torch.manual_seed(0)
            tvae = TVAE(epochs=args.epochs, batch_size=500, cuda=False)
            started = time.perf_counter()
            tvae.fit(for_tvae(train_rows), discrete_columns=[*CATEGORICAL, *BINARY])
            fit_seconds = time.perf_counter() - started
            theirs = tvae.sample(args.samples)
            results["ctgan TVAE"] = {"fit_s": round(fit_seconds, 1), **tabular_fidelity(test_rows, theirs, kinds)}

        floor = train_rows.sample(min(args.samples, len(train_rows)), random_state=0)
        results["training rows (floor)"] = {"fit_s": None, **tabular_fidelity(test_rows, floor, kinds)}

    print(f"{args.rows:,} rows x 20 columns; train {len(train_rows):,}, test {len(test_rows):,}; {args.epochs} epochs; "
          f"{args.samples:,} samples; torch threads {torch.get_num_threads()}")  # fmt: skip
    print(f"{'':24} {'fit s':>7} {'KS mean':>8} {'TV mean':>8} {'corr MAD':>9}")
    for name, row in results.items():
        fit = "" if row["fit_s"] is None else f"{row['fit_s']:.1f}"
        print(f"{name:24} {fit:>7} {row['ks_mean']:8.3f} {row['tv_mean']:8.3f} {row['correlation_mad']:9.3f}")
    print("per column (KS for numbers, TV for categories):")
    for i, column in enumerate(results["vae_lab"]["columns"]):
        values = "  ".join(f"{results[name]['columns'][i]['value']:.3f}" for name in results)
        print(f"  {column['column']:10} {column['metric']}  {values}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
