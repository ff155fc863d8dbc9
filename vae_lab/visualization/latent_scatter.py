"""The latent space as a picture: posterior means E_q[z|x] of many inputs, coloured by label.

A 2-D latent is shown as it is (the seed's figure); a higher-dimensional one through its first two
principal components (PCA of the means).
"""

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from vae_lab.errors import ConfigError
from vae_lab.models.vae import VAE
from vae_lab.visualization.images import figure_to_image

PROJECTIONS = ("auto", "none", "pca")
PANEL_INCHES, DPI = 5, 100


def check_projection(projection: str, latent_dim: int, key: str) -> str:
    """The projection to use, `none` or `pca`; a ConfigError (naming `key`) if it cannot show this latent."""
    if projection not in PROJECTIONS:
        raise ConfigError(f"{key} must be one of: {', '.join(PROJECTIONS)}; got '{projection}'")
    if latent_dim < 2:
        raise ConfigError(
            f"a 2-D latent-space plot needs model.latent_dim >= 2 (2 to show it directly, more for {key}=pca), but the model's latent_dim is {latent_dim}"
        )
    if projection == "none" and latent_dim != 2:
        raise ConfigError(f"{key}=none plots the latent space directly and needs model.latent_dim=2, got {latent_dim}; use {key}=pca")
    if projection == "auto":
        return "none" if latent_dim == 2 else "pca"
    return projection


@torch.no_grad()
def posterior_means(vae: VAE, x: torch.Tensor, batch_size: int = 1000, condition: torch.Tensor | None = None) -> torch.Tensor:
    """E_q[z|x, c]: x (n, *data_shape) (condition (n, width) or None) on the VAE's device -> (n, latent_dim) on the CPU."""
    conditions = [None] * len(x.split(batch_size)) if condition is None else condition.split(batch_size)
    return torch.cat([vae.posterior_parameters(chunk, c)[0].cpu() for chunk, c in zip(x.split(batch_size), conditions)])


def project(means: torch.Tensor, projection: str) -> tuple[torch.Tensor, tuple[str, str]]:
    """(n, latent_dim) means -> (n, 2) points and the axis labels; `projection` is `none` or `pca`."""
    if projection == "none":
        return means[:, :2], ("z1", "z2")
    centred = means.double() - means.double().mean(dim=0)
    _, singular_values, directions = torch.linalg.svd(centred, full_matrices=False)
    explained = singular_values**2 / (singular_values**2).sum()
    points = (centred @ directions[:2].T).float()
    return points, (f"PC1 ({explained[0]:.0%} of variance)", f"PC2 ({explained[1]:.0%})")


def draw_scatter(ax: Axes, points: torch.Tensor, labels: torch.Tensor, title: str, axis_labels: tuple[str, str]) -> None:
    """Points (n, 2) coloured by label (n,) (-1: unlabelled, drawn grey); one legend entry per class up to 10."""
    classes = sorted(set(labels.tolist()) - {-1})
    size = max(1.0, min(12.0, 4000 / max(len(points), 1)))
    if not classes:
        ax.scatter(points[:, 0], points[:, 1], s=size, color="0.4", alpha=0.6, linewidths=0)
    elif len(classes) <= 10:
        for number, label in enumerate(classes):
            chosen = labels == label
            ax.scatter(points[chosen, 0], points[chosen, 1], s=size, color=f"C{number}", alpha=0.6, linewidths=0, label=str(label))
        ax.legend(markerscale=max(1.0, 16 / size) ** 0.5, fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0), title="label")
    else:
        drawn = ax.scatter(points[:, 0], points[:, 1], s=size, c=labels, cmap="viridis", alpha=0.6, linewidths=0)
        ax.figure.colorbar(drawn, ax=ax, label="label")
    ax.set_title(title, fontsize="medium")
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])


def latent_panels(panels: list[tuple[torch.Tensor, torch.Tensor, str, tuple[str, str]]]) -> torch.Tensor:
    """Side by side scatter panels, each (points, labels, title, axis labels): (3, 500, 500 * panels) uint8."""
    figure = Figure(figsize=(PANEL_INCHES * len(panels), PANEL_INCHES), dpi=DPI, layout="constrained")
    for ax, (points, labels, title, axis_labels) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels):
        draw_scatter(ax, points, labels, title, axis_labels)
    return figure_to_image(figure)
