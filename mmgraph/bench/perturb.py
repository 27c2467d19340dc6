"""Test-time perturbations for robustness curves: noisy audio, noisy images (raw samples in, out)."""

from __future__ import annotations

import numpy as np

from mmgraph.media import Audio
from mmgraph.sample import MultimodalSample


def _copy(sample: MultimodalSample) -> MultimodalSample:
    out = object.__new__(MultimodalSample)
    for name in MultimodalSample.__slots__:
        setattr(out, name, getattr(sample, name))
    return out


def add_audio_noise(sample: MultimodalSample, snr_db: float, rng: np.random.Generator) -> MultimodalSample:
    """White Gaussian noise added to the sample's waveform, ``snr_db`` below the waveform's power.

    Samples without audio (or with a silent waveform) come back unchanged.
    """
    if sample.audio is None:
        return sample
    wave = sample.audio.waveform.astype(np.float64)
    power = float(np.mean(wave**2))
    if power <= 1e-12:
        return sample
    noisy = wave + rng.standard_normal(wave.shape[0]) * np.sqrt(power / 10.0 ** (snr_db / 10.0))
    peak = np.abs(noisy).max()
    if peak > 1.0:
        noisy = noisy / peak
    out = _copy(sample)
    wave32 = noisy.astype(np.float32)
    wave32.flags.writeable = False
    out.audio = Audio(wave32, sample.audio.sample_rate)
    return out


def add_image_noise(sample: MultimodalSample, std: float, rng: np.random.Generator) -> MultimodalSample:
    """Gaussian pixel noise of standard deviation ``std`` (in [0, 1] units), clipped, kept uint8/float."""
    if sample.image is None or std <= 0:
        return sample
    img = sample.image
    scale = 255.0 if img.dtype == np.uint8 else 1.0
    noisy = np.clip(img.astype(np.float64) / scale + rng.normal(0.0, std, size=img.shape), 0.0, 1.0)
    out = _copy(sample)
    arr = np.round(noisy * 255.0).astype(np.uint8) if img.dtype == np.uint8 else noisy.astype(img.dtype)
    arr.flags.writeable = False
    out.image = arr
    return out


def perturbed(samples, kind: str, level: float, seed: int = 0) -> list[MultimodalSample]:
    """All ``samples`` perturbed at one level (``kind``: ``"audio_snr_db"`` or ``"image_noise_std"``)."""
    rng = np.random.default_rng([seed, int(round(level * 1000)) & 0xFFFFFFFF])
    fn = {"audio_snr_db": add_audio_noise, "image_noise_std": add_image_noise}[kind]
    return [fn(s, level, rng) for s in samples]
