"""``mmgraph.files``: atomic writes (readers see the old file or the whole new one), locks, checksums."""

from __future__ import annotations

import os
import threading

import pytest

import mmgraph.files as files
from mmgraph.files import atomic_file, exclusive_lock, remove_stale_temps, sha256_file, write_atomic


class Crash(BaseException):
    """A kill at that instant (raised past every ``except Exception``)."""


@pytest.mark.parametrize("where", ["fsync", "chmod", "replace"])
def test_a_write_cut_short_anywhere_leaves_the_old_file_whole(where, tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    write_atomic(path, b"old")

    def crash(*args, **kwargs):
        raise Crash

    monkeypatch.setattr(files.os, where, crash)
    with pytest.raises(Crash):
        write_atomic(path, b"new content")
    monkeypatch.undo()
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # the temp file is gone too


def test_the_new_content_is_whole_and_on_disk_before_it_takes_the_name(tmp_path, monkeypatch):
    path = tmp_path / "shard.pt"
    write_atomic(path, b"old")
    data = os.urandom(1 << 20)
    seen = []
    real_replace, real_fsync = os.replace, os.fsync
    synced = []

    def fsync(fd):
        synced.append(fd)
        return real_fsync(fd)

    def replace(src, dst):
        seen.append((open(src, "rb").read() == data, open(dst, "rb").read(), bool(synced)))
        return real_replace(src, dst)

    monkeypatch.setattr(files.os, "fsync", fsync)
    monkeypatch.setattr(files.os, "replace", replace)
    write_atomic(path, data)
    assert seen == [(True, b"old", True)]  # at the rename: temp complete and synced, the name still the old file
    assert path.read_bytes() == data
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_reader_never_sees_a_partial_file(tmp_path):
    path = tmp_path / "meta.json"
    size = 1 << 21
    write_atomic(path, b"a" * size)
    stop, bad = threading.Event(), []

    def read():
        while not stop.is_set():
            data = path.read_bytes()
            if len(data) != size or data.count(data[:1]) != size:
                bad.append(len(data))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(30):
            write_atomic(path, (b"b" if i % 2 else b"a") * size)
    finally:
        stop.set()
        reader.join()
    assert bad == []


def test_atomic_file_streams_text_and_keeps_the_old_file_on_error(tmp_path):
    path = tmp_path / "rejected.jsonl"
    with atomic_file(path, "w", encoding="utf-8") as f:
        f.write("line 1\n")
        f.write("ligne 2 é\n")
    assert path.read_text(encoding="utf-8") == "line 1\nligne 2 é\n"
    with pytest.raises(Crash):
        with atomic_file(path, "w", encoding="utf-8") as f:
            f.write("half")
            raise Crash
    assert path.read_text(encoding="utf-8") == "line 1\nligne 2 é\n" and len(list(tmp_path.iterdir())) == 1


def test_stale_temps_are_removed_and_checksums_match_hashlib(tmp_path):
    import hashlib

    (tmp_path / ".a.pt.x1.tmp").write_bytes(b"torn")
    (tmp_path / "a.pt").write_bytes(b"kept")
    assert remove_stale_temps(tmp_path) == 1 and [p.name for p in tmp_path.iterdir()] == ["a.pt"]
    assert sha256_file(tmp_path / "a.pt") == hashlib.sha256(b"kept").hexdigest()


def test_exclusive_lock_is_exclusive_and_dies_with_its_holder(tmp_path):
    lock = tmp_path / "job.lock"
    with exclusive_lock(lock) as mine:
        assert mine
        with exclusive_lock(lock, wait=False) as other:  # a second open file: another holder
            assert other is False
    with exclusive_lock(lock, wait=False) as again:  # released at the end of the block
        assert again
    import subprocess
    import sys

    # a process killed while holding the lock leaves none behind
    code = ("import os, signal, sys; from mmgraph.files import exclusive_lock\n"
            "with exclusive_lock(sys.argv[1]) as mine:\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    subprocess.run([sys.executable, "-c", code, str(lock)], check=False, timeout=120)
    with exclusive_lock(lock, wait=False) as after_kill:
        assert after_kill
