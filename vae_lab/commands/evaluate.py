"""``vae-lab eval``: evaluate a checkpoint on a split; write ``eval.json`` and add the metrics to the run's logs."""

import logging
from typing import Any

from omegaconf import DictConfig

from vae_lab.atomic_files import write_json
from vae_lab.commands.from_checkpoint import choose_device, load_checkpoint_run, output_path
from vae_lab.evaluation.split_evaluation import EvalSettings, SplitEvaluation
from vae_lab.run_logs import log_to_run

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate (``Run.evaluate``), write eval.json, log to the run; returns eval.json's content."""
    settings = EvalSettings.from_config(cfg.eval, cfg.seed)
    device = choose_device(cfg.device)
    run = load_checkpoint_run(cfg).to(device)
    output = output_path(cfg, run, "eval.json")
    log.info("evaluating %s on the %s split (K=%d, device %s)", run.path, cfg.split, settings.iwae_samples, device)
    report = run.evaluate(cfg.split, settings, cfg.compile)
    if report["provenance"]["compiled"] and not run.config.model.get("compile"):
        log.info("compiled the model's math: examples x K=%d decodes repay it on a CPU (compile=false to skip)", settings.iwae_samples)
    write_json(output, report)

    if cfg.log_to_run:
        prefix = f"eval/{cfg.split}"
        metrics = {f"{prefix}/{name}": value for name, value in SplitEvaluation.from_dict(report).metrics().items()}
        fidelity_report = report.get("fidelity") or {}
        fidelity = dict(flat_numbers(fidelity_report, f"{prefix}/fidelity"))
        tables = {f"{prefix}/fidelity": (["metric", "value"], [[k, v] for k, v in fidelity.items()])} if fidelity else {}
        if fidelity_report.get("columns"):  # one row per column of a table: its kind and every per-column metric
            fields = list(dict.fromkeys(key for row in fidelity_report["columns"] for key in row))
            tables[f"{prefix}/fidelity_columns"] = (fields, [[row.get(key) for key in fields] for row in fidelity_report["columns"]])
        written = log_to_run(run.config, run.run_dir, metrics | fidelity, run.global_step, run.epoch, tables)
        if written:
            log.info("added eval/%s/* to the run's %s", cfg.split, " and ".join(written))
    log.info(
        "%s: log-likelihood %.2f nats (K=%d), NLL %.2f, ELBO %.2f, gap %.2f, active units %s (per layer, z_1 first) | %s",
        cfg.split,
        report["log_likelihood"],
        settings.iwae_samples,
        report["nll"],
        report["elbo"],
        report["gap"],
        ", ".join(f"{units}/{dims}" for units, dims in zip(report["active_units_per_layer"], report["layer_dims"])),
        output,
    )
    return report


def flat_numbers(content: Any, prefix: str):
    """(key, number) pairs of every number in nested dicts/lists, keys joined with '/'."""
    if isinstance(content, dict):
        for key, value in content.items():
            yield from flat_numbers(value, f"{prefix}/{key}")
    elif isinstance(content, (list, tuple)):
        for position, value in enumerate(content):
            yield from flat_numbers(value, f"{prefix}/{position}")
    elif isinstance(content, (int, float)) and not isinstance(content, bool):
        yield prefix, float(content)


def task(cfg: DictConfig) -> float:
    """The Hydra task: evaluate, then return the NLL (for sweeps over checkpoints or settings)."""
    return float(evaluate(cfg)["nll"])
