"""MNIST-like data: finding and parsing the IDX files, uint8 storage, pixel modes, splits."""

import gzip
import shutil

import pytest
import torch
from conftest import write_mnist_files
from torchvision.datasets import MNIST

from vae_lab.data import idx_files
from vae_lab.data.images import FashionMNISTDataModule, MNISTDataModule
from vae_lab.data.in_memory import Split, SplitDataset, fits_on_device
from vae_lab.errors import ConfigError, DataError


def make(data_dir, **kwargs) -> MNISTDataModule:
    datamodule = MNISTDataModule(data_dir=str(data_dir), val_size=100, download=False, **kwargs)
    datamodule.setup()
    return datamodule


def test_reads_gzipped_idx_files_in_torchvision_layout(tiny_data_dir):
    datamodule = make(tiny_data_dir)
    train, val, test = (datamodule.split(s) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (500, 100, 200)
    assert datamodule.data_shape == (1, 28, 28)
    assert train.x.dtype == torch.float32 and 0 <= train.x.min() and train.x.max() <= 1
    assert train.y.dtype == torch.long and set(train.y.unique().tolist()) <= set(range(10))


def test_uncompressed_files_are_read_the_same(tiny_data_dir, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in (tiny_data_dir / "MNIST" / "raw").glob("*.gz"):
        with gzip.open(gz) as source, open(raw / gz.stem, "wb") as target:
            shutil.copyfileobj(source, target)
    plain, gzipped = make(tmp_path), make(tiny_data_dir)
    assert torch.equal(plain.split("test").x, gzipped.split("test").x)


def test_validation_split_is_seeded_and_disjoint(tiny_data_dir):
    a, b, c = make(tiny_data_dir, seed=0), make(tiny_data_dir, seed=0), make(tiny_data_dir, seed=1)
    assert torch.equal(a.split("val").x, b.split("val").x)
    assert not torch.equal(a.split("val").x, c.split("val").x)
    all_train = idx_files.read(tiny_data_dir / "MNIST" / "raw" / "train-images-idx3-ubyte.gz")
    assert len(a.split("train")) + len(a.split("val")) == len(all_train)
    train_rows = {tuple(row.flatten().tolist()) for row in a.split("train").x[:50]}
    val_rows = {tuple(row.flatten().tolist()) for row in a.split("val").x}
    assert not train_rows & val_rows


def test_static_binarization_is_fixed_once_and_seeded(tiny_data_dir):
    a, b = make(tiny_data_dir, pixels="static"), make(tiny_data_dir, pixels="static")
    x = a.split("train").x
    assert set(x.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(x, b.split("train").x)
    assert a.train_transform() is None


def test_dynamic_binarization_resamples_training_batches_but_fixes_evaluation(tiny_data_dir):
    a, b = make(tiny_data_dir, pixels="dynamic"), make(tiny_data_dir, pixels="dynamic")
    assert torch.equal(a.split("test").x, b.split("test").x)
    assert set(a.split("test").x.unique().tolist()) == {0.0, 1.0}
    first = next(iter(a.train_dataloader()))
    assert set(first["x"].unique().tolist()) == {0.0, 1.0}
    torch.manual_seed(0)
    grey = a.split("train").x[:50]
    assert not torch.equal(a.train_transform()(grey), a.train_transform()(grey))


def test_batches_are_dicts_with_row_indices(tiny_data_dir):
    datamodule = make(tiny_data_dir, batch_size=64, eval_batch_size=70)
    batch = next(iter(datamodule.test_dataloader()))
    assert batch["x"].shape == (70, 1, 28, 28) and batch["y"].shape == (70,)
    assert torch.equal(batch["index"], torch.arange(70))
    assert torch.equal(batch["x"], datamodule.split("test").x[:70])
    sizes = [len(b["x"]) for b in datamodule.train_dataloader()]
    assert sum(sizes) == 500 and sizes[0] == 64


def test_missing_files_name_the_files_and_where_to_put_them(tmp_path):
    with pytest.raises(DataError) as error:
        make(tmp_path)
    message = str(error.value)
    assert "train-images-idx3-ubyte[.gz]" in message and "t10k-labels-idx1-ubyte[.gz]" in message
    assert str(tmp_path / "MNIST" / "raw") in message and "VAE_LAB_DATA_DIR" in message
    assert "data.download=true" in message


def test_one_missing_file_is_an_error_too(tiny_data_dir, tmp_path):
    shutil.copytree(tiny_data_dir / "MNIST", tmp_path / "MNIST")
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="MNIST data not found"):
        make(tmp_path)


def test_a_failed_download_says_why(tmp_path, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: no network")

    monkeypatch.setattr(MNIST, "download", refuse)
    with pytest.raises(DataError, match="download into .* failed: Error downloading .* no network"):
        MNISTDataModule(data_dir=str(tmp_path), download=True).setup()


def test_corrupt_idx_file_is_named(tiny_data_dir, tmp_path):
    shutil.copytree(tiny_data_dir / "MNIST", tmp_path / "MNIST")
    broken = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    with gzip.open(broken, "wb") as f:
        f.write(b"this is not an IDX file")
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz is not a readable IDX file"):
        make(tmp_path)


def test_fashion_mnist_is_found_in_an_extra_folder(tmp_path, monkeypatch):
    debian_dir = write_mnist_files(tmp_path / "debian" / "fashion-mnist", train_size=300, test_size=50)
    monkeypatch.setattr(FashionMNISTDataModule, "extra_dirs", (debian_dir,))
    datamodule = FashionMNISTDataModule(data_dir=str(tmp_path / "empty"), val_size=50, download=False)
    datamodule.setup()
    assert len(datamodule.split("test")) == 50


def test_bad_settings_are_config_errors(tiny_data_dir):
    with pytest.raises(ConfigError, match="held-out size"):
        make(tiny_data_dir, seed=0).__class__(data_dir=str(tiny_data_dir), val_size=10_000, download=False).setup()
    with pytest.raises(ConfigError, match="unknown split 'valid'"):
        make(tiny_data_dir).split("valid")


@pytest.mark.parametrize("pixels", ["grey", "dynamic", "static"])
def test_uint8_storage_gives_the_same_batches_as_float_storage(tiny_data_dir, pixels):
    datamodule = make(tiny_data_dir, pixels=pixels, batch_size=64)
    stored = datamodule.split("train")
    assert stored.stored.dtype == torch.uint8  # a quarter of float32's memory
    as_float = SplitDataset(Split(stored.x, stored.y), datamodule.train_transform())
    for number, batch in enumerate(datamodule.train_dataloader()):
        torch.manual_seed(number)  # dynamic binarization draws the same pixels from both
        ours = SplitDataset(stored, datamodule.train_transform()).__getitems__(batch["index"].tolist())
        torch.manual_seed(number)
        reference = as_float.__getitems__(batch["index"].tolist())
        assert ours["x"].dtype == torch.float32 and torch.equal(ours["x"], reference["x"])
    if pixels == "grey":
        images = idx_files.read(tiny_data_dir / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz")
        assert torch.equal(datamodule.split("test").x, images.unsqueeze(1).float() / 255)


def test_our_idx_reader_matches_torchvision_and_names_a_truncated_file(tiny_data_dir, tmp_path):
    from torchvision.datasets.mnist import read_image_file, read_label_file

    raw = tiny_data_dir / "MNIST" / "raw"
    for name, reader in (("train-images-idx3-ubyte", read_image_file), ("train-labels-idx1-ubyte", read_label_file)):
        plain = tmp_path / name
        with gzip.open(raw / f"{name}.gz") as source:
            plain.write_bytes(source.read())
        ours = idx_files.read(raw / f"{name}.gz")
        assert ours.dtype == reader(str(plain)).dtype and torch.equal(ours, reader(str(plain)))
    truncated = tmp_path / "t10k-images-idx3-ubyte"
    with gzip.open(raw / "t10k-images-idx3-ubyte.gz") as source:
        truncated.write_bytes(source.read()[:-100])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte is not a readable IDX file .* does not match the shape"):
        idx_files.read(truncated)


def test_splits_are_served_from_host_memory_off_the_gpu_and_move_only_when_they_fit(tiny_data_dir):
    datamodule = make(tiny_data_dir)
    train = datamodule.split("train")
    assert datamodule.served_split("train") is train  # no trainer, or a CPU one: the split in host memory
    assert train.nbytes == 500 * 784 + 500 * 8  # uint8 pixels and long labels
    moved = train.to(torch.device("meta"))  # what a GPU copy is made of, without a GPU
    assert moved.stored.device.type == moved.y.device.type == "meta" and moved.levels == 255
    assert fits_on_device(train.nbytes, free_bytes=4 * train.nbytes)
    assert not fits_on_device(train.nbytes, free_bytes=4 * train.nbytes - 1)
