"""Pictures of the model while it trains: PNG files in the run directory, images in W&B.

``Pictures`` draws the pictures named in ``draw`` every ``every_n_epochs`` epochs and when training
ends, writes ``<dirpath>/<name>_epoch<NNN>.png`` and logs each to W&B (``pictures/<name>``); loggers
that cannot show images (CSV) are left alone. Pictures that do not fit the data are skipped: image
grids need image data (a 3-D ``data_shape``), histograms vector data. Drawn on rank 0 only, from the
first examples of the validation split and fixed prior draws (seeded; training's random numbers
are left untouched), so successive pictures compare. A conditional VAE reconstructs each example given
its own condition and decodes prior draws given conditions drawn from the training rows (seeded).
"""

import logging
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import WandbLogger

from vae_lab.config_schema import AtLeastOne, AtLeastTwo, NonNegativeInt, Positive
from vae_lab.data.in_memory import InMemoryDataModule, Split
from vae_lab.errors import ConfigError
from vae_lab.evaluation.latent_usage import latent_usage
from vae_lab.models.vae import VAE
from vae_lab.visualization.feature_histograms import feature_histograms
from vae_lab.visualization.image_grids import interpolation_grid, prior_sample_grid, reconstruction_grid, traversal_grid
from vae_lab.visualization.images import write_png
from vae_lab.visualization.latent_scatter import check_projection, latent_panels, posterior_means, project

log = logging.getLogger(__name__)

IMAGE_PICTURES = ("reconstructions", "samples", "traversal", "interpolation")
VECTOR_PICTURES = ("histograms",)
PICTURES = (*IMAGE_PICTURES, "latent_space", *VECTOR_PICTURES)
MAX_TRAVERSED_DIMS = 10


class Pictures(Callback):
    """Draws pictures of the model during training.

    draw: names from ``reconstructions``, ``samples``, ``traversal``, ``interpolation`` (image data),
        ``latent_space`` (any data), ``histograms`` (vector data).
    every_n_epochs: draw after every n-th epoch (0: never); at_end: draw when training ends.
    num_examples: inputs reconstructed and prior samples drawn; steps: columns of traversals and
        interpolations; span: traversals run from -span to span; projection: ``auto`` (the latent
        itself if 2-D, else PCA), ``none`` (needs a 2-D latent) or ``pca``; max_points: points of the
        latent scatter and samples of the histograms; seed: of the prior draws.
    """

    def __init__(
        self,
        dirpath: str,
        draw: tuple[str, ...] = PICTURES,
        every_n_epochs: NonNegativeInt = 5,
        at_end: bool = True,
        num_examples: AtLeastTwo = 16,
        steps: AtLeastTwo = 9,
        span: Positive = 3.0,
        projection: str = "auto",
        max_points: AtLeastOne = 5000,
        seed: int = 0,
    ) -> None:
        unknown = [name for name in draw if name not in PICTURES]
        if unknown:
            raise ConfigError(f"callbacks.pictures.draw: unknown picture {', '.join(unknown)}; choose from: {', '.join(PICTURES)}")
        self.dirpath = Path(dirpath)
        self.draw = list(draw)
        self.every_n_epochs, self.at_end, self.num_examples, self.steps = every_n_epochs, at_end, num_examples, steps
        self.span, self.projection, self.max_points = span, projection, max_points
        self.seed = seed
        self.drawn_names: list[str] = []
        self.last_drawn_epoch = -1

    def setup(self, trainer: L.Trainer, module: L.LightningModule, stage: str) -> None:
        """Decide, before training, which pictures fit the data; a picture that cannot work is a ConfigError."""
        if stage != "fit":
            return
        datamodule, latent_dim = trainer.datamodule, module.vae.latent_dim
        is_image = len(datamodule.data_shape) == 3
        fitting: tuple[str, ...] = IMAGE_PICTURES if is_image else VECTOR_PICTURES
        if "latent_space" in self.draw:
            if self.projection != "auto" or latent_dim >= 2:
                self.projection = check_projection(self.projection, latent_dim, "callbacks.pictures.projection")  # type: ignore[arg-type]
                fitting += ("latent_space",)
        self.drawn_names = [name for name in self.draw if name in fitting]
        skipped = [name for name in self.draw if name not in fitting]
        if skipped:
            kind = f"{'image' if is_image else 'vector'} data of shape {datamodule.data_shape}, latent_dim {latent_dim}"
            log.info("pictures: skipping %s (they do not fit %s)", ", ".join(skipped), kind)

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if self.every_n_epochs and epoch % self.every_n_epochs == 0:
            self.publish(trainer, module, epoch)

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.at_end and self.last_drawn_epoch != trainer.current_epoch:
            self.publish(trainer, module, trainer.current_epoch)

    def publish(self, trainer: L.Trainer, module: L.LightningModule, epoch: int) -> list[Path]:
        """Draw every fitting picture of the model after `epoch` epochs; write and log them (rank 0)."""
        self.last_drawn_epoch = epoch
        if not trainer.is_global_zero:
            return []
        was_training = module.training
        module.eval()
        paths = []
        cuda_devices = [module.device] if module.device.type == "cuda" else []
        with torch.no_grad(), torch.random.fork_rng(devices=cuda_devices):  # training's random numbers stay untouched
            torch.manual_seed(self.seed)
            for name in self.drawn_names:
                image = getattr(self, f"draw_{name}")(module.vae, trainer.datamodule)
                path = write_png(image, self.dirpath / f"{name}_epoch{epoch:03d}.png")
                paths.append(path)
                for logger in trainer.loggers:
                    if isinstance(logger, WandbLogger):
                        logger.log_image(key=f"pictures/{name}", images=[str(path)], step=trainer.global_step, caption=[f"epoch {epoch}"])
        module.train(was_training)
        return paths

    def examples(self, vae: VAE, datamodule: InMemoryDataModule, count: int) -> Split:
        """The first `count` validation rows, on the model's device."""
        return datamodule.split("val").rows(slice(0, count)).to(next(vae.parameters()).device)

    def prior_draws(self, vae: VAE, datamodule: InMemoryDataModule, count: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`count` draws z ~ p(z|c), the same every time for the same weights (seeded), and the conditions c they
        were drawn with (None for an unconditional VAE; else drawn from the training rows), on the model's device."""
        device = next(vae.parameters()).device
        condition = datamodule.draw_conditions(count, self.seed)
        condition = None if condition is None else condition.to(device)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(self.seed)
            return vae.prior_latents(count, device, condition), condition

    def draw_reconstructions(self, vae: VAE, datamodule: InMemoryDataModule) -> torch.Tensor:
        rows = self.examples(vae, datamodule, self.num_examples)
        return reconstruction_grid(vae, rows.x, per_row=8, condition=rows.condition)

    def draw_samples(self, vae: VAE, datamodule: InMemoryDataModule) -> torch.Tensor:
        z, condition = self.prior_draws(vae, datamodule, self.num_examples)
        return prior_sample_grid(vae, z, per_row=8, condition=condition)

    def draw_traversal(self, vae: VAE, datamodule: InMemoryDataModule) -> torch.Tensor:
        """Rows: the latent dimensions with the most KL first (at most 10), so used ones lead."""
        rows = self.examples(vae, datamodule, self.max_points)
        kl_per_dim = torch.tensor(latent_usage(vae, ((rows.x, rows.condition),)).kl_per_dim)
        dims = kl_per_dim.argsort(descending=True)[:MAX_TRAVERSED_DIMS].tolist()
        first = rows.rows(slice(0, 1))
        return traversal_grid(vae, first.x, dims, self.span, self.steps, first.condition)

    def draw_interpolation(self, vae: VAE, datamodule: InMemoryDataModule) -> torch.Tensor:
        """Rows: pairs of consecutive validation inputs (0 to 1, 2 to 3, ...)."""
        rows = self.examples(vae, datamodule, self.num_examples // 2 * 2)
        start, end = rows.rows(slice(0, None, 2)), rows.rows(slice(1, None, 2))
        return interpolation_grid(vae, start.x, end.x, self.steps, start.condition, end.condition)

    def draw_latent_space(self, vae: VAE, datamodule: InMemoryDataModule) -> torch.Tensor:
        rows = self.examples(vae, datamodule, self.max_points)
        means = posterior_means(vae, rows.x, condition=rows.condition)
        points, axis_labels = project(means, self.projection)
        return latent_panels([(points, rows.y.cpu(), f"posterior means, {len(points)} validation inputs", axis_labels)])

    def draw_histograms(self, vae: VAE, datamodule: InMemoryDataModule) -> torch.Tensor:
        val = datamodule.split("val")
        count = min(len(val), self.max_points)
        params = vae.generative(*self.prior_draws(vae, datamodule, count))
        samples = vae.likelihood.sample(params).cpu()
        mask = None if val.mask is None else val.mask[:count]
        return feature_histograms(samples.flatten(1), val.rows(slice(0, count)).x.flatten(1), datamodule.feature_names(), mask)
