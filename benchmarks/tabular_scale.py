"""Scale: load a 1,000,000-row x 20-column mixed CSV and train one epoch, with peak memory.

    python benchmarks/tabular_scale.py [--rows 1000000] [--csv PATH] [--batch-size 512] [--threads N]

Generates the CSV (benchmarks/mixed_table.py, 5% missing cells in six columns) in a separate process
unless --csv names an existing one, then, in this process:
- load: the data module as `vae-lab train` builds it: read the file, split it, infer the schema and fit
  the preprocessing on the training rows, encode every row (rows of the file per second);
- train: one epoch of `experiment=tabular` (128-128 MLPs, latent 8) with Lightning, as `vae-lab train`
  runs it, then validation with the per-column losses (training rows per second: the TrainingThroughput
  figure that results.json reports; and the wall time of the whole epoch);
- peak memory: the process's maximum resident set size (ru_maxrss).
"""

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_module

from vae_lab import config_resolvers
from vae_lab.build import build_callbacks, build_trainer
from vae_lab.quiet import quiet_third_party
from vae_lab.training.assembly import build_datamodule
from vae_lab.training.module import VAEModule
from vae_lab.training.throughput import TrainingThroughput

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--csv", type=Path, help="an existing CSV to use instead of generating one")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    quiet_third_party()
    config_resolvers.register()
    with tempfile.TemporaryDirectory() as folder:
        path = args.csv or Path(folder) / "mixed.csv"
        if not path.is_file():
            subprocess.run([sys.executable, HERE / "mixed_table.py", path, "--rows", str(args.rows), "--missing", "0.05"], check=True)
        with initialize_config_module(config_module="vae_lab.conf", version_base="1.3"):
            cfg = compose("train", [
                "experiment=tabular", f"data.path={path}", f"data.batch_size={args.batch_size}", "data.eval_batch_size=10000",
                "trainer.max_epochs=1", "trainer.accelerator=cpu", "logger=csv", f"paths.output_dir={folder}/run",
            ])  # fmt: skip

        started = time.perf_counter()
        datamodule = build_datamodule(cfg)
        datamodule.split("train")
        load_seconds = time.perf_counter() - started
        rows = datamodule.rows

        torch.manual_seed(0)
        module = VAEModule.for_data(cfg, datamodule)
        throughput = TrainingThroughput()
        trainer = build_trainer(cfg, [*build_callbacks(cfg), throughput], [])
        started = time.perf_counter()
        trainer.fit(module, datamodule=datamodule)
        epoch_seconds = time.perf_counter() - started
        peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

    train_rows = len(datamodule.split("train"))
    columns = len(datamodule.fitted_schema().columns)
    print(f"CSV: {rows:,} rows x {columns} columns, model input width {datamodule.data_shape[0]}, torch threads {torch.get_num_threads()}")
    print(f"load (read, split, fit schema, encode): {load_seconds:.1f} s = {rows / load_seconds:,.0f} rows/s")
    print(f"train one epoch ({train_rows:,} rows, batch {args.batch_size}): {throughput.examples_per_second:,.0f} rows/s in training steps; "
          f"{epoch_seconds:.1f} s for the epoch with validation")  # fmt: skip
    print(f"val/loss {float(trainer.callback_metrics['val/loss']):.3f} nats per row")
    print(f"peak memory (max RSS): {peak_gib:.2f} GiB")


if __name__ == "__main__":
    main()
