"""``mmgraph convert --preflight``: sizes measured on a sample of records, suggestions that fit, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import wavfile

from mmgraph.cli import main
from mmgraph.convert import preflight
from mmgraph.graph.config import merge_graph_overrides, read_graph_overrides

CAPTION = "a small brown dog runs across the wet sand while the waves roll in behind it"  # 16 words


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Two 512×384 RGB photos with 5 s of 44.1 kHz audio and a caption, a small grey image, and a bad record."""
    rng = np.random.default_rng(0)
    records = []
    for i in range(2):
        Image.fromarray((rng.random((512, 384, 3)) * 255).astype(np.uint8)).save(tmp_path / f"p{i}.png")
        wavfile.write(tmp_path / f"p{i}.wav", 44100, (rng.standard_normal(5 * 44100) * 3000).astype(np.int16))
        records.append({"id": f"p{i}", "image": f"p{i}.png", "audio": f"p{i}.wav", "text": CAPTION, "label": i})
    Image.fromarray((rng.random((28, 28)) * 255).astype(np.uint8)).save(tmp_path / "g.png")
    records.append({"id": "grey", "image": "g.png", "text": "a grey digit", "label": 0})
    records.append({"id": "bad", "image": "missing.png", "label": 1})
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return tmp_path / "m.jsonl"


def test_preflight_measures_every_modality_and_writes_nothing(photos: Path) -> None:
    before = sorted(p.name for p in photos.parent.iterdir())
    report = preflight(photos)
    assert sorted(p.name for p in photos.parent.iterdir()) == before
    assert (report.records, report.read, len(report.sizes)) == (4, 4, 3)
    assert [r.id for r in report.rejected] == ["bad"] and report.rejected[0].line == 4
    by_id = dict(zip(report.ids, report.sizes))
    assert by_id["p0"].nodes == {"audio": 128, "image": 154, "text": 16}  # 14×11 patches, 5 s pooled to 128
    assert by_id["grey"].nodes == {"audio": 0, "image": 49, "text": 3}  # small images keep their 7×7 grid
    assert report.inputs["image_colour"] == [True, True, False] and report.inputs["audio_rates"] == [44100, 44100]
    assert report.inputs["image_hw"][0] == [512, 384]
    assert report.over_budget == [] and report.suggestions == []
    rows = {what: (n, b) for what, n, b in report.rows()}
    assert rows["image nodes"][0] == (154, 154) and rows["total"][0] == (298, 298)
    assert rows["edges"][0][1] == by_id["p0"].num_edges and rows["total"][1][1] == by_id["p0"].total_bytes
    assert report.batch_bytes()[1] == 32 * by_id["p0"].total_bytes
    text = report.summary()
    assert "4 of 4 records read (a seeded random sample), 3 valid, 1 rejected (first: line 4 (id 'bad')" in text
    assert "image 4x4 RGB patches, grid <= 14x14" in text and "3 images, 512x384 median" in text
    assert "2 audio clips at 44100 Hz (2); 5.0 s median" in text and "batch of 32:" in text
    assert "suggested settings: none" in text and "2 of 3 images are scaled down by max_grid=14" in text
    assert json.dumps(report.to_dict())  # JSON-able


def test_suggestions_bring_an_over_budget_source_within_budget(photos: Path, tmp_path: Path) -> None:
    old = {"image": {"max_grid": None, "channels": 1}, "audio": {"max_frames": None}}  # mmgraph 0.1's defaults
    report = preflight(photos, graph_config=old)
    assert report.over_budget == ["p0", "p1"] and report.sizes[0].nodes["image"] == 128 * 96
    assert report.suggestions[0] == "[graph.audio]" and "[graph.image]" in report.suggestions
    assert "channels = 3" in report.suggestions
    assert "2 of 3 images are in colour, which channels = 1 turns grey" in report.notes
    (tmp_path / "fix.toml").write_text("\n".join(report.suggestions) + "\n")
    fixed = preflight(photos, graph_config=merge_graph_overrides(old, read_graph_overrides(tmp_path / "fix.toml")))
    assert fixed.over_budget == [] and fixed.suggestions == [] and fixed.config.settings["image"].channels == 3


def test_low_rate_audio_gets_a_rate_suggestion(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    wavfile.write(tmp_path / "a.wav", 8000, (rng.standard_normal(8000) * 3000).astype(np.int16))
    (tmp_path / "m.jsonl").write_text(json.dumps({"id": "a", "audio": "a.wav", "text": "hello"}) + "\n")
    report = preflight(tmp_path / "m.jsonl")
    assert report.suggestions == ["[graph.audio]", "sample_rate = 8000", "n_fft = 256", "win_length = 200",
                                  "hop_length = 80"]
    assert "featurizing at 16000 Hz would upsample them" in report.notes[0]


def test_cli_preflight(photos: Path, capsys) -> None:
    assert main(["convert", "--preflight", str(photos), "--samples", "2", "--batch-size", "8"]) == 0
    out = capsys.readouterr().out
    assert "2 of 4 records read" in out and "batch of 8:" in out and "per sample" in out
    assert main(["convert", "--preflight", str(photos), str(photos.parent / "out")]) == 2
    assert "--preflight takes one SOURCE" in capsys.readouterr().err
    assert not (photos.parent / "out").exists()
    assert main(["convert", str(photos), str(photos.parent / "out"), "--samples", "2"]) == 2  # not silently ignored
    assert "--samples and --batch-size go with --preflight" in capsys.readouterr().err
