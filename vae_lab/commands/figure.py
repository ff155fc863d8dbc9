"""``vae-lab figure``: the seed's latent-space figure from trained runs, as one PNG (``vae_lab.figure``)."""

from omegaconf import DictConfig, ListConfig

from vae_lab.api import figure


def as_list(value) -> list:
    return list(value) if isinstance(value, ListConfig | list | tuple) else [value]


def task(cfg: DictConfig) -> str:
    titles = as_list(cfg.titles) if cfg.titles is not None else None
    written = figure(as_list(cfg.runs), cfg.output, cfg.split, cfg.max_points, cfg.projection, titles, cfg.data_dir, list(cfg.trusted_modules))
    return str(written)
