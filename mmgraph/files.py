"""Files on disk: atomic writes, checksums and TOML reading, shared by every part that writes or reads.

Every file mmgraph writes (checkpoints, shards, ``meta.json``, run records, reports) goes through
``write_atomic``: readers see the old file or the whole new one, never a part, and a killed writer
leaves only a ``.NAME.*.tmp`` file that ``remove_stale_temps`` clears. Written files get the
permissions a plain ``open(path, "w")`` would give (``0o666`` minus the umask), not ``mkstemp``'s
private ``0o600``.
"""

from __future__ import annotations

import errno
import hashlib
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no advisory locks
    fcntl = None

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class DiskFullError(OSError):
    """A write failed for lack of space (``ENOSPC``, ``EDQUOT``); the file it was writing is unchanged."""

    def __str__(self) -> str:  # the message alone, without OSError's "[Errno 28]"
        return str(self.strerror)


_FULL = (errno.ENOSPC, errno.EDQUOT)


def _full(exc: OSError, path: Path, size: int | None = None) -> OSError:
    """``exc`` as a ``DiskFullError`` naming the file when the disk is full; otherwise ``exc`` itself."""
    if exc.errno not in _FULL or isinstance(exc, DiskFullError):
        return exc
    what = f"{path} ({size:,} bytes)" if size is not None else str(path)
    return DiskFullError(exc.errno, f"no space left on the device writing {what}; it is unchanged: free some "
                                    f"space and run the same command again (it resumes)")


@contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None,
                size: int | None = None) -> Iterator[IO]:
    """A file to stream into that appears at ``path`` whole when the block ends (nothing when it raises).

    ``mode`` is ``"wb"`` or ``"w"`` (text, with ``encoding``). Like ``write_atomic``: a temp file in
    the same folder, fsynced, given the permissions ``open()`` would give, renamed over ``path``.
    ``size`` (bytes, when known) only makes a full-disk message more precise.

    Raises:
        DiskFullError: the disk (or quota) is full: the temp file is removed and ``path`` keeps its
            old content, so a rerun after freeing space finds nothing half-written to trust.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_file mode must be 'wb' or 'w' (got {mode!r})")
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _full(exc, path, size) from None
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _full(exc, path, size) from None
        raise


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never a part.

    Raises:
        DiskFullError: the disk is full; ``path`` keeps its old content (see ``atomic_file``).
    """
    with atomic_file(path, size=len(data)) as f:
        f.write(data)


@contextmanager
def exclusive_lock(path: str | os.PathLike, *, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` (created if needed) inside the block; yields whether it was taken.

    ``wait=False`` yields ``False`` at once when another process holds it. The lock is the
    operating system's (``flock``): it dies with the process that holds it, so a killed process
    leaves no stale lock behind. Without ``fcntl`` (not POSIX) every lock is granted.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover
        yield True
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


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
