"""KL weight schedules over steps and epochs, and their validation."""

import math

import pytest

from vae_lab.errors import ConfigError
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


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Constant(beta=-1.0), "model.beta must be a finite number >= 0, got -1.0"),
        (lambda: Constant(beta=math.inf), "model.beta must be a finite number >= 0, got inf"),
        (lambda: LinearWarmup(duration=-5), "model.kl_schedule.duration must be a finite number > 0, got -5"),
        (lambda: LinearWarmup(duration=0), "model.kl_schedule.duration must be a finite number > 0, got 0"),
        (lambda: LinearWarmup(duration=math.nan), "model.kl_schedule.duration must be a finite number > 0, got nan"),
        (lambda: LinearWarmup(unit="batches"), "model.kl_schedule.unit must be one of: steps, epochs; got 'batches'"),
        (lambda: Cyclical(cycle_length=math.inf), "model.kl_schedule.cycle_length must be a finite number > 0"),
        (lambda: Cyclical(ratio=1.5), "model.kl_schedule.ratio must be a finite number > 0 and <= 1, got 1.5"),
        (lambda: Cyclical(num_cycles=-2), "model.kl_schedule.num_cycles must be a finite number > 0, got -2"),
        (lambda: Constant(beta="many"), "model.beta must be a number, got 'many'"),
    ],
)
def test_bad_schedule_parameters_are_one_clear_config_error(make, message):
    with pytest.raises(ConfigError) as error:
        make()
    assert message in str(error.value)
