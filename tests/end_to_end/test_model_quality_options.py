"""Issue 7's options each compose with the rest: a short real training run per option, and the experiments."""

import math

import pytest
from conftest import AMAT_SPLIT_SIZES, TINY_MNIST, compose_train, read_results, write_amat_files

from vae_lab.api import fit, load_run

OPTIONS = {
    "iwae": ["model.objective=iwae", "model.iwae_k=3"],
    "vamp": ["prior=vamp", "prior.num_pseudo_inputs=10"],
    "mixture": ["prior=mixture_of_gaussians", "prior.num_components=3"],
    "burda_lr": ["scheduler=burda", "scheduler.scheduler.lr_lambda.epoch_scale=0.5"],
    "ema": ["callbacks=[default,ema]"],
    "dropout": ["encoder.dropout=0.2", "decoder.dropout=0.2"],
    "conv": ["encoder=conv", "decoder=conv", "encoder.channels=[4,8]", "decoder.channels=[8,4]", "encoder.hidden_size=16", "decoder.hidden_size=16"],
}


@pytest.mark.parametrize("option", OPTIONS)
def test_each_option_trains_and_reloads(option, tiny_data_dir, tmp_path):
    base = [o for o in TINY_MNIST if not (option == "conv" and "hidden_sizes" in o)]  # conv nets have channels
    overrides = [*base, "data.pixels=dynamic", "model/kl_schedule=linear_warmup", *OPTIONS[option]]
    results = fit(compose_train(overrides, tmp_path, tiny_data_dir))
    assert results["status"] == "completed" and math.isfinite(results["test/elbo"])
    if option == "iwae":
        assert results["test/iwae_bound"] >= results["test/elbo"]  # same test images, same fixed noise per image
        assert results["test/loss"] == pytest.approx(-results["test/iwae_bound"])
    run = load_run(results["best_checkpoint"])
    module = run.module
    assert module.vae.elbo_terms(module.vae.sample(2)).elbo.shape == (2,)


def test_all_options_together_as_in_mnist_best(tiny_data_dir, tmp_path):
    overrides = [
        "experiment=mnist_best",
        *TINY_MNIST,
        "prior.num_pseudo_inputs=10",
        "model.iwae_k=2",
        "model.kl_schedule.duration=1",
        "encoder.hidden_sizes=[16]",
        "decoder.hidden_sizes=[16]",
    ]
    results = fit(compose_train(overrides, tmp_path, tiny_data_dir))
    assert results["test/iwae_bound"] >= results["test/elbo"]
    assert read_results(tmp_path)["best_checkpoint"] == results["best_checkpoint"]


def test_mnist_best_trains_on_statically_binarized_mnist(tmp_path):
    """The README's `experiment=mnist_best data=binarized_mnist`: the experiment's data settings fit both."""
    write_amat_files(tmp_path / "data")
    overrides = [
        "experiment=mnist_best",
        "data=binarized_mnist",
        "data.batch_size=10",
        "trainer.max_epochs=1",
        "prior.num_pseudo_inputs=5",
        "model.iwae_k=2",
        "encoder.hidden_sizes=[16]",
        "decoder.hidden_sizes=[16]",
    ]
    results = fit(compose_train(overrides, tmp_path / "run", tmp_path / "data"))
    assert results["status"] == "completed" and results["test/iwae_bound"] >= results["test/elbo"]
    assert results["global_step"] == AMAT_SPLIT_SIZES["train"] // 10  # one epoch over the .amat training rows


def test_burda_experiment_is_the_paper_setup(tmp_path):
    cfg = compose_train(["experiment=burda_vae"], tmp_path)
    assert cfg.data.pixels == "dynamic" and cfg.data.batch_size == 20
    assert list(cfg.encoder.hidden_sizes) == [200, 200] and cfg.encoder.activation == "tanh"
    assert list(cfg.decoder.hidden_sizes) == [200, 200] and cfg.model.latent_dim == 50
    assert cfg.optimizer.eps == 1e-4 and cfg.optimizer.lr == 1e-3
    assert cfg.scheduler.scheduler.lr_lambda._target_.endswith("StagedDecay") and cfg.trainer.max_epochs == 3280


def test_iwae_settings_that_cannot_work_are_refused(tmp_path):
    from vae_lab.config_schema import check_config
    from vae_lab.errors import ConfigError
    from vae_lab.training.module import VAEModule

    for extra, message in ((["model.iwae_k=0"], "model.iwae_k=0: must be greater"), (["model.free_bits=0.5"], "model.free_bits=0"),
                           (["model.objective=iwea"], "model.objective='iwea': must be 'elbo' or 'iwae'")):  # fmt: skip
        cfg = compose_train(["model.objective=iwae", *extra], tmp_path)
        with pytest.raises(ConfigError, match=message):
            check_config(cfg)  # each value by itself
            VAEModule.from_config(cfg, data_shape=(1, 28, 28))  # values that do not fit together
