"""vae_lab: an experiment platform for variational autoencoders.

Data flows config -> data module (``vae_lab.data``) -> model (``vae_lab.models``, plain torch)
-> training (``vae_lab.training``, Lightning) -> evaluation (``vae_lab.evaluation``).
The Python API (``vae_lab.api``: ``vae_lab.train``, ``vae_lab.load_run`` and the run's verbs) sits on top,
and the ``vae-lab`` command (``vae_lab.cli``, ``vae_lab.commands``) is a thin Hydra front end to it.
"""

from vae_lab.version import __version__

__all__ = ["__version__", "figure", "fit", "fit_table", "load_run", "train"]


def __getattr__(name: str):
    """The API (``vae_lab.train``, ``vae_lab.load_run``, ...), imported on first use: ``import vae_lab`` (and so the
    command line's start) does not pay for torch and Lightning."""
    if name in __all__[1:]:
        from vae_lab import api

        return getattr(api, name)
    raise AttributeError(f"module 'vae_lab' has no attribute {name!r}")
