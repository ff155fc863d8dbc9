"""Per-column reconstruction losses of tabular models: ``val/recon_loss/<column>`` and ``test/recon_loss/<column>``.

At the end of each validation and test epoch, -log p(x_c|z) is averaged over every row of the split
for each column c, with the same fixed noise per example as the training plan's evaluation, so the
columns' losses add up to ``val/recon_loss`` (``test/recon_loss``). A missing cell contributes 0, or
only its missing state's -log p(missing|z) where the column generates missing cells: a column with many
missing cells looks cheaper, as it is in the ELBO. Exact over the whole split,
summed over the processes' rows by ``split_sums`` (rank 0 logs them). Does nothing for likelihoods without columns.
"""

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from vae_lab.data.in_memory import Split
from vae_lab.models.tabular_likelihood import TabularLikelihood
from vae_lab.models.vae import VAE
from vae_lab.training.split_sums import split_sums


class ColumnReconstructionLoss(Callback):
    """Logs ``<stage>/recon_loss/<column>`` for models with a ``TabularLikelihood``."""

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._log(trainer, module, "val")

    def on_test_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._log(trainer, module, "test")

    def _log(self, trainer: L.Trainer, module: L.LightningModule, stage: str) -> None:
        likelihood = module.vae.likelihood
        if not isinstance(likelihood, TabularLikelihood):
            return
        datamodule = trainer.datamodule
        losses = column_reconstruction_loss(trainer, module, datamodule.split(stage), datamodule.eval_batch_size)
        for name, loss in zip(likelihood.column_names, losses.tolist()):
            module.log(f"{stage}/recon_loss/{name}", loss, rank_zero_only=True)


@torch.no_grad()
def column_reconstruction_loss(trainer: L.Trainer, module: L.LightningModule, split: Split, batch_size: int) -> torch.Tensor:
    """Mean over the split's rows of -log p(x_c|z) per column, z ~ q(z|x) with the training plan's ``eval_noise``: (columns,) float64."""
    vae: VAE = module.vae  # type: ignore[assignment]  # nn.Module types its attributes as Tensor | Module

    def batch_sums(index: torch.Tensor, rows: Split) -> dict[str, torch.Tensor]:
        z = vae.latents(rows.x, module.eval_noise(index).to(device=module.device, dtype=rows.x.dtype), rows.condition).z
        per_column = vae.likelihood.column_log_prob(rows.x, vae.generative(z, rows.condition), rows.mask)
        return {"loss": -per_column.double().sum(dim=0)}

    return (split_sums(trainer, split, batch_size, batch_sums, module.device)["loss"] / len(split)).cpu()
