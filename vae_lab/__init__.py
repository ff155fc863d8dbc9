"""vae_lab: an experiment platform for variational autoencoders.

Data flows config -> data module (``vae_lab.data``) -> model (``vae_lab.models``, plain torch)
-> training (``vae_lab.training``, Lightning) -> evaluation (``vae_lab.evaluation``).
The ``vae-lab`` command (``vae_lab.cli``) wires them together with Hydra; ``vae_lab.train`` and
``vae_lab.load_run`` (``vae_lab.api``) do the same from Python.
"""

__version__ = "0.3.0"
__all__ = ["load_run", "train"]


def __getattr__(name: str):
    """``vae_lab.train`` and ``vae_lab.load_run``, imported on first use: ``import vae_lab`` (and so the
    command line's start) does not pay for torch and Lightning."""
    if name in __all__:
        from vae_lab import api

        return getattr(api, name)
    raise AttributeError(f"module 'vae_lab' has no attribute {name!r}")
