"""The Python API: train in this process, load a run, and use its model from a notebook or a script.

    import vae_lab
    results = vae_lab.train(["data=ring", "likelihood=gaussian", "trainer.max_epochs=5"])
    run = vae_lab.load_run(results["run_dir"])          # a run directory or a .ckpt file
    mean, log_var = run.encode(x)                       # q(z|x)
    x_mean = run.decode(mean)                           # E[x|z]
    images = run.sample(64)                             # prior draws, decoded
    run.log_likelihood("test", num_samples=1000)        # what `vae-lab eval` reports, per example

``x`` is a tensor (n, *data_shape) as the data module serves it (floats; pixels in [0, 1]) or the
name of a split (``"train"``, ``"val"``, ``"test"``). Monte Carlo estimates use each example's own
noise (``evaluation.example_noise``, keyed by its row number and ``seed``), so ``run.elbo("test")`` and
``run.log_likelihood("test", K)`` equal ``vae-lab eval``'s numbers with the same seed and K.
"""

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from vae_lab.checkpoints import load_run as load_checkpoint
from vae_lab.checkpoints import read_checkpoint
from vae_lab.commands.from_checkpoint import CheckpointRun
from vae_lab.config_schema import check_config
from vae_lab.data.in_memory import Split, unlabelled
from vae_lab.errors import CheckpointError, ConfigError
from vae_lab.evaluation.split_evaluation import EvalSettings, elbo_per_example, log_likelihood_per_example
from vae_lab.models.vae import VAE
from vae_lab.run_dir import RunDir

MODES = ("mean", "sample")


def train(overrides: Sequence[str] = (), config_name: str = "train") -> dict[str, Any]:
    """Train as ``vae-lab train OVERRIDES`` would, in this process; returns the run's results (results.json).

    The run directory is the CLI's (``runs/train/<run_name or a unique name>``, or ``paths.output_dir=``),
    held with the same lock; logging is left as this process has it. Multiruns (``-m``) need the CLI.
    """
    from vae_lab import config_resolvers
    from vae_lab.commands.train import train as train_run

    config_resolvers.register()
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="vae_lab.conf", version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(Path(cfg.hydra.run.dir).absolute())  # what paths.output_dir reads unless set
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # as in a Hydra app: the task's config without Hydra's own node (now in HydraConfig)
    check_config(cfg)
    with RunDir(Path(cfg.paths.output_dir)).locked():
        return train_run(cfg)


def load_run(path: str | Path, compile: bool | None = None, trusted_modules: Sequence[str] = ()) -> "Run":
    """The trained run at `path`: a run directory (its best checkpoint, else ``checkpoints/last.ckpt``)
    or a checkpoint file. compile: compile the model's math (None: as it was trained). Nothing in the file
    runs code; trusted_modules: modules of your own whose classes its config may build (``vae_lab.checkpoints.read_checkpoint``)."""
    checkpoint = checkpoint_of(Path(path).expanduser()).absolute()
    stored = read_checkpoint(checkpoint, trusted_modules)
    config, datamodule, module = load_checkpoint(checkpoint, compile=compile, checkpoint=stored, trusted_modules=trusted_modules)
    return Run(checkpoint, config, datamodule, module, stored.get("epoch", 0), stored.get("global_step", 0))


def checkpoint_of(path: Path) -> Path:
    """The checkpoint a path names: itself, or the best (else the last) checkpoint of a run directory."""
    if not path.is_dir():
        return path
    run_dir = RunDir(path)
    if run_dir.results.is_file():
        best = json.loads(run_dir.results.read_text()).get("best_checkpoint")
        if best and Path(best).is_file():
            return Path(best)
    if run_dir.last_checkpoint.is_file():
        return run_dir.last_checkpoint
    raise CheckpointError(f"{path} holds no checkpoint (checkpoints/last.ckpt); pass a run directory of `vae-lab train` or a .ckpt file")


@dataclass
class Run(CheckpointRun):
    """A trained run (the checkpoint's ``path``, ``config``, ``datamodule``, ``module``, ``epoch``, ``global_step``, as
    the commands rebuild it) and the verbs users need."""

    @property
    def model(self) -> VAE:
        """The plain-torch VAE (encoder, decoder, likelihood, prior), in eval mode."""
        return self.module.vae

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device) -> "Run":
        self.module.to(device)
        return self

    def split_or_tensor(self, x: torch.Tensor | np.ndarray | str) -> Split:
        """A split by name, or examples (n, *data_shape) as a split without labels."""
        if isinstance(x, str):
            return self.datamodule.split(x)
        x = torch.as_tensor(x, dtype=torch.float32)
        if tuple(x.shape[1:]) != self.datamodule.data_shape:
            raise ConfigError(f"x has shape {tuple(x.shape)}, but this model takes (n, {', '.join(map(str, self.datamodule.data_shape))})")
        return unlabelled(x)

    def encode(self, x: torch.Tensor | np.ndarray | str, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x): (mean, log_var), each (n, latent_dim), as ``vae-lab encode`` writes them (a conditional
        model: given each row's condition, so `x` is then a split's name)."""
        from vae_lab.commands.encode import posterior_parameters

        return posterior_parameters(self.model, self.split_or_tensor(x), batch_size, self.device)

    @torch.inference_mode()
    def decode(self, z: torch.Tensor, mode: str = "mean") -> torch.Tensor:
        """z (n, latent_dim) -> E[x|z] (``mode="mean"``) or a draw x ~ p(x|z) (``"sample"``): (n, *data_shape)."""
        check_mode(mode)
        params = self.model.generative(torch.as_tensor(z, dtype=torch.float32).to(self.device))
        return (self.model.likelihood.mean(params) if mode == "mean" else self.model.likelihood.sample(params)).cpu()

    @torch.inference_mode()
    def sample(self, n: int, mode: str | None = None, seed: int | None = None, condition: dict[str, Any] | None = None) -> torch.Tensor:
        """n draws z ~ p(z), decoded as ``vae-lab sample`` does (mode None: the data's default); (n, *data_shape).
        A conditional model samples given `condition` ({"label": 7}, {"weather": "rain"}, or a list of n values
        per name; "all": n per value), as ``condition.*`` of ``vae-lab sample``; None: conditions of training rows."""
        return self.sample_given(n, mode, seed, condition)[0]

    def sample_given(self, n: int, mode: str | None, seed: int | None, condition: dict[str, Any] | None) -> tuple[torch.Tensor, dict[str, list[str]] | None]:
        """Samples, and the condition values they were drawn with (None for an unconditional model)."""
        from vae_lab.commands.sample import asked_conditions, draw

        mode = mode or self.datamodule.default_sample_mode
        check_mode(mode)
        conditions, given = asked_conditions(self.datamodule, condition or {}, None, n, 0 if seed is None else seed)
        with torch.inference_mode():
            return draw(self.model, n if conditions is None else len(conditions), mode, conditions, seed), given

    def elbo(self, x: torch.Tensor | np.ndarray | str, num_samples: int = 10, seed: int = 0) -> torch.Tensor:
        """The ELBO per example (n,) float64, averaged over `num_samples` draws (``eval.elbo_samples``)."""
        settings = EvalSettings(elbo_samples=num_samples, seed=seed)
        return elbo_per_example(self.model.eval(), self.split_or_tensor(x), settings, self.device)[0]

    def log_likelihood(self, x: torch.Tensor | np.ndarray | str, num_samples: int = 1000, seed: int = 0) -> torch.Tensor:
        """The importance-sampled log p(x) per example (n,) float64, with K = `num_samples` (``eval.iwae_samples``)."""
        settings = EvalSettings(iwae_samples=num_samples, seed=seed)
        return log_likelihood_per_example(self.model.eval(), self.split_or_tensor(x), settings, self.device)

    def sample_table(self, n: int, seed: int | None = None, condition: dict[str, Any] | None = None) -> pd.DataFrame:
        """n synthetic rows in the table's own columns (a model of ``data=csv``), as ``vae-lab sample`` writes them
        (a conditional model: given `condition`, as ``sample``, with the condition columns first)."""
        table = self.table_datamodule("sample_table")
        return table.to_frame(*self.sample_given(n, "sample", seed, condition))

    def impute(self, frame: pd.DataFrame, mean_draws: int = 0, iterations: int = 10, seed: int = 0, draws: int = 0, steps: int = 100) -> pd.DataFrame:
        """`frame` with its missing cells filled (``draws`` = M > 0: M completed copies with a ``draw`` column),
        as ``vae-lab impute`` fills a CSV (the same code, the same defaults)."""
        from vae_lab.commands.impute import impute_table
        from vae_lab.config_schema import ImputationSettings

        table = self.table_datamodule("impute")
        settings = ImputationSettings(mean_draws, iterations, draws, steps, batch_size=1000, seed=seed)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "input.csv"
            frame.to_csv(path, index=False, sep=table.delimiter or ",")
            return impute_table(table, self.model, path, table.encoding, settings, self.device)[0]

    def table_datamodule(self, verb: str) -> Any:
        from vae_lab.data.csv_table import CSVDataModule

        if not isinstance(self.datamodule, CSVDataModule):
            raise ConfigError(f"run.{verb} needs a model of a table (data=csv); this one models '{self.datamodule.name}'")
        return self.datamodule


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ConfigError(f"mode must be mean (E[x|z]) or sample (a draw x ~ p(x|z)), got {mode!r}")
