"""Errors a user can fix. The CLI prints their message alone, without a traceback, and exits non-zero."""


class VaeLabError(Exception):
    """A mistake in the user's input: config, data, checkpoint or command line."""

    exit_code = 2


class ConfigError(VaeLabError):
    """A config value that cannot work (wrong range, incompatible choices)."""


class DataError(VaeLabError):
    """Data that is missing, unreadable or unsuitable for the chosen model."""


class CheckpointError(VaeLabError):
    """A checkpoint that is missing, corrupt or does not belong to this command."""


class TrainingDiverged(VaeLabError):
    """The loss became NaN or infinite; training stopped and the last good checkpoint was kept."""

    exit_code = 3
