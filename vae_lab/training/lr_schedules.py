"""Learning-rate schedules that torch does not ship, as multipliers for torch.optim.lr_scheduler.LambdaLR."""

import itertools

from vae_lab.config_schema import AtLeastOne, Positive


class StagedDecay:
    """Burda et al. (2016), section 5: the learning rate is lr * 10^(-i/7) during stage i = 0..7,
    and stage i lasts 3^i epochs (3,280 epochs in all); after the last stage it stays at its last value.

    epoch_scale stretches or compresses every stage (each lasts at least one epoch): 0.1 runs the
    same eight decays in about 330 epochs.
    """

    def __init__(
        self, epoch_scale: Positive = 1.0, num_stages: AtLeastOne = 8, stage_growth: Positive = 3.0, decay_per_stage: Positive = 10 ** (-1 / 7)
    ) -> None:
        self.epoch_scale = epoch_scale
        self.decay_per_stage = decay_per_stage
        lengths = [max(1, round(stage_growth**i * epoch_scale)) for i in range(num_stages)]
        self.stage_ends = list(itertools.accumulate(lengths))

    @property
    def total_epochs(self) -> int:
        return self.stage_ends[-1]

    def stage(self, epoch: int) -> int:
        return next((i for i, end in enumerate(self.stage_ends) if epoch < end), len(self.stage_ends) - 1)

    def __call__(self, epoch: int) -> float:
        return self.decay_per_stage ** self.stage(epoch)
