"""Audio → log-mel frames (sequence nodes), ``pos`` = frame time in seconds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import numpy as np
import torch
from scipy.signal import resample_poly

from mmgraph.config import ConfigMixin
from mmgraph.featurize.base import ModalityFeaturizer, NodeSet, register_featurizer
from mmgraph.media import Audio

LOG_FLOOR = 1e-6
"""Added to mel power before the log, so silence maps to log(1e-6) ≈ -13.8 instead of -inf."""


@lru_cache(maxsize=32)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> torch.Tensor:
    """Triangular HTK mel filters, ``(n_mels, n_fft // 2 + 1)``.

    Written here because neither torch nor scipy ships a mel filterbank and torchaudio does not
    install beside the pinned CPU torch; the formula is HTK's (mel = 2595 log10(1 + f / 700)).
    """
    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    fft_freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    mel_points = np.linspace(hz_to_mel(np.array(f_min)), hz_to_mel(np.array(f_max)), n_mels + 2)
    hz_points = mel_to_hz(mel_points)
    lower, centre, upper = hz_points[:-2, None], hz_points[1:-1, None], hz_points[2:, None]
    rising = (fft_freqs[None, :] - lower) / (centre - lower)
    falling = (upper - fft_freqs[None, :]) / (upper - centre)
    fb = np.maximum(0.0, np.minimum(rising, falling))
    return torch.from_numpy(fb.astype(np.float32))


@dataclass(frozen=True)
class AudioSettings(ConfigMixin):
    """The ``audio`` table of a ``GraphConfig`` (``[graph.audio]`` in TOML); see ``AudioFeaturizer``."""

    sample_rate: int = 8000
    n_fft: int = 256
    win_length: int = 200
    hop_length: int = 80
    n_mels: int = 40
    f_min: float = 0.0
    f_max: float | None = None
    max_frames: int | None = None


@register_featurizer
class AudioFeaturizer(ModalityFeaturizer):
    """One node per STFT frame: ``x`` = log-mel energies, ``pos`` = frame centre time (s).

    Audio at another rate is first resampled with ``scipy.signal.resample_poly``. The STFT
    (``torch.stft``, Hann window, centred frames, zero padding) gives ``1 + L // hop_length``
    frames for ``L`` samples.

    Args:
        sample_rate: target rate in Hz.
        n_fft: FFT size.
        win_length: window length in samples (default 25 ms at 8 kHz).
        hop_length: hop in samples (default 10 ms at 8 kHz).
        n_mels: mel bands.
        f_min, f_max: mel band edges in Hz (``f_max`` defaults to ``sample_rate / 2``).
        max_frames: keep at most this many frames (``None``: all).

    Shapes:
        output ``x``: ``(N_audio, n_mels)``; ``pos``: ``(N_audio, 1)``.
    """

    modality = "audio"
    settings_class: ClassVar[type[AudioSettings]] = AudioSettings

    def __init__(
        self,
        sample_rate: int = 8000,
        n_fft: int = 256,
        win_length: int = 200,
        hop_length: int = 80,
        n_mels: int = 40,
        f_min: float = 0.0,
        f_max: float | None = None,
        max_frames: int | None = None,
    ) -> None:
        if win_length > n_fft:
            raise ValueError(f"'win_length' (got {win_length}) must be <= 'n_fft' (got {n_fft})")
        if hop_length < 1 or n_mels < 1 or sample_rate < 1:
            raise ValueError("'hop_length', 'n_mels' and 'sample_rate' must be positive")
        f_max = sample_rate / 2.0 if f_max is None else float(f_max)
        if not 0.0 <= f_min < f_max <= sample_rate / 2.0:
            raise ValueError(f"need 0 <= f_min < f_max <= sample_rate / 2 (got {f_min}, {f_max})")
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.win_length = win_length
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.f_min = float(f_min)
        self.f_max = f_max
        self.max_frames = max_frames
        self._window = torch.hann_window(win_length)
        self._fb = mel_filterbank(sample_rate, n_fft, n_mels, self.f_min, self.f_max)

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (self.n_mels,)

    def resample(self, audio: Audio) -> np.ndarray:
        """The waveform at ``self.sample_rate``."""
        if audio.sample_rate == self.sample_rate:
            return audio.waveform
        g = math.gcd(audio.sample_rate, self.sample_rate)
        out = resample_poly(audio.waveform, self.sample_rate // g, audio.sample_rate // g)
        return out.astype(np.float32)

    def log_mel(self, waves: torch.Tensor) -> torch.Tensor:
        """Log-mel frames of equal-length waveforms ``(B, L)`` → ``(B, T, n_mels)``."""
        spec = torch.stft(
            waves,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self._window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )  # (B, n_fft // 2 + 1, T)
        power = spec.real.square() + spec.imag.square()
        mel = torch.matmul(self._fb, power)  # (B, n_mels, T)
        return torch.log(mel + LOG_FLOOR).transpose(1, 2)

    def frame_times(self, num_frames: int) -> torch.Tensor:
        """Centre time in seconds of each frame, ``(T, 1)``."""
        return (torch.arange(num_frames, dtype=torch.float32) * (self.hop_length / self.sample_rate)).unsqueeze(1)

    def __call__(self, audio: Audio) -> NodeSet:
        return self.batch([audio])[0]

    def num_frames(self, num_samples: int) -> int:
        """Frames of a clip of ``num_samples`` samples (at ``sample_rate``), before ``max_frames``."""
        return 1 + num_samples // self.hop_length

    def batch(self, audios: Sequence[Audio], max_padding: float = 2.0) -> list[NodeSet]:
        """Featurize many clips with batched STFTs.

        Clips are zero-padded to a common length and transformed together: with centred frames and
        zero padding, a clip's frames are the same whether or not zeros follow it, so each clip
        keeps exactly its first ``1 + L // hop_length`` frames. Clips are grouped so that no clip
        is padded beyond ``max_padding`` times its length (bounded waste on mixed lengths).
        """
        waves = [self.resample(a) for a in audios]
        out: list[NodeSet | None] = [None] * len(waves)
        order = sorted(range(len(waves)), key=lambda i: waves[i].shape[0])
        groups: list[list[int]] = []
        for i in order:
            if groups and waves[i].shape[0] <= max_padding * waves[groups[-1][0]].shape[0]:
                groups[-1].append(i)
            else:
                groups.append([i])
        for idx in groups:
            length = waves[idx[-1]].shape[0]
            padded = np.zeros((len(idx), length), dtype=np.float32)
            for row, i in enumerate(idx):
                padded[row, : waves[i].shape[0]] = waves[i]
            frames = self.log_mel(torch.from_numpy(padded))  # (G, T_max, n_mels)
            for row, i in enumerate(idx):
                n = self.num_frames(waves[i].shape[0])
                if self.max_frames is not None:
                    n = min(n, self.max_frames)
                out[i] = NodeSet(frames[row, :n].clone(), self.frame_times(n), (n,))
        return out  # type: ignore[return-value]

    def __repr__(self) -> str:
        return (
            f"AudioFeaturizer(sample_rate={self.sample_rate}, n_fft={self.n_fft}, "
            f"win_length={self.win_length}, hop_length={self.hop_length}, n_mels={self.n_mels})"
        )
