"""Peer comparison on real tables: vae_lab's tabular VAE vs. the TVAE synthesizer of the `ctgan` package (SDV project).

    pip install -e ".[bench]"        # ctgan
    python benchmarks/tabular_tvae.py [CSV ...] [--samples 2000] [--tvae-epochs 300] [--threads 2] [--json FILE]
    python benchmarks/tabular_tvae.py --skip-tvae TABLE.csv -- data.discrete_values=10   # vae_lab overrides after --

Without CSV arguments it runs on every table of ../shared/data/tables/ (nine real public tables).
For each table both models fit the same training rows of vae_lab's seeded 80/10/10 split:

- vae_lab: ``experiment=tabular data.path=FILE`` and nothing else per table (its schema: kinds,
  discrete numbers, point masses, dates as time indices); the best checkpoint by val/loss;
  samples x ~ p(x|z), z ~ p(z), kept in the training range (the default ``data.clip``).
- TVAE: its defaults (128-128 MLPs, embedding 128, batch 500, 300 epochs, mode-specific normalization
  of numbers), on the training rows as values (numbers, labels, dates as the same time index), with
  every categorical, binary or discrete column vae_lab found declared in ``discrete_columns``, as a TVAE
  user declares them. TVAE takes no missing cells: rows with one are left out of its training rows.

Each draws --samples rows (2,000: also for tables smaller than that, so that sampling noise does not
swamp the shares of the smallest tables), compared with the training rows by
``vae_lab.evaluation.tabular_fidelity`` (the real rows both models fit; the held-out rows of the
small tables are a few dozen). Columns both leave out (IDs, free text, constants) are listed.
Fit time: vae_lab's ``Trainer.fit`` (validation and checkpoints included); TVAE's ``fit``.
"""

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from hydra import compose, initialize_config_module

from vae_lab import config_resolvers
from vae_lab.api import load_run
from vae_lab.build import build_callbacks, build_trainer
from vae_lab.evaluation.tabular_fidelity import tabular_fidelity
from vae_lab.quiet import quiet_third_party
from vae_lab.training.assembly import build_datamodule
from vae_lab.training.checkpoint_format import RunConfigInCheckpoint
from vae_lab.training.module import VAEModule

TABLES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tables"
SHOWN = [("fit_s", "fit s", "{:.1f}"), ("ks_tv_mean", "KS/TV", "{:.3f}"), ("point_mass_error_mean", "mass err", "{:.3f}"),
         ("off_support_share", "off-supp", "{:.3f}"), ("range_violation_share", "out-range", "{:.3f}"),
         ("coverage_mean", "coverage", "{:.3f}"), ("correlation_similarity", "corr sim", "{:.3f}"),
         ("contingency_similarity", "cont sim", "{:.3f}")]  # fmt: skip


def compare(path: Path, args: argparse.Namespace, folder: Path) -> dict:
    with initialize_config_module(config_module="vae_lab.conf", version_base="1.3"):
        cfg = compose("train", [
            "experiment=tabular", f"data.path={path}", "trainer.accelerator=cpu", "logger=csv",
            f"paths.output_dir={folder}/{path.stem}", *args.overrides,
        ])  # fmt: skip
    datamodule = build_datamodule(cfg)
    schema = datamodule.fitted_schema()
    train = datamodule.split("train")
    train_values = schema.values(train.x, train.mask)
    samples = args.samples
    columns = schema.fidelity_columns()
    results = {"table": path.name, "rows": datamodule.rows, "train_rows": len(train), "samples": samples,
               "kinds": {c.name: c.describe() for c in schema.columns}, "dropped": dict(schema.dropped)}  # fmt: skip

    torch.manual_seed(0)
    module = VAEModule.from_config(cfg, datamodule.data_shape, datamodule.likelihood_kwargs())
    trainer = build_trainer(cfg, [*build_callbacks(cfg), RunConfigInCheckpoint(cfg)], [])
    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    fit_seconds = time.perf_counter() - started
    run = load_run(trainer.checkpoint_callback.best_model_path)
    best = run.module
    torch.manual_seed(1)
    drawn = best.vae.sample(samples, mode="sample")
    ours = schema.values(drawn, schema.generated_mask(drawn))
    results["vae_lab"] = {"fit_s": fit_seconds, **tabular_fidelity(train_values, ours, columns)}

    if not args.skip_tvae:
        from ctgan import TVAE  # the bench extra

        discrete = [c["name"] for c in columns if c["kind"] in ("categorical", "binary")]
        complete = train_values.dropna().astype({name: object for name in discrete})
        torch.manual_seed(0)
        tvae = TVAE(epochs=args.tvae_epochs, batch_size=500, cuda=False)
        started = time.perf_counter()
        tvae.fit(complete, discrete_columns=discrete)
        fit_seconds = time.perf_counter() - started
        theirs = tvae.sample(samples)
        theirs = theirs.astype({name: "float64" for name in theirs.columns if pd.api.types.is_numeric_dtype(train_values[name])})
        results["ctgan TVAE"] = {"fit_s": fit_seconds, "train_rows": len(complete), **tabular_fidelity(train_values, theirs, columns)}
    return results


def report(results: list[dict]) -> None:
    print(f"{'table':18} {'model':11} " + " ".join(f"{title:>9}" for _, title, _ in SHOWN))
    for table in results:
        for model in ("vae_lab", "ctgan TVAE"):
            if model in table:
                row = table[model]
                cells = " ".join(f"{'' if row.get(key) is None else fmt.format(row[key]):>9}" for key, _, fmt in SHOWN)
                print(f"{table['table']:18} {model:11} {cells}")
    print("\nper table: rows, samples, columns both leave out; vae_lab's worst columns (KS/TV) beside TVAE's on them")
    for table in results:
        dropped = ", ".join(f"{name} ({why.split(' (')[0].split(';')[0]})" for name, why in table["dropped"].items()) or "none"
        print(f"  {table['table']}: {table['rows']} rows, {table['samples']} samples; left out: {dropped}")
        ours = sorted(table["vae_lab"]["columns"], key=lambda row: -(row["value"] or 0))[:3]
        theirs = {row["column"]: row["value"] for row in table.get("ctgan TVAE", {}).get("columns", [])}
        compared = (f"{row['column']} {row['value']:.3f}" + (f" vs {theirs[row['column']]:.3f}" if row["column"] in theirs else "") for row in ours)
        print("    " + "; ".join(compared))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tables", nargs="*", type=Path, help="CSV files (default: every table of ../shared/data/tables/)")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--tvae-epochs", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--skip-tvae", action="store_true", help="only vae_lab (e.g. to compare its options)")
    parser.add_argument("--overrides", nargs="*", default=[], help="vae_lab config overrides (the same for every table)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    quiet_third_party()
    logging.getLogger("vae_lab").setLevel(logging.WARNING)
    config_resolvers.register()
    tables = args.tables or sorted(TABLES.glob("*.csv"))
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for path in tables:
            results.append(compare(path, args, Path(folder)))
            means = (f"{m} {results[-1][m]['ks_tv_mean']:.3f}" for m in ("vae_lab", "ctgan TVAE") if m in results[-1])
            print(f"done {path.name}: " + ", ".join(means), flush=True)
    print(f"torch threads {torch.get_num_threads()}; {args.samples} samples per model; compared with the training rows\n")
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)) + "\n")


if __name__ == "__main__":
    main()
