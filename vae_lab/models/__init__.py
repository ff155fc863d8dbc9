"""The probabilistic model in plain torch: no Lightning, no Hydra.

- ``encoders``: x -> (mean, log_var) of the diagonal Gaussian q(z|x)
- ``decoders``: z -> parameters of p(x|z)
- ``likelihoods``: (x, parameters) -> log p(x|z), summed over data dimensions
- ``priors``: p(z)
- ``vae``: the ELBO and its terms
"""
