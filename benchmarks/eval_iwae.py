"""Time and peak memory of `vae-lab eval` at the paper setting: K = 5000 importance samples per test image.

    vae-lab train experiment=pytorch_examples run_name=pytorch_examples        # once, about a minute
    python benchmarks/eval_iwae.py --ckpt runs/train/pytorch_examples/checkpoints/last.ckpt \
        --data-dir ../shared/data [--iwae-samples 5000] [--memory-budget-mb 32] [--device auto] [--threads N]

Runs the real command in a subprocess (whole split, every metric of eval.json, nothing logged to the
run) and prints its wall time, its CPU time and peak resident memory (the child's rusage), the time of
each phase and the headline numbers. On a shared machine the CPU time says what the job needs.

The FLOP limit of the log-likelihood phase: decodes (examples x K) x the matmul FLOPs of one decode
(counted by torch's FlopCounterMode on the checkpoint's decoder) / the rate at which this machine runs
that decoder's matrix products, in FLOPs per CPU-second, measured in this process before the command
runs. The CPU time of the phase is the command's own measure (eval.json's cpu_seconds). Targets: issue 3, the
10,000 MNIST test images with K = 5000 on a 2-core CPU in under 10 minutes and 4 GiB; issue 18, the
phase within 1.5x its FLOP limit (`--compile false` measures the eager math).
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

import torch
from torch.utils.flop_counter import FlopCounterMode

from vae_lab.api import load_run

PROBE_ROWS = 1024  # rows of the matmul probe: a pass of the evaluation decodes about this many z at once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--iwae-samples", type=int, default=5000)
    parser.add_argument("--split", default="test")
    parser.add_argument("--memory-budget-mb", type=float, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (OMP_NUM_THREADS); default: all cores")
    parser.add_argument("--max-examples", type=int, default=None, help="evaluate only the first N examples")
    parser.add_argument("--compile", choices=["auto", "true", "false"], default="auto", help="the command's compile= (auto: compiled at this size on a CPU)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    flops_per_decode, flops_per_cpu_second = decoder_flops(args.ckpt, args.data_dir)

    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "eval.json"
        command = [
            sys.executable,
            "-m",
            "vae_lab",
            "eval",
            f"ckpt_path={args.ckpt.absolute()}",
            f"split={args.split}",
            f"eval.iwae_samples={args.iwae_samples}",
            f"device={args.device}",
            f"output={output}",
            "log_to_run=false",
        ]
        if args.data_dir:
            command.append(f"data_dir={args.data_dir.absolute()}")
        if args.memory_budget_mb:
            command.append(f"eval.memory_budget_mb={args.memory_budget_mb}")
        if args.max_examples:
            command.append(f"eval.max_examples={args.max_examples}")
        command.append(f"compile={args.compile}")
        started = time.perf_counter()
        env = os.environ | ({"OMP_NUM_THREADS": str(args.threads)} if args.threads else {})
        subprocess.run(command, check=True, env=env)
        wall = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak_gib = usage.ru_maxrss / 2**20  # Linux: KiB
        cpu = usage.ru_utime + usage.ru_stime
        report = json.loads(output.read_text())

    print(
        f"\n{report['examples']} {report['provenance']['dataset']} {args.split} examples, K={args.iwae_samples}, "
        f"device {report['provenance']['device']}, {'compiled' if report['provenance']['compiled'] else 'eager'}, threads {args.threads or os.cpu_count()}"
    )
    print(f"wall time {wall:.0f} s ({wall / 60:.1f} min), CPU time {cpu:.0f} s, peak resident memory {peak_gib:.2f} GiB")
    print("phases (s): " + ", ".join(f"{name} {seconds:.0f}" for name, seconds in report["seconds"].items()))
    print(
        f"NLL {report['nll']:.2f} nats, ELBO {report['elbo']:.2f}, gap {report['gap']:.2f}, "
        f"amortization gap {report['amortization_gap']:.2f}, approximation gap {report['approximation_gap']:.2f}, "
        f"{report['active_units']}/{len(report['kl_per_dim'])} active units"
    )
    decodes = report["examples"] * args.iwae_samples
    limit = decodes * flops_per_decode / flops_per_cpu_second
    phase_cpu = report["cpu_seconds"]["log_likelihood"]
    print(
        f"log-likelihood phase: {decodes:,} decodes x {flops_per_decode / 1e6:.3f} MFLOP at {flops_per_cpu_second / 1e9:.1f} "
        f"GFLOP per CPU-second: FLOP limit {limit:.0f} CPU-s; the phase took about {phase_cpu:.0f} CPU-s "
        f"({report['seconds']['log_likelihood']:.0f} s wall): {phase_cpu / limit:.2f}x the limit"
    )


def decoder_flops(ckpt: Path, data_dir: Path | None, seconds: float = 5.0) -> tuple[float, float]:
    """(matmul FLOPs of one decode, FLOPs per CPU-second of this machine on the decoder's matrix products)."""
    run = load_run(ckpt, data_dir=data_dir.absolute() if data_dir else None)
    module = run.module
    decoder = module.vae.decoder.eval()
    z = torch.randn(PROBE_ROWS, module.vae.latent_dim)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        decoder(z)
    products = [(PROBE_ROWS, m.in_features, m.out_features) for m in decoder.modules() if isinstance(m, torch.nn.Linear)]
    if not products:
        raise SystemExit("eval_iwae: the FLOP probe times the decoder's linear layers; this decoder has none")
    operands = [(torch.randn(rows, n_in), torch.randn(n_in, n_out)) for rows, n_in, n_out in products]
    flops_per_round = sum(2 * rows * n_in * n_out for rows, n_in, n_out in products)
    rounds, started, cpu_started = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        for a, b in operands:
            a @ b
        rounds += 1
    return counter.get_total_flops() / PROBE_ROWS, rounds * flops_per_round / (time.process_time() - cpu_started)


if __name__ == "__main__":
    main()
