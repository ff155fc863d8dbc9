"""Building blocks shared by encoders and decoders."""

from collections.abc import Sequence
from typing import Literal

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


Activation = Literal["relu", "tanh", "elu", "gelu", "silu", "leaky_relu", "softplus"]  # the names of ACTIVATIONS


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name (``relu``, ``tanh``, ...)."""
    return ACTIVATIONS[name]()


def mlp(in_features: int, hidden_sizes: Sequence[int], activation: str, dropout: float = 0.0) -> tuple[nn.Sequential, int]:
    """Linear + activation (+ dropout, when `dropout` > 0) layers; returns the network and its output width.

    Dropout acts in training only (``model.train()``); evaluation and sampling run with ``model.eval()``.
    """
    layers: list[nn.Module] = []
    width = in_features
    for size in hidden_sizes:
        layers += [nn.Linear(width, size), make_activation(activation)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = size
    return nn.Sequential(*layers), width


def with_condition(features: torch.Tensor, condition: torch.Tensor | None, condition_dim: int, who: str) -> torch.Tensor:
    """features (batch, f) followed by the condition (batch, condition_dim): (batch, f + condition_dim).

    A network built without conditions (condition_dim 0) takes none; one built with them needs one.
    """
    if condition_dim == 0:
        if condition is not None:
            raise ValueError(f"{who} was built without conditions, but got a condition of shape {tuple(condition.shape)}")
        return features
    if condition is None or condition.shape[-1] != condition_dim:
        got = "none" if condition is None else f"shape {tuple(condition.shape)}"
        raise ValueError(f"{who} is conditional: it needs a condition of shape (batch, {condition_dim}), got {got}")
    return torch.cat([features, condition.to(features.dtype)], dim=-1)


def bounded_log_var(raw: torch.Tensor) -> torch.Tensor:
    """Map an unconstrained network output to a log-variance in (-LOG_VAR_BOUND, LOG_VAR_BOUND)."""
    return LOG_VAR_BOUND * torch.tanh(raw / LOG_VAR_BOUND)


def conv_stage_sides(shape: Sequence[int], min_stages: int, max_final_side: int, who: str) -> tuple[int, list[tuple[int, int]]]:
    """(channels, [(height, width) before the first stage, after each stage]) of images `shape` =
    (channels, height, width) under stride-2 stages (kernel 4, padding 1: each side is halved, rounding
    down): at least `min_stages`, and more while a side is above `max_final_side`."""
    if len(shape) != 3:
        raise ConfigError(f"{who} needs image data (channels, height, width) but the data shape is {tuple(shape)}; use encoder=mlp decoder=mlp for vectors")
    channels, height, width = shape
    sides = [(height, width)]
    while len(sides) <= min_stages or max(sides[-1]) > max_final_side:
        height, width = height // 2, width // 2
        if min(height, width) < 1:
            raise ConfigError(f"{who}: images of {shape[1]}x{shape[2]} are too small for {len(sides)} stride-2 stages; use fewer channels entries")
        sides.append((height, width))
    return channels, sides


class ResidualBlock(nn.Module):
    """x + conv(act(conv(act(x)))), two 3x3 convolutions keeping the shape: (batch, channels, h, w) -> same."""

    def __init__(self, channels: int, activation: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            make_activation(activation), nn.Conv2d(channels, channels, 3, padding=1),
            make_activation(activation), nn.Conv2d(channels, channels, 3, padding=1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)
