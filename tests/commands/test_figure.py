"""The seed's three-panel latent figure: a real multirun of the three latent experiments, then `vae-lab figure`."""

import pytest
from conftest import TINY, TINY_MNIST, assert_one_clear_message, compose_train, run_cli
from hydra import compose, initialize_config_module
from PIL import Image

from vae_lab.api import fit
from vae_lab.commands.figure import task
from vae_lab.errors import CheckpointError, ConfigError

LATENT_2D = [*TINY_MNIST, "model.latent_dim=2", "trainer.max_epochs=1"]


@pytest.fixture(scope="module")
def sweep_dir(tiny_data_dir, tmp_path_factory):
    cwd = tmp_path_factory.mktemp("sweep")
    sweep = cwd / "sweep"
    result = run_cli(
        ["train", "-m", "experiment=latent_recon_only,latent_kl_only,latent_vae", *LATENT_2D, f"paths.data_dir={tiny_data_dir}", f"hydra.sweep.dir={sweep}"],
        cwd=cwd,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return sweep


def compose_figure(overrides):
    with initialize_config_module(config_module="vae_lab.conf", version_base="1.3"):
        return compose(config_name="figure", overrides=overrides)


def test_the_figure_of_a_sweep_has_one_panel_per_experiment_in_job_order(sweep_dir, tmp_path):
    output = tmp_path / "latent_spaces.png"
    result = run_cli(["figure", f"runs={sweep_dir}", f"output={output}", f"hydra.run.dir={tmp_path / 'figure_run'}"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    with Image.open(output) as image:
        assert image.size == (3 * 500, 500)
    titles = [line for line in result.stdout.splitlines() if "units active" in line]
    assert ["reconstruction loss only" in titles[0], "KL loss only" in titles[1], "reconstruction + KL loss" in titles[2]] == [True] * 3
    assert "KL 0.00 nats, 0/2 units active" in titles[1]  # KL only: every code is the prior
    for job in ("0", "1", "2"):  # the experiments drew their own pictures too
        assert (sweep_dir / job / "pictures" / "latent_space_epoch001.png").is_file()


def test_runs_can_be_listed_with_titles(sweep_dir, tmp_path):
    cfg = compose_figure([f"runs=[{sweep_dir / '2'},{sweep_dir / '0' / 'checkpoints' / 'last.ckpt'}]", "titles=[VAE,AE]", f"output={tmp_path / 'two.png'}"])
    with Image.open(task(cfg)) as image:
        assert image.size == (2 * 500, 500)


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        (["titles=[one]"], ConfigError, "titles has 1 entries for 3 runs"),
        (["projection=pca", "runs=/no/such/run"], CheckpointError, "/no/such/run is not a run directory, a sweep directory or a checkpoint file"),
    ],
)
def test_bad_figure_requests_are_one_clear_error(sweep_dir, tmp_path, overrides, error, message):
    cfg = compose_figure([f"runs={sweep_dir}", f"output={tmp_path / 'x.png'}", *overrides])
    with pytest.raises(error) as raised:
        task(cfg)
    assert message in str(raised.value)
    assert not (tmp_path / "x.png").exists()


def test_a_1d_latent_run_is_refused_before_drawing(tmp_path):
    run_dir = tmp_path / "run"
    fit(compose_train([*TINY, "data=ring", "likelihood=gaussian", "data.num_samples=600", "model.latent_dim=1"], run_dir))
    result = run_cli(["figure", f"runs={run_dir}", f"output={tmp_path / 'x.png'}", f"hydra.run.dir={tmp_path / 'figure_run'}"], cwd=tmp_path)
    assert_one_clear_message(result, "a 2-D latent-space plot needs model.latent_dim >= 2", "latent_dim is 1", code=2)
    assert not (tmp_path / "x.png").exists()
