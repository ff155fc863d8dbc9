"""One module per ``vae-lab`` command; each is a thin Hydra app over the library."""
