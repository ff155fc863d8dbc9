"""Burda et al.'s staged learning-rate decay."""

import pytest
import torch

from vae_lab.training.lr_schedules import StagedDecay


def test_full_schedule_matches_the_paper():
    decay = StagedDecay()
    assert decay.total_epochs == sum(3**i for i in range(8)) == 3280
    assert decay(0) == 1.0
    assert decay(1) == pytest.approx(10 ** (-1 / 7))  # stage 1 starts after 3^0 = 1 epoch
    assert decay(3) == pytest.approx(10 ** (-1 / 7)) and decay(4) == pytest.approx(10 ** (-2 / 7))
    assert decay(3279) == pytest.approx(10 ** (-1))
    assert decay(10_000) == pytest.approx(10 ** (-1))


def test_compressed_schedule_keeps_eight_stages():
    decay = StagedDecay(epoch_scale=0.1)
    assert len({round(decay(e), 9) for e in range(decay.total_epochs)}) == 8
    assert decay.total_epochs == 1 + 1 + 1 + 3 + 8 + 24 + 73 + 219


def test_drives_lambda_lr():
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=StagedDecay())
    rates = []
    for _ in range(5):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(1e-3) and rates[4] == pytest.approx(1e-3 * 10 ** (-2 / 7))


def test_train_logs_the_learning_rate_of_every_epoch_and_early_stopping_ends_a_stalled_run(tmp_path):
    """scheduler=cosine: train/lr per epoch in metrics.csv, decaying as CosineAnnealingLR says; callbacks=early_stopping
    (patience 1, an improvement threshold nothing meets) stops after two validations, checkpoints and tests kept."""
    import csv
    import math

    from conftest import TINY, compose_train

    from vae_lab.api import fit

    ring = [*TINY, "data=ring", "data.num_samples=600", "likelihood=gaussian", "logger=csv"]
    results = fit(compose_train([*ring, "scheduler=cosine", "trainer.max_epochs=4", "optimizer.lr=0.001"], tmp_path / "cosine"))
    with open(tmp_path / "cosine" / "metrics.csv") as file:
        rates = [float(row["train/lr"]) for row in csv.DictReader(file) if row.get("train/lr")]
    assert rates == pytest.approx([0.001 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)])
    stopped = fit(compose_train([*ring, "callbacks=early_stopping", "callbacks.early_stopping.patience=1",
                                   "callbacks.early_stopping.min_delta=100", "trainer.max_epochs=10"], tmp_path / "early"))  # fmt: skip
    assert stopped["epochs"] == 2 and stopped["status"] == "completed" and "test/elbo" in stopped
    assert results["epochs"] == 4 and (tmp_path / "early" / "checkpoints" / "last.ckpt").is_file()
