"""The training plan: trains a VAE on the negative ELBO and logs its named terms.

Training minimizes, per batch (Kingma et al. 2016 for free bits):

    loss = recon_weight * mean_x recon_loss + kl_weight * sum_d max(free_bits, mean_x KL_d)

with d each latent dimension, or each stochastic layer of a hierarchical VAE (``free_bits_per="layer"``).

kl_weight follows the KL schedule (``kl_schedules``: constant, warm-up, cyclical) up to ``beta``.
With ``objective="iwae"`` the loss is instead the negative importance-weighted bound with K samples
(Burda et al. 2016), -log (1/K) sum_k p(x|z_k) [p(z_k) / q(z_k|x)]^kl_weight, logged as ``iwae_bound``
next to the ELBO; validation/test ``loss`` is then -IWAE_K at the final beta.
Validation and test report the target objective per example, recon_weight * recon_loss + beta * kl
with the final beta and no free bits, so epochs compare however the weight moved and the best
checkpoint is never one picked mid-warm-up for its small KL weight.

Logged per stage (``train/``, ``val/``, ``test/``): ``loss``, ``elbo``, ``recon_loss``, ``kl`` (the
true KL), ``beta`` (train: the weight of the step; val/test: the weight their loss uses), in nats
per example; ``train/kl_layer/<l>``, the KL of each stochastic layer (z_1 is layer 1). Validation and test
values are exact means over the whole split (torchmetrics sums,
synchronized across DDP processes), computed with fixed noise per example.
"""

import os
from functools import partial
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig
from torch import nn
from torchmetrics import MeanMetric

from vae_lab.config_schema import model_settings
from vae_lab.data.in_memory import InMemoryDataModule
from vae_lab.errors import CheckpointError, ConfigError, TrainingDiverged
from vae_lab.evaluation.example_noise import example_noise
from vae_lab.models.vae import VAE, ELBOTerms
from vae_lab.training.assembly import build_datamodule, build_kl_schedule, build_optimizer, build_scheduler, build_vae
from vae_lab.training.checkpoint_format import datamodule_key, read_checkpoint, run_config
from vae_lab.training.kl_schedules import Constant, KLSchedule

TERMS = ("loss", "elbo", "recon_loss", "kl")
# The settings of ``model`` (config_schema.ModelSettings) that the training plan takes; the others size the VAE.
TRAINING_SETTINGS = ("recon_weight", "free_bits", "free_bits_per", "objective", "iwae_k")


class VAEModule(L.LightningModule):
    """Owns the training concerns only: loss weighting, logging and optimizers.

    optimizer: a partial taking the parameters (Hydra ``_partial_: true``).
    scheduler: None, or Lightning's lr-scheduler dict whose ``scheduler`` is a partial taking the optimizer.
    kl_schedule: (global step, epoch progress) -> KL weight, reaching ``kl_schedule.beta``; default constant 1.
    free_bits: nats of KL per latent dimension (or per layer, `free_bits_per` ``layer``) that cost nothing (0: off).
    objective: ``elbo`` or ``iwae`` (the importance-weighted bound with ``iwae_k`` samples).
    """

    def __init__(
        self,
        vae: VAE,
        optimizer: partial,
        scheduler: dict[str, Any] | None = None,
        kl_schedule: KLSchedule | None = None,
        recon_weight: float = 1.0,
        free_bits: float = 0.0,
        free_bits_per: str = "dimension",
        objective: str = "elbo",
        iwae_k: int = 5,
        eval_seed: int = 0,
    ) -> None:
        super().__init__()
        self.vae = vae
        self.optimizer_factory = optimizer
        self.scheduler_config = scheduler
        self.kl_schedule = kl_schedule or Constant(1.0)
        self.beta = self.kl_schedule.beta
        self.recon_weight, self.free_bits, self.free_bits_per = recon_weight, free_bits, free_bits_per  # ranges: config_schema.ModelSettings
        self.objective = check_objective(objective, iwae_k, self.recon_weight, self.free_bits)
        self.iwae_k = iwae_k
        self.eval_seed = eval_seed
        terms = TERMS + (("iwae_bound",) if objective == "iwae" else ())
        self.eval_metrics = nn.ModuleDict({stage: nn.ModuleDict({term: MeanMetric() for term in terms}) for stage in ("val", "test")})

    @classmethod
    def from_config(cls, cfg: DictConfig, data_shape: tuple[int, ...], likelihood_kwargs: dict[str, Any] | None = None, condition_dim: int = 0,
                    train_rows: int | None = None) -> "VAEModule":  # fmt: skip
        """The training plan of the run config `cfg` around a freshly initialised VAE (arguments as ``assembly.build_vae``);
        the ``model`` node's training settings are read through their one declaration, ``config_schema.ModelSettings``."""
        settings = model_settings(cfg.model)
        return cls(
            build_vae(cfg, data_shape, likelihood_kwargs, condition_dim, train_rows),
            optimizer=build_optimizer(cfg.optimizer),
            scheduler=build_scheduler(cfg.scheduler, cfg.optimizer) if cfg.get("scheduler") else None,
            kl_schedule=build_kl_schedule(cfg),
            **{name: getattr(settings, name) for name in TRAINING_SETTINGS},
            eval_seed=cfg.seed,
        )

    @classmethod
    def for_data(cls, cfg: DictConfig, datamodule: InMemoryDataModule) -> "VAEModule":
        """``from_config`` for the data of `datamodule`: its shape, what it tells the likelihood, its condition width
        and its count of training rows."""
        return cls.from_config(cfg, datamodule.data_shape, datamodule.likelihood_kwargs(), datamodule.condition_dim, len(datamodule.split("train")))

    @classmethod
    def rebuilt(cls, checkpoint: dict[str, Any], cfg: DictConfig, path: Any) -> tuple[InMemoryDataModule, "VAEModule"]:
        """The data module and training plan of `checkpoint` (read from `path` by ``read_checkpoint``), built from `cfg`
        (its run config, where the data may have moved), with its fitted data state and weights, in eval mode."""
        datamodule = build_datamodule(cfg, state=checkpoint.get(datamodule_key(cfg)))
        module = cls.for_data(cfg, datamodule)
        try:
            module.load_state_dict(checkpoint["state_dict"])
        except RuntimeError as error:
            raise CheckpointError(f"the weights in {path} do not fit the model its config describes: {str(error).splitlines()[0]}") from None
        module.eval()
        return datamodule, module

    @classmethod
    def load_from_checkpoint(  # type: ignore[override]
        cls, checkpoint_path: Any, map_location: Any = None, trusted_modules: tuple[str, ...] = (), **kwargs: Any
    ) -> "VAEModule":
        """The training plan of a vae_lab checkpoint, weights loaded, in eval mode. Unlike Lightning's (which
        calls the constructor with saved hyperparameters), it rebuilds the VAE from the run config stored in
        the checkpoint, running no code of the file (``read_checkpoint``); `kwargs` are not accepted."""
        if kwargs:
            raise TypeError(f"VAEModule.load_from_checkpoint takes no overrides ({', '.join(kwargs)}): the checkpoint's config rebuilds the model")
        checkpoint = read_checkpoint(checkpoint_path, trusted_modules)
        module = cls.rebuilt(checkpoint, run_config(checkpoint), checkpoint_path)[1]
        return module.to(map_location) if map_location is not None else module

    def eval_noise(self, index: torch.Tensor) -> torch.Tensor:
        """Validation's and test's draw for each example (``example_noise``): index (batch,) -> (batch, latent_dim) on the CPU."""
        return example_noise(index.cpu(), 1, self.vae.latent_dim, self.eval_seed, "validation")[0]

    def eval_iwae_noise(self, index: torch.Tensor) -> torch.Tensor:
        """Their iwae_k draws for the IWAE bound: index (batch,) -> (iwae_k, batch, latent_dim) on the CPU."""
        return example_noise(index.cpu(), self.iwae_k, self.vae.latent_dim, self.eval_seed, "validation_iwae")

    def loss(self, terms: ELBOTerms) -> torch.Tensor:
        """The target objective per example, (batch,): recon_weight * recon_loss + beta * kl (final beta)."""
        return self.recon_weight * terms.recon_loss + self.beta * terms.kl

    def training_loss(self, terms: ELBOTerms, kl_weight: float) -> torch.Tensor:
        """The minimized objective on a batch (a scalar); see the module docstring.

        Free bits clamp each dimension's (or layer's) batch-mean KL at ``free_bits``: below it the KL term has
        no gradient, above it the gradient is unchanged. They need the per-dimension KL to N(0, I).
        With free_bits = 0 this is the batch mean of recon_weight * recon_loss + kl_weight * kl.
        """
        if self.free_bits > 0:
            groups = terms.kl_per_dim if self.free_bits_per == "dimension" else terms.kl_per_layer()
            kl = groups.mean(dim=0).clamp_min(self.free_bits).sum()
        else:
            kl = terms.kl.mean()
        return self.recon_weight * terms.recon_loss.mean() + kl_weight * kl

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, mask, condition = batch["x"], batch.get("mask"), batch.get("condition")
        epoch = self.current_epoch + batch_idx / self.trainer.num_training_batches
        kl_weight = self.kl_schedule(self.global_step, epoch)
        if self.objective == "iwae":
            terms = None
            loss = -self.vae.iwae_bound(x, self.iwae_k, mask, kl_weight=kl_weight, condition=condition).mean()
        else:
            terms = self.vae.elbo_terms(x, mask, condition=condition)
            loss = self.training_loss(terms, kl_weight)
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"the training loss is {loss.item()} at global step {self.global_step} (epoch {self.current_epoch}, batch {batch_idx})")
        if self._logs_this_step():
            if terms is None:  # the IWAE step has no ELBO terms: one extra pass on the logged steps only
                with torch.no_grad():
                    terms = self.vae.elbo_terms(x, mask, condition=condition)
            summaries = {"loss": loss, "elbo": terms.elbo.mean(), "recon_loss": terms.recon_loss.mean(), "kl": terms.kl.mean()}
            summaries |= {f"kl_layer/{number}": kl for number, kl in enumerate(terms.kl_per_layer().mean(dim=0), start=1)}
            self.log_dict({f"train/{k}": v for k, v in summaries.items()} | {"train/beta": kl_weight}, on_step=True, on_epoch=False)
        return loss

    def _logs_this_step(self) -> bool:
        """True on the steps whose metrics the Trainer writes (every ``log_every_n_steps``).

        ``self.log`` costs far more than this model's step on a CPU, so train metrics are only
        computed and logged on the steps that are written anyway.
        """
        every = self.trainer.log_every_n_steps
        return every > 0 and (self.global_step + 1) % every == 0

    def on_fit_start(self) -> None:
        """On a CPU, stop torch from opening NVML on every optimizer step.

        ``import lightning`` sets PYTORCH_NVML_BASED_CUDA_CHECK=1 so that Lightning's own CUDA checks
        never initialize CUDA before a fork; with it set, every ``torch.cuda.is_available()`` loads the
        NVML library again, and Adam asks on every step: 0.4-0.7 ms a step, about 5% of the
        pytorch_examples step on a 2-core CPU (cProfile of benchmarks/throughput.py). A fit on the CPU
        never initializes CUDA, so the plain check is safe there.
        """
        if self.device.type == "cpu":
            os.environ.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)

    def on_train_epoch_start(self) -> None:
        """``train/lr``, the learning rate the epoch trains with, whenever a scheduler changes it."""
        if self.scheduler_config is not None:
            self.log("train/lr", self.optimizers().optimizer.param_groups[0]["lr"], on_step=False, on_epoch=True)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def _evaluate(self, batch: dict[str, torch.Tensor], stage: str) -> None:
        condition = batch.get("condition")
        noise = self.eval_noise(batch["index"]).to(device=self.device, dtype=batch["x"].dtype)
        terms = self.vae.elbo_terms(batch["x"], batch.get("mask"), noise, condition)
        per_example = {"loss": self.loss(terms), "elbo": terms.elbo, "recon_loss": terms.recon_loss, "kl": terms.kl}
        if self.objective == "iwae":
            iwae_noise = self.eval_iwae_noise(batch["index"]).to(device=self.device, dtype=batch["x"].dtype)
            bound = self.vae.iwae_bound(batch["x"], self.iwae_k, batch.get("mask"), iwae_noise, kl_weight=self.beta, condition=condition)
            per_example |= {"iwae_bound": bound, "loss": -bound}
        for term, values in per_example.items():
            metric = self.eval_metrics[stage][term]
            metric.update(values)
            self.log(f"{stage}/{term}", metric, on_step=False, on_epoch=True)
        self.log(f"{stage}/beta", self.beta, on_step=False, on_epoch=True, batch_size=len(batch["x"]))

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_config is None:
            return optimizer
        scheduler = dict(self.scheduler_config)
        scheduler["scheduler"] = scheduler["scheduler"](optimizer)
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


def check_objective(objective: str, iwae_k: int, recon_weight: float, free_bits: float) -> str:
    """The objective's name, or a ConfigError naming what does not fit (each value's range: config_schema.ModelSettings)."""
    if objective == "iwae":
        if recon_weight != 1 or free_bits != 0:
            raise ConfigError(
                "model.objective=iwae weighs reconstruction and prior inside one bound: it needs "
                f"model.recon_weight=1 and model.free_bits=0 (got {recon_weight} and {free_bits})"
            )
    return objective
