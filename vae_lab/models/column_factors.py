"""The likelihood factor of each column kind, p(value_c | z), and the registry the tabular likelihood reads.

A factor scores, draws and averages every column of its kind at once (so a wide table costs a few tensor
operations, not one per column). Each column kind (``vae_lab.data.column_kinds``) names its factor class,
and registering the kind registers the factor under the kind's name: ``register_factor``, called by
``column_kinds.register_kind``. The built-in factors:

=================== ====================================================================================
factor              log p(value_c | z), with l_c the decoder's parameters of the column's value slots
=================== ====================================================================================
``FoldedGaussian``  log FN(x_c; mu_c, sigma_c, [a_c, b_c]) (``folded_normal``; sigma_c learned, bounded)
``Categorical``     sum_k x_ck log softmax(l_c)_k                        (x_c one-hot)
``Bernoulli``       x_c log sigmoid(l_c) + (1 - x_c) log sigmoid(-l_c)
``PointMass``       sum_k o_ck log softmax(l_c)_k + o_c,cont log FN(v_c; mu_c, sigma_c, [a_c, b_c])
=================== ====================================================================================

A point-mass column's slots are [v_c, o_c]: o_c one-hot over (mass_1, ..., mass_m, continuous) and v_c the
standardized value of a continuous cell. Its density is with respect to counting measure on the masses plus
Lebesgue measure on the rest: P(mass_k) = pi_k, p(v, continuous) = pi_cont FN(v), so
sum_k pi_k + pi_cont * integral FN = 1 (a proper mixed discrete/continuous distribution).

A new factor subclasses ``ColumnFactor``: ``log_prob`` gives (batch, its columns), ``mean`` and ``sample``
write E[x|z] and draws into the value slots of its columns.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vae_lab.models.folded_normal import UNBOUNDED, folded_normal_log_prob, folded_normal_mean, folded_normal_sample
from vae_lab.models.likelihoods import BernoulliLikelihood, GaussianLikelihood


@dataclass(frozen=True)
class FactorColumn:
    """One column as its factor sees it: ``start`` (its first slot in the row), ``width`` (its value slots, without a
    missingness indicator) and its ``layout`` (what its kind put there: e.g. the bounds ``low``, ``high``)."""

    start: int
    width: int
    layout: Mapping[str, Any]

    @property
    def slots(self) -> slice:
        return slice(self.start, self.start + self.width)


@dataclass(frozen=True)
class FactorOptions:
    """The tabular likelihood's settings that factors with a learned scale use (``likelihood.sigma`` and its bounds)."""

    sigma: float = 1.0
    sigma_min: float = 0.01
    sigma_max: float = 10.0


class ColumnFactor(nn.Module):
    """p(value_c | z) for the columns of one kind. x, params: (batch, row width), whole rows in model space."""

    def __init__(self, columns: Sequence[FactorColumn], options: FactorOptions) -> None:
        super().__init__()
        self.columns = list(columns)

    def log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """(batch, len(columns)): log p(value_c | z) of each of its columns."""
        raise NotImplementedError

    def mean(self, params: torch.Tensor, out: torch.Tensor) -> None:
        """Write E[value_c | z] (in model space) into `out`'s value slots of its columns."""
        raise NotImplementedError

    def sample(self, params: torch.Tensor, out: torch.Tensor) -> None:
        """Write a draw value_c ~ p(value_c | z) into `out`'s value slots of its columns."""
        raise NotImplementedError

    def choice_slots(self, column: FactorColumn) -> tuple[range, bool] | None:
        """The slots of the column's discrete choice and whether it is one Bernoulli slot (else a softmax over them),
        or None where the column has no choice (a number): what ``share_calibration`` calibrates."""
        return None


class FoldedGaussian(ColumnFactor):
    """A number in one slot: the Gaussian folded into the column's bounds, one learned sigma per column (at most its
    range). Subclasses reuse it for their first slot (``first_slots``)."""

    low: torch.Tensor
    high: torch.Tensor
    first_slots: torch.Tensor

    def __init__(self, columns: Sequence[FactorColumn], options: FactorOptions) -> None:
        super().__init__(columns, options)
        low = [max(float(column.layout.get("low", -UNBOUNDED)), -UNBOUNDED) for column in self.columns]
        high = [min(float(column.layout.get("high", UNBOUNDED)), UNBOUNDED) for column in self.columns]
        self.register_buffer("low", torch.tensor(low), persistent=False)
        self.register_buffer("high", torch.tensor(high), persistent=False)
        self.register_buffer("first_slots", torch.tensor([column.start for column in self.columns], dtype=torch.long), persistent=False)
        self.gaussian = GaussianLikelihood(
            (len(self.columns),), sigma=options.sigma, learn_sigma=True, sigma_min=options.sigma_min, sigma_max=options.sigma_max
        )

    def sigma(self, like: torch.Tensor) -> torch.Tensor:
        """(columns,) the learned sigma of each column, at most its range L."""
        return torch.minimum(self.gaussian.sigma(like), self.high - self.low)

    def log_prob(self, x, params):
        slots = self.first_slots
        return folded_normal_log_prob(x[:, slots], params[:, slots], self.sigma(params), self.low, self.high)

    def mean(self, params, out):
        out[:, self.first_slots] = folded_normal_mean(params[:, self.first_slots], self.sigma(params), self.low, self.high)

    def sample(self, params, out):
        out[:, self.first_slots] = folded_normal_sample(params[:, self.first_slots], self.sigma(params), self.low, self.high)


class Categorical(ColumnFactor):
    """One-hot slots: a softmax over the column's categories."""

    def log_prob(self, x, params):
        return torch.stack([(x[:, c.slots] * F.log_softmax(params[:, c.slots], dim=-1)).sum(dim=-1) for c in self.columns], dim=1)

    def mean(self, params, out):
        for column in self.columns:
            out[:, column.slots] = F.softmax(params[:, column.slots], dim=-1)

    def sample(self, params, out):
        for column in self.columns:
            draws = torch.distributions.Categorical(logits=params[:, column.slots]).sample()
            out[:, column.slots] = F.one_hot(draws, column.width).to(params.dtype)

    def choice_slots(self, column):
        return range(column.start, column.start + column.width), False


class Bernoulli(ColumnFactor):
    """A 0/1 slot: a Bernoulli of probability sigmoid(l_c)."""

    slots: torch.Tensor

    def __init__(self, columns: Sequence[FactorColumn], options: FactorOptions) -> None:
        super().__init__(columns, options)
        self.register_buffer("slots", torch.tensor([column.start for column in self.columns], dtype=torch.long), persistent=False)
        self.bernoulli = BernoulliLikelihood((len(self.columns),))

    def log_prob(self, x, params):
        return self.bernoulli.elementwise_log_prob(x[:, self.slots], params[:, self.slots])

    def mean(self, params, out):
        out[:, self.slots] = torch.sigmoid(params[:, self.slots])

    def sample(self, params, out):
        out[:, self.slots] = self.bernoulli.sample(params[:, self.slots])

    def choice_slots(self, column):
        return range(column.start, column.start + 1), True


class PointMass(FoldedGaussian):
    """[v, one-hot over (mass_1, ..., mass_m, continuous)]: a softmax over the components, and the folded Gaussian of
    v where the component is the continuous one."""

    def components(self, column: FactorColumn) -> slice:
        return slice(column.start + 1, column.start + column.width)

    def log_prob(self, x, params):
        continuous = super().log_prob(x, params)
        choices = []
        for j, column in enumerate(self.columns):
            component = self.components(column)
            choice = (x[:, component] * F.log_softmax(params[:, component], dim=-1)).sum(dim=-1)
            choices.append(choice + x[:, column.start + column.width - 1] * continuous[:, j])
        return torch.stack(choices, dim=1)

    def mean(self, params, out):
        super().mean(params, out)
        for column in self.columns:
            out[:, self.components(column)] = F.softmax(params[:, self.components(column)], dim=-1)

    def sample(self, params, out):
        """The component one-hot, and the value drawn where it is the continuous one (0 on a mass)."""
        super().sample(params, out)
        for column in self.columns:
            draws = torch.distributions.Categorical(logits=params[:, self.components(column)]).sample()
            out[:, self.components(column)] = F.one_hot(draws, column.width - 1).to(params.dtype)
            out[:, column.start] = torch.where(draws == column.width - 2, out[:, column.start], torch.zeros_like(out[:, column.start]))

    def choice_slots(self, column):
        component = self.components(column)
        return range(component.start, component.stop), False


FACTORS: dict[str, type[ColumnFactor]] = {}


def register_factor(kind: str, factor: type[ColumnFactor]) -> None:
    """Make `factor` the likelihood factor of the columns whose layout names `kind`."""
    FACTORS[kind] = factor
