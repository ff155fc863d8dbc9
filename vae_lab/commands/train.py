"""``vae-lab train``: fit a VAE, test its best checkpoint, write ``results.json`` in the run directory (``vae_lab.api.fit``)."""

from typing import Any

from omegaconf import DictConfig

from vae_lab.api import fit


def task(cfg: DictConfig) -> float | list[float] | None:
    """The Hydra task: train, then return ``optimized_metric`` (one key, or a list of keys) for sweepers.

    ``val/loss`` is the best validation loss; another ``val/...`` key its value at the last validation;
    any other key (``test/elbo``) its value in results.json. A pruned trial returns None (results.json says pruned).
    """
    results = fit(cfg)
    if results["status"] == "pruned":
        return None
    keys = cfg.optimized_metric
    values = [objective_value(results, key) for key in ([keys] if isinstance(keys, str) else keys)]
    return values[0] if isinstance(keys, str) else values


def objective_value(results: dict[str, Any], key: str) -> float:
    value = results.get("best_val_loss") if key == "val/loss" else results.get(key, results.get(f"last_{key}"))
    return float("nan") if value is None else float(value)
