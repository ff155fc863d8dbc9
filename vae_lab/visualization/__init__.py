"""Pictures of a trained VAE, in plain torch, torchvision and matplotlib (Agg, headless).

Every picture is an RGB image tensor (3, height, width) uint8; ``images`` renders and writes them.

- ``image_grids``: reconstructions next to inputs, prior samples, latent traversals, interpolations
- ``latent_scatter``: posterior means in 2-D (directly, or a PCA projection), coloured by label
- ``feature_histograms``: per-feature histograms of samples against real data, for vector data
"""
