"""Files on disk: atomic writes, checksums and TOML reading, shared by every part that writes or reads.

Every file mmgraph writes (checkpoints, shards, ``meta.json``, run records, reports) goes through
``write_atomic``: readers see the old file or the whole new one, never a part, and a killed writer
leaves only a ``.NAME.*.tmp`` file that ``remove_stale_temps`` clears. Written files get the
permissions a plain ``open(path, "w")`` would give (``0o666`` minus the umask), not ``mkstemp``'s
private ``0o600``.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """A file to stream into that appears at ``path`` whole when the block ends (nothing when it raises).

    ``mode`` is ``"wb"`` or ``"w"`` (text, with ``encoding``). Like ``write_atomic``: a temp file in
    the same folder, fsynced, given the permissions ``open()`` would give, renamed over ``path``.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_file mode must be 'wb' or 'w' (got {mode!r})")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never a part."""
    with atomic_file(path) as f:
        f.write(data)


def remove_stale_temps(folder: str | os.PathLike) -> int:
    """Delete temp files a killed ``write_atomic`` left in ``folder``; returns how many."""
    removed = 0
    for path in Path(folder).glob(".*.tmp"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_toml(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a TOML file; errors name the file."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ValueError(f"TOML file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML: {exc}") from None
