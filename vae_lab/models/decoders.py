"""Decoders: z -> the *parameters* of p(x|z) (logits, means, ...), never data or probabilities.

The output shape is what the likelihood asks for (``likelihood.param_shape``); no output activation:
a Bernoulli likelihood reads logits, a Gaussian reads unconstrained means (no sigmoid for real data).

A conditional decoder p(x|z, c) (built with ``condition_dim`` > 0) takes ``forward(z, condition)`` and
reads the condition (batch, condition_dim) beside z in its first layer.
"""

import math
from collections.abc import Sequence

import torch
from torch import nn

from vae_lab.config_schema import AtLeastOne, DropoutRate
from vae_lab.models.layers import Activation, ResidualBlock, conv_stage_sides, make_activation, mlp, with_condition


class MLPDecoder(nn.Module):
    """Fully connected decoder.

    z: (batch, latent_dim), condition: (batch, condition_dim) or None -> params: (batch, *output_shape)
    """

    def __init__(
        self,
        latent_dim: int,
        output_shape: Sequence[int],
        hidden_sizes: Sequence[int] = (400,),
        activation: Activation = "relu",
        dropout: DropoutRate = 0.0,
        condition_dim: int = 0,
    ) -> None:
        super().__init__()
        self.output_shape = tuple(output_shape)
        self.condition_dim = condition_dim
        self.body, width = mlp(latent_dim + condition_dim, hidden_sizes, activation, dropout)
        self.head = nn.Linear(width, math.prod(output_shape))

    def forward(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        inputs = with_condition(z, condition, self.condition_dim, "MLPDecoder")
        return self.head(self.body(inputs)).view(-1, *self.output_shape)


class ConvDecoder(nn.Module):
    """Transposed-convolution decoder for images of any size, mirroring ``ConvEncoder``: each stage doubles
    the sides (plus one where the encoder rounded an odd side down), so the output has exactly the data's
    height and width. ``channels`` are the widths of the deepest stages first; extra stages use the first.
    z: (batch, latent_dim), condition: (batch, condition_dim) or None -> params: (batch, channels, height, width)
    """

    def __init__(
        self,
        latent_dim: int,
        output_shape: Sequence[int],
        channels: Sequence[int] = (64, 32),
        hidden_size: AtLeastOne = 256,
        activation: Activation = "relu",
        max_final_side: AtLeastOne = 8,
        residual: bool = False,
        condition_dim: int = 0,
    ) -> None:
        super().__init__()
        self.condition_dim = condition_dim
        out_channels, sides = conv_stage_sides(output_shape, len(channels), max_final_side, "ConvDecoder")
        widths = [*[channels[0]] * (len(sides) - 1 - len(channels)), *channels, out_channels]
        self.start_shape = (widths[0], *sides[-1])
        self.stem = nn.Sequential(
            nn.Linear(latent_dim + condition_dim, hidden_size),
            make_activation(activation),
            nn.Linear(hidden_size, math.prod(self.start_shape)),
            make_activation(activation),
        )
        layers: list[nn.Module] = []
        upward = sides[::-1]  # (h, w) from the deepest stage back to the image
        for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
            (h_in, w_in), (h_out, w_out) = upward[i], upward[i + 1]
            layers.append(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, output_padding=(h_out - 2 * h_in, w_out - 2 * w_in)))
            if i < len(widths) - 2:
                layers.append(make_activation(activation))
                if residual:
                    layers.append(ResidualBlock(c_out, activation))
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        inputs = with_condition(z, condition, self.condition_dim, "ConvDecoder")
        return self.body(self.stem(inputs).view(-1, *self.start_shape))
