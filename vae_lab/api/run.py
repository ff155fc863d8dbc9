"""A trained run and what users do with it: ``vae_lab.load_run(path)`` and the verbs of ``Run``.

``x`` is a tensor (n, *data_shape) as the data module serves it (floats; pixels in [0, 1]) or the name of a
split (``"train"``, ``"val"``, ``"test"``). Monte Carlo estimates use each example's own noise
(``evaluation.example_noise``, keyed by its row number and ``seed``), so ``run.elbo("test")`` and
``run.log_likelihood("test", K)`` equal ``vae-lab eval``'s numbers with the same seed and K.
"""

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from vae_lab.api.calibrated_shares import DEFAULT_CALIBRATION, Calibration, calibrated_offsets
from vae_lab.api.latent_prior import LatentPrior, latent_prior
from vae_lab.api.sample_files import write_samples
from vae_lab.config_schema import ImputationSettings
from vae_lab.data.csv_table import CSVDataModule
from vae_lab.data.in_memory import Split, unlabelled
from vae_lab.data.table_files import frame_as_text, read_table_text, written_copy
from vae_lab.errors import ConfigError
from vae_lab.evaluation.split_evaluation import (
    EvalSettings,
    compilation_pays_off,
    elbo_per_example,
    evaluate_split,
    examples_to_evaluate,
    log_likelihood_per_example,
)
from vae_lab.models.fitted_prior import GaussianMixture
from vae_lab.models.imputation import filled_rows
from vae_lab.models.vae import VAE
from vae_lab.trained_run import TrainedRun
from vae_lab.version import __version__

MODES = ("mean", "sample")
SAMPLES_PER_PASS = 10_000


def load_run(
    path: str | Path,
    compile: bool | None = None,
    trusted_modules: Sequence[str] = (),
    data_dir: str | Path | None = None,
    data_path: str | Path | None = None,
) -> "Run":
    """The trained run at `path`: a run directory (its best checkpoint, else ``checkpoints/last.ckpt``) or a checkpoint file.

    compile: compile the model's math (None: as it was trained). Nothing in the file runs code; trusted_modules:
    modules of your own whose classes its config may build. data_dir, data_path: where the data (a table: its file)
    is now, if it moved since training.
    """
    return Run.open(path, data_dir, data_path, compile, trusted_modules)


@dataclass
class Run(TrainedRun):
    """A trained run (``path``, ``config``, ``datamodule``, ``module``, ``epoch``, ``global_step``) and the verbs users need."""

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

    @torch.inference_mode()
    def encode(self, x: torch.Tensor | np.ndarray | str, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x): (mean, log_var), each (n, latent_dim) float32 on the CPU, as ``vae-lab encode`` writes them (a
        conditional model: given each row's condition, so `x` is then a split's name). A hierarchy's columns are its
        layers side by side, each q(z_l | z_{l+1}, x) taken with the layers above at their means."""
        means, log_vars = [], []
        for _, rows in self.split_or_tensor(x).batches(batch_size):
            condition = None if rows.condition is None else rows.condition.to(self.device)
            mean, log_var = self.model.posterior_parameters(rows.x.to(self.device), condition)
            means.append(mean.float().cpu())
            log_vars.append(log_var.float().cpu())
        return torch.cat(means), torch.cat(log_vars)

    @torch.inference_mode()
    def decode(self, z: torch.Tensor, mode: str = "mean") -> torch.Tensor:
        """z (n, latent_dim) -> E[x|z] (``mode="mean"``) or a draw x ~ p(x|z) (``"sample"``): (n, *data_shape)."""
        check_mode(mode)
        params = self.model.generative(torch.as_tensor(z, dtype=torch.float32).to(self.device))
        return (self.model.likelihood.mean(params) if mode == "mean" else self.model.likelihood.sample(params)).cpu()

    def sample(
        self,
        n: int,
        mode: str | None = None,
        seed: int | None = None,
        condition: Mapping[str, Any] | None = None,
        prior: LatentPrior = "model",
        calibrate: Calibration = DEFAULT_CALIBRATION,
    ) -> torch.Tensor:
        """n draws z ~ p(z), decoded as ``vae-lab sample`` does (mode None: the data's default); (n, *data_shape).
        A conditional model samples given `condition` ({"label": 7}, {"weather": "rain"}, or a list of n values
        per name; "all": n per value), as ``condition.*`` of ``vae-lab sample``; None: conditions of training rows.
        prior: ``"model"``, the model's own p(z), or ``"fitted"``, a mixture fitted to the training rows' posteriors where it
        fits the validation rows' clearly better than the model's own (``api.latent_prior``; unconditional models), as ``sample.prior``.
        calibrate: ``"all"``, a table's samples get the training rows' share of each category, 0/1 value, point mass
        and missing cell; ``"missing"``, of the missing cells only; ``"none"``: as decoded (``api.calibrated_shares``;
        unconditional models), as ``sample.calibrate``."""
        return self.sample_given(n, mode, seed, condition, prior=prior, calibrate=calibrate)[0]

    def sample_given(
        self,
        n: int,
        mode: str | None = None,
        seed: int | None = None,
        condition: Mapping[str, Any] | None = None,
        condition_file: str | Path | None = None,
        prior: LatentPrior = "model",
        calibrate: Calibration = DEFAULT_CALIBRATION,
    ) -> tuple[torch.Tensor, dict[str, list[str]] | None]:
        """Samples (rows, *data_shape), and the condition values they were drawn with by name (None for an unconditional
        model). condition_file: a table with one row of condition columns per wanted sample (then `n` is its row count);
        prior, calibrate: as in ``sample``."""
        mode = mode or self.datamodule.default_sample_mode
        check_mode(mode)
        z_prior = latent_prior(self, prior)
        conditions, given = self.conditions_asked(condition or {}, condition_file, n, 0 if seed is None else seed)
        count = n if conditions is None else len(conditions)
        offsets = calibrated_offsets(self, z_prior, calibrate)
        with torch.inference_mode():
            return draw(self.model, count, mode, None if conditions is None else conditions.to(self.device), seed, z_prior, offsets), given

    def write_samples(self, x: torch.Tensor, output: str | Path, given: dict[str, list[str]] | None = None) -> list[Path]:
        """Write samples x (n, *data_shape) as ``vae-lab sample`` does (``sample_files``): a table file in the training file's
        format for a table model, else ``<output>.pt`` (and a PNG grid of images); returns the paths written."""
        return write_samples(self.datamodule, x, output, given)

    def conditions_asked(
        self, request: Mapping[str, Any], condition_file: str | Path | None, count: int, seed: int
    ) -> tuple[torch.Tensor | None, dict[str, list[str]] | None]:
        """The conditions to sample with, (rows, width), and their values by name (None, None for an unconditional
        model): as asked (``Conditions.requested``), one per row of `condition_file`, or drawn from the training rows."""
        conditions = self.datamodule.conditions
        if conditions is None:
            if request or condition_file:
                raise ConfigError("this model is unconditional: condition.* and condition_file need a model trained with model.condition=...")
            return None, None
        request = dict(request)
        if condition_file:
            table = read_table_text(Path(condition_file).expanduser())
            request |= {name: [str(cell) for cell in table.column(name).to_pylist()] for name in conditions.names if name in table.column_names}
            count = table.num_rows
        if request:
            return conditions.requested(request, count)
        condition = self.datamodule.draw_conditions(count, seed)
        assert condition is not None
        return condition, conditions.values(conditions.codes(condition))

    def elbo(self, x: torch.Tensor | np.ndarray | str, num_samples: int = 10, seed: int = 0) -> torch.Tensor:
        """The ELBO per example (n,) float64, averaged over `num_samples` draws (``eval.elbo_samples``)."""
        settings = EvalSettings(elbo_samples=num_samples, seed=seed)
        return elbo_per_example(self.model.eval(), self.split_or_tensor(x), settings, self.device)[0]

    def log_likelihood(self, x: torch.Tensor | np.ndarray | str, num_samples: int = 1000, seed: int = 0) -> torch.Tensor:
        """The importance-sampled log p(x) per example (n,) float64, with K = `num_samples` (``eval.iwae_samples``)."""
        settings = EvalSettings(iwae_samples=num_samples, seed=seed)
        return log_likelihood_per_example(self.model.eval(), self.split_or_tensor(x), settings, self.device)

    def evaluate(self, split: str = "test", settings: EvalSettings | None = None, compile: bool | str | None = "auto") -> dict[str, Any]:
        """What ``vae-lab eval`` writes to eval.json: log-likelihood, ELBO and its terms, gaps, latent usage, fidelity
        (``evaluation.split_evaluation``) of `split`, with its provenance. compile ``"auto"``: compile the model's math
        where that is measured to pay off (a CPU and many decodes)."""
        started = time.time()
        settings = settings or EvalSettings()
        examples = examples_to_evaluate(self.datamodule.split(split), settings)  # an unknown split is refused before any work
        if compile == "auto" and not self.model.math_compiled and compilation_pays_off(examples, settings, self.device):
            self.model.compile_math()
        offsets = calibrated_offsets(self, None, DEFAULT_CALIBRATION)  # the fidelity judges what vae-lab sample writes by default
        result = evaluate_split(self.model, self.datamodule, split, settings, self.device, offsets)
        provenance = {
            **self.datamodule.provenance(),
            "split": split,
            "examples": result.examples,
            "iwae_samples": settings.iwae_samples,
            "elbo_samples": settings.elbo_samples,
            "seed": settings.seed,
            "checkpoint": str(self.path),
            "epoch": self.epoch,
            "global_step": self.global_step,
            "device": str(self.device),
            "compiled": self.model.math_compiled,
            "fidelity_calibrate": DEFAULT_CALIBRATION,
            "vae_lab_version": __version__,
        }
        return result.to_dict() | {"provenance": provenance, "wall_time_s": round(time.time() - started, 2)}

    def sample_table(
        self,
        n: int,
        seed: int | None = None,
        condition: Mapping[str, Any] | None = None,
        prior: LatentPrior = "model",
        calibrate: Calibration = DEFAULT_CALIBRATION,
    ) -> pd.DataFrame:
        """n synthetic rows in the table's own columns (a model of ``data=csv``), as ``vae-lab sample`` writes them
        (a conditional model: given `condition`, as ``sample``, with the condition columns first; prior, calibrate: as in ``sample``)."""
        return self.table_datamodule("sample_table").to_frame(*self.sample_given(n, "sample", seed, condition, prior=prior, calibrate=calibrate))

    def impute(self, frame: pd.DataFrame, mean_draws: int = 0, iterations: int = 10, seed: int = 0, draws: int = 0, steps: int = 100) -> pd.DataFrame:
        """`frame` with its missing cells filled (``draws`` = M > 0: M completed copies with a ``draw`` column),
        as ``vae-lab impute`` fills a file (the same code, the same defaults)."""
        table = self.table_datamodule("impute")
        text = frame_as_text(frame, table.dialect)
        settings = ImputationSettings(mean_draws, iterations, draws, steps, batch_size=1000, seed=seed)
        return self.impute_text(text, settings, "the DataFrame")[0]

    def impute_text(self, table: pa.Table, settings: ImputationSettings, source: str) -> tuple[pd.DataFrame, dict[str, int]]:
        """The table of text cells `table` (as ``read_table_text`` reads a file; `source` names it in messages) with its
        missing cells filled (or `settings.draws` filled copies, one after the other, with a ``draw`` column), and the
        count of missing cells per modelled column."""
        datamodule = self.table_datamodule("impute")
        schema = datamodule.fitted_schema()
        encoded = schema.transform(table, source)
        x = torch.from_numpy(encoded.x)
        mask = torch.ones_like(x, dtype=torch.bool) if encoded.mask is None else torch.from_numpy(encoded.mask)
        conditions = datamodule.conditions
        condition = None if conditions is None else conditions.one_hot(torch.from_numpy(encoded.condition_codes))
        filled = filled_rows(self.model, x, mask, condition, settings, self.device)
        copies = [written_copy(table.to_pandas(), schema, encoded.missing, rows) for rows in filled]
        if settings.draws:
            copies = [copy.assign(draw=number) for number, copy in enumerate(copies, start=1)]
        counts = {column.name: int(encoded.missing[:, i].sum()) for i, column in enumerate(schema.columns)}
        return pd.concat(copies, ignore_index=True), counts

    def table_datamodule(self, verb: str) -> CSVDataModule:
        if not isinstance(self.datamodule, CSVDataModule):
            raise ConfigError(f"run.{verb} needs a model of a table (data=csv); this one models '{self.datamodule.name}'")
        return self.datamodule


def draw(
    vae: VAE,
    count: int,
    mode: str,
    condition: torch.Tensor | None,
    seed: int | None,
    prior: GaussianMixture | None = None,
    offsets: torch.Tensor | None = None,
) -> torch.Tensor:
    """`count` samples (given condition (count, width) or None), decoded in passes of SAMPLES_PER_PASS: (count, *data_shape) on the CPU;
    z from `prior` (None: the model's own), the likelihood's parameters shifted by `offsets` (None: as decoded)."""
    if seed is not None:
        torch.manual_seed(seed)
    samples = []
    for start in range(0, count, SAMPLES_PER_PASS):
        given = None if condition is None else condition[start : start + SAMPLES_PER_PASS]
        samples.append(vae.sample(min(SAMPLES_PER_PASS, count - start), mode, given, prior, offsets).cpu())
    return torch.cat(samples)


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ConfigError(f"mode must be mean (E[x|z]) or sample (a draw x ~ p(x|z)), got {mode!r}")
