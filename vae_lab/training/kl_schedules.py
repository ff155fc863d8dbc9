"""KL weight schedules: the weight of the KL term as a function of training progress.

A schedule maps (global step, epoch progress) to the KL weight; ``beta`` (``model.beta``) is the
weight it reaches and keeps. Epoch progress is fractional (2.5 is halfway through the third epoch),
so a warm-up over epochs still rises step by step. Schedules are pure functions of progress: a
resumed run continues exactly where it stopped.

- ``Constant``: beta throughout.
- ``LinearWarmup``: from 0 to beta over N steps or epochs (Bowman et al. 2016; Sonderby et al. 2016).
- ``Cyclical``: cyclical annealing (Fu et al. 2019): within each cycle the weight rises linearly from
  0 to beta over the first ``ratio`` of the cycle, then holds beta.
"""

import math

from vae_lab.config_checks import check_number
from vae_lab.errors import ConfigError

UNITS = ("steps", "epochs")


class KLSchedule:
    """The KL weight at (global step, epoch progress); ``beta`` is the weight it reaches."""

    def __init__(self, beta: float = 1.0) -> None:
        self.beta = check_number("model.beta", beta, minimum=0)

    def __call__(self, step: int, epoch: float) -> float:
        raise NotImplementedError


class Constant(KLSchedule):
    """The KL weight ``beta`` at every step (beta = 1: the ELBO; beta > 1: a beta-VAE)."""

    def __call__(self, step: int, epoch: float) -> float:
        return self.beta


class LinearWarmup(KLSchedule):
    """beta * min(1, t / duration), with t in ``unit`` (``steps`` or ``epochs``)."""

    def __init__(self, beta: float = 1.0, duration: float = 10, unit: str = "epochs") -> None:
        super().__init__(beta)
        self.duration = check_number("model.kl_schedule.duration", duration, minimum=0, strict=True)
        self.unit = check_unit(unit)

    def __call__(self, step: int, epoch: float) -> float:
        progress = step if self.unit == "steps" else epoch
        return self.beta * min(1.0, progress / self.duration)


class Cyclical(KLSchedule):
    """Cycles of ``cycle_length`` steps or epochs: a linear rise from 0 to beta over the first ``ratio``
    of each cycle, then beta for the rest of it. After ``num_cycles`` cycles (if set) the weight stays beta.
    """

    def __init__(
        self,
        beta: float = 1.0,
        cycle_length: float = 10,
        ratio: float = 0.5,
        num_cycles: float | None = None,
        unit: str = "epochs",
    ) -> None:
        super().__init__(beta)
        self.cycle_length = check_number("model.kl_schedule.cycle_length", cycle_length, minimum=0, strict=True)
        self.ratio = check_number("model.kl_schedule.ratio", ratio, minimum=0, strict=True, maximum=1)
        self.num_cycles = None if num_cycles is None else check_number("model.kl_schedule.num_cycles", num_cycles, minimum=0, strict=True)
        self.unit = check_unit(unit)

    def __call__(self, step: int, epoch: float) -> float:
        cycles = (step if self.unit == "steps" else epoch) / self.cycle_length
        if self.num_cycles is not None and cycles >= self.num_cycles:
            return self.beta
        within_cycle = cycles - math.floor(cycles)
        return self.beta * min(1.0, within_cycle / self.ratio)


def check_unit(unit: str) -> str:
    if unit not in UNITS:
        raise ConfigError(f"model.kl_schedule.unit must be one of: {', '.join(UNITS)}; got '{unit}'")
    return unit
