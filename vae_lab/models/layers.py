"""Building blocks shared by encoders and decoders."""

from collections.abc import Sequence

import torch
from torch import nn

from vae_lab.errors import ConfigError

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
    "softplus": nn.Softplus,
}

# Log-variances are softly bounded to (-LOG_VAR_BOUND, LOG_VAR_BOUND), i.e. std in (5.5e-4, 1.8e3):
# exp() never overflows, and unlike a hard clamp the bound has a gradient everywhere.
LOG_VAR_BOUND = 15.0


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name (``relu``, ``tanh``, ...)."""
    if name not in ACTIVATIONS:
        raise ConfigError(f"unknown activation '{name}'; choose one of: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def mlp(
    in_features: int, hidden_sizes: Sequence[int], activation: str, dropout: float = 0.0
) -> tuple[nn.Sequential, int]:
    """Linear + activation (+ dropout, when `dropout` > 0) layers; returns the network and its output width.

    Dropout acts in training only (``model.train()``); evaluation and sampling run with ``model.eval()``.
    """
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
    layers: list[nn.Module] = []
    width = in_features
    for size in hidden_sizes:
        layers += [nn.Linear(width, size), make_activation(activation)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = size
    return nn.Sequential(*layers), width


def bounded_log_var(raw: torch.Tensor) -> torch.Tensor:
    """Map an unconstrained network output to a log-variance in (-LOG_VAR_BOUND, LOG_VAR_BOUND)."""
    return LOG_VAR_BOUND * torch.tanh(raw / LOG_VAR_BOUND)


def image_shape(shape: Sequence[int], num_halvings: int, who: str) -> tuple[int, int, int]:
    """Check that `shape` is (channels, height, width) with sides divisible by 2**num_halvings."""
    if len(shape) != 3:
        raise ConfigError(
            f"{who} needs image data (channels, height, width) but the data shape is {tuple(shape)}; "
            "use encoder=mlp decoder=mlp for vectors"
        )
    channels, height, width = shape
    scale = 2**num_halvings
    if height % scale or width % scale:
        raise ConfigError(
            f"{who} with {num_halvings} stride-2 layers needs height and width divisible by {scale}, "
            f"got {height}x{width}"
        )
    return channels, height, width
