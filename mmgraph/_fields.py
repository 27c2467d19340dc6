"""Dataclass construction from user-given dicts (TOML tables, JSON) with clear errors."""

from __future__ import annotations

import dataclasses
from typing import Any


def check_fields(cls: type, d: dict[str, Any], where: str | None = None) -> None:
    """Raise ``ValueError`` naming the unknown keys of ``d`` and the valid ones (``cls``'s fields)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        where = where or f"unknown {cls.__name__} fields"
        raise ValueError(f"{where} {unknown}; valid: {sorted(names)}")
