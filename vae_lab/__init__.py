"""vae_lab: an experiment platform for variational autoencoders.

Data flows config -> data module (``vae_lab.data``) -> model (``vae_lab.models``, plain torch)
-> training (``vae_lab.training``, Lightning) -> evaluation (``vae_lab.evaluation``).
The ``vae-lab`` command (``vae_lab.cli``) wires them together with Hydra.
"""

__version__ = "0.2.0"
