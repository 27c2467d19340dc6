"""A full disk during ``convert`` and ``train``: a clear one-line error, nothing half-written that a rerun trusts.

The disk fills at a chosen byte (a write budget standing in for a size-limited file system: the
write that crosses it writes what fits, then fails with ``ENOSPC``, as a full disk does). The
command reports it in one line naming the file; the file it was writing keeps its old content (no
torn shard, checkpoint or ``meta.json``, no temp file left); after space is freed the same command
resumes to exactly the output of a run that never ran out. ``-m slow`` repeats it on a real small
``tmpfs`` where the system lets the tests mount one.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mmgraph.files as files
from mmgraph.cli import main
from mmgraph.convert import convert
from mmgraph.convert.layout import read_meta
from mmgraph.files import DiskFullError, write_atomic


class FullDisk:
    """``os.fdopen`` for ``mmgraph.files``: files opened for writing get ``budget`` bytes in all, then ``ENOSPC``."""

    def __init__(self, budget: int) -> None:
        self.left = budget
        self.real = os.fdopen

    def __call__(self, fd, mode="r", *args, **kwargs):
        f = self.real(fd, mode, *args, **kwargs)
        return _Budgeted(f, self) if "w" in mode else f


class _Budgeted:
    def __init__(self, f, disk: FullDisk) -> None:
        self.f, self.disk = f, disk

    def write(self, data):
        size = len(data.encode() if isinstance(data, str) else data)
        if size > self.disk.left:
            fits = self.disk.left
            self.f.write(data[:fits])  # what fits is written: the temp file is torn
            self.disk.left = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.disk.left -= size
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def tree(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_write_atomic_on_a_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "a.json"
    write_atomic(path, b"old content")
    monkeypatch.setattr(files.os, "fdopen", FullDisk(5))
    with pytest.raises(DiskFullError, match=r"no space left on the device writing .*a\.json \(11 bytes\); it is "
                                            r"unchanged: free some space and run the same command again"):
        write_atomic(path, b"new content")
    assert path.read_bytes() == b"old content" and [p.name for p in tmp_path.iterdir()] == ["a.json"]
    assert isinstance(DiskFullError(errno.ENOSPC, "x"), OSError)


@pytest.fixture
def manifest(tmp_path) -> Path:
    root = tmp_path / "data"
    (root / "imgs").mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = []
    for i in range(12):
        Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8)).save(root / "imgs" / f"{i}.png")
        lines.append(json.dumps({"id": f"s{i}", "image": f"imgs/{i}.png", "text": f"word{i % 3}", "label": i % 2}))
    lines.insert(5, json.dumps({"id": "bad", "text": "x", "label": "two"}))
    (root / "m.jsonl").write_text("\n".join(lines) + "\n")
    return root / "m.jsonl"


def bytes_written(run, monkeypatch) -> int:
    """What ``run()`` writes through ``mmgraph.files`` in all (temp files included)."""
    disk = FullDisk(1 << 50)
    with monkeypatch.context() as patch:
        patch.setattr(files.os, "fdopen", disk)
        run()
    return (1 << 50) - disk.left


# the disk fills at the first byte, then a fifth, half, 4/5 and 99 % of the way through the run
@pytest.mark.parametrize("fraction", [0.0, 0.2, 0.5, 0.8, 0.99])
def test_convert_on_a_full_disk_fails_in_one_line_and_resumes_to_the_same_bytes(fraction, manifest, tmp_path,
                                                                                  monkeypatch, capsys):
    reference = tmp_path / "reference"
    total = bytes_written(lambda: convert(manifest, reference, chunk_size=4, progress=False), monkeypatch)
    out = tmp_path / "out"
    argv = ["convert", str(manifest), str(out), "--chunk-size", "4", "--no-progress"]
    with monkeypatch.context() as patch:
        patch.setattr(files.os, "fdopen", FullDisk(int(fraction * total)))
        code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("mmgraph convert: error: no space left on the device writing ") and "run the same" in err
    assert not list(out.rglob(".*.tmp"))  # no torn temp file left
    if (out / "meta.json").exists():
        assert not read_meta(out)["complete"]
        for entry in (out / "shards").glob("shard-*.json"):  # every sidecar vouches for a whole shard
            sidecar = json.loads(entry.read_text())
            assert (out / sidecar["file"]).stat().st_size == sidecar["bytes"]
    assert main(argv) == 0  # space freed: the same command resumes
    assert tree(out) == tree(reference)


def test_train_on_a_full_disk_keeps_the_last_checkpoint_and_resumes_exactly(tmp_path, monkeypatch, capsys):
    data = tmp_path / "m.jsonl"
    splits = ["train"] * 4 + ["val", "test"]
    data.write_text("".join(json.dumps({"id": str(i), "text": f"w{i % 4} x", "label": i % 2,
                                        "split": splits[i % 6]}) + "\n" for i in range(36)))
    args = ["train", "--data", str(data), "--model", "mmgnn", "--epochs", "3", "--batch-size", "8", "--no-progress"]
    reference, out = tmp_path / "reference", tmp_path / "out"
    total = bytes_written(lambda: main([*args, "--out", str(reference)]), monkeypatch)
    capsys.readouterr()
    with monkeypatch.context() as patch:  # the disk fills in the middle of the run (in epoch 1's writes)
        patch.setattr(files.os, "fdopen", FullDisk(total // 2))
        assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("mmgraph train: error: no space left on the device writing")
    assert not list(out.rglob(".*.tmp"))
    done = len(json.loads((out / "metrics.json").read_text()))
    assert 1 <= done < 3
    assert main([*args, "--out", str(out), "--resume"]) == 0
    strip = [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in json.loads(
        (out / "metrics.json").read_text())]
    want = [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in json.loads(
        (reference / "metrics.json").read_text())]
    assert strip == want
    final, expected = (json.loads((o / "test_metrics.json").read_text()) for o in (out, reference))
    assert final["test"] == expected["test"] and final["val"] == expected["val"]


def _mount_tmpfs(path: Path, size: str) -> bool:
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("mount"):
        return False
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


@pytest.mark.slow  # mounts a real size-limited file system (needs root; skipped elsewhere)
def test_convert_into_a_real_small_tmpfs(manifest, tmp_path, capsys):
    reference = tmp_path / "reference"
    convert(manifest, reference, chunk_size=4, progress=False)
    needed = sum(p.stat().st_size for p in reference.rglob("*") if p.is_file())
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, f"{needed // 2 // 1024}k"):
        pytest.skip("cannot mount a tmpfs here (not root, or not permitted)")
    try:
        out = disk / "out"
        argv = ["convert", str(manifest), str(out), "--chunk-size", "4", "--no-progress"]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "no space left on the device writing" in err
        assert not list(out.rglob(".*.tmp"))
        moved = tmp_path / "moved"  # "free space": the partial output moves to a bigger disk and resumes there
        shutil.copytree(out, moved)
        assert main(["convert", str(manifest), str(moved), "--chunk-size", "4", "--no-progress"]) == 0
        assert tree(moved) == tree(reference)
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
