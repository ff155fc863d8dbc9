"""KL weight schedules over steps and epochs, and their validation."""

import pytest
from omegaconf import OmegaConf

from vae_lab.errors import ConfigError
from vae_lab.training.assembly import build_kl_schedule
from vae_lab.training.kl_schedules import Constant, Cyclical, LinearWarmup


def test_constant_is_beta_at_every_step():
    schedule = Constant(beta=4.0)
    assert [schedule(step, step / 10) for step in (0, 1, 10**6)] == [4.0, 4.0, 4.0]


def test_linear_warmup_over_steps_rises_from_zero_to_beta_then_holds():
    schedule = LinearWarmup(beta=2.0, duration=100, unit="steps")
    assert [schedule(step, epoch=0.0) for step in (0, 25, 50, 100, 101, 10**5)] == [0.0, 0.5, 1.0, 2.0, 2.0, 2.0]


def test_linear_warmup_over_epochs_uses_fractional_epochs():
    schedule = LinearWarmup(beta=1.0, duration=4, unit="epochs")
    assert [schedule(step=10**6, epoch=epoch) for epoch in (0.0, 0.5, 1.0, 3.0, 4.0, 9.5)] == [0.0, 0.125, 0.25, 0.75, 1.0, 1.0]


def test_cyclical_rises_over_the_ratio_of_each_cycle_then_holds():
    # Fu et al. 2019: cycle of 10 steps, rising over the first half: 0, 0.2, ..., 0.8, then 1 until the cycle ends.
    schedule = Cyclical(beta=1.0, cycle_length=10, ratio=0.5, unit="steps")
    first_cycle = [schedule(step, epoch=0.0) for step in range(10)]
    assert first_cycle == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0, 1.0, 1.0])
    assert [schedule(step, 0.0) for step in range(10, 20)] == pytest.approx(first_cycle)  # it restarts
    assert schedule(25, 0.0) == 1.0 and schedule(31, 0.0) == pytest.approx(0.2)


def test_cyclical_over_epochs_with_a_number_of_cycles_ends_at_beta():
    schedule = Cyclical(beta=3.0, cycle_length=2, ratio=1.0, num_cycles=2, unit="epochs")
    assert [schedule(0, epoch) for epoch in (0.0, 1.0, 2.0, 3.0, 3.5)] == pytest.approx([0.0, 1.5, 0.0, 1.5, 2.25])
    assert [schedule(0, epoch) for epoch in (4.0, 5.0, 100.0)] == [3.0, 3.0, 3.0]  # after 2 cycles: beta


def test_a_schedule_node_without_a_target_is_one_message():
    """model.kl_schedule={} (found by the config property test) names nothing to build."""
    with pytest.raises(ConfigError, match=r"model.kl_schedule names nothing to build .* model/kl_schedule=NAME"):
        build_kl_schedule(OmegaConf.create({"model": {"kl_schedule": {}, "beta": 1.0}}))
