"""Whole process: `vae-lab train experiment=pytorch_examples` against pytorch/examples' vae/main.py.

    python benchmarks/whole_process.py --data-dir ../shared/data [--epochs 10] [--pairs 1]

Both train the same VAE (784-400-20, Bernoulli, Adam 1e-3, batch 128) for the same epochs on MNIST, with
a test pass and the same two pictures every epoch (reconstructions and prior samples): vae_lab validates on its 5,000 held-out digits each epoch and tests
on the 10,000 test digits at the end; the baseline (benchmarks/pytorch_examples_vae.py) tests on the
10,000 test digits every epoch. Each is a fresh process, timed from start to exit, its peak resident
memory read from the kernel (wait4's rusage, as `/usr/bin/time -v` reports it). Runs `--pairs` pairs
alternately and prints each run, the medians and the ratios, and both final test losses.
"""

import argparse
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE = Path(__file__).with_name("pytorch_examples_vae.py")
# The pictures the baseline writes every epoch: 8 reconstructions and 64 prior samples.
SAME_PICTURES = [
    "callbacks=pictures",
    "callbacks.pictures.every_n_epochs=1",
    "callbacks.pictures.draw=[reconstructions,samples]",
    "callbacks.pictures.num_examples=64",
]


def run_pair(data_dir: Path, raw_copy: Path, epochs: int, folder: Path, number: int) -> dict[str, tuple[float, float, float]]:
    env = os.environ | {"VAE_LAB_DATA_DIR": str(data_dir), "WANDB_MODE": "disabled"}
    ours = [
        sys.executable,
        "-m",
        "vae_lab",
        "train",
        "experiment=pytorch_examples",
        f"trainer.max_epochs={epochs}",
        "data.download=false",
        *SAME_PICTURES,
        f"hydra.run.dir={folder / f'vae_lab_{number}'}",
    ]
    wall, peak, _ = timed_with_rusage(ours, env, folder)
    results = json.loads((folder / f"vae_lab_{number}" / "results.json").read_text())
    rows = {"vae_lab": (wall, peak, -results["test/elbo"])}
    baseline = [sys.executable, str(BASELINE), "--data-dir", str(raw_copy), "--results", str(folder / f"baseline_{number}"), "--epochs", str(epochs)]
    wall, peak, output = timed_with_rusage(baseline, env, folder)
    rows["pytorch/examples"] = (wall, peak, float(re.search(r"final test loss ([0-9.]+)", output).group(1)))
    return rows


def timed_with_rusage(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """(wall seconds, peak resident MiB, output) of one process, its rusage from wait4."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        output = log.read()
    if process.returncode != 0:
        sys.exit(f"{' '.join(command)} failed (exit {process.returncode}):\n{output[-3000:]}")
    return wall, usage.ru_maxrss / 1024, output


def uncompressed_copy(data_dir: Path, folder: Path) -> Path:
    """torchvision's MNIST reads uncompressed IDX files: gunzip a copy into `folder`/MNIST/raw."""
    raw = folder / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in (data_dir / "MNIST" / "raw").glob("*.gz"):
        with gzip.open(gz) as source, open(raw / gz.stem, "wb") as target:
            shutil.copyfileobj(source, target)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=1)
    args = parser.parse_args()
    data_dir = args.data_dir.absolute()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        raw_copy = uncompressed_copy(data_dir, folder / "torchvision_data")
        runs = {"vae_lab": [], "pytorch/examples": []}
        for number in range(args.pairs):
            for name, row in run_pair(data_dir, raw_copy, args.epochs, folder, number).items():
                runs[name].append(row)
                print(f"{name}: {row[0]:.1f} s, peak {row[1]:.0f} MiB, test loss {row[2]:.2f} nats", flush=True)

    medians = {name: [statistics.median(column) for column in zip(*rows)] for name, rows in runs.items()}
    ours, theirs = medians["vae_lab"], medians["pytorch/examples"]
    print(f"\n{args.epochs} epochs, median of {args.pairs} pair(s), {os.cpu_count()} cores")
    print("| process | wall time (s) | peak memory (MiB) | test loss (nats) |\n|---|---:|---:|---:|")
    for name, (wall, peak, loss) in medians.items():
        print(f"| {name} | {wall:.1f} | {peak:.0f} | {loss:.2f} |")
    print(
        f"vae_lab / pytorch/examples: {ours[0] / theirs[0]:.2f}x the wall time ({theirs[0] / ours[0]:.2f}x faster), {ours[1] / theirs[1]:.2f}x the peak memory"
    )


if __name__ == "__main__":
    main()
