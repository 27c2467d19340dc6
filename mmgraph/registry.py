"""One small registry: named builders selectable by name (case-insensitive, duplicates refused)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from mmgraph.errors import UnknownName

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects (usually classes or builder functions).

    Names are case-insensitive; registering a name twice is an error unless ``overwrite=True``.

    Example::

        ENCODERS = Registry("encoder")

        @ENCODERS.register("image")
        class PatchEncoder(nn.Module): ...

        enc = ENCODERS.create("IMAGE", in_channels=16, out_channels=64)
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None, *, overwrite: bool = False) -> Any:
        """Register ``obj`` under ``name``; without ``obj``, return a decorator."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{self.kind} name must be a non-empty string (got {name!r})")
        key = name.strip().lower()

        def add(item: T) -> T:
            if key in self._items and not overwrite and self._items[key] is not item:
                raise ValueError(
                    f"{self.kind} {name!r} is already registered (to {self._items[key]!r}); "
                    f"pass overwrite=True to replace it"
                )
            self._items[key] = item
            return item

        if obj is None:
            return add
        return add(obj)

    def unregister(self, name: str) -> T:
        """Remove the object registered under ``name`` and return it (e.g. a test's temporary registration)."""
        obj = self.get(name)
        del self._items[name.strip().lower()]
        return obj

    def get(self, name: str) -> T:
        """The object registered under ``name``; the error lists the valid names."""
        key = name.strip().lower() if isinstance(name, str) else name
        try:
            return self._items[key]
        except (KeyError, TypeError):
            raise UnknownName(
                f"unknown {self.kind} {name!r}; valid names: {', '.join(self.list()) or '(none)'}"
            ) from None

    def create(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the builder registered under ``name`` with the given arguments."""
        builder = self.get(name)
        if not callable(builder):
            raise TypeError(f"{self.kind} {name!r} is not callable")
        return builder(*args, **kwargs)  # type: ignore[operator]

    def list(self, pattern: str = "*") -> list[str]:
        """Sorted registered names matching a shell-style ``pattern``."""
        return sorted(k for k in self._items if fnmatch.fnmatchcase(k, pattern.lower()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip().lower() in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.list()})"


Builder = Callable[..., Any]
