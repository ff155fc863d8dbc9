"""A generated mixed table with known structure, for the tabular benchmarks.

20 columns driven by 3 shared latent factors, so they are correlated within and across kinds:
8 correlated Gaussians (3 decimals), a skewed income (log-normal, 2 decimals), a bounded score
(beta, 4 decimals), two integer counts (age, visits), six categorical columns (3 to 20 levels, one a
1-5 rating) and two binary columns (yes/no, true/false), optionally with missing cells.

    python benchmarks/mixed_table.py OUT.csv --rows 1000000 [--missing 0.05] [--seed 0]
"""

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

CATEGORICAL = ["city", "segment", "plan", "rating", "channel", "region"]
BINARY = ["smoker", "active"]


def mixed_table(rows: int, seed: int = 0, missing: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    factors = rng.normal(size=(rows, 3))
    loadings = rng.normal(size=(3, 8))
    columns = {f"num_{i}": np.round(factors @ loadings[:, i] + 0.5 * rng.normal(size=rows), 3) for i in range(8)}
    columns["income"] = np.round(np.exp(10 + 0.5 * factors[:, 0] + 0.6 * rng.normal(size=rows)), 2)
    columns["score"] = np.round(rng.beta(2 + np.exp(factors[:, 1]), 3), 4)
    columns["age"] = np.clip(np.round(45 + 12 * factors[:, 2] + 5 * rng.normal(size=rows)), 18, 90).astype(np.int64)
    columns["visits"] = rng.poisson(np.exp(1.5 + 0.4 * factors[:, 0]))
    columns["city"] = _choose(rng, [f"city_{i:02d}" for i in range(20)], factors[:, 0], spread=1.0)
    columns["segment"] = _choose(rng, ["A", "B", "C", "D", "E"], factors[:, 1], spread=1.5)
    columns["plan"] = _choose(rng, ["basic", "plus", "premium"], factors[:, 2], spread=1.5)
    columns["rating"] = _choose(rng, [1, 2, 3, 4, 5], factors[:, 0] + factors[:, 1], spread=1.0)
    columns["channel"] = _choose(rng, ["web", "app", "store", "phone", "mail", "partner", "tv", "other"], factors[:, 2], spread=0.5)
    columns["region"] = _choose(rng, ["north", "east", "south", "west"], factors[:, 1] - factors[:, 2], spread=0.7)
    columns["smoker"] = np.where(rng.random(rows) < 1 / (1 + np.exp(1 + factors[:, 1])), "yes", "no")
    columns["active"] = np.where(rng.random(rows) < 1 / (1 + np.exp(-factors[:, 2])), "true", "false")
    frame = pd.DataFrame(columns)
    if missing:
        for name in ("num_0", "num_5", "income", "visits", "city", "smoker"):
            frame[name] = frame[name].where(rng.random(rows) >= missing)
    return frame


def _choose(rng: np.random.Generator, labels: list, factor: np.ndarray, spread: float) -> np.ndarray:
    """A categorical column whose level depends on `factor`: softmax over levels of -(factor - centre)^2."""
    centres = np.linspace(-2, 2, len(labels))
    logits = -spread * (factor[:, None] - centres[None, :]) ** 2
    cumulative = np.cumsum(np.exp(logits - logits.max(axis=1, keepdims=True)), axis=1)
    draws = rng.random(len(factor))[:, None] * cumulative[:, -1:]
    return np.asarray(labels, dtype=object)[(draws > cumulative).sum(axis=1)]


def write(frame: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pa_csv.write_csv(table, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--missing", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    write(mixed_table(args.rows, args.seed, args.missing), args.output)
    size = args.output.stat().st_size / 2**20
    print(f"wrote {args.rows:,} rows x 20 columns to {args.output} ({size:.0f} MiB) in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
