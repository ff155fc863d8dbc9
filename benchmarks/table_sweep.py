"""Many real tables through the whole tabular path, as a new user runs it: does each one train, sample, read back
with the input's columns and impute? A robustness check, not a score (issue 32: acceptance is also checked on real
tables that are not in the repository).

    python benchmarks/table_sweep.py TABLE.csv ... [--epochs 2] [--json FILE]

Per table, in a folder of its own that is deleted afterwards: ``vae_lab.train(["experiment=tabular",
"data.path=TABLE", "trainer.max_epochs=EPOCHS"])``, ``run.sample(150)`` written as ``vae-lab sample`` writes it
(``run.write_samples``), its header read back with ``pandas.read_csv`` and compared with the input's, then
``run.impute`` of the first 30 rows with a fifth of their cells blanked. A table that fails prints its stage and
either the user's message (a ``VaeLabError``: is it one clear message?) or the exception (a bug). The tables used so
far are R datasets bundled by the ``pydataset`` package (docs/results.md, "Many more real tables").
"""

import argparse
import json
import logging
import tempfile
import traceback
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import vae_lab
from vae_lab.errors import VaeLabError
from vae_lab.quiet import quiet_third_party

IMPUTED_ROWS = 30
BLANKED_SHARE = 0.2


def sweep_table(path: Path, epochs: int, folder: Path) -> dict[str, Any]:
    """One table through train, sample, read-back and impute: ``ok``, ``same_columns``, or the failing ``stage`` with
    ``message`` (a VaeLabError: bad input, said to the user) or ``bug`` (any other exception, with its traceback's end)."""
    record: dict[str, Any] = {"table": str(path)}
    stage = "train"
    try:
        results = vae_lab.train(["experiment=tabular", f"data.path={path}", f"trainer.max_epochs={epochs}", "trainer.accelerator=cpu",
                                 "logger=csv", f"paths.output_dir={folder / 'run'}"])  # fmt: skip
        stage = "sample"
        run = vae_lab.load_run(results["run_dir"])
        (written,) = run.write_samples(run.sample(150, seed=0), folder / "samples")
        stage = "read back"
        record["same_columns"] = list(pd.read_csv(path, nrows=5).columns) == list(pd.read_csv(written, nrows=5).columns)
        stage = "impute"
        rows = pd.read_csv(path, nrows=IMPUTED_ROWS, dtype=str, keep_default_na=False)
        blanked = rows.mask(np.random.default_rng(0).random(rows.shape) < BLANKED_SHARE)
        run.impute(blanked)
        record["ok"] = True
    except VaeLabError as error:
        record.update(ok=False, stage=stage, message=str(error))
    except Exception as error:
        record.update(ok=False, stage=stage, bug=f"{type(error).__name__}: {error}", traceback=traceback.format_exc()[-2000:])
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tables", nargs="+", type=Path, help="table files (CSV, TSV, Parquet, ...)")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs per table (the path, not the quality, is checked)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write every record here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    quiet_third_party()
    logging.getLogger("vae_lab").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    records = []
    for path in args.tables:
        with tempfile.TemporaryDirectory() as folder:
            record = sweep_table(path, args.epochs, Path(folder))
        records.append(record)
        outcome = "ok" if record["ok"] else f"{record['stage']}: {record.get('message') or record.get('bug')}"
        columns = "" if not record.get("ok") else "  same columns" if record["same_columns"] else "  COLUMNS DIFFER"
        print(f"{path.name:40} {outcome}{columns}", flush=True)
        if args.json:
            args.json.write_text(json.dumps(records, indent=1))
    failed = [r for r in records if not r["ok"]]
    print(f"{len(records)} tables: {len(records) - len(failed)} ok "
          f"({sum(1 for r in records if r.get('same_columns'))} with the input's columns), "
          f"{sum(1 for r in failed if 'message' in r)} refused with a message, {sum(1 for r in failed if 'bug' in r)} bugs")  # fmt: skip


if __name__ == "__main__":
    main()
