"""Hostile input: the corpus of ``tests/data/make_bad.py`` converted with ``mmgraph.convert``.

Every malformed record is rejected with a reason that starts with the field and says what was wrong;
every good record around them converts exactly as it does alone; unusual but valid WAVs (24-bit,
stereo, 17 channels, 44.1 kHz, an extra chunk) convert to the waveform they hold.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mmgraph import GraphConfig, MultimodalSample, Tokenizer
from mmgraph.convert import convert
from mmgraph.convert.layout import read_meta
from mmgraph.datasets.manifest import ManifestDataset, Rejection
from mmgraph.datasets.on_disk import load_converted
from mmgraph.graph import Featurizer
from mmgraph.media import read_image, read_wav
from tests.data.make_bad import (
    CASES,
    DUPLICATE_OF,
    GOOD_RATE,
    NO_ID,
    Corpus,
    good_record,
    int16_samples,
    int24_samples,
    write_corpus,
)

CHUNK = 8  # several shards, each with rejections among good records
BAD = sorted(name for name, expected in CASES.items() if expected is not None)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    return write_corpus(tmp_path_factory.mktemp("hostile") / "data")


@pytest.fixture(scope="module")
def config(corpus) -> GraphConfig:
    """One config for both conversions (fit on the records that convert), so that they can be compared."""
    texts = [json.loads(line)["text"] for line in corpus.alone.read_text().splitlines()]
    return GraphConfig(
        modalities=("audio", "image", "text"), image={"channels": 3}, text={"tokenizer": Tokenizer.fit(texts)}
    )


@pytest.fixture(scope="module")
def converted(corpus, config, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hostile-out") / "all"
    convert(corpus.manifest, out, graph_config=config, chunk_size=CHUNK, progress=False)
    return out


@pytest.fixture(scope="module")
def rejections(converted) -> dict[int, dict]:
    """``rejected.jsonl`` by manifest line."""
    rows = [json.loads(line) for line in (converted / "rejected.jsonl").read_text(encoding="utf-8").splitlines()]
    return {r["line"]: r for r in rows}


def test_counts_and_every_other_record_converted(corpus, converted, rejections):
    meta = read_meta(converted)
    total = len(corpus.manifest.read_bytes().splitlines())
    assert meta["complete"]
    assert meta["counts"] == {"records": total, "converted": len(corpus.converted_ids), "rejected": len(BAD)}
    assert sorted(rejections) == sorted(corpus.lines[name] for name in BAD)
    loaded = load_converted(converted)
    ids = [i for graphs in loaded.splits.values() for i in graphs.ids]
    assert sorted(ids) == sorted(corpus.converted_ids)
    assert loaded.splits["train"].ids == [i for i in corpus.converted_ids if not i.startswith("good-")
                                          or good_record(int(i[5:]))["split"] == "train"]


@pytest.mark.parametrize("name", BAD)
def test_rejected_with_reason_naming_the_field(name, corpus, rejections):
    field, reason = CASES[name]
    rejection = rejections[corpus.lines[name]]
    assert reason in rejection["reason"], rejection
    assert rejection["reason"].startswith(field), rejection
    expected_id = None if name in NO_ID else DUPLICATE_OF if name == "id-duplicate" else name
    assert rejection["id"] == expected_id


def test_good_records_convert_as_if_alone(corpus, config, converted, tmp_path):
    alone = tmp_path / "alone"
    convert(corpus.alone, alone, graph_config=config, chunk_size=CHUNK, progress=False)
    assert read_meta(alone)["counts"]["rejected"] == 0
    a, b = load_converted(converted), load_converted(alone)
    assert list(a.splits) == list(b.splits) == ["train", "val"]
    for split in a.splits:
        ga, gb = a.splits[split], b.splits[split]
        assert ga.ids == gb.ids
        assert torch.equal(ga.y, gb.y)
        for m in config.modalities:
            ca, cb = ga.columns[m], gb.columns[m]
            # the chunks hold other neighbours, so the batched STFTs pad differently: float noise only
            torch.testing.assert_close(ca.x, cb.x, rtol=1e-5, atol=1e-5)
            assert torch.equal(ca.pos, cb.pos) and torch.equal(ca.counts, cb.counts) and ca.shapes == cb.shapes


def _expected_waves() -> dict[str, tuple[np.ndarray, int]]:
    """What the unusual WAVs hold, computed from the values make_bad wrote (not by reading them)."""
    stereo = int16_samples(1000, channels=2, seed=3).astype(np.float32) / 32768
    many = int16_samples(1000, channels=17, seed=6).astype(np.float32) / 32768
    return {
        "24bit.wav": ((int24_samples(1000) / 2**23).astype(np.float32), GOOD_RATE),
        "stereo.wav": (stereo.mean(axis=1), GOOD_RATE),
        "ch17.wav": (many.mean(axis=1), GOOD_RATE),
        "44100.wav": (int16_samples(4410, seed=4).astype(np.float32) / 32768, 44_100),
        "cue.wav": (int16_samples(800, seed=5).astype(np.float32) / 32768, GOOD_RATE),
    }


UNUSUAL = {"wav-24-bit": "24bit.wav", "wav-stereo": "stereo.wav", "wav-17-channels": "ch17.wav",
           "wav-44100-hz": "44100.wav", "wav-with-cue-chunk": "cue.wav"}


@pytest.mark.parametrize("name", sorted(UNUSUAL))
def test_unusual_valid_wavs_convert_to_their_waveform(name, corpus, config, converted):
    wave, rate = _expected_waves()[UNUSUAL[name]]
    read, read_rate = read_wav(corpus.root / "bad" / UNUSUAL[name])
    assert read_rate == rate
    np.testing.assert_allclose(read, wave, rtol=1e-6, atol=0)  # 24-bit, mono: bit-exact
    if name == "wav-24-bit":
        assert np.array_equal(read, wave) and read.min() == -1.0 and read.max() == 1 - 2**-23

    graphs = load_converted(converted).splits["train"]
    stored = graphs[graphs.ids.index(name)].nodes["audio"]
    direct = Featurizer(config)(MultimodalSample(text=f"case {name}", audio=wave, sample_rate=rate, id=name))
    torch.testing.assert_close(stored.x, direct.nodes["audio"].x, rtol=1e-5, atol=1e-5)
    audio = config.settings["audio"]
    resampled = round(len(wave) * audio.sample_rate / rate)  # 4410 at 44.1 kHz → 800 at 8 kHz
    assert stored.x.shape == (1 + resampled // audio.hop_length, audio.n_mels)
    if name == "wav-44100-hz":
        assert stored.x.shape[0] == 11


def _vm_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _peak_growth_mb(run) -> tuple[object, float]:
    """``run()`` and how far it raised the RSS high-water mark, in MB."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := current RSS, so the peak is run's own
    except OSError as exc:
        pytest.skip(f"cannot reset the RSS high-water mark: {exc}")
    before = _vm_kb("VmHWM")
    result = run()
    return result, (_vm_kb("VmHWM") - before) / 1024


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc/self/clear_refs")
@pytest.mark.parametrize("name", ["png-header-20000x20000", "png-header-8000x8000"])
def test_huge_image_header_refused_without_allocating_pixels(name, corpus):
    record = next(r for r in ManifestDataset(corpus.manifest).records() if r.id == name)
    path = Path(record.fields["image"])
    assert path.stat().st_size < 100_000  # a small file declaring 400 M / 64 M pixels
    item, grown_mb = _peak_growth_mb(record.load)  # what a conversion worker does with the record
    assert isinstance(item, Rejection) and "refused before decoding" in item.reason
    assert grown_mb < 16, f"peak RSS grew by {grown_mb:.0f} MB"
    if name == "png-header-8000x8000":  # the measurement sees a decode: let the guard through and look
        image, grown_mb = _peak_growth_mb(lambda: read_image(path, max_pixels=10**8))
        assert image.shape == (8000, 8000) and grown_mb > 60


def test_allow_outside_lifts_only_the_folder_check(corpus):
    records = {r.id: r for r in ManifestDataset(corpus.manifest, allow_outside=True)
               if isinstance(r, Rejection) and r.id in ("path-escaping-folder", "path-absolute-outside")}
    assert len(records) == 2  # still refused: neither file is usable media
    for rejection in records.values():
        assert "leaves the manifest folder" not in rejection.reason
    assert records["path-escaping-folder"].reason.startswith("image: file not found: ../../etc/passwd")
