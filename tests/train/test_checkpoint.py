"""Checkpoints: plain ``torch.load(weights_only=True)`` files whose sidecar hash, not torch, catches corruption."""

import io
import json
import os

import pytest
import torch
from torch import nn

from mmgraph.train.checkpoint import (
    FORMAT,
    CorruptCheckpointError,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
    save_weights,
    sidecar_path,
)

MARKER = 1234.5678


def model() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        net[0].weight.fill_(MARKER)  # a value whose bytes are easy to find in the file
    return net


def test_best_is_a_plain_state_dict_and_last_a_plain_training_state(tmp_path):
    net = model()
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    net(torch.ones(2, 4)).sum().backward()
    optimizer.step()
    save_weights(tmp_path / "best.pt", net, epoch=3, run_info={"data": "digits"})
    save_checkpoint(tmp_path / "last.pt", net, optimizer, epoch=3, history=[{"epoch": 0, "train_loss": 1.5}],
                    run_info={"data": "digits"})

    state = torch.load(tmp_path / "best.pt", weights_only=True)  # PyTorch alone reads it
    assert list(state) == list(net.state_dict())
    fresh = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    fresh.load_state_dict(state)
    assert torch.equal(fresh[0].weight, net[0].weight)

    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert set(last) == {"model", "optimizer", "scheduler", "rng", "epoch", "history"}
    assert last["epoch"] == 3 and last["optimizer"]["state"]  # the AdamW moments are there

    side = json.loads(sidecar_path(tmp_path / "best.pt").read_text())
    assert side["format"] == FORMAT and side["kind"] == "weights" and side["epoch"] == 3
    assert side["bytes"] == os.path.getsize(tmp_path / "best.pt")
    assert read_checkpoint(tmp_path / "best.pt")["run_info"] == {"data": "digits"}
    assert read_checkpoint(tmp_path / "last.pt")["history"] == [{"epoch": 0, "train_loss": 1.5}]


def test_the_sidecar_hash_catches_altered_tensor_data_that_torch_loads(tmp_path):
    path = tmp_path / "best.pt"
    save_weights(path, model())
    data = bytearray(path.read_bytes())
    marker = torch.tensor([MARKER], dtype=torch.float32).numpy().tobytes()
    at = data.find(marker)
    assert at >= 0, "the weights are stored uncompressed: their bytes are in the file"
    data[at : at + 4] = torch.tensor([-1.0], dtype=torch.float32).numpy().tobytes()
    path.write_bytes(bytes(data))

    altered = torch.load(path, weights_only=True)  # torch reads the altered file without complaint
    assert (altered["0.weight"] == -1.0).sum() == 1
    with pytest.raises(CorruptCheckpointError, match="checksum mismatch with best.pt.json"):
        read_checkpoint(path)
    with pytest.raises(CorruptCheckpointError, match="checksum mismatch"):
        load_checkpoint(path, model())


def test_truncated_file_missing_file_and_broken_sidecar(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, model(), epoch=0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptCheckpointError, match="checksum mismatch"):
        read_checkpoint(path)
    os.unlink(path)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        read_checkpoint(path)
    sidecar_path(path).write_text("{not json")
    with pytest.raises(CorruptCheckpointError, match="unreadable checkpoint sidecar"):
        read_checkpoint(path)
    other = tmp_path / "plain.pt"
    torch.save(model().state_dict(), other)  # a state dict saved without mmgraph: no sidecar to check it by
    with pytest.raises(CorruptCheckpointError, match="not an mmgraph checkpoint \\(no sidecar plain.pt.json\\)"):
        read_checkpoint(other)


def test_a_write_killed_between_its_two_renames_is_read_whole(tmp_path):
    """The pair (file, sidecar) never disagrees: a write interrupted after its sidecar reads its ``.next``."""
    path = tmp_path / "last.pt"
    save_checkpoint(path, model(), epoch=0)
    old = path.read_bytes()
    real_replace = os.replace

    def killed(src, dst):
        if str(src).endswith(".next"):
            raise KeyboardInterrupt  # the process dies before the last rename
        real_replace(src, dst)

    net = model()
    with torch.no_grad():
        net[2].bias.fill_(7.0)
    os.replace = killed
    try:
        with pytest.raises(KeyboardInterrupt):
            save_checkpoint(path, net, epoch=1)
    finally:
        os.replace = real_replace
    assert path.read_bytes() == old  # the old file is untouched, the sidecar already describes the new one
    state = read_checkpoint(path)
    assert state["epoch"] == 1 and torch.equal(state["model"]["2.bias"], torch.full((2,), 7.0))
    save_checkpoint(path, model(), epoch=2)  # the next write completes normally
    assert read_checkpoint(path)["epoch"] == 2 and not path.with_name("last.pt.next").exists()


def test_checkpoints_of_mmgraph_0_1_are_translated(tmp_path):
    """A 0.1 envelope (hashed payload inside, no sidecar) still loads; its damage is still detected."""
    import hashlib

    net = model()
    payload = {"model": net.state_dict(), "optimizer": None, "scheduler": None, "epoch": 4,
               "run_info": {"backbone_prefix": "model."}}
    body = io.BytesIO()
    torch.save(payload, body)
    envelope = {"format": "mmgraph-checkpoint-v1", "sha256": hashlib.sha256(body.getvalue()).hexdigest(),
                "payload": body.getvalue()}
    path = tmp_path / "best.pt"
    torch.save(envelope, path)
    state = read_checkpoint(path)
    assert state["epoch"] == 4 and state["run_info"] == {"backbone_prefix": "model."}
    fresh = model()
    load_checkpoint(path, fresh)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), net.state_dict().values()))
    envelope["sha256"] = "0" * 64
    torch.save(envelope, path)
    with pytest.raises(CorruptCheckpointError, match="checksum mismatch \\(file corrupted\\)"):
        read_checkpoint(path)
