"""The resumable training order: a pure function of (seed, epoch), split across processes, resumable mid-epoch."""

import torch

from vae_lab.data.in_memory import SplitDataset, keep_batch, unlabelled
from vae_lab.data.resumable import EpochPermutationSampler, ResumableDataLoader

ROWS, BATCH = 23, 4  # 6 batches per epoch, the last one short


def loader(seed: int = 0, replicas: int = 1, rank: int = 0) -> ResumableDataLoader:
    dataset = SplitDataset(unlabelled(torch.arange(ROWS, dtype=torch.float32).unsqueeze(1)))
    sampler = EpochPermutationSampler(dataset, replicas, rank, seed=seed)
    return ResumableDataLoader(dataset, BATCH, sampler, collate_fn=keep_batch)


def epoch_rows(dataloader: ResumableDataLoader, epoch: int) -> list[list[int]]:
    dataloader.sampler.set_epoch(epoch)
    return [batch["index"].tolist() for batch in dataloader]


def test_the_order_depends_on_seed_and_epoch_only():
    first, again = loader(), loader()
    assert epoch_rows(first, 0) == epoch_rows(again, 0) == epoch_rows(first, 0)
    assert epoch_rows(first, 0) != epoch_rows(first, 1)
    assert epoch_rows(loader(seed=1), 0) != epoch_rows(first, 0)
    assert sorted(sum(epoch_rows(first, 0), [])) == list(range(ROWS))


def test_a_loader_restored_mid_epoch_delivers_exactly_the_remaining_batches():
    uninterrupted = epoch_rows(loader(), 3)
    interrupted = loader()
    interrupted.sampler.set_epoch(3)
    iterator = iter(interrupted)
    delivered = [next(iterator)["index"].tolist() for _ in range(2)]
    state = interrupted.state_dict()
    assert state == {"epoch": 3, "batches": 2}

    resumed = loader()
    resumed.load_state_dict(state)
    rest = epoch_rows(resumed, 3)
    assert delivered + rest == uninterrupted
    assert resumed.state_dict() == {"epoch": 3, "batches": len(uninterrupted)}
    assert epoch_rows(resumed, 4) == epoch_rows(loader(), 4)  # the next epoch is whole again


def test_a_saved_position_applies_only_to_its_own_epoch():
    resumed = loader()
    resumed.load_state_dict({"epoch": 3, "batches": 6})  # saved at the very end of epoch 3
    assert epoch_rows(resumed, 4) == epoch_rows(loader(), 4)


def test_processes_get_disjoint_equal_shares():
    shares = [sum(epoch_rows(loader(replicas=2, rank=rank), 0), []) for rank in (0, 1)]
    assert len(shares[0]) == len(shares[1]) == 12  # 23 rows padded to 24
    assert set(shares[0]) | set(shares[1]) == set(range(ROWS))
    assert len(set(shares[0]) & set(shares[1])) == 1  # the one padding row
