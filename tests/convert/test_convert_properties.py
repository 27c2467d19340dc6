"""Property test of ``convert``: manifests mixing good records with every kind of bad one, in random order.

Hypothesis draws which records of the hostile corpus (``tests/data/make_bad.py``: every rejection
kind, the unusual but valid WAVs, and good records) a manifest holds, their order, blank lines
between them and the chunk size. For each manifest:

- every refused record is in ``rejected.jsonl`` with its line, its id when readable, and a reason
  that starts with the field at fault; every other record is converted, in its split, in order;
- ``meta.json``'s counts add up (converted + rejected = records);
- two workers write the same bytes as one;
- a run killed at a random write (a torn temp file left behind, as a SIGKILL leaves it) and rerun
  ends with the same bytes as an uninterrupted run.

The default run tries a few examples; ``-m slow`` runs many more.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mmgraph.convert.layout as layout
from mmgraph.convert import convert
from mmgraph.convert.layout import read_meta
from mmgraph.datasets.on_disk import load_converted
from tests.data.make_bad import CASES, DUPLICATE_OF, NO_ID, case_line, good_record, write_files

N_GOOD = 10
ENTRIES = [f"good-{i}" for i in range(N_GOOD)] + list(CASES)


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("property") / "data"
    write_files(root, N_GOOD)
    return root


def line_of(entry: str) -> bytes:
    return json.dumps(good_record(int(entry[5:]))).encode() if entry.startswith("good-") else case_line(entry)


def id_of(entry: str) -> str | None:
    if entry.startswith("good-"):
        return entry
    return None if entry in NO_ID else DUPLICATE_OF if entry == "id-duplicate" else entry


def expected_outcomes(entries: list[str]) -> list[tuple[str | None, tuple[str, str] | None]]:
    """Per entry, in order: (the id a rejection names, (field, reason substring) or ``None``: converted).

    The first record with an id claims it, usable or not; every later one with the id is a duplicate.
    """
    seen: set[str] = set()
    out = []
    for entry in entries:
        rid = id_of(entry)
        if rid is not None and rid in seen:
            out.append((rid, ("duplicate id", f"duplicate id {rid!r}")))
            continue
        if rid is not None:
            seen.add(rid)
        # the duplicate case's record is a plain text record: converted when its id comes first
        usable = entry.startswith("good-") or entry == "id-duplicate"
        out.append((rid, None if usable else CASES[entry]))
    return out


def write_manifest(root: Path, name: str, entries: list[str], blanks: list[int]) -> tuple[Path, list[int]]:
    """The manifest of ``entries`` with ``blanks[i]`` blank lines before entry ``i``; returns each entry's line."""
    lines: list[bytes] = []
    at = []
    for entry, n_blank in zip(entries, blanks):
        lines += [b""] * n_blank
        lines.append(line_of(entry))
        at.append(len(lines))
    path = root / name
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path, at


def tree(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


class Killed(BaseException):
    """Stands for a SIGKILL in the middle of a write (raised past every ``except Exception``)."""


def convert_killed_at(manifest: Path, out: Path, chunk_size: int, kill_at: int, monkeypatch) -> None:
    """Run ``convert`` and stop it dead during its ``kill_at``-th file write, leaving a torn temp file."""
    real, calls = layout.write_atomic, [0]

    def dying_write(path, data):
        path = Path(path)
        if calls[0] == kill_at:
            path.parent.mkdir(parents=True, exist_ok=True)
            (path.parent / f".{path.name}.killed.tmp").write_bytes(data[: len(data) // 2])
            raise Killed
        calls[0] += 1
        real(path, data)

    with monkeypatch.context() as patch:
        patch.setattr(layout, "write_atomic", dying_write)
        with pytest.raises(Killed):
            convert(manifest, out, chunk_size=chunk_size, progress=False)


def count_writes(manifest: Path, out: Path, chunk_size: int, monkeypatch) -> int:
    real, calls = layout.write_atomic, [0]

    def counting_write(path, data):
        calls[0] += 1
        real(path, data)

    with monkeypatch.context() as patch:
        patch.setattr(layout, "write_atomic", counting_write)
        convert(manifest, out, chunk_size=chunk_size, progress=False)
    return calls[0]


manifests = st.lists(st.sampled_from(ENTRIES), unique=True, max_size=len(ENTRIES)).flatmap(
    lambda entries: st.tuples(st.just(entries), st.lists(st.integers(0, 2), min_size=len(entries),
                                                          max_size=len(entries))))


def check_conversion(corpus_root: Path, tmp: Path, entries: list[str], blanks: list[int], chunk_size: int,
                     kill_fraction: float, monkeypatch, *, workers: bool) -> None:
    manifest, at = write_manifest(corpus_root, f"{tmp.name}.jsonl", entries, blanks)
    outcomes = expected_outcomes(entries)
    one = tmp / "one"
    writes = count_writes(manifest, one, chunk_size, monkeypatch)

    # every record accounted for: the counts add up, each refusal names its line, id and field
    meta = read_meta(one)
    n_bad = sum(expected is not None for _, expected in outcomes)
    assert meta["complete"]
    assert meta["counts"] == {"records": len(entries), "converted": len(entries) - n_bad, "rejected": n_bad}
    rows = [json.loads(line) for line in (one / "rejected.jsonl").read_text(encoding="utf-8").splitlines()]
    bad = [(line, rid, expected) for line, (rid, expected) in zip(at, outcomes) if expected is not None]
    assert [r["line"] for r in rows] == [line for line, _, _ in bad]
    for row, (_, rid, (field, reason)) in zip(rows, bad):
        assert row["id"] == rid and row["reason"].startswith(field) and reason in row["reason"], row
    good = [(entry, rid) for entry, (rid, expected) in zip(entries, outcomes) if expected is None]
    if good:
        loaded = load_converted(one)
        for split, graphs in loaded.splits.items():
            want = [rid for entry, rid in good
                    if (good_record(int(entry[5:]))["split"] if entry.startswith("good-") else "train") == split]
            assert graphs.ids == want, split
        assert sum(len(g) for g in loaded.splits.values()) == len(good)

    # a kill at a random write, then a rerun: the bytes of an uninterrupted run, no temp file left
    killed = tmp / "killed"
    convert_killed_at(manifest, killed, chunk_size, int(kill_fraction * writes), monkeypatch)
    convert(manifest, killed, chunk_size=chunk_size, progress=False)
    assert tree(killed) == tree(one)

    if workers:
        two = tmp / "two"
        convert(manifest, two, workers=2, chunk_size=chunk_size, progress=False)
        assert tree(two) == tree(one)


def _property(max_examples: int, workers: bool):
    @settings(max_examples=max_examples, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large])
    @given(manifest=manifests, chunk_size=st.integers(1, 9), kill_fraction=st.floats(0.0, 0.999))
    def run(corpus_root, tmp_path_factory, monkeypatch, manifest, chunk_size, kill_fraction):
        entries, blanks = manifest
        check_conversion(corpus_root, tmp_path_factory.mktemp("example"), entries, blanks, chunk_size,
                         kill_fraction, monkeypatch, workers=workers)

    return run


# a few examples by default (each converts three times); many more, with two workers each, under -m slow
test_random_manifests_convert_every_good_record_and_report_every_bad_one = _property(5, workers=False)
test_random_manifests_many_examples_and_two_workers = pytest.mark.slow(_property(30, workers=True))


@pytest.mark.slow  # starts a process pool (tests/convert/test_api.py compares 2 workers to 1 in the default run)
def test_every_entry_shuffled_with_two_workers(corpus_root, tmp_path, monkeypatch):
    """One fixed draw with two workers in the default run: the whole corpus, shuffled, in chunks of 3."""
    order = np.random.default_rng(7).permutation(len(ENTRIES))
    entries = [ENTRIES[i] for i in order]
    blanks = [int(i % 4 == 0) for i in range(len(entries))]
    check_conversion(corpus_root, tmp_path, entries, blanks, 3, 0.5, monkeypatch, workers=True)
