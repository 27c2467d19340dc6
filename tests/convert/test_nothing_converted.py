"""Chunks, and whole manifests, in which nothing converts: the run completes and says why.

Every record rejected (a label no manifest may hold, ``"label": ["cat"]``, on every line), a run of
records pointing into a missing folder (whole chunks without a survivor), an empty manifest, a
manifest of blank lines only, a UTF-16 manifest: ``convert`` completes, ``rejected.jsonl`` lists
every refused record with its line, id and reason, ``meta.json`` counts 0 converted, ``mmgraph
convert`` exits with status 1 (documented) and one summary line, and a rerun changes nothing.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmgraph.cli import main
from mmgraph.convert import convert
from mmgraph.convert.layout import read_meta
from mmgraph.datasets import load_dataset
from mmgraph.datasets.on_disk import load_converted


def tree(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def rejected(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "rejected.jsonl").read_text(encoding="utf-8").splitlines()]


def write_lines(path: Path, records: list[dict | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


def test_every_record_rejected_completes_reports_and_reruns_as_a_no_op(tmp_path, capsys):
    manifest = write_lines(tmp_path / "m" / "cats.jsonl",
                           [{"id": f"c{i}", "text": "a cat", "label": ["cat"]} for i in range(10)])
    out = tmp_path / "out"
    assert main(["convert", str(manifest), str(out), "--chunk-size", "4", "--no-progress"]) == 1
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("converted 0 records, rejected 10 (3 shard(s) written")
    assert printed[-1] == (f"nothing converted: every one of the 10 records was rejected "
                           f"(reasons in {out}/rejected.jsonl)")
    meta = read_meta(out)
    assert meta["complete"] and meta["counts"] == {"records": 10, "converted": 0, "rejected": 10}
    assert [s["samples"] for s in meta["shards"]] == [0, 0, 0] and meta["splits"] == {} and meta["tasks"] == {}
    rows = rejected(out)
    assert [(r["record"], r["line"], r["id"]) for r in rows] == [(i, i + 1, f"c{i}") for i in range(10)]
    assert all(r["reason"] == ("label: expected an integer (class id), a number (regression value) or a class name "
                               "(string), got array [\"cat\"]") for r in rows)

    before = tree(out)
    report = convert(manifest, out, chunk_size=4, progress=False)  # the rerun: nothing to do, nothing changed
    assert (report.chunks_written, report.chunks_skipped, report.converted, report.rejected) == (0, 3, 0, 10)
    assert report.empty and tree(out) == before
    assert main(["convert", str(manifest), str(out), "--chunk-size", "4", "--no-progress"]) == 1
    assert tree(out) == before

    # what reads the output says why there is nothing to train on, in one line
    with pytest.raises(ValueError, match=r"holds no sample: all 10 records were rejected \(reasons in .*rejected"):
        load_dataset(str(out))
    capsys.readouterr()
    assert main(["train", "--data", str(out), "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds no sample" in err


def test_chunks_of_missing_files_among_good_chunks(tmp_path):
    root = tmp_path / "m"
    (root / "imgs").mkdir(parents=True)
    records: list[dict] = []
    for i in range(6):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(root / "imgs" / f"{i}.png")
    for i in range(3):
        records.append({"id": f"ok{i}", "image": f"imgs/{i}.png", "label": i % 2})
    records += [{"id": f"gone{i}", "image": f"lost/{i}.png", "label": 0} for i in range(9)]  # chunks 1 and 2: none
    for i in range(3, 6):
        records.append({"id": f"ok{i}", "image": f"imgs/{i}.png", "label": i % 2})
    manifest = write_lines(root / "manifest.jsonl", records)
    out = tmp_path / "out"
    report = convert(manifest, out, chunk_size=4, progress=False)
    assert (report.converted, report.rejected, report.chunks_written, report.empty) == (6, 9, 4, False)
    meta = read_meta(out)
    assert [s["samples"] for s in meta["shards"]] == [3, 0, 0, 3]
    assert [(r["id"], r["reason"]) for r in rejected(out)] == [
        (f"gone{i}", f"image: file not found: lost/{i}.png") for i in range(9)]
    assert load_converted(out).splits["train"].ids == [f"ok{i}" for i in range(6)]
    before = tree(out)
    assert convert(manifest, out, chunk_size=4, progress=False).chunks_written == 0 and tree(out) == before


@pytest.mark.parametrize("content", ["", "\n", "\n  \n\t\r\n\n"], ids=["empty", "one-blank-line", "blank-lines"])
def test_a_manifest_without_records(content, tmp_path, capsys):
    manifest = tmp_path / "m" / "none.jsonl"
    manifest.parent.mkdir()
    manifest.write_text(content)
    out = tmp_path / "out"
    assert main(["convert", str(manifest), str(out), "--no-progress"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "nothing converted: the source has no records"
    meta = read_meta(out)
    assert meta["complete"] and meta["num_chunks"] == 0 and meta["shards"] == []
    assert meta["counts"] == {"records": 0, "converted": 0, "rejected": 0}
    assert (out / "rejected.jsonl").read_bytes() == b""
    before = tree(out)
    report = convert(manifest, out, progress=False)
    assert report.empty and (report.chunks_written, report.chunks_skipped) == (0, 0) and tree(out) == before


@pytest.mark.parametrize("encoding, bom", [("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE),
                                           ("utf-32-le", codecs.BOM_UTF32_LE)])
def test_a_utf16_or_utf32_manifest_is_refused_line_by_line_naming_the_encoding(encoding, bom, tmp_path):
    records = [{"id": f"u{i}", "text": f"caf\u00e9 {i}", "label": i % 2} for i in range(5)]
    text = "\n".join(json.dumps(r, ensure_ascii=False) for r in records[:2]) + "\n\n" + "\n".join(
        json.dumps(r, ensure_ascii=False) for r in records[2:]) + "\n"
    manifest = tmp_path / "m" / "wide.jsonl"
    manifest.parent.mkdir()
    manifest.write_bytes(bom + text.encode(encoding))
    out = tmp_path / "out"
    report = convert(manifest, out, chunk_size=2, progress=False)
    assert report.empty and (report.records, report.rejected) == (5, 5)
    rows = rejected(out)
    # lines split in the file's own encoding: the blank third line is skipped, each id is named
    assert [(r["line"], r["id"]) for r in rows] == [(1, "u0"), (2, "u1"), (4, "u2"), (5, "u3"), (6, "u4")]
    name = encoding[:6].upper()
    for r in rows:
        assert r["reason"].startswith(f"not valid UTF-8: the manifest is {name} (it starts with the byte-order mark "
                                      f"{bom.hex(' ').upper()})"), r
        assert "save it as UTF-8" in r["reason"]


def test_a_utf16_manifest_without_its_mark_and_a_utf16_csv(tmp_path, capsys):
    manifest = tmp_path / "m" / "nobom.jsonl"
    manifest.parent.mkdir()
    manifest.write_bytes((json.dumps({"id": "a", "text": "x"}) + "\n").encode("utf-16-le"))
    out = tmp_path / "out"
    convert(manifest, out, progress=False)
    rows = rejected(out)  # UTF-16's newline is 0A 00: the NUL after it makes a second (refused) line
    assert [r["line"] for r in rows] == [1, 2]
    assert all(r["reason"].startswith("not valid UTF-8 JSON: the line holds NUL bytes (is the manifest UTF-16")
               for r in rows)
    csv_path = tmp_path / "m" / "wide.csv"
    csv_path.write_bytes(codecs.BOM_UTF16_LE + "id,text\na,hello\n".encode("utf-16-le"))
    assert main(["convert", str(csv_path), str(tmp_path / "csv-out"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("the CSV header is not valid UTF-8 (the file is UTF-16: save it as UTF-8)")
