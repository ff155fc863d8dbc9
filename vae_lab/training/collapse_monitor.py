"""Watches a VAE for posterior collapse while it trains.

Posterior collapse: the KL falls to 0, q(z|x) equals the prior for every x, and the decoder ignores z.
A hierarchical VAE can lose its top layers alone: the monitor also watches each stochastic layer.
After every validation epoch the monitor measures latent usage (``vae_lab.evaluation.latent_usage``)
exactly, over the whole validation split, logs it, and warns when the latent space is collapsing.
"""

import logging
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import WandbLogger

from vae_lab.config_schema import AtLeastOne, NonNegative, NonNegativeInt
from vae_lab.evaluation.latent_usage import LatentUsage, usage_from_sums, usage_sums
from vae_lab.models.vae import VAE
from vae_lab.training.split_sums import split_sums

log = logging.getLogger(__name__)

SUMMARY_KEY = "collapse/warning"


class CollapseMonitor(Callback):
    """Logs ``val/active_units``, ``val/kl_dim/<d>`` (KL of latent dimension d, nats), and per stochastic layer
    ``val/kl_layer/<l>`` and ``val/active_units_layer/<l>`` (z_1 is layer 1) every validation epoch, and warns
    when fewer than ``min_active_units`` units have been active, or the total KL has
    stayed under ``kl_epsilon`` nats, for ``patience`` validation epochs in a row (one epoch of a
    healthy run that has not yet found its latent space is not a warning); in a hierarchy, also when one of
    its layers has had no active unit for ``patience`` epochs, naming the layer.

    A warning is a log line and the W&B summary field ``collapse/warning`` (the latest warning, a short
    text). A unit is active when Var_x(E_q[z_d | x]) > ``active_threshold`` (Burda et al. 2016).
    The numbers are of the whole validation split, summed over the DDP processes by ``split_sums``, so every
    process holds the same; only rank 0 writes the warning.
    """

    def __init__(
        self,
        min_active_units: NonNegativeInt = 1,
        kl_epsilon: NonNegative = 0.5,
        patience: AtLeastOne = 3,
        active_threshold: NonNegative = 0.01,
        log_kl_per_dim: bool = True,
    ) -> None:
        self.min_active_units, self.kl_epsilon, self.patience, self.active_threshold = min_active_units, kl_epsilon, patience, active_threshold
        self.log_kl_per_dim = log_kl_per_dim
        self.epochs_under_epsilon = 0
        self.epochs_too_few_active = 0
        self.epochs_layer_inactive: list[int] = []  # per stochastic layer: validation epochs in a row without an active unit
        self.warning: str | None = None  # the latest warning

    def state_dict(self) -> dict[str, Any]:
        return {
            "epochs_under_epsilon": self.epochs_under_epsilon,
            "epochs_too_few_active": self.epochs_too_few_active,
            "epochs_layer_inactive": self.epochs_layer_inactive,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.epochs_under_epsilon = state_dict["epochs_under_epsilon"]
        self.epochs_too_few_active = state_dict.get("epochs_too_few_active", 0)
        self.epochs_layer_inactive = list(state_dict.get("epochs_layer_inactive", []))

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        vae: VAE = module.vae  # type: ignore[assignment]  # nn.Module types its attributes as Tensor | Module
        sums = split_sums(
            trainer, trainer.datamodule.split("val"), trainer.datamodule.eval_batch_size, lambda _, rows: usage_sums(vae, rows.x, rows.condition), module.device
        )
        usage = usage_from_sums(sums, self.active_threshold, vae.layer_dims)
        layers = usage.layers()
        metrics = {"val/active_units": float(usage.active_units)}
        for number, layer in enumerate(layers, start=1):
            metrics |= {f"val/kl_layer/{number}": layer.kl, f"val/active_units_layer/{number}": float(layer.active_units)}
        if self.log_kl_per_dim:
            width = len(str(len(usage.kl_per_dim) - 1))
            metrics |= {f"val/kl_dim/{d:0{width}d}": kl for d, kl in enumerate(usage.kl_per_dim)}
        module.log_dict(metrics, on_step=False, on_epoch=True)

        self.epochs_under_epsilon = self.epochs_under_epsilon + 1 if usage.kl < self.kl_epsilon else 0
        self.epochs_too_few_active = self.epochs_too_few_active + 1 if usage.active_units < self.min_active_units else 0
        before = self.epochs_layer_inactive if len(self.epochs_layer_inactive) == len(layers) else [0] * len(layers)
        self.epochs_layer_inactive = [epochs + 1 if layer.active_units == 0 else 0 for epochs, layer in zip(before, layers)]
        warning = self.diagnose(usage, trainer.current_epoch + 1)
        if warning is not None and trainer.is_global_zero:
            self.warning = warning
            log.warning("%s", warning)
            for logger in trainer.loggers:
                if isinstance(logger, WandbLogger):
                    logger.experiment.summary[SUMMARY_KEY] = warning

    def diagnose(self, usage: LatentUsage, epoch: int) -> str | None:
        """A short warning if `usage` after `epoch` (1-based), with the counts of bad epochs, looks collapsed."""
        reasons = []
        if self.epochs_too_few_active >= self.patience:
            reasons.append(f"{usage.active_units} active units < {self.min_active_units} for {self.epochs_too_few_active} epochs")
        if self.epochs_under_epsilon >= self.patience:
            reasons.append(f"KL < {self.kl_epsilon:g} nats for {self.epochs_under_epsilon} epochs")
        collapsed = [number for number, epochs in enumerate(self.epochs_layer_inactive, start=1) if epochs >= self.patience]
        if len(self.epochs_layer_inactive) > 1 and collapsed:  # a one-layer model's only layer is the whole model, reported above
            layers = usage.layers()
            described = ", ".join(f"{number} (KL {layers[number - 1].kl:.3g} nats)" for number in collapsed)
            reasons.append(f"layer {described} of {len(layers)} has had no active unit for {self.patience}+ epochs")
        if not reasons:
            return None
        return (
            f"posterior collapse after epoch {epoch}: {' and '.join(reasons)} "
            f"(KL {usage.kl:.3g} nats, {usage.active_units}/{len(usage.kl_per_dim)} units active); "
            "try +remedy=free_bits (model.free_bits_per=layer in a hierarchy) or +remedy=warmup"
        )
