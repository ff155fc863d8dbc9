"""GPU check: `vae-lab train` on one GPU in fp32 and bf16-mixed, then DDP on every visible GPU.

    python benchmarks/gpu_check.py --data-dir ../shared/data [--epochs 3] [--batch-size 128]

Each configuration is a real `python -m vae_lab train experiment=pytorch_examples ...` run (the
pytorch/examples VAE on grey MNIST) in its own run directory under --out (default
$VAE_LAB_LOG_DIR/gpu_check, else runs/gpu_check); the figures come from its
results.json: training samples/s over all epochs (all processes together under DDP), test ELBO and
wall time. --batch-size is per process, so DDP's global batch is GPUs x batch size.
Then, in this process on one GPU, vae_lab's loop (splits held on the GPU) against the raw loop over
GPU tensors, eager and compiled (benchmarks/throughput.py's loops). Prints Markdown tables for README.
Exits with status 2, before running anything, on a machine
without a CUDA GPU.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import throughput  # benchmarks/throughput.py: the same loops as on the CPU
import torch

from vae_lab.data.images import MNISTDataModule

CONFIGS = {
    "1 GPU, fp32": ["trainer=gpu", "trainer.precision=32-true"],
    "1 GPU, bf16-mixed": ["trainer=gpu"],
    "DDP, all GPUs, bf16-mixed": ["trainer=ddp"],
}


def run(name: str, overrides: list[str], run_dir: Path, data_dir: Path) -> dict:
    command = [sys.executable, "-m", "vae_lab", "train", "experiment=pytorch_examples", *overrides, f"hydra.run.dir={run_dir}"]
    env = {**os.environ, "VAE_LAB_DATA_DIR": str(data_dir), "WANDB_MODE": "disabled"}
    print(f"[{name}] {' '.join(command[2:])}", flush=True)
    finished = subprocess.run(command, env=env, capture_output=True, text=True)
    if finished.returncode != 0:
        sys.exit(f"gpu_check: '{name}' failed (exit {finished.returncode}):\n{finished.stdout[-3000:]}{finished.stderr[-3000:]}")
    return json.loads((run_dir / "results.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="folder holding MNIST/raw/*.gz")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128, help="per process")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("VAE_LAB_LOG_DIR", "runs")) / "gpu_check")
    args = parser.parse_args()

    gpus = torch.cuda.device_count()
    if gpus == 0:
        print("gpu_check: no CUDA GPU is visible here (torch.cuda.device_count() is 0); run it on a GPU machine", file=sys.stderr)
        sys.exit(2)
    names = ", ".join(sorted({torch.cuda.get_device_name(i) for i in range(gpus)}))
    print(f"{gpus} x {names}, torch {torch.__version__}, CUDA {torch.version.cuda}", flush=True)

    out = args.out.absolute() / time.strftime("%Y-%m-%d_%H-%M-%S")
    common = [f"trainer.max_epochs={args.epochs}", f"data.batch_size={args.batch_size}", "data.download=false"]
    rows = []
    for name, overrides in CONFIGS.items():
        slug = name.replace(", ", "_").replace(" ", "_").lower()
        results = run(name, [*overrides, *common], out / slug, args.data_dir.absolute())
        processes = gpus if "DDP" in name else 1
        rows.append((name, processes, results["train_samples_per_s"], results["test/elbo"], results["wall_time_s"]))

    print(f"\n{gpus} x {names}; pytorch_examples VAE, {args.epochs} epochs, batch {args.batch_size} per process\n")
    print("| configuration | processes | training samples/s | test ELBO (nats) | wall time (s) |")
    print("|---|---:|---:|---:|---:|")
    for name, processes, speed, elbo, wall in rows:
        print(f"| {name} | {processes} | {speed:,.0f} | {elbo:.2f} | {wall:.1f} |")
    loops_on_one_gpu(args.data_dir.absolute(), epochs=2)


def loops_on_one_gpu(data_dir: Path, epochs: int) -> None:
    """vae_lab (splits held on the GPU) against the raw loop over GPU tensors, eager and compiled, fp32."""
    rates = {}
    for compile in (False, True):
        examples, seconds = throughput.time_vae_lab(data_dir, epochs, compile, accelerator="gpu")
        rates[f"vae_lab {'compiled' if compile else 'eager'}"] = examples / seconds
    datamodule = MNISTDataModule(data_dir=str(data_dir), val_size=5000, download=False)
    x_train = datamodule.split("train").x.cuda()
    for name, compile, fused in (("raw eager", False, False), ("raw compiled", True, False), ("raw compiled, fused Adam", True, True)):
        examples, seconds = throughput.time_raw_loop(x_train, epochs, compile, fused)
        rates[name] = examples / seconds
    print(f"\nOne GPU, fp32, batch {throughput.BATCH}, {epochs} timed epochs after one warm-up epoch")
    print("| loop | samples/s | vae_lab eager / loop | vae_lab compiled / loop |\n|---|---:|---:|---:|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:,.0f} | {rates['vae_lab eager'] / rate:.2f}x | {rates['vae_lab compiled'] / rate:.2f}x |")


if __name__ == "__main__":
    main()
