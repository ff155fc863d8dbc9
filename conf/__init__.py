"""Hydra configs of vae_lab (shipped inside the package as ``vae_lab.conf``)."""
