"""RGB image tensors (3, height, width) uint8: from matplotlib figures and image batches, to PNG files."""

from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image
from torchvision.utils import make_grid

from vae_lab.atomic_files import replace_atomically

PADDING = 2  # pixels between the cells of a grid


def figure_to_image(figure: Figure) -> torch.Tensor:
    """Render a matplotlib figure with Agg (no display needed): (3, dpi * height, dpi * width) uint8."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return torch.from_numpy(rgba[..., :3].copy()).permute(2, 0, 1)


def grid_to_image(images: torch.Tensor, per_row: int) -> torch.Tensor:
    """Images (n, channels, h, w) with values in [0, 1] as one grid, `per_row` cells a row, white padding.

    Returns (3, rows * (h + 2) + 2, per_row * (w + 2) + 2) uint8; grey images become RGB.
    """
    grid = make_grid(images.detach().float().cpu().clamp(0, 1), nrow=per_row, padding=PADDING, pad_value=1.0)
    return grid.mul(255).round().to(torch.uint8)


def write_png(image: torch.Tensor, path: Path) -> Path:
    """Write an image (3, h, w) uint8 as PNG, atomically (a reader never sees half a file)."""
    replace_atomically(path, lambda file: Image.fromarray(image.permute(1, 2, 0).numpy()).save(file, format="PNG"))
    return path
