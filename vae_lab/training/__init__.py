"""Lightning glue: the training plan (``module``) and callbacks. The math stays in ``vae_lab.models``."""
