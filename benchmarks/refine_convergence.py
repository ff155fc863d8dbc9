"""How many refinement steps the amortization gap needs: the gap found after N Adam steps, for several N.

    python benchmarks/refine_convergence.py --ckpt runs/train/pytorch_examples/checkpoints/last.ckpt \
        --data-dir ../shared/data [--examples 100] [--steps 100 300 500 1000 3000] [--lr 0.03]

The refined ELBO can only approach the best diagonal Gaussian from below, so the amortization gap grows
with the number of steps and levels off; the default of `vae-lab eval` (eval.refine_steps) should sit
where the curve is nearly flat. Prints steps, amortization gap, approximation gap and seconds.
"""

import argparse
import time
from pathlib import Path

import torch

from vae_lab import config_resolvers
from vae_lab.api import load_run
from vae_lab.evaluation.split_evaluation import EvalSettings, evaluate_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 300, 500, 1000, 3000])
    parser.add_argument("--lr", type=float, default=0.03)
    parser.add_argument("--iwae-samples", type=int, default=1000)
    args = parser.parse_args()

    config_resolvers.register()
    run = load_run(args.ckpt, data_dir=args.data_dir)
    datamodule, module = run.datamodule, run.module
    print(f"{args.examples} test examples, K={args.iwae_samples}, Adam lr {args.lr} (cosine decay)")
    print(f"{'steps':>6} {'amortization gap':>17} {'approximation gap':>18} {'seconds':>8}")
    for steps in args.steps:
        settings = EvalSettings(
            iwae_samples=args.iwae_samples,
            refine_examples=args.examples,
            refine_steps=steps,
            refine_lr=args.lr,
            max_examples=args.examples,
            fidelity_samples=0,
        )
        started = time.perf_counter()
        result = evaluate_split(module.vae, datamodule, "test", settings, torch.device("cpu"))
        print(f"{steps:>6} {result.amortization_gap:>17.3f} {result.approximation_gap:>18.3f} {time.perf_counter() - started:>8.0f}")


if __name__ == "__main__":
    main()
