"""MultimodalSample: accepted forms and the error message of every bad input."""

import numpy as np
import pytest
from PIL import Image
from scipy.io import wavfile

from mmgraph import MultimodalSample


def test_any_subset_of_modalities(tmp_path):
    rng = np.random.default_rng(0)
    s = MultimodalSample(image=np.zeros((4, 5), np.uint8))
    assert s.modalities == ("image",)
    s = MultimodalSample(text="hi", audio=rng.standard_normal(10).astype(np.float32), sample_rate=8000)
    assert s.modalities == ("audio", "text")
    assert s.audio.sample_rate == 8000 and s.audio.waveform.dtype == np.float32


def test_image_forms(tmp_path):
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert MultimodalSample(image=grey).image.shape == (3, 4)
    assert MultimodalSample(image=grey[:, :, None]).image.shape == (3, 4)  # H×W×1 → H×W
    assert MultimodalSample(image=np.zeros((3, 4, 3), np.float32)).image.dtype == np.float32
    rgba = np.zeros((3, 4, 4), np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert MultimodalSample(image=tmp_path / "a.png").image.shape == (3, 4, 4)
    Image.fromarray(grey).save(tmp_path / "g.png")
    np.testing.assert_array_equal(MultimodalSample(image=str(tmp_path / "g.png")).image, grey)


def test_sample_owns_its_arrays():
    img = np.zeros((2, 2), np.uint8)
    s = MultimodalSample(image=img)
    img[0, 0] = 255
    assert s.image[0, 0] == 0
    with pytest.raises(ValueError):
        s.image[0, 0] = 1  # read-only


def test_audio_forms(tmp_path):
    stereo = np.stack([np.full(100, 1000, np.int16), np.full(100, -1000, np.int16)])
    s = MultimodalSample(audio=stereo, sample_rate=16000)
    np.testing.assert_allclose(s.audio.waveform, 0.0)  # mixed down to mono
    s = MultimodalSample(audio=np.full(10, 16384, np.int16), sample_rate=8000)
    np.testing.assert_allclose(s.audio.waveform, 0.5)
    s = MultimodalSample(audio=np.full(10, 2**30, np.int32), sample_rate=8000)
    np.testing.assert_allclose(s.audio.waveform, 0.5)
    wavfile.write(tmp_path / "s.wav", 22050, np.stack([np.full(50, 8192, np.int16)] * 2, axis=1))
    s = MultimodalSample(audio=tmp_path / "s.wav")
    assert s.audio.sample_rate == 22050 and s.audio.waveform.shape == (50,)
    np.testing.assert_allclose(s.audio.waveform, 0.25)


def test_labels_targets_id():
    s = MultimodalSample(text="a", y=np.int64(3), targets={"snr_db": np.float32(-4.5)}, id="r1")
    assert s.y == 3 and isinstance(s.y, int)
    assert s.targets == {"snr_db": -4.5}
    assert MultimodalSample(text="a", y=2.5).y == 2.5
    assert "id='r1'" in repr(s)


def test_without_removes_modalities():
    s = MultimodalSample(text="a", image=np.zeros((2, 2), np.uint8), y=1)
    assert s.without("text").modalities == ("image",)
    assert s.modalities == ("image", "text")
    with pytest.raises(ValueError, match="no modality"):
        s.without("text", "image")


BAD = [
    # (kwargs, exception, message fragment)
    ({}, ValueError, "needs at least one modality"),
    ({"image": np.zeros((2, 2, 2), np.uint8)}, TypeError, "C in (1, 3, 4), got shape (2, 2, 2)"),
    ({"image": np.zeros((2, 2, 2, 2), np.uint8)}, TypeError, "got shape (2, 2, 2, 2)"),
    ({"image": np.zeros(4, np.uint8)}, TypeError, "expected shape H×W or H×W×C"),
    ({"image": np.zeros((0, 3), np.uint8)}, ValueError, "height and width must be positive"),
    ({"image": np.zeros((2, 2), np.int64)}, TypeError, "got dtype int64"),
    ({"image": np.full((2, 2), np.nan)}, ValueError, "image: contains NaN or infinite"),
    ({"image": np.full((2, 2), np.inf, np.float32)}, ValueError, "image: contains NaN or infinite"),
    ({"image": np.full((2, 2), 2.0)}, ValueError, "values in [0, 1], got range [2, 2]"),
    ({"image": [[0, 1]]}, TypeError, "image: expected a numpy array"),
    ({"image": "/nonexistent/x.png"}, ValueError, "image: file not found"),
    ({"text": ""}, ValueError, "text: must not be empty"),
    ({"text": "   \n"}, ValueError, "text: must not be empty"),
    ({"text": "\x00\x01\x7f"}, ValueError, "text: has no visible character"),
    ({"text": b"bytes"}, TypeError, "text: expected str, got bytes"),
    ({"text": 3}, TypeError, "text: expected str, got int"),
    ({"audio": np.zeros(0, np.float32), "sample_rate": 8000}, ValueError, "audio: waveform has zero length"),
    ({"audio": np.zeros((2, 0), np.float32), "sample_rate": 8000}, ValueError, "zero length"),
    ({"audio": np.array([0.0, np.nan]), "sample_rate": 8000}, ValueError, "audio: waveform contains NaN"),
    ({"audio": np.array([0.0, np.inf]), "sample_rate": 8000}, ValueError, "audio: waveform contains NaN"),
    ({"audio": np.zeros((2, 2, 2)), "sample_rate": 8000}, TypeError, "got shape (2, 2, 2)"),
    ({"audio": np.zeros((100, 2)), "sample_rate": 8000}, TypeError, "is it (samples, channels)? transpose"),
    ({"audio": np.zeros(4, np.int64), "sample_rate": 8000}, TypeError, "got dtype int64"),
    ({"audio": np.zeros(4, np.float32)}, ValueError, "needs sample_rate"),
    ({"audio": np.zeros(4, np.float32), "sample_rate": -1}, ValueError, "positive int, got -1"),
    ({"audio": np.zeros(4, np.float32), "sample_rate": 8000.5}, ValueError, "positive int, got 8000.5"),
    ({"audio": "/nonexistent/a.wav"}, ValueError, "audio: file not found"),
    ({"audio": [0.0, 1.0], "sample_rate": 8000}, TypeError, "audio: expected a numpy waveform"),
    ({"text": "a", "y": True}, TypeError, "y: expected an int"),
    ({"text": "a", "y": -1}, ValueError, "class labels must be >= 0"),
    ({"text": "a", "y": float("nan")}, ValueError, "y: must be finite"),
    ({"text": "a", "y": "3"}, TypeError, "y: expected an int (class) or a float (regression), got str"),
    ({"text": "a", "targets": {"snr": float("inf")}}, ValueError, "targets['snr']: must be finite"),
    ({"text": "a", "targets": {"snr": "x"}}, TypeError, "targets['snr']: expected a number"),
    ({"text": "a", "targets": {"bad name": 1.0}}, ValueError, "names must be identifiers"),
    ({"text": "a", "targets": {"x": 1.0}}, ValueError, "'x' is reserved"),
    ({"text": "a", "id": 7}, TypeError, "id: expected a str or None, got int"),
    ({"text": "a", "extra": {"video": 1}}, ValueError, "modality 'video' is not registered"),
    ({"text": "a", "extra": {"image": 1}}, ValueError, "'image' is a built-in node type"),
]


@pytest.mark.parametrize("kwargs,exc,fragment", BAD, ids=[b[2][:30] for b in BAD])
def test_bad_input_messages(kwargs, exc, fragment):
    with pytest.raises(exc) as info:
        MultimodalSample(**kwargs)
    assert fragment in str(info.value)


def test_unreadable_files(tmp_path):
    (tmp_path / "not.png").write_bytes(b"this is not an image")
    with pytest.raises(ValueError, match="is not a readable image file"):
        MultimodalSample(image=tmp_path / "not.png")
    good = tmp_path / "good.png"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(good)
    (tmp_path / "trunc.png").write_bytes(good.read_bytes()[:60])
    with pytest.raises(ValueError, match="image: cannot decode"):
        MultimodalSample(image=tmp_path / "trunc.png")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(ValueError, match="audio: cannot read WAV empty.wav"):
        MultimodalSample(audio=tmp_path / "empty.wav")
    wavfile.write(tmp_path / "nan.wav", 8000, np.array([0.0, np.nan], np.float32))
    with pytest.raises(ValueError, match="contains NaN"):
        MultimodalSample(audio=tmp_path / "nan.wav")


def test_decompression_bomb_refused_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    Image.new("L", (3000, 3000)).save(path)
    with pytest.raises(ValueError, match="more than max_image_pixels=1000000"):
        MultimodalSample(image=path, max_image_pixels=1_000_000)
