"""Does a conditional VAE generate what it is asked for?

- Images, conditioned on their label (``label_agreement``): a classifier trained on the real training
  images labels samples drawn given each label; the share it labels as asked is reported beside the
  classifier's own accuracy on the real test images (a sample can only be judged as well as the
  classifier judges real images).
- Tables (``fidelity_per_condition``): for each value of the condition, the fidelity of samples drawn
  given that value to the real rows that have it (``tabular_fidelity``), and the mean over values
  weighted by their rows. Beside it, the unconditional figure at the same sizes: as many real rows drawn
  at random whatever their value, against samples given their own conditions. (A distance to fewer real
  rows is larger from sampling noise alone, about 0.87/sqrt(n) for KS, so the unconditional fidelity to
  the whole split would flatter the comparison.)
"""

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from vae_lab.data.conditions import Conditions
from vae_lab.data.in_memory import Split

Sampler = Callable[[torch.Tensor], torch.Tensor]  # condition (n, width) -> samples (n, *data_shape)
MIN_GROUP_ROWS = 20  # a condition value with fewer real rows is left out: its distances would be noise
MIN_GROUP_SAMPLES = 1000  # samples drawn given each value at least, so that the real rows' own noise dominates


def train_classifier(train: Split, classes: int, seed: int, epochs: int = 3, batch_size: int = 256) -> nn.Module:
    """An MLP (two hidden layers of 512) trained with Adam on the labelled rows of `train`: x -> class logits."""
    labelled = train.rows(torch.nonzero(train.y >= 0).squeeze(1))
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        classifier = nn.Sequential(nn.Flatten(), nn.Linear(labelled.x[:1].numel(), 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, classes))
    optimizer = torch.optim.Adam(classifier.parameters(), lr=1e-3)
    for _ in range(epochs):
        for index in torch.randperm(len(labelled), generator=generator).split(batch_size):
            rows = labelled.rows(index)
            optimizer.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(classifier(rows.x), rows.y).backward()
            optimizer.step()
    return classifier.eval()


@torch.no_grad()
def predicted_labels(classifier: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The classifier's label for each row of x: (n, *data_shape) -> (n,)."""
    return torch.cat([classifier(chunk).argmax(dim=1) for chunk in x.split(batch_size)])


def label_agreement(sample: Sampler, conditions: Conditions, train: Split, test: Split, count: int, seed: int) -> dict[str, Any]:
    """`count` samples spread evenly over the label's values, judged by a classifier trained on `train`.

    Returns ``label_agreement`` (the share labelled as asked), ``per_label`` and ``classifier_test_accuracy``.
    """
    label = conditions.variables[0]
    classes = len(label.values)
    classifier = train_classifier(train, classes, seed)
    labelled = test.y >= 0
    test_accuracy = (predicted_labels(classifier, test.x[labelled]) == test.y[labelled]).double().mean().item()
    asked = torch.arange(count) % classes
    predicted = predicted_labels(classifier, sample(conditions.one_hot(asked[:, None])))
    agree = (predicted == asked).double()
    return {
        "label_agreement": agree.mean().item(),
        "per_label": {value: agree[asked == code].mean().item() for code, value in enumerate(label.values) if (asked == code).any()},
        "classifier_test_accuracy": test_accuracy,
        "samples": count,
    }


def fidelity_per_condition(
    sample: Sampler, real: Split, count: int, fidelity: Callable[[Split, torch.Tensor], dict[str, Any]], conditions: Conditions
) -> dict[str, Any]:
    """For each condition value held by at least MIN_GROUP_ROWS rows of `real`: samples given it (`count` shared
    in proportion to the real rows, at least MIN_GROUP_SAMPLES), compared with those rows by `fidelity`.

    Returns ``ks_tv_mean`` (weighted by real rows), ``unconditional_ks_tv_mean`` (the same for random rows of
    the same sizes, sampled given their own conditions), their ``ratio``, and ``groups``: each value's condition,
    rows, samples, ks_tv_mean and unconditional_ks_tv_mean.
    """
    assert real.condition is not None
    observed = torch.stack([block.sum(dim=1) > 0 for block in real.condition.split([len(v.values) for v in conditions.variables], dim=1)], 1).all(1)
    values, group_of_row = torch.unique(real.condition[observed], dim=0, return_inverse=True)
    rows_of = torch.nonzero(observed).squeeze(1)
    share = count / max(1, int(observed.sum()))
    generator = torch.Generator().manual_seed(0)
    groups = []
    for g, condition in enumerate(values):
        members = rows_of[group_of_row == g]
        if len(members) < MIN_GROUP_ROWS:
            continue
        count = max(MIN_GROUP_SAMPLES, round(share * len(members)))
        given = fidelity(real.rows(members), sample(condition.expand(count, -1).clone()))
        anyone = real.rows(rows_of[torch.randperm(len(rows_of), generator=generator)[: len(members)]])  # rows of any value
        assert anyone.condition is not None
        unconditional = fidelity(anyone, sample(anyone.condition[torch.arange(count) % len(anyone)]))
        named = {name: value[0] for name, value in conditions.values(conditions.codes(condition[None])).items()}
        groups.append({"condition": named, "rows": len(members), "samples": count, "ks_tv_mean": given["ks_tv_mean"],
                       "unconditional_ks_tv_mean": unconditional["ks_tv_mean"]})  # fmt: skip
    weights = sum(group["rows"] for group in groups)
    if not weights:
        return {"ks_tv_mean": None, "unconditional_ks_tv_mean": None, "ratio": None, "groups": [], "min_group_rows": MIN_GROUP_ROWS}
    mean, reference = (sum(group["rows"] * group[key] for group in groups) / weights for key in ("ks_tv_mean", "unconditional_ks_tv_mean"))
    return {"ks_tv_mean": mean, "unconditional_ks_tv_mean": reference, "ratio": mean / reference, "groups": groups, "min_group_rows": MIN_GROUP_ROWS}
