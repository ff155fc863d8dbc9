"""``vae_lab.figure`` (``vae-lab figure``): the seed's latent-space figure from trained runs, as one PNG.

One panel per run: the posterior means E_q[z|x] of a split, coloured by label, titled with what the
run optimized (reconstruction only, KL only, both) and its latent usage (KL, active units). Each run
is rebuilt from its best checkpoint (``vae_lab.load_run``). Every run is loaded and
checked before anything is drawn.
"""

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from omegaconf import DictConfig

from vae_lab.api.run import load_run
from vae_lab.errors import CheckpointError, ConfigError
from vae_lab.evaluation.latent_usage import latent_usage
from vae_lab.run_dir import RunDir
from vae_lab.visualization.images import write_png
from vae_lab.visualization.latent_scatter import check_projection, latent_panels, posterior_means, project

log = logging.getLogger(__name__)


def figure(
    runs: Sequence[str | Path],
    output: str | Path,
    split: str = "test",
    max_points: int = 10000,
    projection: str = "auto",
    titles: Sequence[str] | None = None,
    data_dir: str | Path | None = None,
    trusted_modules: Sequence[str] = (),
) -> Path:
    """Draw one panel per run of `runs` (run directories: their best checkpoint; sweep directories: each job's;
    or .ckpt files) into the PNG `output`: the posterior means of `max_points` examples of `split`, projected
    (``auto``: a 2-D latent as it is, else PCA; ``none``; ``pca``), titled `titles` (default: what the run
    optimized) and with its latent usage. Every run is loaded and checked before anything is drawn; returns `output`."""
    checkpoints = [checkpoint for entry in runs for checkpoint in find_checkpoints(Path(entry))]
    if titles is not None and len(titles) != len(checkpoints):
        raise ConfigError(f"titles has {len(titles)} entries for {len(checkpoints)} runs; give one title per run or none")
    loaded = [load_run(checkpoint, trusted_modules=trusted_modules, data_dir=data_dir) for checkpoint in checkpoints]
    projections = [check_projection(projection, run.vae.latent_dim, f"projection (run {run.path})") for run in loaded]

    panels = []
    for number, (run, chosen) in enumerate(zip(loaded, projections)):
        shown = run.datamodule.split(split).rows(slice(0, max_points))
        with torch.no_grad():
            usage = latent_usage(run.vae, ((rows.x, rows.condition) for _, rows in shown.batches(1000)))
        points, axis_labels = project(posterior_means(run.vae, shown.x, condition=shown.condition), chosen)
        title = titles[number] if titles is not None else objective_title(run.config)
        usage_line = f"KL {usage.kl:.2f} nats, {usage.active_units}/{run.vae.latent_dim} units active"
        panels.append((points, shown.y, f"{title}\n{usage_line}", axis_labels))
        log.info("%s: %s (%s)", run.path, title, usage_line)
    written = write_png(latent_panels(panels), Path(output))
    log.info("wrote %s", written)
    return written


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
