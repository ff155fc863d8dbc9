"""The mixed tabular likelihood against torch.distributions, column by column."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Categorical, Normal

import vae_lab.data.column_kinds  # noqa: F401  # registers the built-in kinds and their factors
from vae_lab.errors import ConfigError
from vae_lab.models.tabular_likelihood import TabularLikelihood

# slots: age (0) | colour (1, 2, 3) | smoker (4) | income (5) | size (6, 7)
COLUMNS = [
    {"name": "age", "kind": "numeric", "width": 1},
    {"name": "colour", "kind": "categorical", "width": 3},
    {"name": "smoker", "kind": "binary", "width": 1},
    {"name": "income", "kind": "numeric", "width": 1},
    {"name": "size", "kind": "categorical", "width": 2},
]
WIDTH = 8


def random_rows(batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    colour = torch.randint(0, 3, (batch,), generator=generator)
    size = torch.randint(0, 2, (batch,), generator=generator)
    x = torch.zeros(batch, WIDTH)
    x[:, 0], x[:, 5] = torch.randn(batch, generator=generator), torch.randn(batch, generator=generator)
    x[torch.arange(batch), 1 + colour] = 1
    x[:, 4] = torch.randint(0, 2, (batch,), generator=generator).float()
    x[torch.arange(batch), 6 + size] = 1
    return x, 3 * torch.randn(batch, WIDTH, generator=generator), colour, size


def expected_columns(likelihood, x, params, colour, size) -> torch.Tensor:
    sigma = likelihood.factors["numeric"].gaussian.sigma(params)
    return torch.stack(
        [
            Normal(params[:, 0], sigma[0]).log_prob(x[:, 0]),
            Categorical(logits=params[:, 1:4]).log_prob(colour),
            Bernoulli(logits=params[:, 4], validate_args=False).log_prob(x[:, 4]),
            Normal(params[:, 5], sigma[1]).log_prob(x[:, 5]),
            Categorical(logits=params[:, 6:8]).log_prob(size),
        ],
        dim=1,
    )


def test_column_log_prob_equals_torch_distributions_and_sums_to_log_prob():
    generator = torch.Generator().manual_seed(0)
    likelihood = TabularLikelihood((WIDTH,), COLUMNS, sigma=0.7)
    with torch.no_grad():
        likelihood.factors["numeric"].gaussian.raw_sigma.copy_(torch.tensor([-0.5, 1.0]))
    x, params, colour, size = random_rows(16, generator)
    expected = expected_columns(likelihood, x, params, colour, size)
    assert torch.allclose(likelihood.column_log_prob(x, params), expected, atol=1e-5)
    assert torch.allclose(likelihood.log_prob(x, params), expected.sum(1), atol=1e-5)
    assert likelihood.param_shape == (WIDTH,)
    assert likelihood.column_names == ["age", "colour", "smoker", "income", "size"]


def test_missing_cells_contribute_nothing():
    generator = torch.Generator().manual_seed(1)
    likelihood = TabularLikelihood((WIDTH,), COLUMNS)
    x, params, colour, size = random_rows(4, generator)
    observed = torch.tensor([[1, 1, 1, 1, 1], [0, 1, 1, 1, 1], [1, 0, 0, 1, 0], [0, 0, 0, 0, 0]], dtype=torch.bool)
    mask = observed.repeat_interleave(torch.tensor([1, 3, 1, 1, 2]), dim=1)
    x[~mask] = 0.5  # whatever a missing slot holds must not matter
    expected = (expected_columns(likelihood, x, params, colour, size) * observed).sum(1)
    assert torch.allclose(likelihood.log_prob(x, params, mask), expected, atol=1e-5)
    assert likelihood.log_prob(x, params, mask)[3] == 0


def test_the_likelihood_is_normalized_over_a_discrete_table():
    """Binary and categorical columns only: p(x|z) sums to 1 over all 2 * 3 * 2 possible rows."""
    columns = [{"name": "b", "kind": "binary", "width": 1}, {"name": "c", "kind": "categorical", "width": 3},
               {"name": "d", "kind": "categorical", "width": 2}]  # fmt: skip
    likelihood = TabularLikelihood((6,), columns)
    rows = []
    for b in (0, 1):
        for c in range(3):
            for d in range(2):
                row = torch.zeros(6)
                row[0], row[1 + c], row[4 + d] = b, 1, 1
                rows.append(row)
    params = torch.randn(1, 6).expand(len(rows), 6)
    assert torch.isclose(likelihood.log_prob(torch.stack(rows), params).exp().sum(), torch.tensor(1.0), atol=1e-5)


def test_sigma_is_learned_per_numeric_column_within_bounds():
    likelihood = TabularLikelihood((WIDTH,), COLUMNS, sigma=1.0, sigma_min=0.05, sigma_max=3.0)
    x, params, _, _ = random_rows(8, torch.Generator().manual_seed(2))
    likelihood.log_prob(x, params).sum().backward()
    assert likelihood.factors["numeric"].gaussian.raw_sigma.shape == (2,) and likelihood.factors["numeric"].gaussian.raw_sigma.grad.abs().sum() > 0
    with torch.no_grad():
        likelihood.factors["numeric"].gaussian.raw_sigma.copy_(torch.tensor([-1e4, 1e4]))
    sigma = likelihood.factors["numeric"].gaussian.sigma(params).tolist()
    assert sigma[0] == pytest.approx(0.05) and sigma[1] == pytest.approx(3.0)


def test_mean_and_sample_are_rows_in_model_space():
    likelihood = TabularLikelihood((WIDTH,), COLUMNS)
    params = 3 * torch.randn(500, WIDTH, generator=torch.Generator().manual_seed(3))
    mean = likelihood.mean(params)
    assert torch.equal(mean[:, [0, 5]], params[:, [0, 5]])
    assert torch.allclose(mean[:, 1:4].sum(1), torch.ones(500)) and torch.allclose(mean[:, 4], torch.sigmoid(params[:, 4]))
    draws = likelihood.sample(params)
    assert set(draws[:, 4].unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(draws[:, 1:4].sum(1), torch.ones(500)) and torch.equal(draws[:, 6:8].sum(1), torch.ones(500))
    assert set(draws[:, 1:4].unique().tolist()) == {0.0, 1.0}


def test_without_a_column_layout_it_says_which_data_it_needs():
    with pytest.raises(ConfigError, match=r"likelihood=tabular needs the column layout.*data=csv"):
        TabularLikelihood((1, 28, 28))
    with pytest.raises(ConfigError, match="take 8 slots but the data shape is"):
        TabularLikelihood((7,), COLUMNS)
    with pytest.raises(ConfigError, match="unknown column kind 'ordinal'"):
        TabularLikelihood((1,), [{"name": "a", "kind": "ordinal", "width": 1}])


def test_the_point_mass_factor_is_a_normalized_mixed_distribution():
    """Masses (counting measure) plus the continuous part (Lebesgue measure): sum_k P(mass_k) + integral p(v) dv = 1,
    with P(mass_k) = softmax(l)_k and p(v, continuous) = softmax(l)_m N(v; mu, sigma^2) in closed form."""
    columns = [{"name": "spend", "kind": "point_mass", "width": 4}, {"name": "age", "kind": "numeric", "width": 1}]  # 2 masses
    likelihood = TabularLikelihood((5,), columns, sigma=0.6)
    params = torch.tensor([[0.3, 1.2, -0.4, 0.5, 0.0]], dtype=torch.float64)
    sigma = likelihood.factors["point_mass"].gaussian.sigma(params).double()[0]
    masses = [torch.tensor([[0.0, 1, 0, 0, 0.0]]), torch.tensor([[0.0, 0, 1, 0, 0.0]])]
    mass_probability = sum(likelihood.column_log_prob(x.double(), params)[0, 0].exp() for x in masses)
    grid = torch.linspace(0.3 - 12 * sigma.item(), 0.3 + 12 * sigma.item(), 20001, dtype=torch.float64)
    x = torch.zeros(len(grid), 5, dtype=torch.float64)
    x[:, 0], x[:, 3] = grid, 1.0
    density = likelihood.column_log_prob(x, params.expand(len(grid), 5))[:, 0].exp()
    assert float(mass_probability + torch.trapezoid(density, grid)) == pytest.approx(1.0, abs=1e-6)
    weights = torch.softmax(params[0, 1:4], dim=0)
    expected = weights[2].log() + Normal(0.3, sigma).log_prob(torch.tensor(1.7, dtype=torch.float64))
    row = torch.tensor([[1.7, 0, 0, 1, 0.0]], dtype=torch.float64)
    assert float(likelihood.column_log_prob(row, params)[0, 0]) == pytest.approx(float(expected), abs=1e-6)
    assert float(likelihood.column_log_prob(masses[1].double(), params)[0, 0]) == pytest.approx(float(weights[1].log()), abs=1e-6)


def test_point_mass_samples_put_the_masses_at_their_shares():
    columns = [{"name": "spend", "kind": "point_mass", "width": 3}]  # one mass (0) and the continuous part
    likelihood = TabularLikelihood((3,), columns)
    params = torch.tensor([[2.0, torch.log(torch.tensor(0.4)), torch.log(torch.tensor(0.6))]]).expand(20000, 3)
    torch.manual_seed(0)
    draws = likelihood.sample(params)
    on_mass = draws[:, 1] == 1
    assert on_mass.float().mean().item() == pytest.approx(0.4, abs=0.015)
    assert (draws[on_mass, 0] == 0).all() and (draws[:, 1] + draws[:, 2] == 1).all()
    assert draws[~on_mass, 0].mean().item() == pytest.approx(2.0, abs=0.05)


# A numeric column (value, indicator: slots 0, 1) and a categorical one (3 values, indicator: slots 2-5) with a missing state.
MISSING_COLUMNS = [{"name": "wage", "kind": "numeric", "width": 2, "missing": True}, {"name": "sector", "kind": "categorical", "width": 4, "missing": True}]


@torch.no_grad()
def test_the_missing_state_is_a_normalized_factor():
    """log p(cell) = log pi for a missing cell, log(1 - pi) + log p(value) for an observed one: P(missing) + the integral
    (a Gaussian column, on a grid) or the sum (a categorical column) over observed values = 1."""
    likelihood = TabularLikelihood((6,), MISSING_COLUMNS, sigma=0.8)
    params = torch.tensor([[0.4, -0.7, 1.0, -0.5, 0.2, 1.3]], dtype=torch.float64)  # the wage's mean, logits of pi, the sector's logits
    sigma = likelihood.factors["numeric"].gaussian.sigma(params).double()[0]
    missing = torch.tensor([[0.0, 1, 0, 0, 0, 1]], dtype=torch.float64)  # value slots masked, indicators observed and 1
    mask = torch.tensor([[False, True, False, False, False, True]])
    p_missing = likelihood.column_log_prob(missing, params, mask)[0].exp()
    assert p_missing.tolist() == pytest.approx([torch.sigmoid(torch.tensor(-0.7)).item(), torch.sigmoid(torch.tensor(1.3)).item()])

    grid = torch.linspace(0.4 - 12 * sigma.item(), 0.4 + 12 * sigma.item(), 20001, dtype=torch.float64)
    rows = torch.zeros(len(grid), 6, dtype=torch.float64)
    rows[:, 0], rows[:, 2] = grid, 1.0
    density = likelihood.column_log_prob(rows, params.expand(len(grid), 6))[:, 0].exp()
    assert float(p_missing[0] + torch.trapezoid(density, grid)) == pytest.approx(1.0, abs=1e-6)
    categories = torch.zeros(3, 6, dtype=torch.float64)
    categories[torch.arange(3), 2 + torch.arange(3)] = 1.0
    assert float(p_missing[1] + likelihood.column_log_prob(categories, params.expand(3, 6))[:, 1].exp().sum()) == pytest.approx(1.0, abs=1e-12)

    row = torch.tensor([[1.7, 0, 0, 1, 0, 0]], dtype=torch.float64)
    observed = likelihood.column_log_prob(row, params)[0]
    expected = [F.logsigmoid(torch.tensor(0.7, dtype=torch.float64)) + Normal(0.4, sigma).log_prob(torch.tensor(1.7, dtype=torch.float64)),
                F.logsigmoid(torch.tensor(-1.3, dtype=torch.float64)) + Categorical(logits=params[0, 2:5]).log_prob(torch.tensor(1))]  # fmt: skip
    assert observed.tolist() == pytest.approx([float(e) for e in expected], abs=1e-6)  # sigma and the bounds are float32
    assert float(likelihood.log_prob(row, params)[0]) == pytest.approx(float(sum(expected)), abs=1e-6)


def test_masking_a_missing_state_leaves_the_likelihood_of_the_observed_cells():
    """Value slots masked: the cell counts log pi; value and indicator masked (an unobserved cell, as impute's chains
    see a cell they fill): nothing; the other column is unchanged either way."""
    likelihood = TabularLikelihood((6,), MISSING_COLUMNS)
    params = torch.randn(4, 6, generator=torch.Generator().manual_seed(4))
    x = torch.tensor([[0.3, 0, 1, 0, 0, 0]] * 4)
    full = likelihood.column_log_prob(x, params)
    value_masked = torch.ones(4, 6, dtype=torch.bool)
    value_masked[:, 0] = False
    x_missing = x.clone()
    x_missing[:, 1] = 1.0
    per_column = likelihood.column_log_prob(x_missing, params, value_masked)
    assert torch.allclose(per_column[:, 0], F.logsigmoid(params[:, 1])) and torch.allclose(per_column[:, 1], full[:, 1])
    unobserved = value_masked.clone()
    unobserved[:, 1] = False
    assert torch.equal(likelihood.column_log_prob(x_missing, params, unobserved)[:, 0], torch.zeros(4))


def test_samples_and_means_carry_the_missing_state():
    likelihood = TabularLikelihood((6,), MISSING_COLUMNS)
    params = torch.tensor([[0.0, 0.8473, 0.0, 0.0, 0.0, -2.1972]]).expand(40000, 6)  # pi = 0.7 and 0.1
    torch.manual_seed(0)
    draws = likelihood.sample(params)
    assert set(draws[:, [1, 5]].unique().tolist()) == {0.0, 1.0}
    assert draws[:, 1].mean().item() == pytest.approx(0.7, abs=0.01) and draws[:, 5].mean().item() == pytest.approx(0.1, abs=0.01)
    assert torch.equal(draws[:, 2:5].sum(1), torch.ones(40000))  # a missing cell's value slots hold a draw all the same
    assert likelihood.mean(params[:1])[0, [1, 5]].tolist() == pytest.approx([0.7, 0.1], abs=1e-4)


BOUNDED = [{"name": "weight", "kind": "numeric", "width": 1, "low": -0.5, "high": 2.0}]


@pytest.mark.parametrize("mean, sigma", [(0.3, 0.4), (-3.0, 0.3), (1.9, 0.05), (7.2, 1.5), (0.0, 9.0)])
@torch.no_grad()
def test_a_bounded_column_is_a_gaussian_folded_into_its_range(mean, sigma):
    """FN(x) = sum_k N(x + 2kL) + N(2a - x + 2kL) on [a, b]: it integrates to 1 (on a grid), its mean is the grid's, and
    its draws stay in range with the density's distribution, whether the mean is inside, near or far outside the range."""
    likelihood = TabularLikelihood((1,), BOUNDED, sigma=min(sigma, 9.0), sigma_min=0.01)
    params = torch.tensor([[mean]], dtype=torch.float64)
    used_sigma = float(likelihood.factors["numeric"].sigma(params)[0])
    assert used_sigma == pytest.approx(min(sigma, 2.5))  # sigma is used up to the range L
    grid = torch.linspace(-0.5, 2.0, 200001, dtype=torch.float64)
    density = likelihood.log_prob(grid[:, None], params.expand(len(grid), 1)).exp()
    assert float(torch.trapezoid(density, grid)) == pytest.approx(1.0, abs=1e-6)
    images = torch.cat([grid[:, None] + 5.0 * torch.arange(-30, 31), -1.0 - grid[:, None] + 5.0 * torch.arange(-30, 31)], dim=1)
    gaussian = Normal(torch.tensor(mean, dtype=torch.float64), torch.tensor(used_sigma, dtype=torch.float64))
    assert torch.allclose(density, gaussian.log_prob(images).exp().sum(1), rtol=1e-6, atol=1e-300)
    expected_mean = float(torch.trapezoid(density * grid, grid))
    assert float(likelihood.mean(params)[0, 0]) == pytest.approx(expected_mean, abs=1e-6)
    torch.manual_seed(0)
    draws = likelihood.sample(params.expand(50000, 1))[:, 0]
    assert draws.min() >= -0.5 and draws.max() <= 2.0
    cdf = torch.cumulative_trapezoid(density, grid)
    at_draws = torch.from_numpy(np.interp(draws.sort().values.numpy(), grid[1:].numpy(), cdf.numpy()))
    assert (at_draws - torch.arange(1, 50001, dtype=torch.float64) / 50000).abs().max() < 0.01  # Kolmogorov-Smirnov distance


def test_without_bounds_the_factor_is_the_gaussian():
    likelihood = TabularLikelihood((1,), [{"name": "v", "kind": "numeric", "width": 1, "low": -np.inf, "high": np.inf}], sigma=0.6)
    x, params = torch.randn(100, 1), 3 * torch.randn(100, 1)
    assert torch.allclose(likelihood.log_prob(x, params), Normal(params[:, 0], 0.6).log_prob(x[:, 0]), atol=1e-5)
    assert torch.equal(likelihood.mean(params), params)
