"""Raw files of the file-backed datasets: the data root, ``SHA256SUMS`` checks, listed files.

Every raw-data folder (``mnist/``, ``fsdd/``, ``esc50_8k/``, ``emoji/``) sits under one data root
(``root=`` or ``$MMGRAPH_DATA``) and ships a ``SHA256SUMS`` that the dataset loaders verify its files
against, once per process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from mmgraph.files import sha256_file

log = logging.getLogger(__name__)

DATA_ENV = "MMGRAPH_DATA"
"""Environment variable naming the data root when no ``root`` is given."""


def resolve_data_root(root: str | os.PathLike | None, dataset: str, folders: Sequence[str]) -> Path:
    """The folder holding the raw data: ``root``, else ``$MMGRAPH_DATA``; checks that ``folders`` exist in it.

    Raises:
        ValueError: neither is set, or the folder lacks one of ``folders``.
    """
    if root is None:
        root = os.environ.get(DATA_ENV) or None
        if root is None:
            raise ValueError(
                f"{dataset}: no data folder given; pass root=... (CLI: --root) or set ${DATA_ENV} to the folder "
                f"that contains {', '.join(f + '/' for f in folders)} (see datasets/{dataset}.md)"
            )
    path = Path(root).expanduser()
    missing = [f for f in folders if not (path / f).is_dir()]
    if missing:
        raise ValueError(
            f"{dataset}: data folder {str(path)!r} lacks {', '.join(m + '/' for m in missing)}; root (or "
            f"${DATA_ENV}) must be the folder that contains {', '.join(f + '/' for f in folders)}"
        )
    return path


def read_sha256sums(folder: Path) -> dict[str, str]:
    """The ``SHA256SUMS`` of ``folder`` as relative path -> hex digest."""
    sums_path = folder / "SHA256SUMS"
    if not sums_path.is_file():
        raise ValueError(f"checksums: {sums_path} not found (every data folder ships one)")
    sums: dict[str, str] = {}
    for number, line in enumerate(sums_path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise ValueError(f"checksums: {sums_path} line {number} is not '<sha256>  <path>' (got {line[:80]!r})")
        sums[name.lstrip("*")] = digest.lower()
    return sums


# (resolved path, size, mtime_ns, expected digest) of files already verified in this process
_VERIFIED: set[tuple[str, int, int, str]] = set()


def verify_files(folder: Path, names: Iterable[str], sums: Mapping[str, str] | None = None) -> None:
    """Check files of ``folder`` against its ``SHA256SUMS``; files verified before in this process are skipped.

    A file that changes (size or modification time) is hashed again.

    Raises:
        ValueError: a file is not listed, missing, or its digest differs (all such files are named).
    """
    sums = read_sha256sums(folder) if sums is None else sums
    problems: list[str] = []
    hashed = 0
    for name in names:
        expected = sums.get(name)
        path = folder / name
        if expected is None:
            problems.append(f"{name} (not listed in SHA256SUMS)")
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:
            problems.append(f"{name} (missing)")
            continue
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, expected)
        if key in _VERIFIED:
            continue
        hashed += 1
        if sha256_file(path) != expected:
            problems.append(f"{name} (sha256 differs)")
            continue
        _VERIFIED.add(key)
    if problems:
        shown = "; ".join(problems[:5]) + (f"; ... {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ValueError(f"checksums: {len(problems)} file(s) in {folder} fail verification: {shown}")
    log.debug("verified %d file(s) in %s", hashed, folder)


def listed_files(folder: Path, sums: Mapping[str, str], pattern: str, dataset: str) -> list[str]:
    """Files matching ``pattern`` in ``folder``, which must be exactly those ``SHA256SUMS`` lists."""
    found = sorted(str(p.relative_to(folder)) for p in folder.glob(pattern))
    listed = sorted(n for n in sums if Path(n).match(pattern))
    if found != listed:
        missing, extra = sorted(set(listed) - set(found)), sorted(set(found) - set(listed))
        raise ValueError(
            f"{dataset}: {folder} does not hold exactly the files SHA256SUMS lists "
            f"(missing: {missing[:5]}{' ...' if len(missing) > 5 else ''}, "
            f"not listed: {extra[:5]}{' ...' if len(extra) > 5 else ''})"
        )
    return found


__all__ = ["DATA_ENV", "listed_files", "read_sha256sums", "resolve_data_root", "verify_files"]
