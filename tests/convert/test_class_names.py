"""Class names as labels through ``mmgraph convert``: one mapping of names to ids, decided by the parent's
label pass, whoever converts which chunk (1 or 2 workers, ``--shard 0/2`` and ``1/2`` apart)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmgraph.cli import EXIT_USER_ERROR, main
from mmgraph.convert import convert, merge
from mmgraph.convert.layout import read_meta
from mmgraph.datasets import load_dataset

CHUNK = 4
# chunk 0 (records 0-3) has no "calm"/"alert" and chunk 1 no "apple": a mapping made per chunk, or per
# shard part, would differ; a record rejected for its file keeps its name ("zebra") out of the classes
LABELS = ["pear", "pear", "plum", "pear", "apple", "plum", "apple", "plum", "zebra", "pear"]
MOODS = [None, None, None, None, "calm", "alert", "calm", None, "alert", "calm"]
NAMES = ("apple", "pear", "plum")


def write_named(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (label, mood) in enumerate(zip(LABELS, MOODS)):
        record = {"id": f"n{i}", "text": f"word{i % 3} fruit", "label": label,
                  "targets": {"weight": i / 4, **({"mood": mood} if mood else {})}}
        if label == "zebra":
            record["image"] = "imgs/missing.png"
        lines.append(json.dumps(record))
    path = folder / "named.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def tree(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_workers_and_shard_parts_map_names_to_the_same_ids(tmp_path):
    manifest = write_named(tmp_path / "data")
    one, two = tmp_path / "one", tmp_path / "two"
    convert(manifest, one, chunk_size=CHUNK, progress=False)
    convert(manifest, two, workers=2, chunk_size=CHUNK, progress=False)
    assert tree(one) == tree(two)  # shards, sidecars, meta.json, rejected.jsonl: byte for byte
    meta = read_meta(one)
    assert meta["source"]["class_names"] == {"label": list(NAMES), "mood": ["alert", "calm"]}
    assert meta["tasks"]["label"] == {"name": "label", "kind": "classification", "target": "y", "num_classes": 3,
                                      "class_names": list(NAMES)}
    assert meta["tasks"]["mood"]["class_names"] == ["alert", "calm"] and meta["tasks"]["mood"]["kind"] == \
        "classification"
    assert meta["tasks"]["weight"]["kind"] == "regression"
    assert [json.loads(line)["id"] for line in (one / "rejected.jsonl").read_text().splitlines()] == ["n8"]

    graphs = load_dataset(str(one)).splits["train"]
    kept = [i for i, label in enumerate(LABELS) if label != "zebra"]
    assert graphs.ids == [f"n{i}" for i in kept]
    assert graphs.y.tolist() == [NAMES.index(LABELS[i]) for i in kept]
    moods = [None if m != m else int(m) for m in graphs.data.targets["mood"].tolist()]  # NaN: no mood
    assert moods == [None if MOODS[i] is None else ("alert", "calm").index(MOODS[i]) for i in kept]

    parts = [tmp_path / "part0", tmp_path / "part1"]
    for i, part in enumerate(parts):  # as two machines would, each reading the whole manifest itself
        assert main(["convert", str(manifest), str(part), "--shard", f"{i}/2", "--chunk-size", str(CHUNK),
                     "--no-progress"]) == 0
    assert read_meta(parts[0])["source"] == read_meta(parts[1])["source"] == meta["source"]
    assert read_meta(parts[0])["plan_sha256"] == read_meta(parts[1])["plan_sha256"] == meta["plan_sha256"]
    merge(parts, tmp_path / "merged")
    assert tree(tmp_path / "merged") == tree(one)


def test_a_label_of_another_kind_is_rejected_naming_its_record(tmp_path):
    manifest = write_named(tmp_path / "data")
    with manifest.open("a") as f:
        f.write(json.dumps({"id": "int", "text": "x", "label": 2}) + "\n")
        f.write(json.dumps({"id": "num-mood", "text": "x", "label": "pear", "targets": {"mood": 1}}) + "\n")
    out = tmp_path / "out"
    convert(manifest, out, chunk_size=CHUNK, progress=False)
    rows = {r["id"]: r for r in map(json.loads, (out / "rejected.jsonl").read_text().splitlines())}
    assert rows["int"]["line"] == 11 and rows["int"]["reason"] == (
        "label: 2 is an integer (class id) but the manifest's first label (line 1) is a class name (string): labels "
        "must be all integers (class ids), all floats (regression values) or all class names (strings)")
    assert rows["num-mood"]["reason"].startswith(
        "targets['mood']: 1 is a number (regression value) but the manifest's first 'mood' target (line 5) is a "
        "class name (string)")
    assert read_meta(out)["tasks"]["label"]["class_names"] == list(NAMES)


def test_a_single_class_name_is_one_line_error(tmp_path, capsys):
    path = tmp_path / "one.jsonl"
    path.write_text("".join(json.dumps({"id": f"c{i}", "text": "a cat", "label": "cat"}) + "\n" for i in range(3)))
    assert main(["convert", str(path), str(tmp_path / "out"), "--no-progress"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "every record with label names the class 'cat': a classification " \
                                          "needs at least 2 classes" in err
    assert not (tmp_path / "out").exists()  # refused before anything is written
    with pytest.raises(ValueError, match="at least 2 classes"):
        load_dataset(str(path))
