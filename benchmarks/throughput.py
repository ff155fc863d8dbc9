"""Training throughput: vae_lab's Lightning loop vs. two plain PyTorch loops, same model, batch and machine.

    python benchmarks/throughput.py --data-dir ../shared/data [--epochs 2] [--threads N]

Loops (all train the pytorch/examples VAE, 784-400-20 ReLU MLP, Bernoulli likelihood, Adam 1e-3, batch 128):
- vae_lab:     `Trainer.fit` on our MNIST data module (in-memory tensors, whole-batch gathering);
- dataloader:  the pytorch/examples style: torchvision.datasets.MNIST + ToTensor + DataLoader (per-item PIL);
- raw eager:   a hand-written loop over shuffled in-memory tensors: the floor of what any platform adds.
Each loop runs one warm-up epoch, then `--epochs` timed epochs over the same 55,000 training images;
validation is off. The timed part is steady-state training (for vae_lab: the TrainingThroughput callback,
the figure results.json reports). Prints samples/s and ratios.
"""

import argparse
import gzip
import shutil
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from torchvision import datasets, transforms

from vae_lab.data.images import MNISTDataModule
from vae_lab.models.decoders import MLPDecoder
from vae_lab.models.encoders import MLPEncoder
from vae_lab.models.likelihoods import BernoulliLikelihood
from vae_lab.models.priors import StandardNormalPrior
from vae_lab.models.vae import VAE
from vae_lab.training.module import VAEModule
from vae_lab.training.throughput import TrainingThroughput

BATCH = 128
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


def time_vae_lab(data_dir: Path, epochs: int) -> tuple[int, float]:
    torch.manual_seed(0)
    datamodule = MNISTDataModule(data_dir=str(data_dir), val_size=5000, download=False, batch_size=BATCH)
    module = VAEModule(pytorch_examples_vae(), optimizer=lambda params: torch.optim.Adam(params, lr=1e-3))
    throughput = SkipWarmUpEpoch()
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=1 + epochs, limit_val_batches=0, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=50, use_distributed_sampler=False,
        callbacks=[throughput],
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


def time_raw_loop(x_train: torch.Tensor, epochs: int) -> tuple[int, float]:
    torch.manual_seed(0)
    vae = pytorch_examples_vae()
    optimizer = torch.optim.Adam(vae.parameters(), lr=1e-3)
    for epoch in range(1 + epochs):
        if epoch == 1:
            start = time.perf_counter()
        for index in torch.randperm(len(x_train)).split(BATCH):
            optimizer.zero_grad()
            loss = negative_elbo(vae, x_train[index])
            loss.backward()
            optimizer.step()
    return epochs * len(x_train), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    examples, seconds = time_vae_lab(args.data_dir, args.epochs)
    rates = {"vae_lab (Lightning, in-memory)": examples / seconds}
    datamodule = MNISTDataModule(data_dir=str(args.data_dir), val_size=5000, download=False)
    datamodule.setup()
    train_x = datamodule.split("train").x
    examples, seconds = time_dataloader_loop(args.data_dir, args.epochs, len(train_x))
    rates["dataloader (torchvision + ToTensor + DataLoader)"] = examples / seconds
    examples, seconds = time_raw_loop(train_x, args.epochs)
    rates["raw eager (in-memory tensors)"] = examples / seconds

    ours = rates["vae_lab (Lightning, in-memory)"]
    print(f"\nTraining throughput, batch {BATCH}, {args.epochs} epochs of {len(train_x)} examples, {args.threads} threads")
    print("| loop | samples/s | vae_lab / loop |\n|---|---:|---:|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:,.0f} | {ours / rate:.2f}x |")


if __name__ == "__main__":
    main()
