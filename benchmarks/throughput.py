"""Training throughput: vae_lab's Lightning loop vs. plain PyTorch loops and the machine's FLOP limit.

    python benchmarks/throughput.py --data-dir ../shared/data [--epochs 2] [--threads N]

Loops (all train the pytorch/examples VAE, 784-400-20 ReLU MLP, Bernoulli likelihood, Adam 1e-3, batch 128):
- vae_lab eager / compiled: `Trainer.fit` on our MNIST data module (uint8 in memory, whole-batch
  gathering), with our optimizer config (Adam with fused=true), without and with model.compile; and
  compiled with `trainer.precision=bf16-mixed` (bfloat16 matrix products: AMX or AVX-512 BF16 on a CPU
  that has them; not the same arithmetic as the float32 loops, so a row apart);
- raw eager / raw compiled: a hand-written loop over shuffled in-memory float tensors with
  pytorch/examples' optimizer (`optim.Adam(params, lr=1e-3)`), the second with the loss torch.compile'd;
- raw compiled, fused Adam: the same loop with our optimizer setting, the floor of what any platform adds;
- dataloader: the pytorch/examples style: torchvision.datasets.MNIST + ToTensor + DataLoader (per-item PIL);
- raw eager, denormals flushed: the raw eager loop with what every vae-lab command sets first
  (``vae_lab.cli.flush_denormals_to_zero``), to tell that setting's share from the loop's.
Each loop runs in a fresh process of its own (this script with ``--loop NAME``): the vae_lab loops with
denormals flushed, as ``vae-lab train`` runs them, the plain loops as PyTorch runs by default (the setting
is per thread and inherited when torch's thread pool starts, so one process cannot run both).
The FLOP limit is the matmul FLOPs of one training example (forward and both backward products of every
linear layer) divided into the rate of exactly those matrix products, measured here in the same run.
Each loop runs one warm-up epoch (which pays for compilation), then `--epochs` timed epochs over the same
55,000 training images; validation is off. Prints samples/s and ratios.
"""

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import lightning as L
import torch
from torchvision import datasets, transforms

from vae_lab.cli import flush_denormals_to_zero
from vae_lab.data.images import MNISTDataModule
from vae_lab.models.decoders import MLPDecoder
from vae_lab.models.encoders import MLPEncoder
from vae_lab.models.likelihoods import BernoulliLikelihood
from vae_lab.models.priors import StandardNormalPrior
from vae_lab.models.vae import VAE
from vae_lab.training.module import VAEModule
from vae_lab.training.throughput import TrainingThroughput

BATCH = 128
TRAINING_EXAMPLES = 55_000  # MNIST's 60,000 training images less the 5,000 the data module holds out
SHAPE = (1, 28, 28)


def pytorch_examples_vae() -> VAE:
    likelihood = BernoulliLikelihood(SHAPE)
    return VAE(MLPEncoder(SHAPE, 20, [400]), MLPDecoder(20, SHAPE, [400]), likelihood, StandardNormalPrior(20))


def negative_elbo(vae: VAE, x: torch.Tensor) -> torch.Tensor:
    terms = vae.elbo_terms(x)
    return (terms.recon_loss + terms.kl).mean()


class SkipWarmUpEpoch(TrainingThroughput):
    """TrainingThroughput that ignores the first (warm-up) epoch, like the plain loops below."""

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, module)
        if trainer.current_epoch == 0:
            self.examples, self.seconds = 0, 0.0


def time_vae_lab(data_dir: Path, epochs: int, compile: bool, accelerator: str = "cpu", precision: str = "32-true") -> tuple[int, float]:
    torch.manual_seed(0)
    datamodule = MNISTDataModule(data_dir=str(data_dir), val_size=5000, download=False, batch_size=BATCH)
    vae = pytorch_examples_vae().compile_math() if compile else pytorch_examples_vae()
    module = VAEModule(vae, optimizer=partial(torch.optim.Adam, lr=1e-3, fused=True))
    throughput = SkipWarmUpEpoch()
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=1,
        max_epochs=1 + epochs,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=50,
        use_distributed_sampler=False,
        callbacks=[throughput],
        precision=precision,
    )
    trainer.fit(module, datamodule=datamodule)
    return throughput.examples, throughput.seconds


def time_dataloader_loop(data_dir: Path, epochs: int, num_examples: int) -> tuple[int, float]:
    """pytorch/examples vae/main.py's loop (torchvision needs the uncompressed IDX files, so we gunzip a copy)."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for gz in (data_dir / "MNIST" / "raw").glob("*.gz"):
            with gzip.open(gz) as source, open(raw / gz.stem, "wb") as target:
                shutil.copyfileobj(source, target)
        dataset = datasets.MNIST(tmp, train=True, download=False, transform=transforms.ToTensor())
        subset = torch.utils.data.Subset(dataset, range(num_examples))
        loader = torch.utils.data.DataLoader(subset, batch_size=BATCH, shuffle=True)
        torch.manual_seed(0)
        vae = pytorch_examples_vae()
        optimizer = torch.optim.Adam(vae.parameters(), lr=1e-3)
        for epoch in range(1 + epochs):
            if epoch == 1:
                start = time.perf_counter()
            for x, _ in loader:
                optimizer.zero_grad()
                loss = negative_elbo(vae, x)
                loss.backward()
                optimizer.step()
        return epochs * num_examples, time.perf_counter() - start


def time_raw_loop(x_train: torch.Tensor, epochs: int, compile: bool, fused: bool = False) -> tuple[int, float]:
    """The raw loop on x_train's device (a GPU: the whole training set held there, as vae_lab holds it)."""
    torch.manual_seed(0)
    vae = pytorch_examples_vae().to(x_train.device)
    optimizer = torch.optim.Adam(vae.parameters(), lr=1e-3, fused=fused)
    loss_function = torch.compile(negative_elbo) if compile else negative_elbo
    for epoch in range(1 + epochs):
        if epoch == 1:
            start = time.perf_counter()
        for index in torch.randperm(len(x_train), device=x_train.device).split(BATCH):
            optimizer.zero_grad()
            loss = loss_function(vae, x_train[index])
            loss.backward()
            optimizer.step()
    if x_train.is_cuda:
        torch.cuda.synchronize()
    return epochs * len(x_train), time.perf_counter() - start


def flop_limit(vae: VAE, seconds: float = 3.0) -> tuple[float, float]:
    """(FLOPs of one training example, samples/s at the rate this machine runs exactly those matrix products).

    Per linear layer (in -> out) and batch B: forward (B, in) @ (in, out), backward (B, out) @ (out, in) for
    the input's gradient and (in, B) @ (B, out) for the weight's: 3 x 2 x in x out FLOPs per example.
    """
    layers = [m for m in vae.modules() if isinstance(m, torch.nn.Linear)]
    products = []
    for layer in layers:
        n_in, n_out = layer.in_features, layer.out_features
        products += [((BATCH, n_in), (n_in, n_out)), ((BATCH, n_out), (n_out, n_in)), ((n_in, BATCH), (BATCH, n_out))]
    operands = [(torch.randn(a), torch.randn(b)) for a, b in products]
    flops_per_round = sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b in operands)
    rounds, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for a, b in operands:
            a @ b
        rounds += 1
    rate = rounds * flops_per_round / (time.perf_counter() - started)
    flops_per_example = flops_per_round / BATCH
    return flops_per_example, rate / flops_per_example


def training_images(data_dir: Path) -> torch.Tensor:
    """The training images of the vae_lab loops, as floats in [0, 1]: (TRAINING_EXAMPLES, 1, 28, 28)."""
    datamodule = MNISTDataModule(data_dir=str(data_dir), val_size=5000, download=False)
    datamodule.setup()
    return datamodule.split("train").x


# name: (flushes denormals, runs (data_dir, epochs) -> (examples, seconds))
LOOPS: dict[str, tuple[bool, Callable[[Path, int], tuple[int, float]]]] = {
    "vae_lab eager": (True, lambda data_dir, epochs: time_vae_lab(data_dir, epochs, compile=False)),
    "vae_lab compiled": (True, lambda data_dir, epochs: time_vae_lab(data_dir, epochs, compile=True)),
    "vae_lab compiled, bf16-mixed": (True, lambda data_dir, epochs: time_vae_lab(data_dir, epochs, compile=True, precision="bf16-mixed")),
    "raw eager": (False, lambda data_dir, epochs: time_raw_loop(training_images(data_dir), epochs, compile=False)),
    "raw compiled": (False, lambda data_dir, epochs: time_raw_loop(training_images(data_dir), epochs, compile=True)),
    "raw compiled, fused Adam": (False, lambda data_dir, epochs: time_raw_loop(training_images(data_dir), epochs, compile=True, fused=True)),
    "raw eager, denormals flushed": (True, lambda data_dir, epochs: time_raw_loop(training_images(data_dir), epochs, compile=False)),
    "dataloader (torchvision + ToTensor + DataLoader)": (False, lambda data_dir, epochs: time_dataloader_loop(data_dir, epochs, TRAINING_EXAMPLES)),
}


def run_loop(name: str, args: argparse.Namespace) -> float:
    """samples/s of one loop, timed in a fresh process (this script with --loop)."""
    command = [sys.executable, __file__, "--data-dir", str(args.data_dir), "--epochs", str(args.epochs), "--threads", str(args.threads), "--loop", name]
    finished = subprocess.run(command, capture_output=True, text=True)
    if finished.returncode != 0:
        sys.exit(f"loop {name!r} failed:\n{finished.stderr[-3000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])["samples_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--loop", choices=list(LOOPS), help="time this loop only, in this process (prints JSON)")
    args = parser.parse_args()
    if args.loop is not None:
        flushes_denormals, timed = LOOPS[args.loop]
        if flushes_denormals:
            flush_denormals_to_zero()  # before the first tensor operation, as the vae-lab command does
        torch.set_num_threads(args.threads)
        examples, seconds = timed(args.data_dir, args.epochs)
        print(json.dumps({"samples_per_s": examples / seconds}))
        return

    rates = {}
    for name in LOOPS:
        rates[name] = run_loop(name, args)
        print(f"{name}: {rates[name]:,.0f} samples/s", flush=True)
    torch.set_num_threads(args.threads)
    flops, limit = flop_limit(pytorch_examples_vae())
    rates["FLOP limit (matmul probe)"] = limit

    print(
        f"\nTraining throughput, batch {BATCH}, {args.epochs} epochs of {TRAINING_EXAMPLES:,} examples, {args.threads} threads; "
        f"{flops / 1e6:.2f} MFLOP per example, matmuls at {limit * flops / 1e9:.0f} GFLOP/s"
    )
    print("| loop | samples/s | vae_lab eager / loop | vae_lab compiled / loop |\n|---|---:|---:|---:|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:,.0f} | {rates['vae_lab eager'] / rate:.2f}x | {rates['vae_lab compiled'] / rate:.2f}x |")


if __name__ == "__main__":
    main()
