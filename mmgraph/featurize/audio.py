"""Audio → log-mel frames (sequence nodes), ``pos`` = frame time in seconds."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import numpy as np
import torch

from mmgraph.config import ConfigMixin
from mmgraph.featurize.base import ModalityFeaturizer, NodeSet, register_featurizer
from mmgraph.media import Audio

log = logging.getLogger(__name__)

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


DEFAULT_SAMPLE_RATE = 16000
"""The default rate audio is featurized at (Hz): speech and everyday sound keep their content up to
8 kHz; clips at other rates are resampled (logged once per pair of rates)."""

DEFAULT_MAX_FRAMES = 128
"""The default cap on frames per clip: longer clips are average-pooled down to this many nodes."""

_RESAMPLED: set[tuple[int, int]] = set()
"""``(source rate, target rate)`` pairs already logged in this process."""


def _log_resampling(source: int, target: int) -> None:
    if (source, target) in _RESAMPLED:
        return
    _RESAMPLED.add((source, target))
    if source < target:
        log.warning(
            "audio: upsampling %d Hz clips to %d Hz adds no content and makes more frames; to keep the source rate, "
            "set [graph.audio] sample_rate = %d (and scale n_fft, win_length, hop_length)", source, target, source)
    else:
        log.info("audio: resampling %d Hz clips to %d Hz ([graph.audio] sample_rate)", source, target)


@dataclass(frozen=True)
class AudioSettings(ConfigMixin):
    """The ``audio`` table of a ``GraphConfig`` (``[graph.audio]`` in TOML); see ``AudioFeaturizer``.

    The defaults: 16 kHz, 25 ms windows every 10 ms (400 and 160 samples, FFT of 512), 40 mel bands,
    and at most 128 frames per clip (longer clips average-pooled): a 5 s clip is 501 frames pooled to
    128, one node per 39 ms.
    """

    sample_rate: int = DEFAULT_SAMPLE_RATE
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    n_mels: int = 40
    f_min: float = 0.0
    f_max: float | None = None
    max_frames: int | None = DEFAULT_MAX_FRAMES


AUDIO_8K = AudioSettings(sample_rate=8000, n_fft=256, win_length=200, hop_length=80, max_frames=None)
"""The framing of the built-in 8 kHz datasets (``digits``, ``avmnist``): 25 ms windows every 10 ms at
8 kHz, every frame kept (the audio defaults of mmgraph 0.1, so their features stay as they were)."""


@register_featurizer
class AudioFeaturizer(ModalityFeaturizer):
    """One node per STFT frame (or pooled window of frames): ``x`` = log-mel energies, ``pos`` = time (s).

    Audio at another rate is first resampled with ``scipy.signal.resample_poly`` (logged once per
    pair of rates; upsampling is a warning). The STFT (``torch.stft``, Hann window, centred frames,
    zero padding) gives ``T = 1 + L // hop_length`` frames for ``L`` samples. A clip of more than
    ``max_frames`` frames is average-pooled to ``max_frames`` nodes, with PyTorch's adaptive
    windows (node ``i`` averages frames ``floor(i T / m)`` to ``ceil((i + 1) T / m) - 1``): the mel
    *power* is averaged before the log, as if each node were one longer frame, and ``pos`` is the
    mean time of its frames. The whole clip is kept, at a coarser time step, rather than cut.

    Args:
        sample_rate: target rate in Hz (default 16 kHz).
        n_fft: FFT size.
        win_length: window length in samples (default 25 ms at 16 kHz).
        hop_length: hop in samples (default 10 ms at 16 kHz).
        n_mels: mel bands.
        f_min, f_max: mel band edges in Hz (``f_max`` defaults to ``sample_rate / 2``).
        max_frames: the most nodes per clip (``None``: one node per frame, however long the clip).

    Shapes:
        output ``x``: ``(N_audio, n_mels)``; ``pos``: ``(N_audio, 1)``.
    """

    modality = "audio"
    settings_class: ClassVar[type[AudioSettings]] = AudioSettings
    size_settings: ClassVar[tuple[str, ...]] = ("max_frames",)

    def __init__(
        self,
        sample_rate: int = DEFAULT_SAMPLE_RATE,
        n_fft: int = 512,
        win_length: int = 400,
        hop_length: int = 160,
        n_mels: int = 40,
        f_min: float = 0.0,
        f_max: float | None = None,
        max_frames: int | None = DEFAULT_MAX_FRAMES,
    ) -> None:
        if win_length > n_fft:
            raise ValueError(f"'win_length' (got {win_length}) must be <= 'n_fft' (got {n_fft})")
        if hop_length < 1 or n_mels < 1 or sample_rate < 1:
            raise ValueError("'hop_length', 'n_mels' and 'sample_rate' must be positive")
        if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, int)
                                       or max_frames < 1):
            raise ValueError(f"'max_frames' must be a positive int or None (got {max_frames!r})")
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
        _log_resampling(audio.sample_rate, self.sample_rate)
        g = math.gcd(audio.sample_rate, self.sample_rate)
        from scipy.signal import resample_poly  # here: importing scipy.signal costs a worker seconds of cold start

        out = resample_poly(audio.waveform, self.sample_rate // g, audio.sample_rate // g)
        return out.astype(np.float32)

    def resampled_length(self, audio: Audio) -> int:
        """Samples of ``audio`` at ``self.sample_rate``: ``resample``'s output length, computed without resampling."""
        if audio.sample_rate == self.sample_rate:
            return int(audio.waveform.shape[0])
        g = math.gcd(audio.sample_rate, self.sample_rate)
        return -(-audio.waveform.shape[0] * (self.sample_rate // g) // (audio.sample_rate // g))  # ceil, as scipy

    def mel_power(self, waves: torch.Tensor) -> torch.Tensor:
        """Mel power frames of equal-length waveforms ``(B, L)`` → ``(B, n_mels, T)``."""
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
        return torch.matmul(self._fb, power)  # (B, n_mels, T)

    def log_mel(self, waves: torch.Tensor) -> torch.Tensor:
        """Log-mel frames of equal-length waveforms ``(B, L)`` → ``(B, T, n_mels)`` (no pooling)."""
        return torch.log(self.mel_power(waves) + LOG_FLOOR).transpose(1, 2)

    def frame_times(self, num_frames: int) -> torch.Tensor:
        """Centre time in seconds of each frame, ``(T, 1)``."""
        return (torch.arange(num_frames, dtype=torch.float32) * (self.hop_length / self.sample_rate)).unsqueeze(1)

    def __call__(self, audio: Audio) -> NodeSet:
        return self.batch([audio])[0]

    def num_frames(self, num_samples: int) -> int:
        """Frames of a clip of ``num_samples`` samples (at ``sample_rate``), before ``max_frames`` pooling."""
        return 1 + num_samples // self.hop_length

    def num_nodes(self, num_samples: int) -> int:
        """Nodes of a clip of ``num_samples`` samples (at ``sample_rate``): its frames, pooled to ``max_frames``."""
        n = self.num_frames(num_samples)
        return n if self.max_frames is None else min(n, self.max_frames)

    def pool(self, frames: torch.Tensor) -> torch.Tensor:
        """Per-frame values ``(T, ...)`` averaged over the pooling windows → ``(min(T, max_frames), ...)``.

        The windows the featurizer pools frames with; dataset code pools per-frame targets with it
        (``avmnist``'s voice activity) so that they stay aligned with the nodes.
        """
        n = frames.shape[0]
        if self.max_frames is None or n <= self.max_frames:
            return frames
        flat = frames.reshape(n, -1).to(torch.float32).T.unsqueeze(0)  # (1, F, T)
        pooled = torch.nn.functional.adaptive_avg_pool1d(flat, self.max_frames)[0].T  # (max_frames, F)
        return pooled.reshape(self.max_frames, *frames.shape[1:])

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
            power = self.mel_power(torch.from_numpy(padded)).transpose(1, 2)  # (G, T_max, n_mels)
            for row, i in enumerate(idx):
                n = self.num_frames(waves[i].shape[0])
                if self.max_frames is None or n <= self.max_frames:
                    x, pos = torch.log(power[row, :n] + LOG_FLOOR), self.frame_times(n)
                else:
                    x = torch.log(self.pool(power[row, :n]) + LOG_FLOOR)
                    pos = self.pool(self.frame_times(n))
                out[i] = NodeSet(x.contiguous(), pos, (x.shape[0],))
        return out  # type: ignore[return-value]

    def __repr__(self) -> str:
        return (
            f"AudioFeaturizer(sample_rate={self.sample_rate}, n_fft={self.n_fft}, "
            f"win_length={self.win_length}, hop_length={self.hop_length}, n_mels={self.n_mels}, "
            f"max_frames={self.max_frames})"
        )
