"""Logit offsets that give decoded draws the training rows' share of each discrete state (``models.share_calibration``)."""

import pytest
import torch
import torch.nn.functional as F

import vae_lab.data.column_kinds  # noqa: F401  # registers the built-in kinds and their factors
from vae_lab.models.share_calibration import SHARE_FLOOR, DiscreteState, generated_shares, share_offsets, training_shares
from vae_lab.models.tabular_likelihood import TabularLikelihood

# slots: colour (0, 1, 2) | smoker (3) | spend (4: value, 5, 6: the mass at 0 and the continuous part, 7: missing indicator)
COLUMNS = [
    {"name": "colour", "kind": "categorical", "width": 3},
    {"name": "smoker", "kind": "binary", "width": 1},
    {"name": "spend", "kind": "point_mass", "width": 4, "missing": True},
]
STATES = [DiscreteState((0, 1, 2)), DiscreteState((3,), bernoulli=True), DiscreteState((5, 6), present=7), DiscreteState((7,), bernoulli=True, missing=True)]


def test_a_tables_states_are_its_choices_with_their_missing_indicators():
    likelihood = TabularLikelihood((8,), COLUMNS)
    assert likelihood.discrete_states() == STATES


def test_offsets_of_one_decoded_row_are_the_closed_form():
    """Every draw decoded to the same logits l: a softmax gets log t - log softmax(l) (up to a constant), a Bernoulli
    logit(t) - l; the shares are then the targets exactly."""
    logits = torch.tensor([[0.3, -1.0, 2.0, 0.5]]).expand(100, 4)
    states = [DiscreteState((0, 1, 2)), DiscreteState((3,), bernoulli=True)]
    targets = [torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64), torch.tensor([0.1], dtype=torch.float64)]
    offsets = share_offsets(logits, states, targets)
    softmax_offsets = offsets[:3] - offsets[:3].mean()
    expected = torch.log(targets[0]) - F.log_softmax(logits[0, :3].double(), dim=0)
    assert softmax_offsets.tolist() == pytest.approx((expected - expected.mean()).tolist(), abs=1e-4)
    assert offsets[3].item() == pytest.approx(torch.logit(torch.tensor(0.1)).item() - 0.5, abs=1e-4)


def test_offsets_give_varied_draws_the_target_shares_and_keep_how_they_vary():
    """Logits that vary with z (and a value share counted where the column is not missing): after the offsets, every
    state's generated share is its target, and the logits' differences between draws are as decoded."""
    generator = torch.Generator().manual_seed(0)
    logits = 2 * torch.randn(5000, 8, generator=generator)
    targets = [torch.tensor(t, dtype=torch.float64) for t in ([0.6, 0.3, 0.1], [0.25], [0.55, 0.45], [0.4])]
    offsets = share_offsets(logits, STATES, targets)
    for state, target in zip(STATES, targets):
        assert generated_shares(state, logits.double(), offsets.double()).tolist() == pytest.approx(target.tolist(), abs=2e-4)
    shifted = logits + offsets
    assert torch.allclose(shifted - shifted[0], logits - logits[0], atol=1e-5)
    assert offsets[[4]].item() == 0  # the number's own slot is left alone


def test_training_shares_are_the_slot_means_kept_off_zero_and_normalized():
    slot_means = torch.tensor([0.75, 0.25, 0.0, 0.6, 0.1, 0.3, 0.7, 0.4])  # a category no training row is in
    shares = training_shares(STATES, slot_means)
    assert shares[0].tolist() == pytest.approx([0.75, 0.25, SHARE_FLOOR], rel=2e-4) and shares[0].sum().item() == pytest.approx(1.0)
    assert torch.cat(shares[1:]).tolist() == pytest.approx([0.6, 0.3, 0.7, 0.4])
