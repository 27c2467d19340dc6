"""DistributedDataParallel on CPU (gloo): 2 processes equal 1 process with the same global batch."""

import json
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as tmp

from mmgraph.datasets import load_dataset
from mmgraph.models import DataSpec, ModelConfig, build_model
from mmgraph.train import TrainConfig, Trainer, seed_everything

GLOBAL_BATCH = 32


def _data():
    ds = load_dataset("digits")
    config = ds.fit_graph_config()
    train = ds.featurize("train", config).subset(range(256))
    val = ds.featurize("val", config).subset(range(64))
    return train, val, DataSpec.from_graph_config(config, ds.tasks)


def _fit(batch_size: int):
    torch.set_num_threads(1)
    train, val, spec = _data()
    seed_everything(0)
    # no dropout or <unk> replacement of any kind: the random streams of 1 and 2 processes differ by design
    model = build_model(ModelConfig(hidden=16, layers=1, modality_dropout=0.0, token_unk_rate=0.0), spec)
    trainer = Trainer(model, TrainConfig(epochs=2, batch_size=batch_size, lr=5e-3, progress=False))
    return trainer.fit(train, val).history


def _worker(rank: int, world: int, init_file: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        history = _fit(GLOBAL_BATCH // world)
        if rank == 0:
            with open(out, "w") as f:
                json.dump(history, f)
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed not available")
@pytest.mark.slow  # spawns several processes; CI runs the slow tests as a step of their own
def test_two_process_gloo_equals_one_process(tmp_path):
    out = tmp_path / "ddp.json"
    tmp.spawn(_worker, args=(2, str(tmp_path / "init"), str(out)), nprocs=2, join=True)
    ddp = json.loads(out.read_text())
    single = _fit(GLOBAL_BATCH)
    assert len(ddp) == len(single) == 2
    for a, b in zip(ddp, single):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4, abs=1e-5)
        assert a["val/loss"] == pytest.approx(b["val/loss"], rel=1e-4, abs=1e-5)
        assert a["val/digit/accuracy"] == pytest.approx(b["val/digit/accuracy"], abs=1 / 64 + 1e-9)


def test_no_process_group_by_default():
    assert os.environ.get("WORLD_SIZE", "1") == "1" and not dist.is_initialized()
