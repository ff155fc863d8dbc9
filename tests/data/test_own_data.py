"""Users' own data: a folder of images (PNG and JPEG, RGB, two classes, mixed sizes), .npy/.npz arrays and
any torch Dataset, trained, evaluated, sampled and encoded through the CLI; bad input is one message."""

import json
import math

import numpy as np
import pytest
import torch
from conftest import TINY, compose_train, run_cli
from PIL import Image

import vae_lab
from vae_lab.api import fit
from vae_lab.data.image_folder import ImageFolderDataModule
from vae_lab.errors import ConfigError, DataError
from vae_lab.training.assembly import build_datamodule

pytestmark = pytest.mark.slow  # each test runs `vae-lab` processes

CONV_RGB = [*(o for o in TINY if "hidden_sizes" not in o), "data=image_folder", "encoder=conv", "decoder=conv",
            "likelihood=discretized_logistic", "likelihood.components=2", "encoder.channels=[8,16]", "decoder.channels=[16,8]",
            "encoder.hidden_size=32", "decoder.hidden_size=32", "data.val_size=4", "data.test_size=4", "data.batch_size=8", "trainer.max_epochs=1"]  # fmt: skip


def write_image_folder(folder, per_class: int = 12, classes=("cats", "dogs"), sizes=((40, 36), (33, 50))):
    """Two classes of RGB images, alternately PNG and JPEG and of two sizes; class c is bright in channel c."""
    rng = np.random.default_rng(0)
    for label, name in enumerate(classes):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            height, width = sizes[i % len(sizes)]
            pixels = rng.integers(0, 60, size=(height, width, 3), dtype=np.uint8)
            pixels[:, : width // 2, label] = 220
            Image.fromarray(pixels).save(folder / name / f"{i:03d}.{'png' if i % 2 else 'jpg'}")
    return folder


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("own") / "pets")


def test_an_image_folder_trains_evaluates_samples_and_encodes_through_the_cli(image_folder, tmp_path):
    trained = run_cli(["train", *CONV_RGB, f"data.path={image_folder}", "data.image_size=32", "run_name=pets"], cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    checkpoint = tmp_path / "runs" / "train" / "pets" / "checkpoints" / "last.ckpt"
    for command in (["eval", "eval.iwae_samples=8", "eval.refine_examples=2", "eval.refine_steps=2", "eval.fidelity_samples=0"],
                    ["sample", "n=6"], ["encode", "split=train"]):  # fmt: skip
        done = run_cli([*command, f"ckpt_path={checkpoint}"], cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    report = json.loads((checkpoint.parent / "eval.json").read_text())
    assert report["bits_per_dim"] == pytest.approx(report["nll"] / (3 * 32 * 32 * math.log(2)))
    assert 0 < report["bits_per_dim"] < 12  # a probability of 256 values per dimension: 8 bits is uniform
    assert torch.load(checkpoint.parent / "samples_mean.pt").shape == (6, 3, 32, 32)
    assert (checkpoint.parent / "samples_mean.png").is_file()
    latents = np.load(checkpoint.parent / "latents_train.npz")
    assert latents["mean"].shape == (16, 4) and set(latents["y"]) == {0, 1}  # labels from the class folders


def test_a_folder_of_classes_conditions_a_conv_vae_on_its_class_names(image_folder, tmp_path):
    cfg = compose_train([*CONV_RGB, f"data.path={image_folder}", "data.image_size=32", "model.condition=label", "prior=conditional"], tmp_path)
    run = vae_lab.load_run(fit(cfg)["last_checkpoint"])
    assert run.datamodule.conditions.variables[0].values == ["cats", "dogs"]
    assert run.sample(4, condition={"label": "dogs"}, seed=0).shape == (4, 3, 32, 32)
    assert torch.isfinite(run.elbo("test", num_samples=2)).all()  # each image given its own class
    with pytest.raises(ConfigError, match="label takes one of: cats, dogs"):
        run.sample(2, condition={"label": "birds"})


def test_64x64_rgb_trains_with_the_same_config_reading_images_from_disk(image_folder, tmp_path):
    cfg = compose_train([*CONV_RGB, f"data.path={image_folder}", "data.image_size=64", "data.in_memory=false", "data.num_workers=1"], tmp_path)
    results = fit(cfg)
    assert results["status"] == "completed" and math.isfinite(results["test/elbo"])
    datamodule = build_datamodule(cfg)
    assert datamodule.data_shape == (3, 64, 64) and not datamodule.held_in_memory
    in_memory = build_datamodule(compose_train([*CONV_RGB, f"data.path={image_folder}", "data.image_size=64", "data.in_memory=true"], tmp_path))
    for name in ("train", "test"):  # the same images, labels and order either way
        on_disk, held = datamodule.split(name), in_memory.split(name)
        assert torch.equal(on_disk.rows(torch.arange(len(on_disk))).stored, held.stored) and torch.equal(on_disk.y, held.y)


def test_arrays_npy_and_npz_train_and_encode_through_the_cli(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "vectors.npy", rng.normal(size=(300, 6)).astype(np.float32))
    np.savez(tmp_path / "images.npz", pixels=rng.integers(0, 256, size=(300, 1, 8, 8), dtype=np.uint8), digit=rng.integers(0, 3, 300))
    vectors = fit(compose_train([*TINY, "data=array", f"data.path={tmp_path / 'vectors.npy'}", "likelihood=gaussian", "data.val_size=0.2"], tmp_path / "v"))
    assert vectors["status"] == "completed"
    options = ["data=array", f"data.path={tmp_path / 'images.npz'}", "data.key=pixels", "data.labels_key=digit", "run_name=npz"]
    trained = run_cli(["train", *TINY, "data.val_size=0.2", *options], cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    encoded = run_cli(["encode", f"ckpt_path={tmp_path / 'runs/train/npz/checkpoints/last.ckpt'}", "output=z.npz"], cwd=tmp_path)
    assert encoded.returncode == 0, encoded.stderr
    latents = np.load(tmp_path / "z.npz")
    assert latents["mean"].shape == (30, 4) and set(latents["y"]) <= {0, 1, 2}
    checkpoint = f"ckpt_path={tmp_path / 'runs/train/npz/checkpoints/last.ckpt'}"
    for command in (["eval", checkpoint, "eval.iwae_samples=5", "eval.refine_examples=0", "output=eval.json"], ["sample", checkpoint, "n=4", "output=s"]):
        done = run_cli(command, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert torch.load(tmp_path / "s.pt").shape == (4, 1, 8, 8) and (tmp_path / "s.png").is_file()
    assert json.loads((tmp_path / "eval.json").read_text())["examples"] == 30


def test_any_torch_dataset_is_wrapped_with_our_splits_and_order(tmp_path):
    dataset = ["data=dataset", "data.dataset._target_=torchvision.datasets.FakeData", "+data.dataset.size=120",
               "+data.dataset.image_size=[1,8,8]", "+data.dataset.num_classes=3",
               "+data.dataset.transform._target_=torchvision.transforms.PILToTensor", "data.val_size=20"]  # fmt: skip
    cfg = compose_train([*TINY, *dataset], tmp_path)
    datamodule = build_datamodule(cfg)
    assert datamodule.data_shape == (1, 8, 8) and datamodule.split("train").stored.dtype == torch.uint8
    assert sum(len(datamodule.split(name)) for name in ("train", "val", "test")) == 120
    assert fit(cfg)["status"] == "completed"


def test_bad_own_data_is_one_message_at_the_cli_and_writes_nothing(tmp_path):
    (tmp_path / "empty").mkdir()
    broken = write_image_folder(tmp_path / "broken", per_class=3)
    (broken / "dogs" / "001.png").write_bytes((broken / "dogs" / "001.png").read_bytes()[:100])  # truncated
    for folder, message in ((tmp_path / "empty", "holds no images"), (broken, "001.png cannot be read")):
        done = run_cli(["train", *CONV_RGB, f"data.path={folder}", "data.image_size=16"], cwd=tmp_path)
        output = done.stdout + done.stderr
        assert done.returncode == 2 and message in output, output
        errors = [line for line in output.splitlines() if "ERROR" in line]
        assert "Traceback" not in output and len(errors) == 1 and message in errors[0]
        assert not (tmp_path / "runs").exists()  # nothing written: the run directory was taken away again


def test_bad_own_data_names_what_is_wrong(image_folder, tmp_path):
    cases = [
        ([f"data.path={image_folder}"], DataError, "different sizes .* set data.image_size=N"),
        ([f"data.path={tmp_path / 'nowhere'}"], DataError, "is not a folder"),
        ([f"data.path={image_folder}", "data.image_size=16", "data.pixels=dynamic"], ConfigError, "binarization is for one channel"),
    ]
    for overrides, error, message in cases:
        with pytest.raises(error, match=message):
            build_datamodule(compose_train([*CONV_RGB, *overrides], tmp_path))
    np.save(tmp_path / "flat.npy", np.zeros(10, dtype=np.float32))
    with pytest.raises(DataError, match=r"shape \(10,\), but examples need shape \(n, \*data_shape\)"):
        build_datamodule(compose_train(["data=array", f"data.path={tmp_path / 'flat.npy'}"], tmp_path))
    np.savez(tmp_path / "two.npz", a=np.zeros((5, 2)), b=np.zeros((5, 2)))
    with pytest.raises(ConfigError, match="several arrays .a, b.; choose the examples with data.key"):
        build_datamodule(compose_train(["data=array", f"data.path={tmp_path / 'two.npz'}"], tmp_path))
    with pytest.raises(DataError, match="returned a PIL.Image.Image for item 0; it must return a tensor"):
        build_datamodule(compose_train(["data=dataset", "data.dataset._target_=torchvision.datasets.FakeData", "+data.dataset.size=4"], tmp_path))


def test_in_memory_auto_follows_the_memory_budget(image_folder):
    small, large = (ImageFolderDataModule(str(image_folder), image_size=8, memory_budget_mb=mb) for mb in (0.001, 100))
    small.setup(), large.setup()
    assert not small.held_in_memory and large.held_in_memory
    assert isinstance(large.split("train").stored, torch.Tensor) and small.split("train").nbytes < large.split("train").nbytes
