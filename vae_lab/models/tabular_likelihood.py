"""p(x|z) for a table with numeric, categorical, binary and point-mass columns.

x is a row in model space (``vae_lab.data.column_kinds``): each column's slots side by side. The
decoder outputs one parameter per slot, and each column has its own factor:

    log p(x|z) = sum_numeric log N(x_c; mu_c, sigma_c^2)        (sigma_c learned, bounded)
               + sum_categorical sum_k x_ck log softmax(l_c)_k    (x_c one-hot)
               + sum_binary x_c log sigmoid(l_c) + (1 - x_c) log sigmoid(-l_c)
               + sum_point_mass [ sum_k o_ck log softmax(l_c)_k + o_c,cont log N(v_c; mu_c, sigma_c^2) ]

A point-mass column's slots are [v_c, o_c]: o_c one-hot over (mass_1, ..., mass_m, continuous) and v_c
the standardized value of a continuous cell. Its density is with respect to counting measure on the
masses plus Lebesgue measure on the rest: P(mass_k) = pi_k, p(v, continuous) = pi_cont N(v; mu, sigma^2),
so sum_k pi_k + pi_cont * integral N = 1 (a proper mixed discrete/continuous distribution).

A missing cell (mask False in its slots) contributes nothing. ``column_log_prob`` gives the terms
per column, so each column's reconstruction loss can be logged.
"""

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from vae_lab.errors import ConfigError
from vae_lab.models.likelihoods import BernoulliLikelihood, GaussianLikelihood, Likelihood

KINDS = ("numeric", "categorical", "binary", "point_mass")


class TabularLikelihood(Likelihood):
    """Mixed likelihood over a table's columns.

    columns: the layout from the data module (``likelihood_kwargs``): per column, in slot order, its
        ``name``, ``kind`` (numeric, categorical, binary or point_mass) and ``width`` (number of slots).
    sigma: initial standard deviation of every numeric column (in standardized units), learned within
        [sigma_min, sigma_max] so a column's density cannot collapse onto a spike.
    """

    name = "tabular"

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
        unknown = sorted(set(self.column_kinds) - set(KINDS))
        if unknown:
            raise ConfigError(f"likelihood=tabular: unknown column kind '{unknown[0]}'; kinds are {', '.join(KINDS)}")
        if self.data_shape != (sum(widths),):
            raise ConfigError(f"likelihood=tabular: the columns take {sum(widths)} slots but the data shape is {self.data_shape}")
        starts = [sum(widths[:i]) for i in range(len(widths))]
        by_kind = {kind: [i for i, k in enumerate(self.column_kinds) if k == kind] for kind in KINDS}
        self.register_buffer("numeric_columns", torch.tensor(by_kind["numeric"], dtype=torch.long), persistent=False)
        self.register_buffer("binary_columns", torch.tensor(by_kind["binary"], dtype=torch.long), persistent=False)
        self.register_buffer("binary_slots", torch.tensor([starts[i] for i in by_kind["binary"]], dtype=torch.long), persistent=False)
        self.register_buffer("first_slots", torch.tensor(starts, dtype=torch.long), persistent=False)
        self.categorical_blocks = [(i, starts[i], widths[i]) for i in by_kind["categorical"]]
        self.point_mass_blocks = [(i, starts[i], widths[i]) for i in by_kind["point_mass"]]
        # One learned sigma per numeric column, then per point-mass column (its continuous value slot).
        gaussian_slots = [starts[i] for i in by_kind["numeric"] + by_kind["point_mass"]]
        self.register_buffer("gaussian_slots", torch.tensor(gaussian_slots, dtype=torch.long), persistent=False)
        self.gaussian = GaussianLikelihood((len(gaussian_slots),), sigma=sigma, learn_sigma=True, sigma_min=sigma_min, sigma_max=sigma_max)
        self.bernoulli = BernoulliLikelihood((len(by_kind["binary"]),))

    def column_log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """log p(x_c|z) per column, ignoring the mask: x, params (batch, width) -> (batch, columns)."""
        out = x.new_zeros(len(x), len(self.column_names))
        gaussian = self.gaussian.elementwise_log_prob(x[:, self.gaussian_slots], params[:, self.gaussian_slots])
        numeric = len(self.numeric_columns)  # type: ignore[arg-type]  # a list, typed by nn.Module as Tensor | Module
        out[:, self.numeric_columns] = gaussian[:, :numeric]
        out[:, self.binary_columns] = self.bernoulli.elementwise_log_prob(x[:, self.binary_slots], params[:, self.binary_slots])
        for column, start, width in self.categorical_blocks:
            block = slice(start, start + width)
            out[:, column] = (x[:, block] * F.log_softmax(params[:, block], dim=-1)).sum(dim=-1)
        for j, (column, start, width) in enumerate(self.point_mass_blocks):
            component = slice(start + 1, start + width)
            choice = (x[:, component] * F.log_softmax(params[:, component], dim=-1)).sum(dim=-1)
            out[:, column] = choice + x[:, start + width - 1] * gaussian[:, numeric + j]
        return out

    def observed_columns(self, mask: torch.Tensor) -> torch.Tensor:
        """(batch, width) slot mask -> (batch, columns): True where the column's cell is observed."""
        return mask[:, self.first_slots]

    def log_prob(self, x: torch.Tensor, params: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x|z) summed over observed columns: x, params, mask (batch, width) -> (batch,)."""
        per_column = self.column_log_prob(x, params)
        if mask is not None:
            per_column = torch.where(self.observed_columns(mask), per_column, torch.zeros_like(per_column))
        return per_column.sum(dim=1)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """E[x|z] in model space: numeric means, binary probabilities, categorical probability vectors; a
        point-mass column's continuous mean and component probabilities."""
        out = params.clone()
        out[:, self.binary_slots] = torch.sigmoid(params[:, self.binary_slots])
        for _, start, width in self.categorical_blocks:
            out[:, start : start + width] = F.softmax(params[:, start : start + width], dim=-1)
        for _, start, width in self.point_mass_blocks:
            out[:, start + 1 : start + width] = F.softmax(params[:, start + 1 : start + width], dim=-1)
        return out

    def sample(self, params: torch.Tensor) -> torch.Tensor:
        """x ~ p(x|z) in model space: numeric draws, binary 0/1, categorical one-hot; a point-mass column's
        component one-hot, and its value drawn where the component is the continuous one (0 on a mass)."""
        out = params.clone()
        out[:, self.gaussian_slots] = self.gaussian.sample(params[:, self.gaussian_slots])
        out[:, self.binary_slots] = self.bernoulli.sample(params[:, self.binary_slots])
        for _, start, width in self.categorical_blocks:
            draws = torch.distributions.Categorical(logits=params[:, start : start + width]).sample()
            out[:, start : start + width] = F.one_hot(draws, width).to(params.dtype)
        for _, start, width in self.point_mass_blocks:
            draws = torch.distributions.Categorical(logits=params[:, start + 1 : start + width]).sample()
            out[:, start + 1 : start + width] = F.one_hot(draws, width - 1).to(params.dtype)
            out[:, start] = torch.where(draws == width - 2, out[:, start], torch.zeros_like(out[:, start]))
        return out
