"""p(x|z) for a table: one factor per column, from its kind's registered factor (``models.column_factors``).

x is a row in model space (``vae_lab.data.column_kinds``): each column's slots side by side. The decoder
outputs one parameter per slot, and each column has its own factor, chosen by the ``kind`` its layout names:

    log p(x|z) = sum_c log p(cell_c | z).

The missing state: a column with ``missing`` in its layout has one more slot after its value slots, the
indicator m_c (1: missing), with a Bernoulli of probability pi_c = sigmoid(l_c). Its factor is

    log p(cell_c|z) = m_c log pi_c + (1 - m_c) [log(1 - pi_c) + log p(value_c|z)],

a distribution over {missing} and the values: pi_c + (1 - pi_c) * (sum or integral of p(value_c|z)) = 1.
It is the joint Bernoulli(m_c) p(value_c|z) with the value marginalized out of a missing cell: the mask.

The mask (False where a slot is unobserved) drops terms: a value whose slots are masked contributes
nothing (a missing or unknown cell; so the masked likelihood of the observed cells is as without the
indicator), an indicator contributes where its slot is observed. ``column_log_prob`` gives the terms per
column, so each column's reconstruction loss can be logged.
"""

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from vae_lab.errors import ConfigError
from vae_lab.models.column_factors import FACTORS, FactorColumn, FactorOptions
from vae_lab.models.likelihoods import BernoulliLikelihood, Likelihood
from vae_lab.models.share_calibration import DiscreteState


class TabularLikelihood(Likelihood):
    """Mixed likelihood over a table's columns.

    columns: the layout from the data module (``likelihood_kwargs``): per column, in slot order, its
        ``name``, ``kind`` (a registered column kind: its factor), ``width`` (number of slots), optionally
        ``missing`` (the last slot is a missingness indicator) and what its factor reads (e.g. ``low``, ``high``).
    sigma: initial standard deviation of every learned scale (in standardized units), learned within
        [sigma_min, sigma_max] so a column's density cannot collapse onto a spike.
    """

    name = "tabular"
    first_slots: torch.Tensor  # buffers: (columns,), (columns with a missing state,) x 2
    indicator_columns: torch.Tensor
    indicator_slots: torch.Tensor

    def __init__(
        self,
        data_shape: Sequence[int],
        columns: Sequence[Mapping] | None = None,
        sigma: float = 1.0,
        sigma_min: float = 0.01,
        sigma_max: float = 10.0,
    ) -> None:
        super().__init__(data_shape)
        if not columns:
            raise ConfigError(
                "likelihood=tabular needs the column layout of a table, which only tabular data provides (data=csv); "
                "use likelihood=bernoulli or gaussian for other data"
            )
        self.column_names = [str(column["name"]) for column in columns]
        self.column_kinds = [str(column["kind"]) for column in columns]
        widths = [int(column["width"]) for column in columns]
        unknown = sorted(set(self.column_kinds) - set(FACTORS))
        if unknown:
            raise ConfigError(
                f"likelihood=tabular: unknown column kind '{unknown[0]}'; the registered kinds are {', '.join(FACTORS)}. "
                "A kind of your own registers with vae_lab.data.column_kinds.register_kind in a module named in data.plugins"
            )
        if self.data_shape != (sum(widths),):
            raise ConfigError(f"likelihood=tabular: the columns take {sum(widths)} slots but the data shape is {self.data_shape}")
        starts = [sum(widths[:i]) for i in range(len(widths))]
        indicated = [i for i, column in enumerate(columns) if column.get("missing", False)]
        options = FactorOptions(sigma, sigma_min, sigma_max)
        self.factors = nn.ModuleDict()
        self.factor_columns: dict[str, list[int]] = {}  # kind -> positions of its columns
        for kind in dict.fromkeys(self.column_kinds):
            positions = [i for i, k in enumerate(self.column_kinds) if k == kind]
            members = [FactorColumn(starts[i], widths[i] - (i in indicated), columns[i]) for i in positions]
            self.factors[kind] = FACTORS[kind](members, options)
            self.factor_columns[kind] = positions
        self.register_buffer("first_slots", torch.tensor(starts, dtype=torch.long), persistent=False)
        self.indicators = BernoulliLikelihood((len(indicated),))
        self.register_buffer("indicator_columns", torch.tensor(indicated, dtype=torch.long), persistent=False)
        self.register_buffer("indicator_slots", torch.tensor([starts[i] + widths[i] - 1 for i in indicated], dtype=torch.long), persistent=False)

    def column_log_prob(self, x: torch.Tensor, params: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x_c|z) per column: x, params, mask (batch, width) -> (batch, columns). A column's value term counts
        where its value slots are observed, its indicator's term where that slot is (mask None: every slot is)."""
        out = x.new_zeros(len(x), len(self.column_names))
        for kind, factor in self.factors.items():
            out[:, self.factor_columns[kind]] = factor.log_prob(x, params)
        indicators = self.indicators.elementwise_log_prob(x[:, self.indicator_slots], params[:, self.indicator_slots])
        if mask is not None:
            out = torch.where(mask[:, self.first_slots], out, torch.zeros_like(out))
            indicators = torch.where(mask[:, self.indicator_slots], indicators, torch.zeros_like(indicators))
        return out.index_add(1, self.indicator_columns, indicators)

    def discrete_states(self) -> list[DiscreteState]:
        """Each column's choice (a category, a 0/1 value, a point mass or the continuous part), with the slot of its
        missing indicator where it has one, then each missing indicator."""
        indicator_of = {int(self.first_slots[column]): int(slot) for column, slot in zip(self.indicator_columns, self.indicator_slots)}
        states = []
        for factor in self.factors.values():
            for column in factor.columns:
                choice = factor.choice_slots(column)
                if choice is not None:
                    states.append(DiscreteState(tuple(choice[0]), choice[1], indicator_of.get(column.start)))
        return states + [DiscreteState((int(slot),), bernoulli=True, missing=True) for slot in self.indicator_slots]

    def log_prob(self, x: torch.Tensor, params: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x|z) summed over the observed terms: x, params, mask (batch, width) -> (batch,)."""
        return self.column_log_prob(x, params, mask).sum(dim=1)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """E[x|z] in model space (each factor's mean, e.g. a probability vector for a category) and the probability of
        each missing state."""
        out = params.clone()
        for factor in self.factors.values():
            factor.mean(params, out)
        out[:, self.indicator_slots] = torch.sigmoid(params[:, self.indicator_slots])
        return out

    def sample(self, params: torch.Tensor) -> torch.Tensor:
        """x ~ p(x|z) in model space: each factor's draw, and each missingness indicator 0/1 (a missing cell's value
        slots hold a draw all the same)."""
        out = params.clone()
        for factor in self.factors.values():
            factor.sample(params, out)
        out[:, self.indicator_slots] = self.indicators.sample(params[:, self.indicator_slots])
        return out
