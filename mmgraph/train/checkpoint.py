"""Checkpoints: written atomically (temp file + rename), loaded without unpickling code.

A checkpoint holds the model (and optionally optimiser and scheduler) state, the RNG states,
the epoch and training history, and a SHA-256 of its payload so that a truncated or corrupted
file is detected and reported, never silently loaded. Files are read with
``torch.load(weights_only=True)``: tensors and plain containers only.
"""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mmgraph.files import remove_stale_temps, write_atomic

__all__ = ["CorruptCheckpointError", "load_checkpoint", "read_checkpoint", "remove_stale_temps",
           "save_checkpoint", "write_atomic"]

FORMAT = "mmgraph-checkpoint-v1"


class CorruptCheckpointError(ValueError):
    """A checkpoint file is truncated, altered or not a checkpoint."""


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


def save_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    scheduler: Any = None, **extra: Any) -> None:
    """Save model (+ optimiser, scheduler, RNG states and ``extra`` fields) atomically."""
    payload = {
        "model": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "rng": rng_state(),
        **extra,
    }
    body = io.BytesIO()
    torch.save(payload, body)
    body_bytes = body.getvalue()
    digest = hashlib.sha256(body_bytes).hexdigest()
    envelope = io.BytesIO()
    torch.save({"format": FORMAT, "sha256": digest, "payload": body_bytes}, envelope)
    write_atomic(path, envelope.getvalue())


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The verified payload of a checkpoint (raises ``CorruptCheckpointError`` when damaged)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        envelope = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, wrong file, pickle refused: all mean "not loadable"
        reason = f"{exc.__class__.__name__}: {exc}"
        raise CorruptCheckpointError(f"{path}: not a readable checkpoint ({reason})") from None
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
        raise CorruptCheckpointError(f"{path}: not an mmgraph checkpoint")
    body = envelope["payload"]
    if hashlib.sha256(body).hexdigest() != envelope["sha256"]:
        raise CorruptCheckpointError(f"{path}: checksum mismatch (file corrupted)")
    return torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)


def load_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    scheduler: Any = None, *, restore_rng: bool = True) -> dict[str, Any]:
    """Load a checkpoint into ``model`` (and optimiser/scheduler/RNG); returns its payload."""
    state = read_checkpoint(path)
    model.load_state_dict(state["model"])
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    if restore_rng and optimizer is not None:
        set_rng_state(state["rng"])
    return state
