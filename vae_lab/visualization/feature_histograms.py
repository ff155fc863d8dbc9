"""Vector data (n, features): a histogram per feature of model samples over real data."""

import math

import torch
from matplotlib.figure import Figure

from vae_lab.visualization.images import figure_to_image

COLUMNS, CELL_WIDTH, CELL_HEIGHT, DPI = 4, 3.0, 2.5, 100
MAX_FEATURES = 32


def feature_histograms(samples: torch.Tensor, data: torch.Tensor, names: list[str], data_mask: torch.Tensor | None = None, bins: int = 40) -> torch.Tensor:
    """Histograms (densities) of samples (n, features) against data (m, features), one cell per feature.

    data_mask: (m, features), False where a value is missing; missing values are left out.
    Shows the first 32 features at most. Returns (3, 250 * rows, 300 * min(4, features)) uint8.
    """
    shown = min(len(names), MAX_FEATURES)
    columns = min(COLUMNS, shown)
    rows = math.ceil(shown / columns)
    figure = Figure(figsize=(CELL_WIDTH * columns, CELL_HEIGHT * rows), dpi=DPI, layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).flatten()
    for feature, ax in enumerate(axes):
        if feature >= shown:
            ax.set_axis_off()
            continue
        real = data[:, feature] if data_mask is None else data[data_mask[:, feature], feature]
        drawn = samples[:, feature]
        low, high = min(real.min(), drawn.min()).item(), max(real.max(), drawn.max()).item()
        edges = torch.linspace(low, high if high > low else low + 1, bins + 1).numpy()
        ax.hist(real.numpy(), bins=edges, density=True, alpha=0.5, color="C0", label="data")
        ax.hist(drawn.numpy(), bins=edges, density=True, alpha=0.5, color="C1", label="samples")
        ax.set_title(names[feature], fontsize="small")
        ax.tick_params(labelsize="x-small")
    axes[0].legend(fontsize="x-small")
    if shown < len(names):
        figure.suptitle(f"the first {shown} of {len(names)} features", fontsize="small")
    return figure_to_image(figure)
