"""Every config option composes with Hydra's compose API and builds real objects; configs ship with the package."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, compose_train
from hydra.utils import instantiate
from lightning.pytorch.loggers import CSVLogger

from vae_lab.build import build_callbacks, build_loggers
from vae_lab.errors import ConfigError
from vae_lab.training.module import VAEModule

CONF = REPO / "conf"


def options(group: str) -> list[str]:
    return sorted(path.stem for path in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("encoder", options("encoder"))
@pytest.mark.parametrize("decoder", options("decoder"))
@pytest.mark.parametrize("likelihood", [name for name in options("likelihood") if name != "tabular"])  # tables: test_tabular.py
def test_every_encoder_decoder_likelihood_builds_a_trainable_model(encoder, decoder, likelihood, tmp_path):
    cfg = compose_train([f"encoder={encoder}", f"decoder={decoder}", f"likelihood={likelihood}"], tmp_path)
    module = VAEModule.from_config(cfg, data_shape=(1, 28, 28))
    x = torch.rand(3, 1, 28, 28)
    loss = module.loss(module.vae.elbo_terms(x)).mean()
    loss.backward()
    assert torch.isfinite(loss)
    optimizer = module.configure_optimizers()
    assert isinstance(optimizer, torch.optim.Adam)


@pytest.mark.parametrize("prior", options("prior"))
def test_every_prior_builds_and_passes_gradients(prior, tmp_path):
    cfg = compose_train([f"prior={prior}", "model.latent_dim=3", "encoder.hidden_sizes=[8]", "decoder.hidden_sizes=[8]"], tmp_path)
    conditional = prior == "conditional"  # p(z|c) exists only for a conditional VAE: three condition values here
    vae = VAEModule.from_config(cfg, data_shape=(1, 28, 28), condition_dim=3 if conditional else 0).vae
    condition = torch.eye(3)[[0, 1, 2, 1]] if conditional else None
    terms = vae.elbo_terms(torch.rand(4, 1, 28, 28), condition=condition)
    (terms.recon_loss + terms.kl).mean().backward()
    assert torch.isfinite(terms.kl).all()
    assert all(p.grad is not None for p in vae.prior.parameters())
    assert vae.sample(2, condition=None if condition is None else condition[:2]).shape == (2, 1, 28, 28)


@pytest.mark.parametrize("scheduler", options("scheduler"))
@pytest.mark.parametrize("optimizer", options("optimizer"))
def test_optimizers_and_schedulers_are_partials_the_module_completes(optimizer, scheduler, tmp_path):
    cfg = compose_train([f"optimizer={optimizer}", f"scheduler={scheduler}", "data=ring", "likelihood=gaussian"], tmp_path)
    configured = VAEModule.from_config(cfg, data_shape=(2,)).configure_optimizers()
    assert isinstance(configured["optimizer"], torch.optim.Optimizer)
    assert isinstance(configured["lr_scheduler"]["scheduler"], torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert configured["lr_scheduler"]["interval"] == "epoch"


@pytest.mark.parametrize("trainer", options("trainer"))
def test_trainer_configs_compose(trainer, tmp_path):
    cfg = compose_train([f"trainer={trainer}"], tmp_path)
    assert cfg.trainer._target_ == "lightning.pytorch.Trainer"
    assert cfg.trainer.use_distributed_sampler is False


def test_callbacks_and_csv_logger_build(tmp_path):
    cfg = compose_train(["logger=csv"], tmp_path)
    (logger,) = build_loggers(cfg)
    assert isinstance(logger, CSVLogger) and Path(logger.log_dir) == tmp_path
    names = {type(callback).__name__ for callback in build_callbacks(cfg)}
    assert "ModelCheckpoint" in names


@pytest.mark.parametrize("data", options("data"))
def test_data_configs_build_data_modules(data, tmp_path):
    required = {"csv": ["data.path=table.csv"], "array": ["data.path=x.npy"], "image_folder": ["data.path=images"],
                "dataset": ["data.dataset._target_=torchvision.datasets.FakeData"]}  # fmt: skip
    cfg = compose_train([f"data={data}", *required.get(data, [])], tmp_path)
    datamodule = instantiate(cfg.data)
    assert datamodule.batch_size == cfg.data.batch_size


def test_pytorch_examples_experiment_is_the_reference_setup(tmp_path):
    cfg = compose_train(["experiment=pytorch_examples"], tmp_path)
    assert cfg.data._target_.endswith("MNISTDataModule") and cfg.data.pixels == "grey" and cfg.data.batch_size == 128
    assert list(cfg.encoder.hidden_sizes) == [400] and list(cfg.decoder.hidden_sizes) == [400]
    assert cfg.encoder.activation == cfg.decoder.activation == "relu"
    assert cfg.model.latent_dim == 20 and cfg.likelihood._target_.endswith("BernoulliLikelihood")
    assert cfg.optimizer._target_ == "torch.optim.Adam" and cfg.optimizer.lr == 1e-3
    assert cfg.trainer.max_epochs == 10
    module = VAEModule.from_config(cfg, data_shape=(1, 28, 28))
    assert sum(p.numel() for p in module.parameters()) == 652_824  # 784-400-(20+20) and 20-400-784


def test_configs_ship_inside_a_non_editable_install(tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target), str(REPO)],
        check=True,
        capture_output=True,
    )
    assert (target / "vae_lab" / "conf" / "experiment" / "pytorch_examples.yaml").is_file()
    result = subprocess.run(
        [sys.executable, "-m", "vae_lab", "train", "--cfg", "job", "experiment=pytorch_examples"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "latent_dim: 20" in result.stdout
    assert (
        str(target)
        in subprocess.run(
            [sys.executable, "-c", "import vae_lab; print(vae_lab.__file__)"],
            cwd=tmp_path,
            env={"PYTHONPATH": str(target)},
            capture_output=True,
            text=True,
        ).stdout
    )


@pytest.mark.parametrize("override, refused", [("optimizer.lr=-1", "Invalid learning rate"), ("optimizer.betas=[0.9,1.5]", "beta")])
def test_an_optimizer_setting_torch_refuses_is_one_config_error_naming_the_settings(override, refused, tmp_path):
    cfg = compose_train([override], tmp_path)
    with pytest.raises(ConfigError, match=rf"optimizer \(torch.optim.Adam\) refuses its settings .*{override.split('=')[0]}=.*: .*{refused}"):
        VAEModule.from_config(cfg, data_shape=(1, 28, 28))


def test_a_data_kind_with_one_fitting_likelihood_chooses_it_unless_one_is_given(tmp_path):
    likelihood = {  # data overrides -> the likelihood composed
        ("data=csv", "data.path=t.csv"): "TabularLikelihood",
        ("data=ring",): "GaussianLikelihood",
        ("data=ring", "likelihood=bernoulli"): "BernoulliLikelihood",  # the command line wins
        ("data=mnist",): "BernoulliLikelihood",
    }
    for overrides, expected in likelihood.items():
        assert compose_train(list(overrides), tmp_path).likelihood._target_.endswith(expected), overrides
