"""Statically binarized MNIST (.amat files written by the test), and the data-module hooks of image data."""

import pytest
import torch
from conftest import compose_train, write_amat_files
from PIL import Image

from vae_lab.api.sample_files import write_samples
from vae_lab.data.binarized_mnist import BinarizedMNISTDataModule
from vae_lab.data.in_memory import InMemoryDataModule
from vae_lab.errors import DataError
from vae_lab.evaluation.sample_fidelity import sample_fidelity
from vae_lab.training.assembly import build_datamodule


def test_reads_the_three_official_splits_plain_or_gzipped(tmp_path):
    rows = write_amat_files(tmp_path)
    datamodule = BinarizedMNISTDataModule(data_dir=str(tmp_path))
    datamodule.setup()
    assert datamodule.data_shape == (1, 28, 28)
    for split, name in (("train", "train"), ("val", "valid"), ("test", "test")):
        data = datamodule.split(split)
        assert torch.equal(data.x.view(-1, 784), rows[name])
        assert (data.y == -1).all()
    assert datamodule.provenance() == {
        "dataset": "binarized_mnist",
        "binarization": "static (Larochelle & Murray 2011)",
        "folder": str(tmp_path / "binarized_mnist"),
    }


def test_the_config_option_builds_it_from_paths_data_dir(tmp_path):
    write_amat_files(tmp_path)
    cfg = compose_train(["data=binarized_mnist"], tmp_path / "run", data_dir=tmp_path)
    datamodule = build_datamodule(cfg)
    assert isinstance(datamodule, BinarizedMNISTDataModule) and len(datamodule.split("val")) == 10


def test_missing_files_are_named_with_the_folder(tmp_path):
    write_amat_files(tmp_path)
    (tmp_path / "binarized_mnist" / "binarized_mnist_valid.amat").unlink()
    with pytest.raises(DataError) as error:
        BinarizedMNISTDataModule(data_dir=str(tmp_path)).setup()
    message = str(error.value)
    assert "binarized_mnist_valid.amat[.gz] missing in" in message and str(tmp_path / "binarized_mnist") in message
    assert "binarized_mnist_train" not in message.split("missing")[0]


@pytest.mark.parametrize(
    "bad_line, row, fragment",
    [
        ("0 " * 785, 3, "Expected 784 fields in line 3"),
        ("0 " * 783, 3, "row 3 holds fewer than 784 values"),
        ("1 " * 783 + "2", 3, "row 3 holds the value 2"),
        ("0 " * 783 + "x", 3, "row 3 holds a value that is not a number"),
    ],
)
def test_malformed_rows_are_named_by_file_and_row(tmp_path, bad_line, row, fragment):
    write_amat_files(tmp_path, gzipped=())
    path = tmp_path / "binarized_mnist" / "binarized_mnist_test.amat"
    lines = path.read_text().splitlines()
    lines[row - 1] = bad_line.strip()
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=fragment) as error:
        BinarizedMNISTDataModule(data_dir=str(tmp_path)).setup()
    assert str(path) in str(error.value)


def test_an_empty_file_is_refused(tmp_path):
    write_amat_files(tmp_path, gzipped=())
    (tmp_path / "binarized_mnist" / "binarized_mnist_train.amat").write_text("")
    with pytest.raises(DataError, match="binarized_mnist_train.amat is empty"):
        BinarizedMNISTDataModule(data_dir=str(tmp_path)).setup()


def test_image_data_writes_samples_as_a_tensor_and_a_png_grid(tmp_path):
    write_amat_files(tmp_path)
    samples = torch.rand(10, 1, 28, 28)
    paths = write_samples(BinarizedMNISTDataModule(data_dir=str(tmp_path)), samples, tmp_path / "out" / "samples")
    assert [p.name for p in paths] == ["samples.pt", "samples.png"]
    assert torch.equal(torch.load(paths[0]), samples)
    with Image.open(paths[1]) as image:  # a 4 x 3 grid of 28 x 28 images with 1-pixel padding
        assert image.size == (4 * 29 + 1, 3 * 29 + 1)


def test_the_default_hooks_of_any_data_module(tmp_path):
    class Vectors(InMemoryDataModule):
        name = "vectors"

    samples = torch.randn(5, 3)
    datamodule = Vectors()
    assert write_samples(datamodule, samples, tmp_path / "s") == [tmp_path / "s.pt"]
    assert torch.equal(torch.load(tmp_path / "s.pt"), samples)
    assert sample_fidelity(datamodule, samples, "test") == {}
    assert datamodule.provenance() == {"dataset": "vectors"}
