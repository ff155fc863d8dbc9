"""OmegaConf resolvers used by the configs. Registered once, on import of ``vae_lab.cli``."""

import secrets
from datetime import datetime

from omegaconf import OmegaConf


def fresh_run_id() -> str:
    """A timestamp (sortable) plus a random suffix, so that runs started in the same second (a cluster array,
    two terminals) never share a directory."""
    return f"{datetime.now():%Y-%m-%d_%H-%M-%S}_{secrets.token_hex(3)}"


# One id per process (a sweep's jobs share it); ``vae_lab.train`` takes a fresh one for each call.
PROCESS_RUN_ID = fresh_run_id()


def run_dir_name(run_name: str | None) -> str:
    """`run_name` if given (re-running with the same name resumes that run), else a fresh unique id."""
    return str(run_name) if run_name else PROCESS_RUN_ID


def register() -> None:
    # use_cache: Hydra copies a sweep's resolved values into each job's config, so jobs that a launcher
    # runs in other processes (joblib, submitit) land in the sweep directory of the launching process.
    if not OmegaConf.has_resolver("run_dir_name"):
        OmegaConf.register_new_resolver("run_dir_name", run_dir_name, use_cache=True)
