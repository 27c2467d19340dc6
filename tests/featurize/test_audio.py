import numpy as np
import pytest
import torch

from mmgraph.featurize import AUDIO_8K, AudioFeaturizer, mel_filterbank
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
    feat = AudioFeaturizer.from_settings(AUDIO_8K)  # 8 kHz, FFT of 256: 128 bins of 31.25 Hz
    fb = mel_filterbank(8000, 256, 40, 0.0, 4000.0)
    for freq in (300.0, 1000.0, 3000.0):
        ns = feat(tone(freq))
        band = int(ns.x[50].argmax())
        assert fb[band, round(freq / (4000 / 128))] > 0  # the loudest band's filter covers the tone


def test_resampling_matches_native_rate():
    feat = AudioFeaturizer.from_settings(AUDIO_8K)
    a = feat(tone(500, sr=8000))
    b = feat(tone(500, sr=16000))
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
    with pytest.raises(ValueError, match="'win_length' \\(got 600\\) must be <= 'n_fft' \\(got 512\\)"):
        AudioFeaturizer(win_length=600)
    with pytest.raises(ValueError, match="f_max"):
        AudioFeaturizer(f_max=9000)
    with pytest.raises(ValueError, match="'max_frames' must be a positive int or None"):
        AudioFeaturizer(max_frames=0)


def test_defaults_are_16_khz_and_long_clips_are_pooled_not_cut():
    rng = np.random.default_rng(0)
    clip = Audio((rng.standard_normal(5 * 16000) * 0.1).astype(np.float32), 16000)  # 5 s at 16 kHz
    feat = AudioFeaturizer()
    ns = feat(clip)
    assert (feat.sample_rate, feat.win_length, feat.hop_length, feat.max_frames) == (16000, 400, 160, 128)
    assert ns.x.shape == (128, 40) and ns.shape == (128,)  # 501 frames pooled to 128
    full = AudioFeaturizer(max_frames=None)
    assert full(clip).x.shape == (501, 40)
    # each node is the log of the mean mel power of its window; pos is the mean time of its frames
    power = full.mel_power(torch.from_numpy(clip.waveform)[None])[0].T  # (501, 40)
    expected = torch.log(torch.nn.functional.adaptive_avg_pool1d(power.T[None], 128)[0].T + 1e-6)
    torch.testing.assert_close(ns.x, expected)
    assert ns.pos[0, 0].item() == pytest.approx(0.015) and ns.pos[-1, 0].item() == pytest.approx(4.985)  # 4 frames
    assert bool((ns.pos[1:] > ns.pos[:-1]).all())
    # a clip that fits keeps every frame, bit for bit
    short = Audio(clip.waveform[:16000], 16000)
    assert torch.equal(feat(short).x, full(short).x) and feat(short).x.shape == (101, 40)
    assert feat.pool(torch.arange(501.0)).shape == (128,) and feat.num_nodes(80000) == 128


def test_resampling_is_logged_once_per_pair_of_rates(caplog):
    from mmgraph.featurize import audio as audio_module

    audio_module._RESAMPLED.clear()
    feat = AudioFeaturizer()
    with caplog.at_level("INFO", logger="mmgraph.featurize.audio"):
        feat(tone(440, sr=8000))
        feat(tone(440, sr=8000))
        feat(tone(440, sr=44100))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert caplog.records[0].levelname == "WARNING" and "upsampling 8000 Hz clips to 16000 Hz" in messages[0]
    assert "[graph.audio] sample_rate = 8000" in messages[0]
    assert caplog.records[1].levelname == "INFO" and "resampling 44100 Hz clips to 16000 Hz" in messages[1]
    assert feat.resampled_length(tone(440, seconds=0.5, sr=44100)) == feat.resample(tone(440, 0.5, 44100)).shape[0]
