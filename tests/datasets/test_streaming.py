"""StreamingGraphDataset: exact epochs, shard-level shuffling, disjoint ranks and workers, resume mid-epoch."""

import json

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as tmp
from torch.utils.data import DistributedSampler

from mmgraph.convert import convert
from mmgraph.convert.layout import read_shard
from mmgraph.datasets.on_disk import load_converted
from mmgraph.datasets.streaming import StreamingGraphDataset, choose_streaming, split_bytes
from tests.conftest import assert_columns_equal

CHUNK = 50


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """digits converted in shards of 50 records: 26 shards, 1,257 training samples (an odd count)."""
    out = tmp_path_factory.mktemp("stream") / "digits"
    convert("digits", out, chunk_size=CHUNK, progress=False)
    return out


@pytest.fixture(scope="module")
def train_ids(converted):
    return load_converted(converted).splits["train"].ids


def ids_of(stream, epoch=0, **loader):
    stream.set_epoch(epoch)
    return [i for batch in stream.loader(**loader) for i in batch.id]


def test_full_buffer_gives_the_in_memory_batches(converted):
    train = load_converted(converted).splits["train"]
    stream = StreamingGraphDataset(converted, batch_size=64, seed=3, buffer_size=10**6)
    for epoch in (0, 1):
        sampler = DistributedSampler(range(len(train)), num_replicas=1, rank=0, shuffle=True, seed=3)
        sampler.set_epoch(epoch)
        in_memory = list(train.loader(64, sampler=sampler))
        stream.set_epoch(epoch)
        streamed = list(stream.loader())
        assert len(streamed) == len(in_memory) == len(stream) == 20
        for a, b in zip(in_memory, streamed):
            assert a.id == b.id and torch.equal(a.y, b.y) and torch.equal(a.snr_db, b.snr_db)
            for m in ("audio", "image", "text"):
                assert torch.equal(a[m].x, b[m].x) and torch.equal(a[m].pos, b[m].pos)
            for edge_type in a.edge_types:
                if "edge_index" in a[edge_type]:
                    assert torch.equal(a[edge_type].edge_index, b[edge_type].edge_index)


@pytest.mark.parametrize("workers", [0, 2])
def test_every_sample_once_per_epoch_in_shard_local_windows(converted, train_ids, workers):
    stream = StreamingGraphDataset(converted, batch_size=32, seed=0, buffer_size=100)
    assert stream.window == 96
    epochs = [ids_of(stream, e, num_workers=workers) for e in (0, 1)]
    for ids in epochs:
        assert sorted(ids) == sorted(train_ids)  # every sample exactly once
    assert epochs[0] != epochs[1] and epochs[0] != train_ids
    assert ids_of(stream, 0, num_workers=workers) == epochs[0]  # the same epoch again: the same order
    # shard-level shuffling: a window of 96 samples comes from the 2-4 shards holding it, not from all 26
    chunk_of = {}
    for entry in stream.entries:
        for i in read_shard(converted / entry["file"]).by_split()["train"].ids:
            chunk_of[i] = entry["chunk"]
    if workers == 0:
        assert 2 <= len({chunk_of[i] for i in epochs[0][:96]}) <= 4


def test_no_shuffle_is_record_order(converted, train_ids):
    stream = StreamingGraphDataset(converted, batch_size=100, shuffle=False, buffer_size=300)
    assert ids_of(stream) == train_ids


def test_ranks_and_workers_read_disjoint_parts(converted, train_ids):
    seen = {}
    for rank in (0, 1, 2):
        stream = StreamingGraphDataset(converted, batch_size=16, seed=1, buffer_size=64, rank=rank, world_size=3)
        assert stream.samples_per_rank == 419 and len(stream) == 27
        seen[rank] = ids_of(stream, 4, num_workers=2)
        assert len(seen[rank]) == 419 and len(set(seen[rank])) == 419
    union = set().union(*seen.values())
    assert union == set(train_ids)  # 1,257 = 3 x 419: no padding, no overlap
    assert sum(len(s) for s in seen.values()) == len(train_ids)


def test_resume_mid_epoch_gives_the_remaining_batches(converted):
    for workers in (0, 2):
        full = StreamingGraphDataset(converted, batch_size=32, seed=5, buffer_size=200)
        full.set_epoch(2)
        batches = [b.id for b in full.loader(num_workers=workers)]
        for consumed in (1, 7, len(batches) - 1):
            state = full.state_dict(sum(len(b) for b in batches[:consumed]), num_workers=workers)
            state = json.loads(json.dumps(state))  # as a checkpoint stores it
            resumed = StreamingGraphDataset(converted, batch_size=32, seed=5, buffer_size=200)
            resumed.load_state_dict(state, num_workers=workers)
            assert [b.id for b in resumed.loader(num_workers=workers)] == batches[consumed:]
            # the epoch after the resumed one starts from its beginning
            assert [b.id for b in resumed.loader(num_workers=workers)] == batches
    with pytest.raises(ValueError, match=r"settings that changed \(buffer_size 200 → 400\)"):
        StreamingGraphDataset(converted, batch_size=32, seed=5, buffer_size=400).load_state_dict(state, num_workers=2)
    with pytest.raises(ValueError, match=r"settings that changed \(num_workers 2 → 0\)"):
        StreamingGraphDataset(converted, batch_size=32, seed=5, buffer_size=200).load_state_dict(state)
    bad = {**full.state_dict(33), "num_workers": 0}
    stream = StreamingGraphDataset(converted, batch_size=32, seed=5, buffer_size=200)
    stream.load_state_dict(bad)
    with pytest.raises(ValueError, match="33 samples is not a batch boundary"):
        next(iter(stream))


def test_head_is_the_first_samples_in_record_order(converted):
    train = load_converted(converted).splits["train"]
    stream = StreamingGraphDataset(converted, batch_size=8)
    assert_columns_equal(stream.head(120).data, train.data.take(range(120)))
    assert len(stream.head(10**6)) == len(train)


def test_refusals(converted, tmp_path):
    with pytest.raises(ValueError, match="no split 'dev'"):
        StreamingGraphDataset(converted, "dev")
    with pytest.raises(ValueError, match="'buffer_size' must be a positive int"):
        StreamingGraphDataset(converted, buffer_size=0)
    with pytest.raises(ValueError, match="'rank' must be in"):
        StreamingGraphDataset(converted, rank=2, world_size=2)
    part = tmp_path / "part"
    convert("digits", part, chunk_size=CHUNK, shard=(0, 2), progress=False)
    with pytest.raises(ValueError, match="incomplete .*finish it with 'mmgraph convert'"):
        StreamingGraphDataset(part)
    with pytest.raises(ValueError, match="--stream trains from a converted folder, and digits is not one"):
        choose_streaming("digits", True)


def test_automatic_streaming_above_half_the_available_memory(converted, monkeypatch, caplog):
    import mmgraph.datasets.streaming as streaming

    size = 2 * split_bytes(json.loads((converted / "meta.json").read_text()), "train")
    monkeypatch.setattr(streaming, "available_memory", lambda: 10 * size)
    assert not choose_streaming(converted, None) and not caplog.records
    monkeypatch.setattr(streaming, "available_memory", lambda: size)
    assert choose_streaming(converted, None)
    assert "training from" in caplog.text and "as a stream" in caplog.text
    assert not choose_streaming(converted, False) and choose_streaming(converted, True)
    assert not choose_streaming("digits", None)


# ---------------------------------------------------------------------------------- two processes


def _rank(rank: int, world: int, init_file: str, out: str, folder: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        from mmgraph.models import DataSpec, ModelConfig, build_model
        from mmgraph.task import Task
        from mmgraph.train import TrainConfig, Trainer, seed_everything

        stream = StreamingGraphDataset(folder, batch_size=64, seed=0, buffer_size=256)  # rank from the group
        ids = ids_of(stream, 0)
        tasks = {k: Task(**v) for k, v in stream.meta["tasks"].items()}
        seed_everything(0)
        model = build_model(ModelConfig(hidden=8, layers=1), DataSpec.from_graph_config(stream.config, tasks))
        # DDP needs the same number of steps on every rank: an uneven split would hang here
        # batch_size is the global batch: 128 over 2 ranks = the stream's 64 per rank
        history = Trainer(model, TrainConfig(epochs=1, batch_size=128, progress=False)).fit(stream).history
        with open(f"{out}.{rank}", "w") as f:
            json.dump({"ids": ids, "steps": len(stream), "loss": history[0]["train_loss"]}, f)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # spawns several processes; CI runs the slow tests as a step of their own
@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed not available")
def test_two_gloo_ranks_see_disjoint_halves_whose_union_is_the_epoch(converted, train_ids, tmp_path):
    out = tmp_path / "ranks"
    tmp.spawn(_rank, args=(2, str(tmp_path / "init"), str(out), str(converted)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"ranks.{r}").read_text()) for r in (0, 1)]
    a, b = ranks[0]["ids"], ranks[1]["ids"]
    assert len(a) == len(b) == 629 and ranks[0]["steps"] == ranks[1]["steps"] == 10
    assert set(a) | set(b) == set(train_ids)
    # 1,257 samples on 2 ranks: rank 1 holds 629, rank 0 628 and repeats one of its own to stay in step
    assert len(set(a) & set(b)) == 0 and len(set(a)) == 628 and len(set(b)) == 629
    assert ranks[0]["loss"] == ranks[1]["loss"]  # the epoch's loss is all-reduced over both ranks
