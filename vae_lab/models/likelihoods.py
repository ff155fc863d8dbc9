"""Likelihoods p(x|z): turn the decoder's parameters into a properly normalized log-density of x.

``log_prob`` sums over data dimensions and returns one number per example; cells where ``mask`` is
False (missing values) contribute nothing.
"""

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vae_lab.errors import ConfigError, DataError
from vae_lab.models.share_calibration import DiscreteState

LOG_2PI = math.log(2 * math.pi)


class Likelihood(nn.Module):
    """p(x|z) for data of shape ``data_shape``; the decoder outputs ``param_shape`` numbers per example."""

    name = "likelihood"

    def __init__(self, data_shape: Sequence[int]) -> None:
        super().__init__()
        self.data_shape = tuple(data_shape)

    @property
    def param_shape(self) -> tuple[int, ...]:
        """Shape of the decoder output per example; one parameter per data element by default."""
        return self.data_shape

    def elementwise_log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """log p(x_i|z) per data element: x, params: (batch, *data_shape) -> (batch, *data_shape)."""
        raise NotImplementedError

    def log_prob(self, x: torch.Tensor, params: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x|z) summed over data dimensions: x: (batch, *data_shape) -> (batch,).

        mask: (batch, *data_shape), True where x is observed; unobserved cells contribute 0.
        """
        log_p = self.elementwise_log_prob(x, params)
        if mask is not None:
            log_p = log_p * mask
        return log_p.flatten(1).sum(dim=1)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """E[x|z]: (batch, *param_shape) -> (batch, *data_shape)."""
        raise NotImplementedError

    def sample(self, params: torch.Tensor) -> torch.Tensor:
        """A draw x ~ p(x|z): (batch, *param_shape) -> (batch, *data_shape)."""
        raise NotImplementedError

    def discrete_states(self) -> list[DiscreteState]:
        """The discrete choices whose generated shares ``share_calibration`` calibrates: none but a table's."""
        return []

    def check_data(self, x: torch.Tensor, data_name: str) -> None:
        """Raise DataError if `x` is outside this likelihood's support."""
        if not torch.isfinite(x).all():
            raise DataError(f"data '{data_name}' contains NaN or infinite values")


def softplus(logits: torch.Tensor) -> torch.Tensor:
    """log(1 + exp(l)) elementwise, in the stable form that runs fastest where it runs.

    Eager: F.softplus, one kernel. Compiled: max(l, 0) + log(1 + exp(-|l|)), which torch.compile turns into
    cheaper vector code than its own lowering of softplus (log1p(exp(l))): the importance-sampling passes
    of benchmarks/eval_iwae.py spend most of their elementwise time here. log(1 + u) for u = exp(-|l|)
    in (0, 1] is within 6e-8 of log1p(u); the gradient is sigmoid(l) either way (but at l = 0 exactly).
    """
    if torch.compiler.is_compiling():
        return logits.clamp(min=0) + torch.log(1 + torch.exp(-logits.abs()))
    return F.softplus(logits)


class BernoulliLikelihood(Likelihood):
    """Independent Bernoulli per element; the decoder outputs logits.

    log p(x|z) = sum_i x_i log sigmoid(l_i) + (1 - x_i) log sigmoid(-l_i) = sum_i x_i l_i - softplus(l_i),
    i.e. -BCE-with-logits in its stable form (never sigmoid-then-BCE, which loses precision when sigmoid
    saturates), in half the elementwise passes of F.binary_cross_entropy_with_logits. For grey values in [0, 1]
    this is the cross-entropy objective used by pytorch/examples; it is a normalized density for binary x.
    """

    name = "bernoulli"

    def elementwise_log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        return x * params - softplus(params)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(params)

    def sample(self, params: torch.Tensor) -> torch.Tensor:
        return torch.bernoulli(torch.sigmoid(params))

    def check_data(self, x: torch.Tensor, data_name: str) -> None:
        super().check_data(x, data_name)
        low, high = x.min().item(), x.max().item()
        if low < 0 or high > 1:
            raise DataError(
                f"likelihood=bernoulli needs data in [0, 1], but data '{data_name}' has values in "
                f"[{low:.3g}, {high:.3g}]; use likelihood=gaussian for real-valued data"
            )


class GaussianLikelihood(Likelihood):
    """Independent Gaussian per element N(x_i; mu_i, sigma_i^2); the decoder outputs the means mu.

    With ``learn_sigma=False`` sigma is fixed (sigma=1 makes the loss 0.5 * squared error + const,
    the seed's MSE). With ``learn_sigma=True`` sigma is a learned parameter per data dimension
    (or one shared value), bounded to [sigma_min, sigma_max] so the density cannot collapse to a spike.
    Use it on centred and scaled data.
    """

    name = "gaussian"

    def __init__(
        self,
        data_shape: Sequence[int],
        sigma: float = 1.0,
        learn_sigma: bool = False,
        per_dimension: bool = True,
        sigma_min: float = 1e-3,
        sigma_max: float = 10.0,
    ) -> None:
        super().__init__(data_shape)
        if not 0 < sigma_min <= sigma <= sigma_max:
            raise ConfigError(f"gaussian likelihood needs 0 < sigma_min <= sigma <= sigma_max, got sigma_min={sigma_min}, sigma={sigma}, sigma_max={sigma_max}")
        self.learn_sigma = learn_sigma
        self.sigma_min, self.sigma_max = sigma_min, sigma_max
        if learn_sigma:
            # sigma = sigma_min + (sigma_max - sigma_min) * sigmoid(raw), initialised at `sigma`
            fraction = (sigma - sigma_min) / (sigma_max - sigma_min)
            fraction = min(max(fraction, 1e-6), 1 - 1e-6)
            shape = self.data_shape if per_dimension else (1,)
            self.raw_sigma = nn.Parameter(torch.full(shape, math.log(fraction / (1 - fraction))))
        self.fixed_sigma = float(sigma)  # a plain float, not a buffer: nothing for DDP to broadcast

    def sigma(self, like: torch.Tensor) -> torch.Tensor:
        """The standard deviation, on `like`'s device: a scalar, or one per data dimension when learned."""
        if self.learn_sigma:
            return self.sigma_min + (self.sigma_max - self.sigma_min) * torch.sigmoid(self.raw_sigma)
        return torch.tensor(self.fixed_sigma, device=like.device, dtype=like.dtype)

    def elementwise_log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        sigma = self.sigma(params)
        return -0.5 * ((x - params) / sigma) ** 2 - torch.log(sigma) - 0.5 * LOG_2PI

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return params

    def sample(self, params: torch.Tensor) -> torch.Tensor:
        return params + self.sigma(params) * torch.randn_like(params)
