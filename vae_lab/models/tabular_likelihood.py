"""p(x|z) for a table with numeric, categorical, binary and point-mass columns.

x is a row in model space (``vae_lab.data.column_kinds``): each column's slots side by side. The
decoder outputs one parameter per slot, and each column has its own factor:

    log p(x|z) = sum_numeric log FN(x_c; mu_c, sigma_c, [a_c, b_c])     (sigma_c learned, bounded)
               + sum_categorical sum_k x_ck log softmax(l_c)_k        (x_c one-hot)
               + sum_binary x_c log sigmoid(l_c) + (1 - x_c) log sigmoid(-l_c)
               + sum_point_mass [ sum_k o_ck log softmax(l_c)_k + o_c,cont log FN(v_c; mu_c, sigma_c, [a_c, b_c]) ]

FN is the Gaussian N(mu, sigma^2) folded into the column's bounds [a, b] (its training range in model
space; +-UNBOUNDED where it has none): a draw v is reflected at the bounds, back and forth, until it lies
in [a, b] (the reflection method of density estimation at a boundary). With L = b - a its density sums
the Gaussian over every point that folds onto x:

    FN(x) = sum_{k in Z} N(x + 2kL; mu, sigma^2) + N(2a - x + 2kL; mu, sigma^2),   x in [a, b],

which integrates to 1 over [a, b]. So draws stay in range without clipping (which piles the mass beyond
a bound onto the bound) and without truncation (renormalizing N on [a, b] makes the density of a row on
the bound grow without limit as mu moves away, and training then builds such spikes on the bounds).
sigma is used up to L: beyond it FN is within 1.4% of uniform, and the sum needs few terms.

A point-mass column's slots are [v_c, o_c]: o_c one-hot over (mass_1, ..., mass_m, continuous) and v_c
the standardized value of a continuous cell. Its density is with respect to counting measure on the
masses plus Lebesgue measure on the rest: P(mass_k) = pi_k, p(v, continuous) = pi_cont FN(v),
so sum_k pi_k + pi_cont * integral FN = 1 (a proper mixed discrete/continuous distribution).

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
import torch.nn.functional as F

from vae_lab.errors import ConfigError
from vae_lab.models.likelihoods import LOG_2PI, BernoulliLikelihood, GaussianLikelihood, Likelihood

KINDS = ("numeric", "categorical", "binary", "point_mass")
UNBOUNDED = 1e4  # an absent bound, in model units: so far that no draw is ever reflected there
FOLDS = 4  # images on either side of the nearest one: with sigma <= L, those within 8 sigma of the mean


class TabularLikelihood(Likelihood):
    """Mixed likelihood over a table's columns.

    columns: the layout from the data module (``likelihood_kwargs``): per column, in slot order, its
        ``name``, ``kind`` (numeric, categorical, binary or point_mass), ``width`` (number of slots),
        optionally ``missing`` (the last slot is a missingness indicator) and, for a numeric or point-mass
        column, ``low`` and ``high`` (the bounds of its Gaussian in model space; absent or infinite: none).
    sigma: initial standard deviation of every numeric column (in standardized units), learned within
        [sigma_min, sigma_max] so a column's density cannot collapse onto a spike.
    """

    name = "tabular"
    gaussian_low: torch.Tensor  # buffers, (gaussian columns,) and (columns with a missing state,)
    gaussian_high: torch.Tensor
    indicator_columns: torch.Tensor

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
        indicated = [i for i, column in enumerate(columns) if column.get("missing", False)]
        value_widths = [width - (i in indicated) for i, width in enumerate(widths)]
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
        self.categorical_blocks = [(i, starts[i], value_widths[i]) for i in by_kind["categorical"]]
        self.point_mass_blocks = [(i, starts[i], value_widths[i]) for i in by_kind["point_mass"]]
        # One learned sigma per numeric column, then per point-mass column (its continuous value slot).
        gaussian_columns = by_kind["numeric"] + by_kind["point_mass"]
        self.register_buffer("gaussian_slots", torch.tensor([starts[i] for i in gaussian_columns], dtype=torch.long), persistent=False)
        low = [max(float(columns[i].get("low", -UNBOUNDED)), -UNBOUNDED) for i in gaussian_columns]
        high = [min(float(columns[i].get("high", UNBOUNDED)), UNBOUNDED) for i in gaussian_columns]
        self.register_buffer("gaussian_low", torch.tensor(low), persistent=False)
        self.register_buffer("gaussian_high", torch.tensor(high), persistent=False)
        self.gaussian = GaussianLikelihood((len(gaussian_columns),), sigma=sigma, learn_sigma=True, sigma_min=sigma_min, sigma_max=sigma_max)
        self.bernoulli = BernoulliLikelihood((len(by_kind["binary"]),))  # binary columns and missingness indicators
        self.register_buffer("indicator_columns", torch.tensor(indicated, dtype=torch.long), persistent=False)
        self.register_buffer("indicator_slots", torch.tensor([starts[i] + widths[i] - 1 for i in indicated], dtype=torch.long), persistent=False)

    def column_log_prob(self, x: torch.Tensor, params: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x_c|z) per column: x, params, mask (batch, width) -> (batch, columns). A column's value term counts
        where its value slots are observed, its indicator's term where that slot is (mask None: every slot is)."""
        out = x.new_zeros(len(x), len(self.column_names))
        slots = self.gaussian_slots
        gaussian = folded_normal_log_prob(x[:, slots], params[:, slots], self.folded_sigma(params), self.gaussian_low, self.gaussian_high)
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
        indicators = self.bernoulli.elementwise_log_prob(x[:, self.indicator_slots], params[:, self.indicator_slots])
        if mask is not None:
            out = torch.where(mask[:, self.first_slots], out, torch.zeros_like(out))
            indicators = torch.where(mask[:, self.indicator_slots], indicators, torch.zeros_like(indicators))
        return out.index_add(1, self.indicator_columns, indicators)

    def folded_sigma(self, like: torch.Tensor) -> torch.Tensor:
        """(gaussian columns,) the learned sigma of each numeric and point-mass column, at most its range L."""
        return torch.minimum(self.gaussian.sigma(like), self.gaussian_high - self.gaussian_low)

    def log_prob(self, x: torch.Tensor, params: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x|z) summed over the observed terms: x, params, mask (batch, width) -> (batch,)."""
        return self.column_log_prob(x, params, mask).sum(dim=1)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """E[x|z] in model space: numeric means (of the folded Gaussian), binary probabilities, categorical
        probability vectors; a point-mass column's continuous mean and component probabilities; the probability
        of each missing state."""
        out = params.clone()
        out[:, self.gaussian_slots] = folded_normal_mean(params[:, self.gaussian_slots], self.folded_sigma(params), self.gaussian_low, self.gaussian_high)
        out[:, self.binary_slots] = torch.sigmoid(params[:, self.binary_slots])
        out[:, self.indicator_slots] = torch.sigmoid(params[:, self.indicator_slots])
        for _, start, width in self.categorical_blocks:
            out[:, start : start + width] = F.softmax(params[:, start : start + width], dim=-1)
        for _, start, width in self.point_mass_blocks:
            out[:, start + 1 : start + width] = F.softmax(params[:, start + 1 : start + width], dim=-1)
        return out

    def sample(self, params: torch.Tensor) -> torch.Tensor:
        """x ~ p(x|z) in model space: numeric draws (within the bounds), binary 0/1, categorical one-hot; a
        point-mass column's component one-hot, and its value drawn where the component is the continuous one
        (0 on a mass); each missingness indicator 0/1 (a missing cell's value slots hold a draw all the same)."""
        out = params.clone()
        out[:, self.gaussian_slots] = folded_normal_sample(params[:, self.gaussian_slots], self.folded_sigma(params), self.gaussian_low, self.gaussian_high)
        out[:, self.binary_slots] = self.bernoulli.sample(params[:, self.binary_slots])
        out[:, self.indicator_slots] = self.bernoulli.sample(params[:, self.indicator_slots])
        for _, start, width in self.categorical_blocks:
            draws = torch.distributions.Categorical(logits=params[:, start : start + width]).sample()
            out[:, start : start + width] = F.one_hot(draws, width).to(params.dtype)
        for _, start, width in self.point_mass_blocks:
            draws = torch.distributions.Categorical(logits=params[:, start + 1 : start + width]).sample()
            out[:, start + 1 : start + width] = F.one_hot(draws, width - 1).to(params.dtype)
            out[:, start] = torch.where(draws == width - 2, out[:, start], torch.zeros_like(out[:, start]))
        return out


def folded_normal_log_prob(x: torch.Tensor, mean: torch.Tensor, sigma: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """log FN(x; mean, sigma, [low, high]): x, mean (batch, k); sigma, low, high (k,); sigma <= high - low.

    The points that fold onto x are x + 2kL and 2 low - x + 2kL; the sum takes the nearest of each family to
    the mean and FOLDS on either side. Offsets are taken from x - mean and low - x, so that a far bound
    (UNBOUNDED) costs no precision."""
    period = 2 * (high - low)
    shifts = torch.arange(-FOLDS, FOLDS + 1, device=x.device, dtype=x.dtype)
    direct, reflected = x - mean, (low - x) + (low - mean)
    offsets = torch.cat([
        direct[..., None] + (shifts - torch.round(direct / period)[..., None]) * period[:, None],
        reflected[..., None] + (shifts - torch.round(reflected / period)[..., None]) * period[:, None],
    ], dim=-1)  # fmt: skip
    return torch.logsumexp(-0.5 * (offsets / sigma[:, None]) ** 2, dim=-1) - torch.log(sigma) - 0.5 * LOG_2PI


def folded_normal_sample(mean: torch.Tensor, sigma: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Draws of FN(mean, sigma, [low, high]): v ~ N(mean, sigma^2) folded by the triangle wave of period 2L,
    low + L - |((v - low) mod 2L) - L|, in float64: mean (batch, k); sigma, low, high (k,)."""
    low64, width = low.double(), (high - low).double()
    drawn = mean.double() + sigma.double() * torch.randn_like(mean, dtype=torch.float64)
    return (low64 + width - (torch.remainder(drawn - low64, 2 * width) - width).abs()).to(mean.dtype)


def folded_normal_mean(mean: torch.Tensor, sigma: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """E[x] for x ~ FN(mean, sigma, [low, high]), in float64: mean (batch, k); sigma, low, high (k,); sigma <= high - low.

    v ~ N(mean, sigma^2) on [low + jL, low + (j+1)L] folds to v - jL (j even) or 2 low + (j+1)L - v (j odd), so
    E[x] = sum_j (mean - jL) P_j + sigma dphi_j (j even), (2 low + (j+1)L - mean) P_j - sigma dphi_j (j odd),
    with P_j the Gaussian's mass on the interval and dphi_j = phi(alpha_j) - phi(beta_j) at its standardized ends;
    over the intervals within 8 sigma <= 8L of the mean."""
    mean64, sigma64, low64, width = mean.double(), sigma.double(), low.double(), (high - low).double()
    nearest = torch.floor((mean64 - low64) / width)
    j = nearest[..., None] + torch.arange(-2 * FOLDS, 2 * FOLDS + 1, device=mean.device, dtype=torch.float64)
    alpha = (low64[:, None] + j * width[:, None] - mean64[..., None]) / sigma64[:, None]
    beta = alpha + (width / sigma64)[:, None]
    mass = torch.special.ndtr(beta) - torch.special.ndtr(alpha)
    density = torch.exp(-0.5 * alpha**2 - 0.5 * LOG_2PI) - torch.exp(-0.5 * beta**2 - 0.5 * LOG_2PI)
    even = torch.remainder(j, 2) == 0
    forward = (mean64[..., None] - j * width[:, None]) * mass + sigma64[:, None] * density
    backward = (2 * low64[:, None] + (j + 1) * width[:, None] - mean64[..., None]) * mass - sigma64[:, None] * density
    return torch.where(even, forward, backward).sum(dim=-1).to(mean.dtype)
