"""Real tables judged on held-out rows: vae_lab's tabular VAE vs. TVAE (the `ctgan` package, SDV project) vs.
independent marginals, with the field's metrics (issue 32, item 5).

    python benchmarks/tabular_tvae.py [CSV ...] [--samples 2000] [--tvae-epochs 300] [--threads 2] [--json FILE]
    python benchmarks/tabular_tvae.py --skip-tvae TABLE.csv --overrides data.discrete_values=10   # vae_lab overrides
    python benchmarks/tabular_tvae.py --skip-tvae --calibrations none missing   # also sample.calibrate=none and =missing

Without CSV arguments it runs on every table of ../shared/data/tables/ (nine real public tables).
Per table, a seeded split holds out 30% of the rows (at least 200 where the table has 400 or more; never more than
half); every model fits the other rows:

- vae_lab: ``vae_lab.train(["experiment=tabular", "data.path=TRAIN_ROWS_FILE"])`` and nothing else per table (the
  training rows written in the file's own dialect), its best checkpoint, ``run.sample_table(n, seed=s)``;
- vae_lab, fitted prior: the same trained model, z drawn from the mixture fitted to its aggregate posterior
  (``run.sample_table(n, seed=s, prior="fitted")``, ``sample.prior=fitted``);
- with --calibrations: the same trained model sampled with each ``sample.calibrate`` given (rows
  ``vae_lab_calibrate_<setting>``; the default, ``all``, is the vae_lab row);
- TVAE: its defaults (128-128 MLPs, batch 500, --tvae-epochs epochs) on the training rows as values (numbers,
  labels, dates as vae_lab's time index), every categorical, binary or discrete column declared in
  ``discrete_columns``. It takes no missing cells: rows with one are left out of its training rows. ctgan pins
  pandas < 3, so TVAE runs in a virtual environment of its own that this script makes once under --cache
  (ctgan, rdt, Faker and pandas 2 installed there; torch, numpy, scipy and scikit-learn seen from this one);
- independent marginals: each column drawn on its own from the training rows' values (missing cells included).

Every model draws --samples rows with each of 3 seeds; each draw is compared with the held-out rows as values
(the modelled columns; those vae_lab leaves out, IDs and free text, are listed). Per draw:

- Column Shapes and Column Pair Trends as sdmetrics defines them (``vae_lab.evaluation.sdmetrics_scores``, pair
  thresholds at 0), with vae_lab's kinds as sdtypes;
- detection (``tabular_fidelity.detection``: 1 - (2 max(AUC, 0.5) - 1) of HistGradientBoostingClassifier, 5-fold,
  the draw's seed; 1: indistinguishable), as many synthetic rows as held-out ones;
- the DCR share (``tabular_fidelity.dcr_share``: share of synthetic rows whose nearest real row, among the held-out
  rows and as many training rows, is a training row; 0.5: no copying), in a standardized encoding: numbers (dates:
  time index) minus the training mean over the training standard deviation, a missing number 0 beside a missing
  indicator, labels one-hot with missing as a label;
- bound mass: per numeric column, the share of samples exactly on the training minimum or maximum minus the
  training rows' share there; the worst column, in percentage points;
- missing shares: per column, the samples' share of missing cells minus the held-out rows', and minus the whole
  table's (a few missing cells split unevenly make the held-out share noise on a small table); the worst column.

Means over the 3 draws are reported (detection also with its standard deviation), per metric a table with a row
per model and its difference to TVAE and to independent marginals; --json writes every number.
"""

import argparse
import json
import logging
import math
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

import vae_lab
from vae_lab.api.calibrated_shares import CALIBRATIONS, DEFAULT_CALIBRATION
from vae_lab.data.table_files import TableDialect, frame_as_text, read_table_text, write_table
from vae_lab.data.table_schema import TableSchema
from vae_lab.evaluation.sdmetrics_scores import column_pair_trends, column_shapes, sdtypes_of
from vae_lab.evaluation.tabular_fidelity import dcr_share, detection
from vae_lab.quiet import quiet_third_party

TABLES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tables"
CACHE = Path.home() / ".cache" / "vae_lab" / "benchmarks"
HOLDOUT_SHARE, HOLDOUT_AT_LEAST = 0.3, 200
SEEDS = (0, 1, 2)
TVAE_PACKAGES = ["ctgan==0.12.1", "rdt==2.0.0", "Faker", "pandas==2.3.3", "pytz", "tzdata"]
METRICS = [  # key, title, format
    ("detection", "detection (higher is better; 1: indistinguishable)", "{:.3f}"),
    ("column_shapes", "Column Shapes (higher is better)", "{:.3f}"),
    ("column_pair_trends", "Column Pair Trends (higher is better)", "{:.3f}"),
    ("dcr_share", "DCR share (0.5: no copying; above: nearer the training rows)", "{:.3f}"),
    ("bound_mass_pp", "bound mass excess, worst numeric column (percentage points; at most 1)", "{:+.2f}"),
    ("missing_share_error", "missing share - held-out share, worst column (0 is best)", "{:+.3f}"),
    ("missing_share_error_table", "missing share - the whole table's share, worst column (0 is best)", "{:+.3f}"),
]
TVAE_SCRIPT = """
import json, sys
import numpy as np, pandas as pd, torch
from ctgan import TVAE
spec = json.loads(sys.argv[1])
torch.set_num_threads(spec["threads"])
train = pd.read_parquet(spec["train"]).dropna()
train = train.astype({name: object for name in spec["discrete"]})
torch.manual_seed(0); np.random.seed(0)
model = TVAE(epochs=spec["epochs"], batch_size=500, cuda=False)
model.fit(train, discrete_columns=spec["discrete"])
for seed, out in zip(spec["seeds"], spec["outputs"]):
    torch.manual_seed(seed); np.random.seed(seed)
    model.sample(spec["samples"]).to_parquet(out)
print(json.dumps({"train_rows": len(train)}))
"""


def holdout_count(rows: int) -> int:
    """30% of the rows, at least 200 where that leaves the model at least half of them."""
    return min(max(math.ceil(HOLDOUT_SHARE * rows), HOLDOUT_AT_LEAST), max(rows // 2, math.ceil(HOLDOUT_SHARE * rows)))


def compare(path: Path, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    text = read_table_text(path)
    dialect = TableDialect.from_state(json.loads(text.schema.metadata[b"dialect"]))
    rows = text.num_rows
    order = np.random.default_rng(args.split_seed).permutation(rows)
    held = holdout_count(rows)
    holdout_text, train_text = text.take(np.sort(order[:held])), text.take(np.sort(order[held:]))
    train_file = write_table(train_text.to_pandas(), folder / f"{path.stem}-train{dialect.suffix}", dialect)

    started = time.perf_counter()
    results = vae_lab.train(["experiment=tabular", f"data.path={train_file}", "trainer.accelerator=cpu", "logger=csv",
                             f"paths.output_dir={folder}/{path.stem}", *args.overrides])  # fmt: skip
    fit_seconds = {"vae_lab": time.perf_counter() - started}
    run = vae_lab.load_run(results["run_dir"])
    schema = run.datamodule.fitted_schema()
    columns = [{"name": c.name, "type": str(c.value_type)} for c in schema.columns]
    sdtypes = sdtypes_of(schema.columns)
    train_values, holdout_values, table_values = values_of(schema, train_text), values_of(schema, holdout_text), values_of(schema, text)

    draws: dict[str, list[pd.DataFrame]] = {}
    variants = [("vae_lab", "model", DEFAULT_CALIBRATION), ("vae_lab_fitted", "fitted", DEFAULT_CALIBRATION)]
    variants += [(f"vae_lab_calibrate_{calibrate}", "model", calibrate) for calibrate in args.calibrations]
    for model, prior, calibrate in variants:
        written = [run.sample_table(args.samples, seed=seed, prior=prior, calibrate=calibrate) for seed in SEEDS]  # as vae-lab sample writes them
        draws[model] = [values_of(schema, frame_as_text(frame, run.datamodule.dialect)) for frame in written]
    extra: dict[str, Any] = {}
    if not args.skip_tvae:
        started = time.perf_counter()
        draws["TVAE"], extra["TVAE"] = tvae_draws(train_values, columns, args, folder / path.stem)
        fit_seconds["TVAE"] = time.perf_counter() - started
    draws["independent"] = [independent_marginals(train_values, args.samples, seed) for seed in SEEDS]

    encoding = Encoding(train_values, columns)
    table: dict[str, Any] = {"table": path.name, "rows": rows, "train_rows": rows - held, "holdout_rows": held, "samples": args.samples,
                             "kinds": {c.name: c.describe() for c in schema.columns}, "dropped": dict(schema.dropped),
                             "holdout_missing": {name: float(holdout_values[name].isna().mean()) for name in sdtypes}, "models": list(draws)}  # fmt: skip
    for model, frames in draws.items():
        per_seed = [scores(train_values, holdout_values, table_values, frame, columns, sdtypes, encoding, seed) for seed, frame in zip(SEEDS, frames)]
        table[model] = summary(per_seed) | {"fit_s": fit_seconds.get(model)} | extra.get(model, {})
    return table


def values_of(schema: TableSchema, text: pa.Table) -> pd.DataFrame:
    """The modelled columns of a text table as values (numbers, dates as time index, labels); a label the training rows
    lack keeps its value (the model space would make it unknown, i.e. missing)."""
    encoded = schema.transform(text, "the rows")
    values = schema.values(encoded.x, encoded.mask)
    for i, (column, start) in enumerate(zip(schema.columns, schema.starts)):
        unknown = np.zeros(len(values), dtype=bool) if encoded.mask is None else ~encoded.mask[:, start] & ~encoded.missing[:, i]
        if unknown.any():
            parsed = column.format.parse(column.name, text.column(column.name), encoded.missing[:, i], "the rows")
            cells = pd.Series(parsed.to_pylist() if isinstance(parsed, pa.ChunkedArray) else parsed)[unknown]
            if pd.api.types.is_numeric_dtype(values[column.name]):
                values.loc[unknown, column.name] = pd.to_numeric(cells, errors="coerce").to_numpy(np.float64)
            else:
                values[column.name] = values[column.name].astype(object)
                values.loc[unknown, column.name] = cells.to_numpy()
    return values


def tvae_draws(train_values: pd.DataFrame, columns: list[dict], args: argparse.Namespace, folder: Path) -> tuple[list[pd.DataFrame], dict]:
    python = tvae_environment(args.cache)
    folder.mkdir(parents=True, exist_ok=True)
    discrete = [c["name"] for c in columns if c["type"] != "numerical"]
    train_file = folder / "tvae-train.parquet"
    train_values.astype({name: object for name in discrete}).astype({name: str for name in discrete}).where(train_values.notna()).to_parquet(train_file)
    outputs = [str(folder / f"tvae-{seed}.parquet") for seed in SEEDS]
    spec = {"train": str(train_file), "discrete": discrete, "epochs": args.tvae_epochs, "threads": args.threads,
            "samples": args.samples, "seeds": list(SEEDS), "outputs": outputs}  # fmt: skip
    script = folder / "tvae.py"
    script.write_text(TVAE_SCRIPT)
    done = subprocess.run([str(python), str(script), json.dumps(spec)], check=True, capture_output=True, text=True)
    info = json.loads(done.stdout.strip().splitlines()[-1])
    frames = []
    for output in outputs:
        frame = pd.read_parquet(output)
        for name in train_values.columns:  # labels back to the training values' types
            if pd.api.types.is_numeric_dtype(train_values[name]):
                frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        frames.append(frame[list(train_values.columns)])
    return frames, {"train_rows": info["train_rows"], "epochs": args.tvae_epochs}


def tvae_environment(cache: Path) -> Path:
    """The Python of a virtual environment with ctgan (pandas 2) that sees this environment's other packages; made once."""
    venv = cache / "tvae-venv"
    python = venv / "bin" / "python"
    if not (venv / "ready").is_file():
        print(f"making TVAE's environment in {venv} (ctgan pins pandas < 3)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", *TVAE_PACKAGES], check=True)
        site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], check=True, capture_output=True, text=True)
        (Path(site.stdout.strip()) / "vae_lab_main.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # torch & co., after its own
        (venv / "ready").write_text(" ".join(TVAE_PACKAGES) + "\n")
    return python


def independent_marginals(train_values: pd.DataFrame, count: int, seed: int) -> pd.DataFrame:
    """Each column drawn with replacement from the training rows on its own (missing cells included)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({name: train_values[name].to_numpy()[rng.integers(0, len(train_values), count)] for name in train_values.columns})


class Encoding:
    """Standardized numbers (training mean and deviation; missing: 0 and an indicator), one-hot labels (missing a label)."""

    def __init__(self, train: pd.DataFrame, columns: list[dict]):
        self.numeric = [c["name"] for c in columns if c["type"] == "numerical"]
        self.labels = {c["name"]: sorted({str(v) for v in train[c["name"]]}) for c in columns if c["type"] != "numerical"}
        numbers = train[self.numeric].astype("float64")
        self.mean, self.std = numbers.mean(), numbers.std().replace(0, 1).fillna(1)
        self.has_missing = [name for name in self.numeric if train[name].isna().any()]

    def __call__(self, frame: pd.DataFrame) -> torch.Tensor:
        parts = [((frame[self.numeric].astype("float64") - self.mean) / self.std).fillna(0).to_numpy()]
        parts += [frame[self.has_missing].isna().to_numpy(np.float64)]
        for name, labels in self.labels.items():
            text = frame[name].map(str).to_numpy()
            parts.append((text[:, None] == np.array(labels)[None, :]).astype(np.float64))
        return torch.from_numpy(np.concatenate(parts, axis=1))


def scores(train: pd.DataFrame, holdout: pd.DataFrame, table: pd.DataFrame, synthetic: pd.DataFrame, columns: list[dict],
           sdtypes: dict[str, str], encoding: Encoding, seed: int) -> dict[str, Any]:  # fmt: skip
    bounds = {}
    for spec in columns:
        if spec["type"] == "numerical":
            observed = train[spec["name"]].dropna().astype("float64")
            drawn = synthetic[spec["name"]].dropna().astype("float64")
            if len(observed) and len(drawn):
                low, high = observed.min(), observed.max()
                bounds[spec["name"]] = 100 * (on_bound(drawn, low, high) - on_bound(observed, low, high))
    missing = {name: float(synthetic[name].isna().mean() - holdout[name].isna().mean()) for name in sdtypes}
    missing_table = {name: float(synthetic[name].isna().mean() - table[name].isna().mean()) for name in sdtypes}
    return {
        "detection": detection(holdout, synthetic[list(holdout.columns)], seed=seed),
        "column_shapes": column_shapes(holdout, synthetic, sdtypes)["score"],
        "column_pair_trends": column_pair_trends(holdout, synthetic, sdtypes)["score"],
        "dcr_share": dcr_share(encoding(train), encoding(synthetic), encoding(holdout), seed=seed),
        "bound_mass_pp": max(bounds.values()) if bounds else None,
        "bound_mass_column": max(bounds, key=bounds.__getitem__) if bounds else None,
        "missing_share_error": max(missing.values(), key=abs) if missing else None,
        "missing_share_column": max(missing, key=lambda name: abs(missing[name])) if missing else None,
        "missing_share_error_table": max(missing_table.values(), key=abs) if missing_table else None,
        "missing_share_table_column": max(missing_table, key=lambda name: abs(missing_table[name])) if missing_table else None,
        "bound_mass_by_column": bounds,
        "missing_share_by_column": missing,
    }


def on_bound(values: pd.Series, low: float, high: float) -> float:
    return float(((values == low) | (values == high)).mean())


def summary(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"per_seed": per_seed}
    for key, *_ in METRICS:
        present = [row[key] for row in per_seed if row[key] is not None and not np.isnan(row[key])]
        out[key] = float(np.mean(present)) if present else None
        out[f"{key}_std"] = float(np.std(present)) if present else None
    for key in ("bound_mass_column", "missing_share_column", "missing_share_table_column"):
        out[key] = per_seed[0][key]
    return out


def report(results: list[dict[str, Any]]) -> None:
    for key, title, fmt in METRICS:
        print(f"\n{title}: mean over seeds {list(SEEDS)}" + (" ± std" if key == "detection" else "") + "; difference to TVAE and to independent marginals")
        print(f"{'table':18} {'rows':>5} {'held':>5} {'model':14} {'value':>15} {'- TVAE':>8} {'- indep.':>8}  note")
        for table in results:
            for model in table["models"]:
                row = table[model]
                value = row[key]
                shown = "" if value is None else fmt.format(value) + (f" ± {row[key + '_std']:.3f}" if key == "detection" else "")
                differences = [
                    "" if value is None or table.get(other, {}).get(key) is None or other == model else f"{value - table[other][key]:+.3f}"
                    for other in ("TVAE", "independent")
                ]
                note = {"bound_mass_pp": row.get("bound_mass_column"), "missing_share_error": row.get("missing_share_column"),
                        "missing_share_error_table": row.get("missing_share_table_column")}.get(key) or ""  # fmt: skip
                print(f"{table['table']:18} {table['rows']:5} {table['holdout_rows']:5} {model:14} {shown:>15} {differences[0]:>8} {differences[1]:>8}  {note}")
    print("\nfit seconds and columns left out")
    for table in results:
        fits = ", ".join(f"{model} {table[model]['fit_s']:.1f}" for model in table["models"] if table[model].get("fit_s"))
        dropped = ", ".join(f"{name} ({why.split(' (')[0].split(';')[0]})" for name, why in table["dropped"].items()) or "none"
        print(f"  {table['table']}: {fits}; left out: {dropped}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tables", nargs="*", type=Path, help="CSV files (default: every table of ../shared/data/tables/)")
    parser.add_argument("--samples", type=int, default=2000, help="rows each model draws per seed")
    parser.add_argument("--tvae-epochs", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=CACHE, help="where TVAE's virtual environment is made")
    parser.add_argument("--json", type=Path, help="also write every number here")
    parser.add_argument("--skip-tvae", action="store_true", help="no TVAE (e.g. to compare vae_lab's options)")
    parser.add_argument("--overrides", nargs="*", default=[], help="vae_lab config overrides (the same for every table)")
    parser.add_argument("--calibrations", nargs="*", default=[], choices=CALIBRATIONS, help="also sample with these sample.calibrate settings")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    quiet_third_party()
    logging.getLogger("vae_lab").setLevel(logging.WARNING)
    tables = args.tables or sorted(TABLES.glob("*.csv"))
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for path in tables:
            started = time.perf_counter()
            results.append(compare(path, args, Path(folder)))
            shown = ", ".join(f"{m} {results[-1][m]['detection']:.3f}" for m in results[-1]["models"] if results[-1][m]["detection"] is not None)
            print(f"done {path.name} in {time.perf_counter() - started:.0f} s; detection: {shown}", flush=True)
            if args.json:  # every finished table, in case the run is cut short
                write_json(args.json, results)
    print(f"\ntorch threads {torch.get_num_threads()}; {args.samples} samples per model and seed; compared with the held-out rows")
    report(results)
    if args.json:
        write_json(args.json, results)


def write_json(path: Path, results: list[dict[str, Any]]) -> None:
    path.write_text(json.dumps(results, indent=1, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)) + "\n")


if __name__ == "__main__":
    main()
