"""Picture callbacks: PNGs of the expected size in the run directory, images in an offline W&B run."""

from pathlib import Path

import pytest
from conftest import TINY, TINY_MNIST, assert_one_clear_message, compose_train, run_cli
from PIL import Image
from wandb_offline import finished_offline_run, offline_runs

from vae_lab.api import fit
from vae_lab.errors import ConfigError

RING = [*TINY, "data=ring", "likelihood=gaussian", "data.num_samples=600"]

# (height, width) in pixels. Grids of 28x28 cells with 2-pixel padding: rows * 30 + 2 by columns * 30 + 2.
IMAGE_PICTURES = {
    "reconstructions": (4 * 30 + 2, 8 * 30 + 2),  # 16 inputs and their reconstructions, 8 a row
    "samples": (2 * 30 + 2, 8 * 30 + 2),  # 16 prior samples
    "traversal": (4 * 30 + 2, 9 * 30 + 2),  # 4 latent dimensions x 9 steps
    "interpolation": (8 * 30 + 2, 9 * 30 + 2),  # 8 pairs x 9 steps
    "latent_space": (500, 500),  # one 5-inch panel at 100 dpi (PCA of the 4-D latent)
}
VECTOR_PICTURES = {"histograms": (250, 2 * 300), "latent_space": (500, 500)}  # ring: 2 features; 2-D latent


def fit_with_pictures(overrides, run_dir, monkeypatch, data_dir=None):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    pictures = ["callbacks=pictures", "callbacks.pictures.every_n_epochs=1", "logger=csv_wandb"]
    results = fit(compose_train([*overrides, *pictures], run_dir, data_dir))
    return results, finished_offline_run(run_dir)


def assert_pictures(run_dir: Path, run, expected: dict[str, tuple[int, int]], epochs: int):
    written = sorted(path.name for path in (run_dir / "pictures").iterdir())
    assert written == sorted(f"{name}_epoch{epoch:03d}.png" for name in expected for epoch in range(1, epochs + 1))
    logged = {key.rsplit("/", 1)[0]: row for row in run.history for key in row if key.startswith("pictures/")}
    assert set(logged) == {f"pictures/{name}" for name in expected}
    for name, (height, width) in expected.items():
        path = run_dir / "pictures" / f"{name}_epoch{epochs:03d}.png"
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size == (width, height), name
            assert len(set(image.convert("L").getdata())) > 2, f"{name} is blank"
        row = logged[f"pictures/{name}"]
        assert row[f"pictures/{name}/_type"] == "images/separated"
        assert (row[f"pictures/{name}/height"], row[f"pictures/{name}/width"]) == (height, width)
        (media,) = row[f"pictures/{name}/filenames"]
        assert (offline_runs(run_dir)[0].parent / "files" / media).stat().st_size > 0


def test_image_pictures_every_epoch_and_in_wandb(tiny_data_dir, tmp_path, monkeypatch):
    results, run = fit_with_pictures(TINY_MNIST, tmp_path, monkeypatch, tiny_data_dir)
    assert_pictures(tmp_path, run, IMAGE_PICTURES, epochs=2)
    assert results["status"] == "completed"


def test_vector_data_gets_histograms_and_its_2d_latent_space(tmp_path, monkeypatch):
    _, run = fit_with_pictures([*RING, "model.latent_dim=2"], tmp_path, monkeypatch)
    assert_pictures(tmp_path, run, VECTOR_PICTURES, epochs=2)


def test_pictures_leave_training_unchanged(tmp_path):
    """Pictures draw their own seeded random numbers: the run's numbers are those of a run without them."""
    plain = fit(compose_train(RING, tmp_path / "plain"))
    pictured = fit(compose_train([*RING, "callbacks=pictures", "callbacks.pictures.every_n_epochs=1"], tmp_path / "pictured"))
    assert pictured["test/elbo"] == plain["test/elbo"]
    assert (tmp_path / "pictured" / "pictures" / "histograms_epoch002.png").is_file()


def test_every_n_epochs_and_at_end(tmp_path):
    overrides = [*RING, "trainer.max_epochs=3", "callbacks=pictures", "callbacks.pictures.every_n_epochs=2", "callbacks.pictures.draw=[histograms]"]
    fit(compose_train(overrides, tmp_path))
    assert sorted(path.name for path in (tmp_path / "pictures").iterdir()) == ["histograms_epoch002.png", "histograms_epoch003.png"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model.latent_dim=1", "callbacks.pictures.projection=pca"], "a 2-D latent-space plot needs model.latent_dim >= 2"),
        (
            ["model.latent_dim=3", "callbacks.pictures.projection=none"],
            "callbacks.pictures.projection=none plots the latent space directly and needs model.latent_dim=2, got 3",
        ),
        (["callbacks.pictures.projection=tsne"], "callbacks.pictures.projection must be one of: auto, none, pca; got 'tsne'"),
        (["callbacks.pictures.draw=[samples,umap]"], "unknown picture umap; choose from: reconstructions"),
    ],
)
def test_pictures_that_cannot_work_are_config_errors_before_training(overrides, message, tmp_path):
    with pytest.raises(ConfigError) as error:
        fit(compose_train([*RING, "callbacks=pictures", *overrides], tmp_path))
    assert message in str(error.value)
    assert not (tmp_path / "checkpoints").exists()


def test_a_1d_latent_asked_for_a_2d_plot_is_one_message_at_startup(tmp_path):
    run_dir = tmp_path / "run"
    overrides = [*RING, "model.latent_dim=1", "callbacks=pictures", "callbacks.pictures.projection=none", f"hydra.run.dir={run_dir}"]
    result = run_cli(["train", *overrides], cwd=tmp_path)
    assert_one_clear_message(result, "a 2-D latent-space plot needs model.latent_dim >= 2", "but the model's latent_dim is 1", code=2)
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "pictures").exists()
