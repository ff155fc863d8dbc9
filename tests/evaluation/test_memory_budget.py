"""Evaluation passes sized from a memory budget and the model's own decoder."""

import pytest
import torch

from vae_lab.evaluation.memory_budget import LIKELIHOOD_TEMPORARIES, bytes_per_decode, decodes_per_pass, pass_shape
from vae_lab.models.decoders import ConvDecoder, MLPDecoder
from vae_lab.models.encoders import MLPEncoder
from vae_lab.models.likelihoods import BernoulliLikelihood
from vae_lab.models.priors import StandardNormalPrior
from vae_lab.models.vae import VAE

SHAPE = (1, 28, 28)


def vae_with(decoder) -> VAE:
    return VAE(MLPEncoder(SHAPE, 20, [8]), decoder, BernoulliLikelihood(SHAPE), StandardNormalPrior(20))


def test_a_decode_costs_its_layer_outputs_and_the_likelihood_temporaries():
    mlp = vae_with(MLPDecoder(20, SHAPE, [400]))
    # Linear 400 + ReLU 400 + Linear 784, then the likelihood's temporaries and z, in float32
    assert bytes_per_decode(mlp) == 4 * (400 + 400 + 784 + LIKELIHOOD_TEMPORARIES * 784 + 4 * 20)
    assert bytes_per_decode(mlp, with_gradients=True) == 2 * bytes_per_decode(mlp)
    conv = vae_with(ConvDecoder(20, SHAPE))  # 64 x 7 x 7 and 32 x 14 x 14 feature maps
    assert bytes_per_decode(conv) > 4 * (64 * 49 + 32 * 196)


def test_the_budget_sets_how_many_decodes_a_pass_holds():
    mlp = vae_with(MLPDecoder(20, SHAPE, [400]))
    assert decodes_per_pass(mlp, torch.device("cpu"), budget_mb=1) == 2**20 // bytes_per_decode(mlp)
    assert decodes_per_pass(mlp, torch.device("cpu"), budget_mb=1e-6) == 1


@pytest.mark.parametrize(
    "num_samples, decodes, shape",
    [(5000, 20_000, (4, 5000)), (5000, 5000, (1, 5000)), (5000, 1317, (1, 1317)), (10, 7, (1, 7)), (10, 0, (1, 1))],
)
def test_all_samples_of_an_example_go_in_one_chunk_when_they_fit(num_samples, decodes, shape):
    assert pass_shape(num_samples, decodes) == shape
