"""``val/log_likelihood`` during training: the importance-sampled log p(x) with a small K, every N epochs.

Off by default; ``vae-lab train 'callbacks=[default,val_log_likelihood]'`` turns it on
(conf/callbacks/val_log_likelihood.yaml: ``num_samples``, ``every_n_epochs``). It costs K decodes per
validation example, so keep K small (100) and N large; ``vae-lab eval`` reports the K = 1000 or 5000
numbers after training.

Exact under DDP: the sums over the validation split are ``split_sums``' (each process its own rows,
all-reduced), and each example's draws are its own (``example_noise``), so the value equals a
single-process evaluation.
"""

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from vae_lab.config_schema import AtLeastOne, Positive
from vae_lab.data.in_memory import Split
from vae_lab.evaluation.example_noise import example_noise
from vae_lab.evaluation.importance_sampling import importance_sampled_log_likelihood
from vae_lab.evaluation.memory_budget import decodes_per_pass, pass_shape
from vae_lab.models.vae import VAE
from vae_lab.training.split_sums import split_sums


class ValidationLogLikelihood(Callback):
    """Logs ``val/log_likelihood`` (nats per example) at the end of every `every_n_epochs`-th epoch's validation."""

    def __init__(self, num_samples: AtLeastOne = 100, every_n_epochs: AtLeastOne = 5, seed: int = 0, memory_budget_mb: Positive | None = None) -> None:
        self.num_samples = num_samples
        self.every_n_epochs = every_n_epochs
        self.seed = seed
        self.memory_budget_mb = memory_budget_mb

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        vae: VAE = module.vae  # type: ignore[assignment]  # nn.Module types its attributes as Tensor | Module
        examples_per_pass, chunk_size = pass_shape(self.num_samples, decodes_per_pass(vae, module.device, self.memory_budget_mb))

        def batch_sums(index: torch.Tensor, rows: Split) -> dict[str, torch.Tensor]:
            noise = example_noise(index, self.num_samples, vae.latent_dim, self.seed).to(module.device, rows.x.dtype)
            log_likelihood = importance_sampled_log_likelihood(vae, rows.x, self.num_samples, chunk_size, rows.mask, noise, rows.condition)
            return {"log_likelihood": log_likelihood.double().sum(), "count": torch.tensor(float(len(index)), device=module.device)}

        with torch.inference_mode():
            sums = split_sums(trainer, trainer.datamodule.split("val"), examples_per_pass, batch_sums, module.device)
        module.log("val/log_likelihood", (sums["log_likelihood"] / sums["count"]).float(), on_step=False, on_epoch=True, sync_dist=False)
