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


class StorageFull(VaeLabError):
    """A write failed because the disk, the quota or the file-size limit is full; the files written before are intact."""

    exit_code = 74  # EX_IOERR of sysexits.h: an input/output error, not a mistake in the command


class RunInterrupted(VaeLabError):
    """SIGTERM or SIGINT stopped a run, which saved a checkpoint at its current step first; exit status 128 + the signal's number."""

    def __init__(self, message: str, signal_number: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signal_number
