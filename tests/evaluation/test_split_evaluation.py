"""The evaluation driver on probabilistic PCA (closed forms) and on constructed encoders."""

import math

import pytest
import torch
from test_latent_usage import ConstructedEncoder

from vae_lab.data.in_memory import InMemoryDataModule, Split, unlabelled
from vae_lab.errors import ConfigError
from vae_lab.evaluation.linear_gaussian import LinearGaussian, analytic_elbo
from vae_lab.evaluation.split_evaluation import COMPILE_FROM_DECODES, EvalSettings, compilation_pays_off, evaluate_split, examples_to_evaluate
from vae_lab.models.decoders import MLPDecoder
from vae_lab.models.likelihoods import GaussianLikelihood
from vae_lab.models.priors import StandardNormalPrior
from vae_lab.models.vae import VAE

MODEL = LinearGaussian()


class TensorData(InMemoryDataModule):
    """Given tensors as the three splits."""

    name = "tensors"

    def __init__(self, x: torch.Tensor) -> None:
        super().__init__()
        self.x = x

    def load_splits(self) -> dict[str, Split]:
        return {name: unlabelled(self.x) for name in ("train", "val", "test")}


def settings(**overrides) -> EvalSettings:
    return EvalSettings(**({"iwae_samples": 1000, "elbo_samples": 200, "refine_examples": 100, "refine_steps": 300} | overrides))


@pytest.fixture(scope="module")
def perturbed_evaluation():
    data = TensorData(MODEL.sample(400))
    vae = MODEL.vae(mean_shift=1.0)
    return data, vae, evaluate_split(vae, data, "test", settings(fidelity_samples=300))


def test_metrics_match_the_closed_forms(perturbed_evaluation):
    data, vae, result = perturbed_evaluation
    x = data.split("test").x
    exact_log_px = MODEL.log_likelihood(x).mean().item()
    assert result.examples == 400 and result.data_dims == 6
    assert result.elbo == pytest.approx(analytic_elbo(MODEL, vae, x).mean().item(), abs=0.02)
    assert result.elbo + 1.0 < result.log_likelihood < exact_log_px
    assert exact_log_px - result.log_likelihood < 0.05
    assert result.gap == pytest.approx(result.log_likelihood - result.elbo)
    assert result.nll == -result.log_likelihood
    assert result.bits_per_dim == pytest.approx(result.nll / (6 * math.log(2)))
    assert result.recon_loss + result.kl == pytest.approx(-result.elbo)


def test_kl_per_dim_sums_to_kl_and_every_unit_of_ppca_is_active(perturbed_evaluation):
    _, _, result = perturbed_evaluation
    assert len(result.kl_per_dim) == 3
    assert sum(result.kl_per_dim) == pytest.approx(result.kl, rel=1e-5)
    assert result.active_units == 3 and result.active_unit_threshold == 0.01


def test_refinement_recovers_the_exact_posterior_so_the_whole_gap_is_amortization(perturbed_evaluation):
    """The exact posterior of this pPCA is a diagonal Gaussian: the best q of the family is exact."""
    _, _, result = perturbed_evaluation
    refine = result.refine
    assert refine["examples"] == 100 and refine["steps"] == 300
    assert abs(result.approximation_gap) < 0.05
    subset_gap = refine["log_likelihood"] - refine["elbo_amortized"]
    assert result.amortization_gap == pytest.approx(subset_gap, abs=0.05) and result.amortization_gap > 1.0
    assert refine["elbo_refined"] - refine["elbo_amortized"] == pytest.approx(result.amortization_gap)


def test_samples_of_data_that_is_not_a_table_have_no_fidelity_metrics(perturbed_evaluation):
    _, _, result = perturbed_evaluation
    assert result.fidelity == {} and result.to_dict()["fidelity"] == {}


def test_numbers_depend_on_the_seed_only_not_on_the_memory_budget():
    data = TensorData(MODEL.sample(60))
    vae = MODEL.vae(mean_shift=1.0, std_factor=1.2)
    quick = {"iwae_samples": 50, "elbo_samples": 5, "refine_examples": 20, "refine_steps": 20}
    small = evaluate_split(vae, data, "test", settings(**quick, memory_budget_mb=0.01)).to_dict()
    large = evaluate_split(vae, data, "test", settings(**quick, memory_budget_mb=64)).to_dict()
    other_seed = evaluate_split(vae, data, "test", settings(**quick, seed=1)).to_dict()
    for key in ("elbo", "log_likelihood", "amortization_gap", "approximation_gap"):
        assert small[key] == pytest.approx(large[key], rel=1e-6, abs=1e-6)
        assert small[key] != other_seed[key]


def test_active_units_of_a_constructed_encoder():
    """Latent 0 moves with x, latent 1 barely (variance 0.0025), latents 2-3 are the prior."""
    vae = VAE(ConstructedEncoder(), MLPDecoder(4, (2,), [8]), GaussianLikelihood((2,)), StandardNormalPrior(4))
    data = TensorData(torch.randn(2000, 2, generator=torch.Generator().manual_seed(0)))
    quick = {"iwae_samples": 2, "elbo_samples": 1, "refine_examples": 0}
    result = evaluate_split(vae, data, "val", settings(**quick))
    assert result.active_units == 1 and result.kl_per_dim[2] == result.kl_per_dim[3] == 0
    assert result.amortization_gap is None and result.refine["examples"] == 0
    assert evaluate_split(vae, data, "val", settings(**quick, active_unit_threshold=0.001)).active_units == 2


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"iwae_samples": 0}, "eval.iwae_samples=0: must be greater than or equal to 1"),
        ({"elbo_samples": 2.5}, "eval.elbo_samples=2.5: must be a valid integer, got a number with a fractional part"),
        ({"refine_lr": 0}, "eval.refine_lr=0: must be greater than 0"),
        ({"memory_budget_mb": -1}, "eval.memory_budget_mb=-1: must be greater than 0"),
        ({"max_examples": 0}, "eval.max_examples=0: must be greater than or equal to 1"),
        ({"active_unit_threshold": float("nan")}, "eval.active_unit_threshold='nan': must be a finite number"),
    ],
)
def test_bad_settings_are_refused_with_one_message(overrides, message):
    with pytest.raises(ConfigError) as error:
        EvalSettings.from_config(overrides, seed=0)
    assert str(error.value) == message


def test_unknown_settings_and_splits_are_refused():
    with pytest.raises(ConfigError, match="unknown eval settings: iwae_k"):
        EvalSettings.from_config({"iwae_k": 5}, seed=0)
    with pytest.raises(ConfigError, match="unknown split 'valid'; choose one of: train, val, test"):
        evaluate_split(MODEL.vae(), TensorData(MODEL.sample(5)), "valid", settings())


def test_compile_auto_compiles_cpu_evaluations_of_many_decodes_only():
    data = unlabelled(torch.zeros(1000, 3))
    paper = EvalSettings(iwae_samples=5000)
    assert examples_to_evaluate(data, paper) == 1000 and examples_to_evaluate(data, EvalSettings(max_examples=10)) == 10
    assert 1000 * 5000 >= COMPILE_FROM_DECODES and compilation_pays_off(1000, paper, torch.device("cpu"))
    assert not compilation_pays_off(999, paper, torch.device("cpu"))  # 4,995,000 decodes
    assert not compilation_pays_off(10_000, EvalSettings(iwae_samples=100), torch.device("cpu"))
    assert not compilation_pays_off(10_000, paper, torch.device("cuda"))  # not measured on a GPU: as trained
