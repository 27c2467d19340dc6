import numpy as np
import pytest
import torch

from mmgraph.featurize import AudioFeaturizer, mel_filterbank
from mmgraph.media import Audio


def tone(freq, seconds=1.0, sr=8000):
    t = np.arange(int(seconds * sr)) / sr
    return Audio(np.sin(2 * np.pi * freq * t).astype(np.float32), sr)


def test_frame_count_and_positions():
    ns = AudioFeaturizer()(tone(440))
    assert ns.x.shape == (101, 40) and ns.shape == (101,)  # 1 + 8000 // 80
    assert ns.pos[1, 0].item() == pytest.approx(0.01)
    assert ns.pos[-1, 0].item() == pytest.approx(1.0)


def test_energy_lands_in_the_right_mel_band():
    feat = AudioFeaturizer(n_mels=40)
    fb = mel_filterbank(8000, 256, 40, 0.0, 4000.0)
    for freq in (300.0, 1000.0, 3000.0):
        ns = feat(tone(freq))
        band = int(ns.x[50].argmax())
        assert fb[band, round(freq / (4000 / 128))] > 0  # the loudest band's filter covers the tone


def test_resampling_matches_native_rate():
    a = AudioFeaturizer()(tone(500, sr=8000))
    b = AudioFeaturizer()(tone(500, sr=16000))
    assert a.x.shape == b.x.shape
    assert torch.allclose(a.x[5:-5], b.x[5:-5], atol=0.3)  # same content, up to resampling error


def test_batch_equals_one_by_one_and_is_deterministic():
    rng = np.random.default_rng(0)
    clips = [Audio(rng.standard_normal(n).astype(np.float32), 8000) for n in (800, 1600, 800)]
    feat = AudioFeaturizer()
    batch = feat.batch(clips)
    for clip, ns in zip(clips, batch):
        one = feat(clip)
        assert torch.allclose(one.x, ns.x, atol=1e-5)
    assert torch.equal(feat.batch(clips)[1].x, batch[1].x)


def test_short_clip_and_max_frames():
    assert AudioFeaturizer()(Audio(np.ones(5, np.float32), 8000)).x.shape == (1, 40)
    assert AudioFeaturizer(max_frames=10)(tone(100)).x.shape == (10, 40)


def test_validation():
    with pytest.raises(ValueError, match="'win_length' \\(got 300\\) must be <= 'n_fft' \\(got 256\\)"):
        AudioFeaturizer(win_length=300)
    with pytest.raises(ValueError, match="f_max"):
        AudioFeaturizer(f_max=5000)
