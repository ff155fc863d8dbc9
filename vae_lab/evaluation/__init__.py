"""Evaluation of trained VAEs: what the ELBO hides (likelihood estimates, gaps, latent usage)."""
