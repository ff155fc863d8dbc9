"""p(x|z) for a table with numeric, categorical and binary columns.

x is a row in model space (``vae_lab.data.table_schema``): each column's slots side by side. The
decoder outputs one parameter per slot, and each column has its own factor:

    log p(x|z) = sum_numeric log N(x_c; mu_c, sigma_c^2)        (sigma_c learned, bounded)
               + sum_categorical sum_k x_ck log softmax(l_c)_k    (x_c one-hot)
               + sum_binary x_c log sigmoid(l_c) + (1 - x_c) log sigmoid(-l_c)

A missing cell (mask False in its slots) contributes nothing. ``column_log_prob`` gives the terms
per column, so each column's reconstruction loss can be logged.
"""

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from vae_lab.errors import ConfigError
from vae_lab.models.likelihoods import BernoulliLikelihood, GaussianLikelihood, Likelihood

KINDS = ("numeric", "categorical", "binary")


class TabularLikelihood(Likelihood):
    """Mixed likelihood over a table's columns.

    columns: the layout from the data module (``likelihood_kwargs``): per column, in slot order, its
        ``name``, ``kind`` (numeric, categorical or binary) and ``width`` (number of slots).
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
        for kind in ("numeric", "binary"):
            self.register_buffer(f"{kind}_columns", torch.tensor(by_kind[kind], dtype=torch.long), persistent=False)
            self.register_buffer(f"{kind}_slots", torch.tensor([starts[i] for i in by_kind[kind]], dtype=torch.long), persistent=False)
        self.register_buffer("first_slots", torch.tensor(starts, dtype=torch.long), persistent=False)
        self.categorical_blocks = [(i, starts[i], widths[i]) for i in by_kind["categorical"]]
        self.gaussian = GaussianLikelihood(
            (len(by_kind["numeric"]),), sigma=sigma, learn_sigma=True, sigma_min=sigma_min, sigma_max=sigma_max
        )
        self.bernoulli = BernoulliLikelihood((len(by_kind["binary"]),))

    def column_log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """log p(x_c|z) per column, ignoring the mask: x, params (batch, width) -> (batch, columns)."""
        out = x.new_zeros(len(x), len(self.column_names))
        out[:, self.numeric_columns] = self.gaussian.elementwise_log_prob(x[:, self.numeric_slots], params[:, self.numeric_slots])
        out[:, self.binary_columns] = self.bernoulli.elementwise_log_prob(x[:, self.binary_slots], params[:, self.binary_slots])
        for column, start, width in self.categorical_blocks:
            block = slice(start, start + width)
            out[:, column] = (x[:, block] * F.log_softmax(params[:, block], dim=-1)).sum(dim=-1)
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
        """E[x|z] in model space: numeric means, binary probabilities, categorical probability vectors."""
        out = params.clone()
        out[:, self.binary_slots] = torch.sigmoid(params[:, self.binary_slots])
        for _, start, width in self.categorical_blocks:
            out[:, start : start + width] = F.softmax(params[:, start : start + width], dim=-1)
        return out

    def sample(self, params: torch.Tensor) -> torch.Tensor:
        """x ~ p(x|z) in model space: numeric draws, binary 0/1, categorical one-hot."""
        out = params.clone()
        out[:, self.numeric_slots] = self.gaussian.sample(params[:, self.numeric_slots])
        out[:, self.binary_slots] = self.bernoulli.sample(params[:, self.binary_slots])
        for _, start, width in self.categorical_blocks:
            draws = torch.distributions.Categorical(logits=params[:, start : start + width]).sample()
            out[:, start : start + width] = F.one_hot(draws, width).to(params.dtype)
        return out
