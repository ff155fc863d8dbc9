"""Time and peak memory of `vae-lab eval` at the paper setting: K = 5000 importance samples per test image.

    vae-lab train experiment=pytorch_examples run_name=pytorch_examples        # once, about a minute
    python benchmarks/eval_iwae.py --ckpt runs/train/pytorch_examples/checkpoints/last.ckpt \
        --data-dir ../shared/data [--iwae-samples 5000] [--memory-budget-mb 32] [--device auto] [--threads N]

Runs the real command in a subprocess (whole split, every metric of eval.json, nothing logged to the
run) and prints its wall time, its CPU time and peak resident memory (the child's rusage), the time of
each phase and the headline numbers. On a shared machine the CPU time says what the job needs. The target of issue 3: the 10,000 MNIST test images with K = 5000 on
a 2-core CPU in under 10 minutes and 4 GiB.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--iwae-samples", type=int, default=5000)
    parser.add_argument("--split", default="test")
    parser.add_argument("--memory-budget-mb", type=float, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (OMP_NUM_THREADS); default: all cores")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "eval.json"
        command = [
            sys.executable, "-m", "vae_lab", "eval", f"ckpt_path={args.ckpt.absolute()}", f"split={args.split}",
            f"eval.iwae_samples={args.iwae_samples}", f"device={args.device}", f"output={output}", "log_to_run=false",
        ]
        if args.data_dir:
            command.append(f"data_dir={args.data_dir.absolute()}")
        if args.memory_budget_mb:
            command.append(f"eval.memory_budget_mb={args.memory_budget_mb}")
        started = time.perf_counter()
        env = os.environ | ({"OMP_NUM_THREADS": str(args.threads)} if args.threads else {})
        subprocess.run(command, check=True, env=env)
        wall = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak_gib = usage.ru_maxrss / 2**20  # Linux: KiB
        cpu = usage.ru_utime + usage.ru_stime
        report = json.loads(output.read_text())

    print(f"\n{report['examples']} {report['provenance']['dataset']} {args.split} examples, K={args.iwae_samples}, "
          f"device {report['provenance']['device']}, threads {args.threads or os.cpu_count()}")
    print(f"wall time {wall:.0f} s ({wall / 60:.1f} min), CPU time {cpu:.0f} s, peak resident memory {peak_gib:.2f} GiB")
    print("phases (s): " + ", ".join(f"{name} {seconds:.0f}" for name, seconds in report["seconds"].items()))
    print(f"NLL {report['nll']:.2f} nats, ELBO {report['elbo']:.2f}, gap {report['gap']:.2f}, "
          f"amortization gap {report['amortization_gap']:.2f}, approximation gap {report['approximation_gap']:.2f}, "
          f"{report['active_units']}/{len(report['kl_per_dim'])} active units")


if __name__ == "__main__":
    main()
