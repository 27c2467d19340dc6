"""``ConfigMixin``: the one way every settings dataclass is copied, serialised and read from user files.

``GraphConfig``, ``ModelConfig``, ``TrainConfig``, ``PretrainConfig`` and the suite tables share it:
``replace`` / ``to_dict`` / ``from_dict`` / ``from_toml``. ``from_dict`` refuses unknown keys (naming
the valid ones) and values of the wrong type (``hidden = "32"`` in a TOML file is an error that names
the field, not a ``'<' not supported`` deep inside a model).
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import types
import typing
from typing import Any, TypeVar

from mmgraph.errors import InvalidType
from mmgraph.files import load_toml

C = TypeVar("C", bound="ConfigMixin")


def check_fields(cls: type, d: dict[str, Any], where: str | None = None) -> None:
    """Raise ``ValueError`` naming the unknown keys of ``d`` and the valid ones (``cls``'s fields)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        where = where or f"unknown {cls.__name__} fields"
        raise ValueError(f"{where} {unknown}; valid: {sorted(names)}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _matches(value: Any, tp: Any) -> bool:
    """Whether ``value`` fits annotation ``tp`` (plain types, unions, list/tuple/dict; others pass)."""
    if tp is Any:
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return len(args) != 1 or all(_matches(v, args[0]) for v in value)
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            return False
        args = typing.get_args(tp)
        return not args or all(_matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items())
    return True  # classes the mixin does not know (tokenizers, settings objects) are checked by their owner


def check_types(cls: type, d: dict[str, Any], where: str | None = None) -> None:
    """Raise ``TypeError`` naming the first field of ``d`` whose value does not fit ``cls``'s annotation."""
    hints = typing.get_type_hints(cls)
    for name, value in d.items():
        tp = hints.get(name)
        if tp is not None and not _matches(value, tp):
            prefix = f"{where}: " if where else ""
            raise InvalidType(
                f"{prefix}{cls.__name__}.{name} must be {_type_name(tp)} (got {type(value).__name__} {value!r})"
            )


class ConfigMixin:
    """``replace`` / ``to_dict`` / ``from_dict`` (checked) / ``from_toml`` for a settings dataclass."""

    toml_table: typing.ClassVar[str | None] = None
    """The TOML table ``from_toml`` reads when present (``[model]``, ``[train]``, ...)."""

    def replace(self: C, **changes: Any) -> C:
        """A copy with some fields changed (checked like ``from_dict``)."""
        check_fields(type(self), changes)
        check_types(type(self), changes)
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (what ``from_dict`` reads back)."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[C], d: dict[str, Any]) -> C:
        """Build from a dict (a TOML table, a stored ``run.json`` entry): unknown keys and bad types are errors."""
        if not isinstance(d, dict):
            raise InvalidType(f"{cls.__name__}: expected a table of settings, got {type(d).__name__}")
        check_fields(cls, d)
        check_types(cls, d)
        return cls(**d)

    @classmethod
    def from_toml(cls: type[C], path: str | os.PathLike) -> C:
        """Read a TOML file: its ``toml_table`` table when it has one, else the top-level fields."""
        data = load_toml(path)
        if cls.toml_table and cls.toml_table in data:
            data = data[cls.toml_table]
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{path}: {exc}") from None


__all__ = ["ConfigMixin", "check_fields", "check_types"]
