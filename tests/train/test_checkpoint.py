"""Checkpoints: plain ``torch.load(weights_only=True)`` files whose sidecar hash, not torch, catches corruption."""

import io
import json
import os
from pathlib import PurePath

import pytest
import torch
from torch import nn

from mmgraph.train.checkpoint import (
    FORMAT,
    CorruptCheckpointError,
    checkpoint_info,
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


def _draws():
    import random

    import numpy as np

    return torch.rand(3).tolist(), np.random.randn(3).tolist(), random.random(), random.gauss(0.0, 1.0)  # noqa: NPY002


def test_resume_restores_optimizer_scheduler_and_every_rng(tmp_path, caplog):
    """load_checkpoint puts back the optimiser moments, the scheduler step and the torch, numpy (with its cached
    Gaussian) and Python (with its cached Gaussian) generators: the draws after loading are the draws after saving."""
    import random
    from pathlib import PurePosixPath

    import numpy as np

    net = model()
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    net(torch.ones(2, 4)).sum().backward()
    optimizer.step()
    scheduler.step()
    np.random.seed(5)  # noqa: NPY002
    np.random.randn()  # noqa: NPY002  (leaves a cached second Gaussian: has_gauss = 1)
    random.seed(5)
    random.gauss(0.0, 1.0)  # leaves Python's cached Gaussian
    path = tmp_path / "last.pt"
    save_checkpoint(path, net, optimizer, scheduler, epoch=4, run_info={"out": PurePosixPath("/runs/x")})
    after_save = _draws()
    assert checkpoint_info(path)["epoch"] == 4 and checkpoint_info(path)["run_info"] == {"out": "/runs/x"}

    fresh = model()
    fresh_opt = torch.optim.AdamW(fresh.parameters(), lr=1e-2)
    fresh_sched = torch.optim.lr_scheduler.StepLR(fresh_opt, step_size=1, gamma=0.5)
    state = load_checkpoint(path, fresh, fresh_opt, fresh_sched)
    assert _draws() == after_save
    assert state["run_info"] == {"out": "/runs/x"} and state["epoch"] == 4
    assert fresh_sched.last_epoch == 1 and fresh_opt.param_groups[0]["lr"] == pytest.approx(5e-3)
    assert torch.equal(fresh_opt.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])

    other = model()  # (model() seeds torch: made before the state is taken)
    other_opt = torch.optim.AdamW(other.parameters())
    _draws()
    before = torch.get_rng_state()
    load_checkpoint(path, other, other_opt, restore_rng=False)
    assert torch.equal(torch.get_rng_state(), before)  # restore_rng=False keeps the generators
    load_checkpoint(path, other)  # no optimiser: the weights only (no scheduler, no RNG touched)
    assert torch.equal(torch.get_rng_state(), before)
    load_checkpoint(path, other, other_opt)  # no scheduler given: none loaded, the RNG restored
    assert _draws() == after_save

    # no epoch: none in the sidecar; the sidecar's bookkeeping never reaches the returned dict
    save_checkpoint(tmp_path / "plain.pt", net)
    assert "epoch" not in checkpoint_info(tmp_path / "plain.pt")
    assert read_checkpoint(tmp_path / "plain.pt")["run_info"] == {}
    save_weights(tmp_path / "best.pt", net, epoch=2, run_info={"data": "digits"})
    best = read_checkpoint(tmp_path / "best.pt")
    assert set(best) == {"model", "epoch", "run_info"} and list(best["model"]) == list(net.state_dict())

    # an interrupted write read from its .next is logged, naming it
    real_replace = os.replace
    os.replace = lambda src, dst: (_ for _ in ()).throw(KeyboardInterrupt) if str(src).endswith(".next") \
        else real_replace(src, dst)
    try:
        with pytest.raises(KeyboardInterrupt):
            save_checkpoint(path, net, epoch=5)
    finally:
        os.replace = real_replace
    with caplog.at_level("INFO", logger="mmgraph.train.checkpoint"):
        assert read_checkpoint(path)["epoch"] == 5
    assert "last.pt: reading last.pt.next (the write before was interrupted" in caplog.text


def test_sidecars_and_payloads_that_are_not_checkpoints_are_refused(tmp_path):
    import hashlib

    path = tmp_path / "last.pt"
    save_checkpoint(path, model(), epoch=0)
    good = json.loads(sidecar_path(path).read_text())
    for bad in ([], {**good, "format": "other"}, {**good, "kind": "other"}):
        sidecar_path(path).write_text(json.dumps(bad))
        with pytest.raises(CorruptCheckpointError, match="not an mmgraph checkpoint sidecar"):
            read_checkpoint(path)

    def with_payload(obj=None, raw=None):
        """``path`` holding ``obj`` (or ``raw`` bytes) under a sidecar that matches its hash."""
        if raw is None:
            buf = io.BytesIO()
            torch.save(obj, buf)
            raw = buf.getvalue()
        path.write_bytes(raw)
        sidecar_path(path).write_text(json.dumps({**good, "sha256": hashlib.sha256(raw).hexdigest()}))

    for obj in ({"epoch": 1}, [1, 2]):
        with_payload(obj)
        with pytest.raises(CorruptCheckpointError, match="a training-state checkpoint without 'model'"):
            read_checkpoint(path)
    with_payload({"model": {}, "hook": PurePath("x")})  # a pickled object torch.load(weights_only=True) refuses
    with pytest.raises(CorruptCheckpointError, match=f"{path}: not a readable checkpoint"):
        read_checkpoint(path)
    with_payload(raw=b"not a zip")
    with pytest.raises(CorruptCheckpointError, match=f"{path}: not a readable checkpoint"):
        read_checkpoint(path)
    sidecar_path(path).unlink()
    with pytest.raises(CorruptCheckpointError, match=f"{path}: not a readable checkpoint"):
        read_checkpoint(path)  # no sidecar: read as a 0.1 envelope, which it is not either
    path.unlink()
    with pytest.raises(FileNotFoundError, match=f"checkpoint not found: {path}"):
        read_checkpoint(path)
