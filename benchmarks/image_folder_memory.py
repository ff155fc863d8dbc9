"""Peak memory of training on a folder of images: held in memory against read from disk per batch.

    python benchmarks/image_folder_memory.py [--sizes 2000 8000 32000] [--side 64]

Writes folders of `size` random RGB PNGs (side x side) and trains one epoch on each twice, as fresh
`vae-lab train data=image_folder` processes: `data.in_memory=true` (every image decoded once and held as
uint8) and `data.in_memory=false` (each batch read from disk by 2 worker processes). Peak memory is the
largest sum of the proportional set sizes (PSS: pages shared by a forked worker and its parent counted
once) of the training process and its workers, sampled from /proc every 50 ms. Memory held in memory grows with the folder; read from disk it stays flat.
Prints one row per folder: both peaks and their ratio.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

TRAIN = ["encoder=conv", "decoder=conv", "likelihood=discretized_logistic", "model.latent_dim=16", "data.batch_size=64", "data.eval_batch_size=64",
         "trainer.max_epochs=1", "+trainer.limit_train_batches=40", "+trainer.limit_val_batches=4", "+trainer.limit_test_batches=4", "likelihood.components=1",
         "data.val_size=512", "data.test_size=512", "logger=csv"]  # fmt: skip


def write_folder(folder: Path, count: int, side: int) -> Path:
    rng = np.random.default_rng(0)
    for start in range(0, count, 1000):
        block = rng.integers(0, 256, size=(min(1000, count - start), side, side, 3), dtype=np.uint8)
        for i, pixels in enumerate(block, start):
            Image.fromarray(pixels).save(folder / f"{i:06d}.png", compress_level=1)
    return folder


def tree_pss_bytes(root: int) -> int:
    """Proportional set size of process `root` and all its descendants (from /proc): memory shared between
    them (a forked worker shares the parent's pages) is counted once, split among its sharers."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(parent, []).append(int(entry.name))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            total += int(next(line.split()[1] for line in rollup.splitlines() if line.startswith("Pss:"))) * 1024
        except (OSError, StopIteration):
            pass
        stack += children.get(pid, [])
    return total


def peak_of(command: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak MiB of the process tree) of one command."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "WANDB_MODE": "offline"})  # fmt: skip
    peak = [0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], tree_pss_bytes(process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, errors = process.communicate()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{errors}")
    return time.perf_counter() - started, peak[0] / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000, 60000])
    parser.add_argument("--side", type=int, default=64)
    args = parser.parse_args()
    print("| images | uint8 size | in memory: peak | read from disk: peak | disk / memory | wall (memory, disk) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            folder = Path(scratch) / f"images_{size}"
            folder.mkdir()
            write_folder(folder, size, args.side)
            rows = {}
            for mode in ("true", "false"):
                command = [sys.executable, "-m", "vae_lab", "train", "data=image_folder", f"data.path={folder}", f"data.in_memory={mode}",
                           f"run_name=m{size}_{mode}", *TRAIN]  # fmt: skip
                rows[mode] = peak_of(command, Path(scratch))
            megabytes = size * 3 * args.side**2 / 2**20
            (wall_memory, peak_memory), (wall_disk, peak_disk) = rows["true"], rows["false"]
            print(f"| {size:,} | {megabytes:,.0f} MiB | {peak_memory:,.0f} MiB | {peak_disk:,.0f} MiB | {peak_disk / peak_memory:.2f}x | "
                  f"{wall_memory:.0f} s, {wall_disk:.0f} s |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
