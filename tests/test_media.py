"""Audio files beyond WAV through the optional mmgraph[audio] extra (soundfile), and its one-line error when missing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from mmgraph import MultimodalSample
from mmgraph.cli import main
from mmgraph.datasets.manifest import load_manifest
from mmgraph.media import MissingExtraError, read_audio


def stereo_tone(rate: int, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    left, right = 0.5 * np.sin(2 * np.pi * 440 * t), 0.25 * np.sin(2 * np.pi * 660 * t)
    return np.stack([left, right], axis=1).astype(np.float32)  # (samples, channels)


def test_flac_round_trip_is_exact_and_mono(tmp_path: Path) -> None:
    soundfile = pytest.importorskip("soundfile")
    wave = stereo_tone(16000)
    path = tmp_path / "a.flac"
    soundfile.write(path, wave, 16000, subtype="PCM_16")
    waveform, rate = read_audio(path)
    assert rate == 16000 and waveform.dtype == np.float32 and waveform.shape == (8000,)
    np.testing.assert_allclose(waveform, wave.mean(axis=1), atol=1 / 32768)  # lossless, to one 16-bit step
    sample = MultimodalSample(audio=str(path), id="flac")  # a path in a sample is read the same way
    assert sample.audio.sample_rate == 16000 and np.array_equal(sample.audio.waveform, waveform)
    (tmp_path / "m.jsonl").write_text(json.dumps({"id": "a", "audio": "a.flac", "label": 1}) + "\n")
    dataset = load_manifest(tmp_path / "m.jsonl")  # manifests name FLAC files like WAV files
    assert np.array_equal(dataset.splits["train"][0].audio.waveform, waveform)


@pytest.mark.parametrize(("suffix", "fmt", "subtype"), [(".ogg", "OGG", "VORBIS"), (".mp3", "MP3", "MPEG_LAYER_III")])
def test_lossy_formats_round_trip(tmp_path: Path, suffix: str, fmt: str, subtype: str) -> None:
    soundfile = pytest.importorskip("soundfile")
    if fmt not in soundfile.available_formats():
        pytest.skip(f"this libsndfile has no {fmt}")
    wave = stereo_tone(44100)
    path = tmp_path / f"a{suffix}"
    soundfile.write(path, wave, 44100, format=fmt, subtype=subtype)
    waveform, rate = read_audio(path)
    assert rate == 44100 and abs(waveform.shape[0] - wave.shape[0]) < 0.05 * 44100  # codecs pad a little
    # lossy: the content survives, not the samples: the two tones are the two strongest frequencies, 2:1
    spectrum = np.abs(np.fft.rfft(waveform))
    freqs = np.fft.rfftfreq(waveform.shape[0], 1 / rate)
    peaks = freqs[np.argsort(spectrum)[-2:]]
    assert sorted(np.round(peaks, -1)) == [440, 660]
    ratio = spectrum[np.argmin(abs(freqs - 440))] / spectrum[np.argmin(abs(freqs - 660))]
    assert 1.6 < ratio < 2.4


def test_missing_extra_is_one_error_naming_it(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "soundfile", None)  # import soundfile now raises ImportError
    path = tmp_path / "clip.flac"
    path.write_bytes(b"fLaC")
    with pytest.raises(MissingExtraError, match=r'reading \.flac files needs the optional extra: pip install '
                                                 r'"mmgraph\[audio\]"') as info:
        read_audio(path)
    assert info.value.extra == "audio" and isinstance(info.value, ImportError)
    # a manifest of FLAC files stops at once with that line (no record is rejected for it, nothing half-done)
    (tmp_path / "m.jsonl").write_text(json.dumps({"id": "a", "audio": "clip.flac", "label": 1}) + "\n")
    code = main(["convert", str(tmp_path / "m.jsonl"), str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("mmgraph convert: error: audio: reading .flac files needs the optional extra")


def test_other_suffixes_are_read_as_wav_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "clip.m4a"
    path.write_bytes(b"\x00\x00\x00\x18ftypM4A " + bytes(64))
    with pytest.raises(ValueError, match=r"read as WAV: mmgraph reads \.wav, \.wave files and, with the extra "
                                         r"mmgraph\[audio\], \.flac, \.ogg"):
        read_audio(path)
