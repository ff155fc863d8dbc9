"""``vae-lab figure``: the seed's latent-space figure from trained runs, as one PNG.

One panel per run: the posterior means E_q[z|x] of a split, coloured by label, titled with what the
run optimized (reconstruction only, KL only, both) and its latent usage (KL, active units). Each run
is rebuilt from its best checkpoint (``vae_lab.checkpoints.load_run``). Every run is loaded and
checked before anything is drawn.
"""

import json
import logging
from pathlib import Path

import torch
from omegaconf import DictConfig, ListConfig

from vae_lab.checkpoints import load_run
from vae_lab.errors import CheckpointError, ConfigError
from vae_lab.evaluation.latent_usage import latent_usage
from vae_lab.run_dir import RunDir
from vae_lab.visualization.images import write_png
from vae_lab.visualization.latent_scatter import check_projection, latent_panels, posterior_means, project

log = logging.getLogger(__name__)


def figure(cfg: DictConfig) -> Path:
    """Draw the panels of ``cfg.runs`` into ``cfg.output``; returns its path."""
    checkpoints = [checkpoint for entry in as_list(cfg.runs) for checkpoint in find_checkpoints(Path(entry))]
    titles = as_list(cfg.titles) if cfg.titles is not None else None
    if titles is not None and len(titles) != len(checkpoints):
        raise ConfigError(f"titles has {len(titles)} entries for {len(checkpoints)} runs; give one title per run or none")
    data_overrides = {"data_dir": cfg.data_dir} if cfg.data_dir else None
    runs = [load_run(checkpoint, data_overrides, trusted_modules=list(cfg.trusted_modules)) for checkpoint in checkpoints]
    projections = [
        check_projection(cfg.projection, module.vae.latent_dim, f"projection (run {checkpoint})") for checkpoint, (_, _, module) in zip(checkpoints, runs)
    ]

    panels = []
    for number, ((run_cfg, datamodule, module), projection) in enumerate(zip(runs, projections)):
        split = datamodule.split(cfg.split)
        shown = split.rows(slice(0, cfg.max_points))
        x, labels = shown.x, shown.y
        with torch.no_grad():
            usage = latent_usage(module.vae, ((rows.x, rows.condition) for _, rows in shown.batches(1000)))
        points, axis_labels = project(posterior_means(module.vae, x, condition=shown.condition), projection)
        title = titles[number] if titles is not None else objective_title(run_cfg)
        usage_line = f"KL {usage.kl:.2f} nats, {usage.active_units}/{module.vae.latent_dim} units active"
        panels.append((points, labels, f"{title}\n{usage_line}", axis_labels))
        log.info("%s: %s (%s)", checkpoints[number], title, usage_line)
    output = write_png(latent_panels(panels), Path(cfg.output))
    log.info("wrote %s", output)
    return output


def as_list(value) -> list:
    return list(value) if isinstance(value, ListConfig | list | tuple) else [value]


def find_checkpoints(path: Path) -> list[Path]:
    """The checkpoints `path` names: itself (a .ckpt file), a run's best, or the best of each job of a sweep."""
    if path.is_file():
        return [path]
    if RunDir(path).results.is_file():
        return [best_checkpoint(path)]
    jobs = sorted((child for child in path.glob("*") if child.name.isdigit() and child.is_dir()), key=lambda child: int(child.name))
    if jobs:
        return [best_checkpoint(job) for job in jobs]
    if (path / "checkpoints").is_dir():
        raise CheckpointError(
            f"{path} has no results.json: its training did not finish; pass one of its checkpoints, e.g. {path / 'checkpoints' / 'last.ckpt'}"
        )
    raise CheckpointError(f"{path} is not a run directory, a sweep directory or a checkpoint file of `vae-lab train`")


def best_checkpoint(run_dir: Path) -> Path:
    """The best checkpoint recorded in a finished run's results.json (found in its checkpoints/ if the run moved)."""
    results_file = RunDir(run_dir).results
    if not results_file.is_file():
        raise CheckpointError(f"{run_dir} has no results.json: its training did not finish; pass one of its checkpoints instead")
    try:
        recorded = json.loads(results_file.read_text()).get("best_checkpoint") or ""
    except (json.JSONDecodeError, AttributeError):
        raise CheckpointError(f"{results_file} is not a results file of `vae-lab train`; pass a checkpoint file instead") from None
    for candidate in (Path(recorded), run_dir / "checkpoints" / Path(recorded).name):
        if recorded and candidate.is_file():
            return candidate
    raise CheckpointError(f"the best checkpoint of {run_dir} ({recorded or 'none recorded'}) is missing; pass a checkpoint file instead")


def objective_title(cfg: DictConfig) -> str:
    """What a run optimized, in the seed's words: reconstruction only, KL only, or both."""
    model = cfg.model
    if model.recon_weight == 0:
        return "KL loss only"
    if model.beta == 0:
        return "reconstruction loss only"
    beta = "" if model.beta == 1 else f" (beta {model.beta:g})"
    return f"reconstruction + KL loss{beta}"


def task(cfg: DictConfig) -> str:
    return str(figure(cfg))
