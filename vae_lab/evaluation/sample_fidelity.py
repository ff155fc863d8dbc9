"""How close a model's samples are to real data, chosen by what the data is: the evaluation's ``fidelity``.

Tables (``data=csv``): per-column and pairwise fidelity to the real split (``tabular_fidelity``), the samples'
closeness to the training rows (``privacy``) and, with scikit-learn, how well a classifier tells them from the real
split (``detection``). Images: nothing unconditional; given a condition, whether the
samples show it (``conditional_fidelity``). The data modules only provide the facts (schema, conditions, splits).
"""

import logging
from collections.abc import Callable
from typing import Any

import torch

from vae_lab.data.csv_table import CSVDataModule
from vae_lab.data.in_memory import InMemoryDataModule, Split
from vae_lab.evaluation.conditional_fidelity import fidelity_per_condition, label_agreement
from vae_lab.evaluation.tabular_fidelity import detection, detection_available, privacy, tabular_fidelity

log = logging.getLogger(__name__)

PRIVACY_ROWS = 20_000  # rows compared by distance to the closest training row


def sample_fidelity(datamodule: InMemoryDataModule, samples: torch.Tensor, split: str) -> dict[str, Any]:
    """Metrics comparing model samples (n, *data_shape) with the real split `split` (none for images)."""
    if not isinstance(datamodule, CSVDataModule):
        return {}
    schema = datamodule.fitted_schema()
    real, train = datamodule.split(split), datamodule.split("train")
    synthetic = schema.values(samples, schema.generated_mask(samples), generated=True)
    real_values = schema.values(real.x, real.mask)
    fidelity = tabular_fidelity(real_values, synthetic, schema.columns)
    generator = torch.Generator().manual_seed(datamodule.seed)
    train_subset = torch.randperm(len(train), generator=generator)[:PRIVACY_ROWS]
    fidelity["privacy"] = privacy(
        train.x[train_subset], samples[:PRIVACY_ROWS].cpu(), real.x[:PRIVACY_ROWS],
        schema.values(train.x, train.mask), synthetic, seed=datamodule.seed,
    )  # fmt: skip
    if detection_available():
        fidelity["detection"] = detection(real_values, synthetic, datamodule.seed)
    else:
        log.info('fidelity.detection left out: it needs scikit-learn (pip install "vae_lab[eval]")')
    return fidelity


def fidelity_given(datamodule: InMemoryDataModule, sample: Callable[[torch.Tensor], torch.Tensor], split: str, count: int) -> dict[str, Any]:
    """How well samples given a condition show it (a conditional VAE): `sample` maps conditions (n, width) to samples
    (n, *data_shape). Tables: the fidelity of samples given each condition value to the real rows with that value;
    images: whether a classifier trained on the real rows reads the asked label (``label_agreement``, `count` samples)."""
    conditions = datamodule.conditions
    assert conditions is not None
    if not isinstance(datamodule, CSVDataModule):
        return label_agreement(sample, conditions, datamodule.split("train"), datamodule.split(split), count, datamodule.seed)
    schema = datamodule.fitted_schema()

    def compare(real: Split, samples: torch.Tensor) -> dict[str, Any]:
        synthetic = schema.values(samples, schema.generated_mask(samples), generated=True)
        return tabular_fidelity(schema.values(real.x, real.mask), synthetic, schema.columns)

    return fidelity_per_condition(sample, datamodule.split(split), count, compare, conditions)
