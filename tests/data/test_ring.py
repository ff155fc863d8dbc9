"""The seed's ring: x = z/10 + z/||z||."""

import torch

from vae_lab.data.in_memory import split_rows
from vae_lab.data.ring import RingDataModule, ring_points


def test_ring_points_follow_the_seed_formula():
    z = torch.randn(1000, 2, generator=torch.Generator().manual_seed(3))
    expected = z / 10 + z / z.norm(dim=1, keepdim=True)
    assert torch.allclose(ring_points(1000, 0.0, torch.Generator().manual_seed(3)), expected)
    radius = expected.norm(dim=1)
    assert torch.allclose(radius, 1 + z.norm(dim=1) / 10)


def test_ring_splits_and_noise():
    datamodule = RingDataModule(num_samples=1000, val_size=100, test_size=200, noise=0.05)
    datamodule.setup()
    assert [len(datamodule.split(s)) for s in ("train", "val", "test")] == [700, 100, 200]
    assert datamodule.data_shape == (2,)
    assert (datamodule.split("train").y == -1).all()
    clean = RingDataModule(num_samples=1000, val_size=100, test_size=200)
    clean.setup()
    assert not torch.equal(clean.split("test").x, datamodule.split("test").x)


def test_held_out_fractions_are_shares_of_all_points_as_in_every_data_module():
    datamodule = RingDataModule(num_samples=1000, val_size=0.1, test_size=0.2)
    datamodule.setup()
    sizes = {name: len(datamodule.split(name)) for name in ("train", "val", "test")}
    assert sizes == {"train": 700, "val": 100, "test": 200}
    assert sizes == {name: len(rows) for name, rows in split_rows(1000, 0.1, 0.2, seed=0).items()}
