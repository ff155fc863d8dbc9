"""Encoders: the amortized inference network x -> (mean, log_var) of q(z|x) = N(mean, diag(exp(log_var))).

One network serves every x (amortized inference). Encoders take the data shape from the data module,
so the same config serves 28x28 images, other image sizes and tabular vectors.

Conditional VAEs (Sohn et al. 2015) infer q(z|x, c): built with ``condition_dim`` > 0, an encoder
takes ``forward(x, condition)`` with condition (batch, condition_dim) (one-hot codes, ``data.conditions``)
and joins it to x's features: at the input of an MLP, after the convolutions of a conv net.
"""

import math
from collections.abc import Sequence

import torch
from torch import nn

from vae_lab.config_schema import AtLeastOne, DropoutRate
from vae_lab.models.layers import Activation, ResidualBlock, bounded_log_var, conv_stage_sides, make_activation, mlp, with_condition


class MLPEncoder(nn.Module):
    """Fully connected encoder.

    x: (batch, *data_shape), condition: (batch, condition_dim) or None -> mean, log_var: (batch, latent_dim)
    """

    def __init__(
        self,
        data_shape: Sequence[int],
        latent_dim: int,
        hidden_sizes: Sequence[int] = (400,),
        activation: Activation = "relu",
        dropout: DropoutRate = 0.0,
        condition_dim: int = 0,
    ) -> None:
        super().__init__()
        self.condition_dim = condition_dim
        self.body, width = mlp(math.prod(data_shape) + condition_dim, hidden_sizes, activation, dropout)
        self.head = nn.Linear(width, 2 * latent_dim)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = with_condition(x.flatten(1), condition, self.condition_dim, "MLPEncoder")
        mean, raw_log_var = self.head(self.body(inputs)).chunk(2, dim=-1)
        return mean, bounded_log_var(raw_log_var)


class ConvEncoder(nn.Module):
    """Convolutional encoder for images of any size and channel count.

    Stride-2 stages (kernel 4) halve height and width, at least one per entry of ``channels`` and more
    (at the last width) until no side is above ``max_final_side`` (28 -> 14 -> 7; 64 -> 32 -> 16 -> 8);
    ``residual`` adds a residual block after each stage.
    x: (batch, channels, height, width), condition: (batch, condition_dim) or None -> mean, log_var: (batch, latent_dim)
    """

    def __init__(
        self,
        data_shape: Sequence[int],
        latent_dim: int,
        channels: Sequence[int] = (32, 64),
        hidden_size: AtLeastOne = 256,
        activation: Activation = "relu",
        max_final_side: AtLeastOne = 8,
        residual: bool = False,
        condition_dim: int = 0,
    ) -> None:
        super().__init__()
        self.condition_dim = condition_dim
        in_channels, sides = conv_stage_sides(data_shape, len(channels), max_final_side, "ConvEncoder")
        widths = [*channels, *[channels[-1]] * (len(sides) - 1 - len(channels))]
        layers: list[nn.Module] = []
        for out_channels in widths:
            layers += [nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1), make_activation(activation)]
            if residual:
                layers.append(ResidualBlock(out_channels, activation))
            in_channels = out_channels
        flat_size = in_channels * math.prod(sides[-1])
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(flat_size + condition_dim, hidden_size), make_activation(activation))
        self.head = nn.Linear(hidden_size, 2 * latent_dim)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        features = with_condition(self.body[:-2](x), condition, self.condition_dim, "ConvEncoder")  # the conv stages, flattened
        mean, raw_log_var = self.head(self.body[-2:](features)).chunk(2, dim=-1)
        return mean, bounded_log_var(raw_log_var)
