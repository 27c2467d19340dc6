import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import wavfile

from mmgraph import MultimodalSample
from mmgraph.datasets import load_dataset
from mmgraph.datasets.manifest import VALID_KEYS, ManifestDataset, Rejection, load_manifest


def make_files(root: Path, n: int, seed: int = 0) -> None:
    """``imgs/{i}.png`` (8×8 grey) and ``wav/{i}.wav`` (0.1 s at 8 kHz, int16) for i < n."""
    rng = np.random.default_rng(seed)
    (root / "imgs").mkdir(parents=True, exist_ok=True)
    (root / "wav").mkdir(exist_ok=True)
    for i in range(n):
        Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8)).save(root / "imgs" / f"{i}.png")
        wavfile.write(root / "wav" / f"{i}.wav", 8000, (rng.standard_normal(800) * 3000).astype(np.int16))


def good(i: int, **extra) -> dict:
    return {"id": f"s{i}", "image": f"imgs/{i}.png", "text": f"word{i % 4} hello", "audio": f"wav/{i}.wav",
            "label": i % 3, "targets": {"snr_db": float(i) / 2}, **extra}


# (line text, expected reason substring): every kind of bad record the manifest reader must refuse
BAD_LINES = [
    ("{not json", "not valid JSON"),
    ("[1, 2, 3]", "not a JSON object (got array)"),
    (json.dumps({"text": "no id here"}), "missing 'id'"),
    (json.dumps({"id": "s0", "text": "again"}), "duplicate id 's0'"),
    (json.dumps({"id": True, "text": "x"}), "id: expected a string (or an integer), got boolean"),
    # a class name among integer labels: never read as class 3, refused naming the first label's line
    (json.dumps({"id": "str-label", "text": "x", "label": "3"}),
     "label: '3' is a class name (string) but the manifest's first label (line 1) is an integer (class id)"),
    (json.dumps({"id": "list-label", "text": "x", "label": [1]}), "got array [1]"),
    (json.dumps({"id": "float-label", "text": "x", "label": 1.5}), "labels must be all integers"),
    (json.dumps({"id": "unknown", "text": "x", "colour": "red"}), "unknown keys ['colour']; valid keys: " +
     str(list(VALID_KEYS))),
    (json.dumps({"id": "escape", "image": "../../etc/passwd"}), "leaves the manifest folder"),
    (json.dumps({"id": "absolute", "audio": "/etc/passwd"}), "leaves the manifest folder"),
    (json.dumps({"id": "missing-file", "image": "imgs/nope.png"}), "image: file not found: imgs/nope.png"),
    (json.dumps({"id": "empty-text", "text": "   "}), "text: must not be empty or whitespace only"),
    (json.dumps({"id": "no-modality", "label": 1}), "no modality"),
    (json.dumps({"id": "bad-split", "text": "x", "split": "dev"}), "split: expected one of ['train', 'val', 'test']"),
    (json.dumps({"id": "neg-label", "text": "x", "label": -1}), "y: class labels must be >= 0"),
    (json.dumps({"id": "bad-target", "text": "x", "targets": {"snr_db": "loud"}}),
     "targets['snr_db']: 'loud' is a class name (string) but the manifest's first 'snr_db' target (line 1) is a "
     "number (regression value): a target is all numbers (regression) or all class names (classification)"),
    (json.dumps({"id": "bool-target", "text": "x", "targets": {"snr_db": True}}),
     "targets['snr_db']: expected a number (regression value) or a class name (string), got boolean true"),
    (json.dumps({"id": "targets-list", "text": "x", "targets": [1]}), "targets: expected an object"),
    (json.dumps({"id": "corrupt-png", "image": "imgs/corrupt.png"}), "is not a readable image file"),
    (json.dumps({"id": "corrupt-wav", "audio": "wav/corrupt.wav"}), "audio: cannot read WAV corrupt.wav"),
    (json.dumps({"id": "bad-wav", "audio": "wav/bad.wav"}), "audio: cannot read WAV bad.wav"),
    ('{"id": "twice", "id": "again", "text": "x"}', "key 'id' appears twice"),
]
BAD_UTF8 = b'{"id": "latin1", "text": "caf\xe9"}'


def write_bad_manifest(root: Path, n_good: int = 12) -> tuple[Path, list[str], dict[int, str]]:
    """A JSONL manifest with good records around each planted bad one (plus bad UTF-8 and a blank line).

    Returns the path, the good ids in order, and expected reason per 1-based line.
    """
    make_files(root, n_good)
    (root / "imgs" / "corrupt.png").write_bytes(b"\x89PNG not really")
    (root / "wav" / "corrupt.wav").write_bytes(b"RIFF\x00\x00")  # truncated header
    (root / "wav" / "bad.wav").write_bytes(b"RIFX" + b"\x00" * 40)
    lines: list[bytes] = []
    expected: dict[int, str] = {}
    good_ids = []
    g = 0
    for k, (text, reason) in enumerate([*BAD_LINES, (None, "not valid UTF-8")]):
        if g < n_good:
            lines.append(json.dumps(good(g)).encode())
            good_ids.append(f"s{g}")
            g += 1
        if k == 5:
            lines.append(b"   ")  # blank lines are skipped, not records
        lines.append(BAD_UTF8 if text is None else text.encode())
        expected[len(lines)] = reason
    while g < n_good:
        lines.append(json.dumps(good(g)).encode())
        good_ids.append(f"s{g}")
        g += 1
    path = root / "manifest.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, good_ids, expected


def test_planted_bad_records_rejected_with_reasons_good_ones_kept(tmp_path):
    path, good_ids, expected = write_bad_manifest(tmp_path)
    items = list(ManifestDataset(path))
    samples = [x for x in items if isinstance(x, MultimodalSample)]
    rejections = [x for x in items if isinstance(x, Rejection)]
    assert [s.id for s in samples] == good_ids
    assert {r.line: r.reason for r in rejections}.keys() == expected.keys()
    for r in rejections:
        assert expected[r.line] in r.reason, (r.line, r.reason)
    # record numbers count records, not lines (the blank line is not one), and follow input order
    assert [x.record if isinstance(x, Rejection) else None for x in items][:3] == [None, 1, None]
    assert sorted(r.record for r in rejections) == [r.record for r in rejections]
    by_reason = {r.reason: r for r in rejections}
    assert next(r for k, r in by_reason.items() if "duplicate" in k).id == "s0"
    assert next(r for k, r in by_reason.items() if "not valid JSON" in k).id is None
    s3 = samples[3]
    assert s3.image.shape == (8, 8) and s3.audio.sample_rate == 8000 and s3.text == "word3 hello"
    assert s3.y == 0 and s3.targets == {"snr_db": 1.5}


def test_integer_ids_become_strings_and_missing_split_is_train(tmp_path):
    make_files(tmp_path, 2)
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join([json.dumps({"id": 7, "text": "a"}), json.dumps({"id": "7", "text": "b"}),
                               json.dumps({"id": "v", "text": "c", "split": "val"})]))
    ds = ManifestDataset(path)
    records = list(ds.records())
    assert records[0].id == "7" and records[0].ok and records[0].split == "train"
    assert "duplicate id '7'" in records[1].reason
    assert [s.id for s in ds.samples("val")] == ["v"]
    assert [s.id for s in ds.samples("train")] == ["7"]


def test_allow_outside(tmp_path):
    make_files(tmp_path / "elsewhere", 1)
    folder = tmp_path / "m"
    folder.mkdir()
    path = folder / "m.jsonl"
    path.write_text(json.dumps({"id": "x", "image": "../elsewhere/imgs/0.png"}) + "\n")
    reason = next(iter(ManifestDataset(path))).reason
    assert reason.endswith("(paths must stay inside it; to allow others: --allow-outside on the command line, "
                           "allow_outside=True in Python)")
    sample = next(iter(ManifestDataset(path, allow_outside=True)))
    assert isinstance(sample, MultimodalSample) and sample.image.shape == (8, 8)


def write_csv(path: Path, rows: list[dict], header: list[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def test_csv_same_columns_same_samples(tmp_path):
    make_files(tmp_path, 6)
    header = ["id", "image", "text", "audio", "label", "targets", "split"]
    rows = []
    for i in range(6):
        rec = good(i, split="val" if i == 5 else "train")
        rec["targets"] = json.dumps(rec["targets"])
        rows.append(rec)
    rows[2]["text"] = "two lines\nof text"  # a quoted cell spanning lines
    rows[3]["audio"] = ""  # empty cell: modality absent
    write_csv(tmp_path / "m.csv", rows, header)
    jsonl = [good(i, split="val" if i == 5 else "train") for i in range(6)]
    jsonl[2]["text"] = "two lines\nof text"
    del jsonl[3]["audio"]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r) for r in jsonl))
    from_csv = list(ManifestDataset(tmp_path / "m.csv"))
    from_jsonl = list(ManifestDataset(tmp_path / "m.jsonl"))
    assert all(isinstance(s, MultimodalSample) for s in from_csv)
    for a, b in zip(from_csv, from_jsonl):
        assert (a.id, a.text, a.y, a.targets, a.modalities) == (b.id, b.text, b.y, b.targets, b.modalities)
        assert np.array_equal(a.image, b.image)
    assert from_csv[3].audio is None and from_csv[2].text == "two lines\nof text"
    assert [r.line for r in ManifestDataset(tmp_path / "m.csv").records()] == [2, 3, 4, 6, 7, 8]


def test_csv_bad_records(tmp_path):
    make_files(tmp_path, 3)
    lines = [
        b"id,image,label,targets,text",
        b"a,imgs/0.png,1,,",
        b"b,imgs/1.png,one,,",  # label not a number
        b"c,imgs/1.png,2,{oops,",  # targets not JSON
        b"d,../x.png,,,",  # escape
        b"e,imgs/2.png",  # too few fields
        b"f,,,,caf\xe9",  # bad UTF-8
        b"g,imgs/2.png,0.5,,",  # float label after integer ones
        b"h,imgs/2.png,2,\"{\"\"snr\"\": 1}\",hi",
    ]
    path = tmp_path / "m.csv"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    items = list(ManifestDataset(path))
    good_ids = [s.id for s in items if isinstance(s, MultimodalSample)]
    reasons = {r.line: r.reason for r in items if isinstance(r, Rejection)}
    assert good_ids == ["a", "h"]
    assert reasons[3] == ("label: 'one' is a class name (string) but the manifest's first label (line 2) is an "
                          "integer (class id): labels must be all integers (class ids), all floats (regression "
                          "values) or all class names (strings)")
    assert "targets: expected a JSON object" in reasons[4]
    assert "leaves the manifest folder" in reasons[5]
    assert "has 2 fields but the header has 5 columns" in reasons[6]
    assert "not valid UTF-8 (in column 'text')" in reasons[7]
    assert "labels must be all integers" in reasons[8]
    assert items[-1].targets == {"snr": 1.0} and items[-1].text == "hi"


def test_csv_header_problems_are_file_errors(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("id,text,colour\na,b,c\n")
    with pytest.raises(ValueError, match=r"unknown CSV columns \['colour'\]; valid columns"):
        ManifestDataset(path)
    path.write_text("text\nhello\n")
    with pytest.raises(ValueError, match="no 'id' column"):
        ManifestDataset(path)
    with pytest.raises(ValueError, match="manifest not found"):
        ManifestDataset(tmp_path / "nope.jsonl")
    with pytest.raises(ValueError, match=r"must be a \.jsonl or \.csv file"):
        ManifestDataset(tmp_path / "m.txt")


def test_records_stream_lazily(tmp_path):
    # records are read as the iteration reaches them: lines appended after the first record was
    # yielded are still seen (a reader that loaded the file up front would miss them)
    path = tmp_path / "m.jsonl"
    with open(path, "w") as f:
        for i in range(20_000):
            f.write(json.dumps({"id": i, "text": f"t{i}"}) + "\n")
    records = ManifestDataset(path).records()
    first = next(records)
    assert first.id == "0" and first.fields == {"text": "t0"}
    with open(path, "a") as f:
        f.write(json.dumps({"id": "late", "text": "appended"}) + "\n")
    rest = list(records)
    assert len(rest) == 20_000 and rest[-1].id == "late" and rest[-1].index == 20_000


def test_to_dataset_and_load_dataset(tmp_path):
    make_files(tmp_path, 9)
    path = tmp_path / "m.jsonl"
    recs = [good(i, split=["train", "val", "test"][i % 3]) for i in range(9)]
    recs[4]["label"] = 6
    del recs[7]["audio"]
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n" + json.dumps({"id": "bad"}) + "\n")
    ds = load_dataset(str(path))
    assert ds.name == "m" and list(ds.splits) == ["train", "val", "test"]
    assert [s.id for s in ds.splits["val"]] == ["s1", "s4", "s7"]
    assert ds.tasks["label"].kind == "classification" and ds.tasks["label"].num_classes == 7
    assert ds.tasks["snr_db"].kind == "regression" and ds.tasks["snr_db"].target == "snr_db"
    assert ds.info["rejected"] == 1 and ds.info["rejections"][0]["id"] == "bad"
    assert ds.graph_config.modalities == ("audio", "image", "text")
    config = ds.fit_graph_config()
    assert "hello" in config.settings["text"].tokenizer.vocab
    graphs = ds.featurize("train", config)
    assert len(graphs) == 3 and graphs.y.tolist() == [0, 0, 0]


def test_regression_labels_and_unlabelled(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"id": "a", "text": "x", "label": 0.5}) + "\n" + json.dumps({"id": "b", "text": "y"}))
    ds = load_manifest(path)
    assert ds.tasks["label"].kind == "regression"
    assert ds.graph_config.modalities == ("text",)
    with pytest.raises(ValueError, match="no usable record"):
        (tmp_path / "bad.jsonl").write_text("nope\n")
        load_manifest(tmp_path / "bad.jsonl")


@pytest.mark.parametrize("label", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_label_is_named_as_such(tmp_path, label):
    make_files(tmp_path, 2)
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(good(0)) + "\n" + f'{{"id": "bad", "image": "imgs/1.png", "label": {label}}}' + "\n")
    bad = list(ManifestDataset(path))[1]
    assert isinstance(bad, Rejection) and bad.id == "bad"
    assert str(bad) == (f"line 2 (id 'bad'): label: {label} is not a label (a class is an integer >= 0 or a class "
                        f"name, a regression value a finite number; leave the label out of an unlabelled record)")
    csv_path = tmp_path / "m.csv"
    csv_path.write_text("id,image,label\na,imgs/0.png,1\nb,imgs/1.png,nan\n")
    assert "'nan' is not a label" in list(ManifestDataset(csv_path))[1].reason


def test_a_line_or_row_that_is_not_utf8_keeps_its_id(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(BAD_UTF8 + b"\n" + b'{"id": "caf\xe9", "text": "x"}\n')
    first, second = ManifestDataset(path)
    assert first.id == "latin1" and first.reason.startswith("text: not valid UTF-8")
    assert second.id is None  # the id itself is not readable
    csv_path = tmp_path / "m.csv"
    csv_path.write_bytes(b"id,text\nrow1,caf\xe9\ncaf\xe9,x\n")
    first, second = ManifestDataset(csv_path)
    assert (first.id, first.reason) == ("row1", "not valid UTF-8 (in column 'text')")
    assert second.id is None


def test_class_name_labels_and_targets_become_sorted_class_ids(tmp_path):
    make_files(tmp_path, 6)
    labels = ["low", "mid", "high", "low", "mid", "oops"]
    recs = [{"id": f"s{i}", "image": f"imgs/{i}.png", "label": label, "targets": {"mood": ["calm", "tense"][i % 2]}}
            for i, label in enumerate(labels)]
    recs[5]["image"] = "imgs/nope.png"  # refused before decoding: its name is no class
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    manifest = ManifestDataset(path)
    assert manifest.class_names() == {"label": ("high", "low", "mid"), "mood": ("calm", "tense")}
    samples = list(manifest.samples())
    assert [s.y for s in samples] == [1, 2, 0, 1, 2]
    assert [s.targets for s in samples] == [{"mood": float(i % 2)} for i in range(5)]
    ds = manifest.to_dataset()
    assert ds.tasks["label"].class_names == ("high", "low", "mid") and ds.tasks["label"].num_classes == 3
    assert ds.tasks["mood"].kind == "classification" and ds.tasks["mood"].target == "mood"
    assert ds.tasks["mood"].class_names == ("calm", "tense")
    # a CSV cell that is no number is a class name: the same samples
    rows = [{**r, "targets": json.dumps(r["targets"])} for r in recs]
    write_csv(tmp_path / "m.csv", rows, ["id", "image", "label", "targets"])
    from_csv = ManifestDataset(tmp_path / "m.csv")
    assert from_csv.class_names() == manifest.class_names()
    assert [(s.id, s.y, s.targets) for s in from_csv.samples()] == [(s.id, s.y, s.targets) for s in samples]


def test_mixed_integer_and_name_labels_are_rejected_naming_the_record(tmp_path):
    make_files(tmp_path, 4)
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"s{i}", "image": f"imgs/{i}.png", "label": label})
                              for i, label in enumerate(["b", "a", 1, "c"])) + "\n")
    items = list(ManifestDataset(path))
    assert [s.y for s in items if isinstance(s, MultimodalSample)] == [1, 0, 2]  # a, b, c
    (bad,) = [r for r in items if isinstance(r, Rejection)]
    assert str(bad) == ("line 3 (id 's2'): label: 1 is an integer (class id) but the manifest's first label (line 1) "
                        "is a class name (string): labels must be all integers (class ids), all floats (regression "
                        "values) or all class names (strings)")
    path.write_text("\n".join(json.dumps({"id": f"s{i}", "image": f"imgs/{i}.png", "label": label})
                              for i, label in enumerate([0, "a", 1, "b"])) + "\n")
    manifest = ManifestDataset(path)
    assert manifest.class_names() == {}  # integer labels: names refused, no classes named
    assert [r.id for r in manifest.rejections()] == ["s1", "s3"]
    assert manifest.to_dataset().tasks["label"].class_names is None


def test_given_class_names_read_new_records_as_the_run_did(tmp_path):
    make_files(tmp_path, 5)
    path = tmp_path / "m.jsonl"
    labels = ["mid", "unseen", 2, None, "high"]
    path.write_text("\n".join(json.dumps({"id": f"s{i}", "image": f"imgs/{i}.png",
                                          **({} if label is None else {"label": label})})
                              for i, label in enumerate(labels)) + "\n")
    manifest = ManifestDataset(path, class_names={"label": ["high", "low", "mid"]})
    items = list(manifest)
    assert [(s.id, s.y) for s in items if isinstance(s, MultimodalSample)] == [("s0", 2), ("s3", None), ("s4", 0)]
    reasons = {r.id: r.reason for r in items if isinstance(r, Rejection)}
    assert reasons == {
        "s1": "label: 'unseen' is not a known class (the classes: 'high', 'low', 'mid'); use one of those names, or "
              "leave it out (an unlabelled record is still predicted)",
        "s2": "label: 2 is an integer (class id) but the manifest's first label (line 1) is a class name (string): "
              "labels must be all integers (class ids), all floats (regression values) or all class names (strings)",
    }
    assert manifest.class_names() == {"label": ("high", "low", "mid")}
    ds = manifest.to_dataset()
    assert ds.tasks["label"].class_names == ("high", "low", "mid")  # the given names, all three
    # integer labels stay class ids, whatever names are given
    path.write_text("\n".join(json.dumps({"id": f"s{i}", "image": f"imgs/{i}.png", "label": i % 2})
                              for i in range(4)) + "\n")
    manifest = ManifestDataset(path, class_names={"label": ["high", "low", "mid"]})
    assert manifest.class_names() == {} and [s.y for s in manifest.samples()] == [0, 1, 0, 1]
    assert manifest.to_dataset().tasks["label"].class_names is None


def test_a_class_name_must_not_be_empty(tmp_path):
    make_files(tmp_path, 3)
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"s{i}", "image": f"imgs/{i}.png", "label": label})
                              for i, label in enumerate(["a", " ", "b"])) + "\n")
    (bad,) = ManifestDataset(path).rejections()
    assert bad.id == "s1" and bad.reason == ("label: ' ' is not a class name (it is empty); leave it out of an "
                                             "unlabelled record")
    assert ManifestDataset(path).class_names() == {"label": ("a", "b")}
    path.write_text("\n".join(json.dumps({"id": f"s{i}", "image": f"imgs/{i}.png", "label": label})
                              for i, label in enumerate([" ", 0, 1])) + "\n")  # an empty name sets no kind
    assert [s.y for s in ManifestDataset(path).samples()] == [0, 1]
