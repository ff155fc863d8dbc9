"""Every bad config value is one message naming the full key, the value and what is allowed (config_schema)."""

import concurrent.futures
import dataclasses
import inspect

import pytest
from conftest import compose_train, run_cli
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from vae_lab.config_schema import ModelSettings, check_config
from vae_lab.errors import ConfigError
from vae_lab.training.module import TRAINING_SETTINGS, VAEModule


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["trainer.max_epochs=abc"], "trainer.max_epochs='abc': must be a valid integer, unable to parse string as an integer (a setting of lightning"),
        (["+trainer.max_epoch=3"], "trainer.max_epoch is not a setting of lightning.pytorch.Trainer; it takes: accelerator, strategy"),
        (["data.val_size=1.5"], "data.val_size=1.5: must be a count >= 1 or a fraction in (0, 1) (a setting of vae_lab.data.images.MNISTDataModule)"),
        (["data.val_size=true"], "data.val_size=True: must be a count >= 1 or a fraction in (0, 1)"),
        (["data.batch_size=0"], "data.batch_size=0: must be greater than or equal to 1"),
        (["data.pixels=gray"], "data.pixels='gray': must be 'grey', 'dynamic' or 'static'"),
        (["encoder.dropout=1.0"], "encoder.dropout=1.0: must be less than 1 (a setting of vae_lab.models.encoders.MLPEncoder)"),
        (["decoder.activation=sigmoid"], "decoder.activation='sigmoid': must be 'relu', 'tanh', 'elu', 'gelu', 'silu', 'leaky_relu' or 'softplus'"),
        (["model.latent_dim=0"], "model.latent_dim=0: must be greater than or equal to 1"),
        (["model.beta=-1"], "model.beta=-1: must be greater than or equal to 0"),
        (["model.free_bits=inf"], "model.free_bits='inf': must be a finite number"),
        (["model.objective=vi"], "model.objective='vi': must be 'elbo' or 'iwae'"),
        (["model/kl_schedule=cyclical", "model.kl_schedule.ratio=1.5"], "model.kl_schedule.ratio=1.5: must be less than or equal to 1"),
        (["model/kl_schedule=linear_warmup", "model.kl_schedule.unit=batches"], "model.kl_schedule.unit='batches': must be 'steps' or 'epochs'"),
        (["optimizer.lr=fast"], "optimizer.lr='fast': must be a valid number, unable to parse string as a number"),
        (["scheduler=burda", "scheduler.scheduler.lr_lambda.epoch_scale=0"], "scheduler.scheduler.lr_lambda.epoch_scale=0: must be greater than 0"),
        (["callbacks.collapse_monitor.patience=0"], "callbacks.collapse_monitor.patience=0: must be greater than or equal to 1"),
        (["callbacks=pictures", "callbacks.pictures.num_examples=1"], "callbacks.pictures.num_examples=1: must be greater than or equal to 2"),
        (["prior=mixture_of_gaussians", "+prior.colour=red"], "prior.colour is not a setting of vae_lab.models.priors.MixtureOfGaussiansPrior"),
        (["seed=abc"], "seed='abc': must be a valid integer"),
    ],
)
def test_a_bad_value_in_any_group_is_one_message_naming_key_value_and_what_is_allowed(overrides, message, tmp_path):
    with pytest.raises(ConfigError) as error:
        check_config(compose_train(overrides, tmp_path))
    assert str(error.value).startswith(message)


def test_every_shipped_config_passes(tmp_path):
    for overrides in (["experiment=tabular", "data.path=t.csv"], ["experiment=mnist_best"], ["experiment=burda_vae"], ["trainer=ddp_cpu"],
                      ["callbacks=[pictures,ema,early_stopping,val_log_likelihood]", "scheduler=cosine", "logger=csv_wandb"],
                      ["prior=vamp", "optimizer=adamw", "scheduler=plateau"], ["cluster=slurm_cpu"], ["hparams_search=optuna"],
                      ["data=image_folder", "data.path=d", "encoder=conv", "decoder=conv", "likelihood=discretized_logistic"]):  # fmt: skip
        check_config(compose_train(overrides, tmp_path))
    commands = {"eval": ["ckpt_path=a.ckpt"], "sample": ["ckpt_path=a.ckpt"], "encode": [], "impute": [], "figure": ["runs=r", "paths.output_dir=out"]}
    for command, overrides in commands.items():
        with initialize_config_module(config_module="vae_lab.conf", version_base="1.3"):
            check_config(compose(command, overrides))


@pytest.mark.parametrize(
    "command, overrides, message",
    [
        ("eval", ["ckpt_path=a.ckpt", "compile=maybe"], "compile='maybe'"),
        ("sample", ["ckpt_path=a.ckpt", "sample.mode=median"], "sample.mode='median': must be 'mean' or 'sample'"),
        ("sample", ["ckpt_path=a.ckpt", "sample.calibrate=marginals"], "sample.calibrate='marginals': must be 'all', 'missing' or 'none'"),
    ],
)
def test_a_bad_value_of_a_command_is_one_message_naming_key_value_and_what_is_allowed(command, overrides, message):
    with initialize_config_module(config_module="vae_lab.conf", version_base="1.3"):
        cfg = compose(command, overrides)
    with pytest.raises(ConfigError) as error:
        check_config(cfg)
    assert str(error.value).startswith(message)


# Each way a bad value reaches the command line once (the typed check's many values are tested in-process above).
BAD_COMMANDS = [
    ["train", "trainer.max_epochs=abc"],  # a wrong type
    ["train", "trainer.precision=bf17"],  # not one of the choices of a third-party argument
    ["train", "+trainer.max_epoch=3"],  # an unknown key of a third-party constructor
    ["train", "trainer.max_epoch=3"],  # an unknown key (Hydra)
    ["train", "data=mnist_fancy"],  # an unknown option of a group (Hydra)
    ["train", "model.beta=nan"],
    ["train", "data=ring", "likelihood=gaussian", "optimizer.lr=-1"],  # torch's Adam refuses it when built
    ["train", "data=ring", "likelihood=gaussian", "trainer.strategy=warp_drive"],  # Lightning's Trainer refuses it when built
    ["train", "data=ring", "likelihood=gaussian", "callbacks=early_stopping", "callbacks.early_stopping.mode=sideways"],  # Lightning refuses it
    ["train", "logger=csv_wandb", "+logger.csv.flush_every=3"],
    ["train", "scheduler=null"],  # Hydra spells "no choice" ~scheduler
    ["train", "experiment=burda_vae", "~scheduler", "+scheduler.scheduler.lr_lambda.epoch_scale=0.5"],  # settings, no scheduler
    ["eval", "ckpt_path=model.ckpt", "split=valid"],
    ["eval", "ckpt_path=model.ckpt", "eval.iwae_samples=0"],  # checked by the command, before it reads the checkpoint
    ["sample", "ckpt_path=model.ckpt", "n=0"],
    ["encode", "ckpt_path=model.ckpt", "batch_size=-5"],
    ["impute", "ckpt_path=model.ckpt", "input=a.csv", "output=b.csv", "draws=-1"],
    ["figure", "runs=runs/train/x", "projection=tsne"],
]


@pytest.mark.slow
def test_bad_values_across_every_command_exit_2_with_one_message_and_write_nothing(tmp_path):
    folders = [tmp_path / f"case{i}" for i in range(len(BAD_COMMANDS))]
    for folder in folders:
        folder.mkdir()
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        done = list(pool.map(lambda case: run_cli(*case), zip(BAD_COMMANDS, folders)))
    for command, folder, result in zip(BAD_COMMANDS, folders, done):
        output = result.stdout + result.stderr
        assert result.returncode == 2, f"{command}: exit {result.returncode}\n{output}"
        assert "Traceback" not in output, f"{command}:\n{output}"
        errors = [line for line in output.splitlines() if "ERROR" in line]
        assert len(errors) <= 1, f"{command}: more than one message\n{output}"  # Hydra's own messages carry no ERROR prefix
        key = next(arg.split("=")[0].lstrip("+") for arg in reversed(command) if "=" in arg and not arg.startswith(("ckpt_path", "callbacks=")))
        assert key.split(".")[-1] in output, f"{command}: the message does not name {key}\n{output}"
        assert list(folder.iterdir()) == [], f"{command} wrote {list(folder.iterdir())}"


def test_the_model_settings_have_one_declaration_that_the_config_and_the_training_plan_follow(tmp_path):
    """config_schema.ModelSettings declares the model node: conf/model/vae.yaml holds its keys with its defaults, and
    the training plan's constructor defaults are the same values."""
    cfg = compose_train([], tmp_path)
    declared = {field.name: field.default for field in dataclasses.fields(ModelSettings)}
    assert set(cfg.model) == set(declared)
    assert {key: value for key, value in OmegaConf.to_container(cfg.model).items() if key != "kl_schedule"} == {
        key: value for key, value in declared.items() if key != "kl_schedule"
    }
    constructor = inspect.signature(VAEModule.__init__).parameters
    assert {name: constructor[name].default for name in TRAINING_SETTINGS} == {name: declared[name] for name in TRAINING_SETTINGS}
