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
from typing import Annotated, Literal

from pydantic import Field

from vae_lab.config_schema import NonNegative, Positive, Share

Unit = Literal["steps", "epochs"]
CycleLength = Annotated[float, Field(ge=1e-6, allow_inf_nan=False)]  # steps or epochs; far shorter cycles overflow the count of cycles


class KLSchedule:
    """The KL weight at (global step, epoch progress); ``beta`` is the weight it reaches."""

    def __init__(self, beta: NonNegative = 1.0) -> None:
        self.beta = beta

    def __call__(self, step: int, epoch: float) -> float:
        raise NotImplementedError


class Constant(KLSchedule):
    """The KL weight ``beta`` at every step (beta = 1: the ELBO; beta > 1: a beta-VAE)."""

    def __call__(self, step: int, epoch: float) -> float:
        return self.beta


class LinearWarmup(KLSchedule):
    """beta * min(1, t / duration), with t in ``unit`` (``steps`` or ``epochs``)."""

    def __init__(self, beta: NonNegative = 1.0, duration: Positive = 10, unit: Unit = "epochs") -> None:
        super().__init__(beta)
        self.duration, self.unit = duration, unit

    def __call__(self, step: int, epoch: float) -> float:
        progress = step if self.unit == "steps" else epoch
        return self.beta * min(1.0, progress / self.duration)


class Cyclical(KLSchedule):
    """Cycles of ``cycle_length`` steps or epochs: a linear rise from 0 to beta over the first ``ratio``
    of each cycle, then beta for the rest of it. After ``num_cycles`` cycles (if set) the weight stays beta.
    """

    def __init__(
        self,
        beta: NonNegative = 1.0,
        cycle_length: CycleLength = 10,
        ratio: Share = 0.5,
        num_cycles: Positive | None = None,
        unit: Unit = "epochs",
    ) -> None:
        super().__init__(beta)
        self.cycle_length, self.ratio, self.num_cycles, self.unit = cycle_length, ratio, num_cycles, unit

    def __call__(self, step: int, epoch: float) -> float:
        cycles = (step if self.unit == "steps" else epoch) / self.cycle_length
        if self.num_cycles is not None and cycles >= self.num_cycles:
            return self.beta
        within_cycle = cycles - math.floor(cycles)
        return self.beta * min(1.0, within_cycle / self.ratio)
