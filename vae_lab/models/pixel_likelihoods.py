"""A likelihood for 8-bit images: the discretized logistic mixture of PixelCNN++ (Salimans et al. 2017),
as NVAE and most image VAEs use, so log-likelihoods are probabilities of the 256 pixel values and
``bits_per_dim`` (NLL / (D ln 2)) is comparable with the literature.

Each channel of each pixel has its own mixture of ``components`` logistics (PixelCNN++ couples the
channels of a pixel autoregressively; here they are independent given z, as in a VAE decoder that
outputs all pixels at once). A pixel value v in 0..255, seen as x = v / 255, is rescaled to
y = 2x - 1 in [-1, 1] and owns the bin [y - 1/255, y + 1/255]; the two end bins reach to -inf and +inf,
so the 256 probabilities sum to exactly 1:

    P(v) = sum_k pi_k [sigmoid((y + 1/255 - mu_k) / s_k) - sigmoid((y - 1/255 - mu_k) / s_k)]
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from vae_lab.errors import ConfigError, DataError
from vae_lab.models.likelihoods import Likelihood

LEVELS = 255  # pixel values 0..255
LOG_SCALE_MIN = -7.0  # as PixelCNN++: s >= e^-7, so no bin's probability underflows to exactly 0


def log_sigmoid_difference(upper: torch.Tensor, lower: torch.Tensor) -> torch.Tensor:
    """log(sigmoid(upper) - sigmoid(lower)) for upper > lower, without cancellation:
    sigmoid(a) - sigmoid(b) = e^b (e^(a-b) - 1) / ((1 + e^a)(1 + e^b))."""
    return lower + torch.log(torch.expm1(upper - lower)) - F.softplus(upper) - F.softplus(lower)


class DiscretizedLogisticMixture(Likelihood):
    """p(x|z) for pixels x = v / 255, v in 0..255; the decoder outputs, per channel and pixel, the
    mixture's logits, means and log-scales: params (batch, channels * 3 * components, height, width)."""

    name = "discretized_logistic"

    def __init__(self, data_shape: Sequence[int], components: int = 5) -> None:
        super().__init__(data_shape)
        if len(self.data_shape) != 3:
            raise ConfigError(f"likelihood=discretized_logistic models images (channels, height, width), but the data shape is {self.data_shape}")
        if not isinstance(components, int) or components < 1:
            raise ConfigError(f"likelihood.components must be an integer >= 1, got {components!r}")
        self.components = components

    @property
    def param_shape(self) -> tuple[int, ...]:
        channels, height, width = self.data_shape
        return (channels * 3 * self.components, height, width)

    def mixture(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(log pi, mu, log s), each (batch, channels, components, height, width)."""
        channels, height, width = self.data_shape
        logits, means, log_scales = params.view(-1, channels, 3, self.components, height, width).unbind(2)
        return F.log_softmax(logits, dim=2), means, log_scales.clamp(min=LOG_SCALE_MIN)

    def elementwise_log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        log_weights, means, log_scales = self.mixture(params)
        y = (2 * x - 1).unsqueeze(2)  # (batch, channels, 1, height, width) in [-1, 1]
        inverse_scale = torch.exp(-log_scales)
        upper = inverse_scale * (y - means + 1 / LEVELS)
        lower = inverse_scale * (y - means - 1 / LEVELS)
        log_bin = torch.where(
            y < -1 + 1 / LEVELS,
            -F.softplus(-upper),  # v = 0: the bin reaches to -inf, P = sigmoid(upper)
            torch.where(y > 1 - 1 / LEVELS, -F.softplus(lower), log_sigmoid_difference(upper, lower)),  # v = 255: 1 - sigmoid(lower)
        )
        return torch.logsumexp(log_weights + log_bin, dim=2)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        log_weights, means, _ = self.mixture(params)
        y = (log_weights.exp() * means.clamp(-1, 1)).sum(dim=2)
        return (y + 1) / 2

    def sample(self, params: torch.Tensor) -> torch.Tensor:
        log_weights, means, log_scales = self.mixture(params)
        gumbel = -torch.log(-torch.log(torch.rand_like(log_weights).clamp(1e-10, 1 - 1e-10)))
        chosen = F.one_hot((log_weights + gumbel).argmax(dim=2), self.components).movedim(-1, 2).to(means.dtype)
        mu, log_s = (chosen * means).sum(dim=2), (chosen * log_scales).sum(dim=2)
        u = torch.rand_like(mu).clamp(1e-5, 1 - 1e-5)
        y = (mu + log_s.exp() * (torch.log(u) - torch.log1p(-u))).clamp(-1, 1)
        return torch.round((y + 1) / 2 * LEVELS) / LEVELS

    def check_data(self, x: torch.Tensor, data_name: str) -> None:
        super().check_data(x, data_name)
        off_grid = (x * LEVELS - torch.round(x * LEVELS)).abs().max().item()
        if x.min().item() < 0 or x.max().item() > 1 or off_grid > 1e-3:
            raise DataError(
                f"likelihood=discretized_logistic models 8-bit pixels (v / 255, v in 0..255), but data '{data_name}' holds other "
                "values; use uint8 images, or likelihood=gaussian for real-valued data"
            )
