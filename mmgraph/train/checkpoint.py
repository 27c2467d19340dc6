"""Checkpoints: plain ``torch.load(path, weights_only=True)`` files, written atomically, checked by a sidecar.

Two kinds of file, both readable by PyTorch alone::

    torch.load("checkpoints/best.pt", weights_only=True)   # the model's state dict
    torch.load("checkpoints/last.pt", weights_only=True)   # {"model", "optimizer", "scheduler", "rng",
                                                           #  "epoch", "history", ...}: what resume reads

Beside each ``X.pt`` lies ``X.pt.json``, its sidecar: the format, the file's SHA-256 and size, what
it holds (``"weights"`` or ``"training_state"``) and facts about it (``epoch``, ``run_info``). The
SHA-256 is checked before ``torch.load`` reads a byte, so a truncated or altered file is reported
(``CorruptCheckpointError``), never silently loaded.

A checkpoint write is two renames (the ``.pt``, then its sidecar), so a process killed between them
must not leave a pair that disagrees. The new ``.pt`` is therefore first written as ``X.pt.next``,
then the sidecar naming its hash, then ``X.pt.next`` is renamed to ``X.pt``. A reader that finds a
``.pt`` not matching its sidecar but a ``.pt.next`` that does reads that one: the write it belongs
to had finished everything but its last rename.

Checkpoints of mmgraph 0.1 (``mmgraph-checkpoint-v1``: an envelope holding a hashed payload, no
sidecar) are still read: their embedded hash is checked and their payload translated to the dict
``read_checkpoint`` returns for the new format.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mmgraph.files import remove_stale_temps, sha256_file, write_atomic

log = logging.getLogger(__name__)

__all__ = ["CorruptCheckpointError", "checkpoint_info", "load_checkpoint", "read_checkpoint", "remove_stale_temps",
           "save_checkpoint", "save_weights", "sidecar_path", "write_atomic"]

FORMAT = "mmgraph-checkpoint-v2"
"""``format`` of a sidecar."""
_FORMAT_V1 = "mmgraph-checkpoint-v1"
"""The envelope format of mmgraph 0.1 (read, never written)."""
KINDS = ("weights", "training_state")
"""What a checkpoint file holds: a model state dict, or the training state dict (``"model"`` and more)."""


class CorruptCheckpointError(ValueError):
    """A checkpoint file is truncated, altered, lacks its sidecar or is not a checkpoint."""


def sidecar_path(path: str | Path) -> Path:
    """The sidecar of a checkpoint: ``X.pt`` → ``X.pt.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def _pending_path(path: Path) -> Path:
    return path.with_name(path.name + ".next")


# ------------------------------------------------------------------------------------------ RNG


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": _numpy_state(), "python": _python_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _numpy_state() -> dict[str, Any]:
    # the legacy global generator is what user code seeded with np.random.seed draws from
    name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached": float(cached)}


def _python_state() -> dict[str, Any]:
    version, internal, gauss = random.getstate()
    return {"version": version, "internal": torch.tensor(internal, dtype=torch.int64),
            "gauss": gauss if gauss is None else float(gauss)}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["name"], keys, n["pos"], n["has_gauss"], n["cached"]))  # noqa: NPY002
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["internal"].tolist()), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------------------------------- write


def _write(path: str | Path, obj: Any, kind: str, facts: dict[str, Any]) -> None:
    """``obj`` saved to ``path`` with its sidecar, in the order the module docstring explains."""
    path = Path(path)
    buf = io.BytesIO()
    torch.save(obj, buf)
    data = buf.getvalue()
    sidecar = {"format": FORMAT, "file": path.name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
               "kind": kind, **facts}
    pending = _pending_path(path)
    write_atomic(pending, data)
    write_atomic(sidecar_path(path), (json.dumps(sidecar, indent=2, default=str) + "\n").encode())
    os.replace(pending, path)


def save_weights(path: str | Path, model: nn.Module, **facts: Any) -> None:
    """Save the model's state dict (what ``torch.load(path, weights_only=True)`` returns), and a sidecar
    holding its hash and ``facts`` (JSON-able: ``epoch``, ``run_info``)."""
    _write(path, model.state_dict(), "weights", facts)


def save_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    scheduler: Any = None, *, run_info: dict[str, Any] | None = None, **extra: Any) -> None:
    """Save the training state: model, optimiser, scheduler, RNG states and ``extra`` fields (``epoch``,
    ``history``, ...; tensors and plain containers) in one dict; ``run_info`` and ``epoch`` also go to
    the sidecar."""
    state = {
        "model": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "rng": rng_state(),
        **extra,
    }
    facts = {"epoch": extra["epoch"]} if "epoch" in extra else {}
    _write(path, state, "training_state", {**facts, "run_info": dict(run_info or {})})


# ----------------------------------------------------------------------------------------- read


def checkpoint_info(path: str | Path) -> dict[str, Any]:
    """A checkpoint's sidecar (``{}`` for a 0.1 checkpoint, which has none)."""
    path = Path(path)
    side = sidecar_path(path)
    if not side.is_file():
        return {}
    try:
        info = json.loads(side.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptCheckpointError(f"{side}: unreadable checkpoint sidecar ({exc})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT or info.get("kind") not in KINDS:
        raise CorruptCheckpointError(f"{side}: not an mmgraph checkpoint sidecar (format {FORMAT})")
    return info


def _torch_load(source: Any, path: Path) -> Any:
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, wrong file, pickle refused: all mean "not loadable"
        raise CorruptCheckpointError(f"{path}: not a readable checkpoint ({exc.__class__.__name__}: {exc})") from None


def _verified_file(path: Path, info: dict[str, Any]) -> Path:
    """The file holding the bytes the sidecar describes: ``path``, or its ``.next`` of an unfinished write."""
    expected = info["sha256"]
    if path.is_file() and sha256_file(path) == expected:
        return path
    pending = _pending_path(path)
    if pending.is_file() and sha256_file(pending) == expected:
        log.info("%s: reading %s (the write before was interrupted before its last rename)", path, pending.name)
        return pending
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    raise CorruptCheckpointError(f"{path}: checksum mismatch with {sidecar_path(path).name} (file corrupted or "
                                 f"altered; its SHA-256 is not the one recorded when it was written)")


def _read_v1(path: Path) -> dict[str, Any]:
    envelope = _torch_load(path, path)
    if not isinstance(envelope, dict) or envelope.get("format") != _FORMAT_V1:
        raise CorruptCheckpointError(f"{path}: not an mmgraph checkpoint (no sidecar {sidecar_path(path).name})")
    body = envelope["payload"]
    if hashlib.sha256(body).hexdigest() != envelope["sha256"]:
        raise CorruptCheckpointError(f"{path}: checksum mismatch (file corrupted)")
    return _torch_load(io.BytesIO(body), path)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint's content, verified: ``{"model": state dict, ...}`` whatever the file's kind.

    For a weights file the dict is ``{"model": <the file>, **its sidecar's facts}`` (``epoch``,
    ``run_info``); for a training-state file, the file's dict plus the sidecar's ``run_info``.
    mmgraph 0.1 checkpoints (no sidecar) are read and translated to the same dict.

    Raises:
        FileNotFoundError: no such file.
        CorruptCheckpointError: the file does not match its sidecar, or is not a checkpoint.
    """
    path = Path(path)
    info = checkpoint_info(path)
    if not info:
        if not path.exists():
            raise FileNotFoundError(f"checkpoint not found: {path}")
        return _read_v1(path)
    obj = _torch_load(_verified_file(path, info), path)
    facts = {k: v for k, v in info.items() if k not in ("format", "file", "sha256", "bytes", "kind")}
    if info["kind"] == "weights":
        return {"model": obj, **facts}
    if not isinstance(obj, dict) or "model" not in obj:
        raise CorruptCheckpointError(f"{path}: a training-state checkpoint without 'model'")
    return {**obj, "run_info": facts.get("run_info", {})}


def load_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    scheduler: Any = None, *, restore_rng: bool = True) -> dict[str, Any]:
    """Load a checkpoint into ``model`` (and optimiser/scheduler/RNG); returns ``read_checkpoint``'s dict."""
    state = read_checkpoint(path)
    model.load_state_dict(state["model"])
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    if restore_rng and optimizer is not None and "rng" in state:
        set_rng_state(state["rng"])
    return state
