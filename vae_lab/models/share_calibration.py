"""Generated shares of a table's discrete states calibrated to the training shares, by logit offsets.

A table's discrete states are what a softmax or a Bernoulli of the likelihood chooses: a category, a 0/1 value,
a point mass or the continuous part of a number, a missing cell. Drawn with z ~ p(z), the share of rows in a state
is E_{p(z)}[pi_state(z)], and p(z) is not the aggregate posterior the decoder learned from: with some trainings a
share is off by a few points (R's VietNamH: `lnexp12m` missing in 4 points fewer of the samples than of the rows;
star98: a minimum that is a point mass with 1 to 2 points more). ``share_offsets`` finds one offset per
logit, b, such that the shares of z ~ p(z) decoded with logits l(z) + b are the training shares:

    softmax group s:   b_s += log t_s - log E[softmax(l_s(z) + b_s)]        (iterative proportional fitting)
    Bernoulli slot j:  b_j += logit t_j - logit E[sigmoid(l_j(z) + b_j)]

repeated until the shares hold. An offset is the same for every z, so how a state depends on the other columns
(through z) is kept; only its overall share moves. The share of a column's values counts the rows where the
column is not missing: its generated share is weighted by each draw's probability of not missing it.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

ITERATIONS = 50
TOLERANCE = 1e-4  # the largest share error at which the fit stops
SHARE_FLOOR = 1e-4  # a state no training row is in (a category seen only in other splits) keeps a finite logit


@dataclass(frozen=True)
class DiscreteState:
    """The logits of one column's choice: ``slots`` (a softmax over them, or one Bernoulli slot when ``bernoulli``),
    and ``present``, the slot of the column's missing indicator (the values count where it is 0) or None;
    ``missing``: the choice is the missing indicator itself."""

    slots: tuple[int, ...]
    bernoulli: bool = False
    present: int | None = None
    missing: bool = False


def training_shares(states: Sequence[DiscreteState], slot_means: torch.Tensor) -> list[torch.Tensor]:
    """Each state's share in the training rows, from slot_means (width,), the training mean of each model-space slot
    over the rows where it is observed (``TableSchema.slot_means``); a share is at least SHARE_FLOOR, so its log is finite."""
    shares = []
    for state in states:
        share = slot_means[list(state.slots)].double()
        shares.append(share.clamp(SHARE_FLOOR, 1 - SHARE_FLOOR) if state.bernoulli else share.clamp_min(SHARE_FLOOR) / share.clamp_min(SHARE_FLOOR).sum())
    return shares


def generated_shares(state: DiscreteState, params: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """The share of each of the state's outcomes over the draws: params (draws, width) decoded, offsets (width,)."""
    slots = list(state.slots)
    logits = params[:, slots] + offsets[slots]
    chosen = torch.sigmoid(logits) if state.bernoulli else F.softmax(logits, dim=1)
    if state.present is None:
        return chosen.mean(dim=0)
    present = torch.sigmoid(-(params[:, state.present] + offsets[state.present])).unsqueeze(1)
    return (chosen * present).sum(dim=0) / present.sum()


def share_offsets(params: torch.Tensor, states: Sequence[DiscreteState], targets: Sequence[torch.Tensor]) -> torch.Tensor:
    """Offsets b (width,), 0 outside the states' slots, such that params + b gives each state its target share:
    params (draws, width) the likelihood's parameters of draws z ~ p(z); targets as ``training_shares``."""
    params = params.double()
    offsets = torch.zeros(params.shape[1], dtype=torch.float64)
    for _ in range(ITERATIONS):
        worst = 0.0
        for state, target in zip(states, targets):
            slots = list(state.slots)
            share = generated_shares(state, params, offsets)
            worst = max(worst, float((share - target).abs().max()))
            if state.bernoulli:
                offsets[slots] += torch.logit(target) - torch.logit(share.clamp(1e-9, 1 - 1e-9))
            else:
                offsets[slots] += torch.log(target) - torch.log(share.clamp_min(1e-12))
        if worst < TOLERANCE:
            break
    return offsets.float()
