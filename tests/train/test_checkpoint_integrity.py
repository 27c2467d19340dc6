"""A checkpoint altered so that ``torch.load`` still reads it is refused by its checksum, never loaded.

A flipped byte in a zip usually makes ``torch.load`` fail first, so that test never reaches the
checksum. Here the file is altered the way a bad disk, a bad copy or a hand edit can leave it: a
well-formed file holding one weight changed (re-saved with ``torch.save``): only the SHA-256
check can tell. The test reads the file through its public behaviour only (``torch.load`` accepts
it, ``read_checkpoint``/``load_checkpoint`` refuse it), whatever the checkpoint's layout.
"""

from __future__ import annotations

import io

import pytest
import torch

from mmgraph.train.checkpoint import CorruptCheckpointError, load_checkpoint, read_checkpoint, save_checkpoint


def tamper(obj):
    """``obj`` with the first value of its first float tensor changed (looking inside nested saved bytes too)."""
    if isinstance(obj, torch.Tensor) and obj.is_floating_point() and obj.numel():
        changed = obj.clone()
        changed.view(-1)[0] += 1.0
        return changed, True
    if isinstance(obj, dict):
        out, done = {}, False
        for key, value in obj.items():
            if not done:
                value, done = tamper(value)
            out[key] = value
        return out, done
    if isinstance(obj, (bytes, bytearray)):
        try:
            inner = torch.load(io.BytesIO(obj), map_location="cpu", weights_only=True)
        except Exception:
            return obj, False
        inner, done = tamper(inner)
        if done:
            buffer = io.BytesIO()
            torch.save(inner, buffer)
            return buffer.getvalue(), True
    return obj, False


def test_a_well_formed_but_altered_checkpoint_is_refused(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    path = tmp_path / "last.pt"
    save_checkpoint(path, model, epoch=2)
    assert read_checkpoint(path)["epoch"] == 2

    altered, done = tamper(torch.load(path, map_location="cpu", weights_only=True))
    assert done
    torch.save(altered, path)
    torch.load(path, map_location="cpu", weights_only=True)  # still a readable file for torch
    with pytest.raises(CorruptCheckpointError):
        read_checkpoint(path)
    fresh = torch.nn.Linear(4, 3)
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    with pytest.raises(CorruptCheckpointError):
        load_checkpoint(path, fresh)
    assert all(torch.equal(v, before[k]) for k, v in fresh.state_dict().items())  # nothing was loaded
