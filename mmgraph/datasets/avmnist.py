"""``avmnist``: AV-MNIST (image + audio) rebuilt from real sources, deterministically from a seed.

MNIST digits degraded by a 4-component PCA, each paired with a Free Spoken Digit Dataset recording
of the same digit mixed with ESC-50 environmental noise at an SNR uniform in [-15, -5] dB. The
recipe is the one of ``BENCHMARKS.md`` (steps a-e), pinned by ``avmnist_reference.json``; the card
is ``datasets/avmnist.md``.

The 70,000 samples are not held as separate objects: each split is an ``AVMNISTSplit``, a lazy
sequence that builds a ``MultimodalSample`` on access from compact per-row tables (image row, clip
index, noise index, offset, SNR) and the clip and noise banks (int16, about 30 MB).

The raw files live under a data root (``root=`` or ``$MMGRAPH_DATA``) holding ``mnist/``,
``fsdd/`` and ``esc50_8k/``; they are checked against the ``SHA256SUMS`` of each folder on first
use in a process (``mmgraph.datasets.raw``, shared with the other file-backed datasets).
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple, overload

import numpy as np
import torch

from mmgraph.datasets.base import MultimodalDataset
from mmgraph.datasets.digits import DIGIT_NAMES
from mmgraph.datasets.raw import listed_files, read_sha256sums, resolve_data_root, verify_files
from mmgraph.featurize import AUDIO_8K, AudioFeaturizer, AudioSettings, FeaturizedSample
from mmgraph.graph.config import GraphConfig
from mmgraph.media import Audio
from mmgraph.sample import MultimodalSample
from mmgraph.task import Task
from mmgraph.typing import Modality

log = logging.getLogger(__name__)

SAMPLE_RATE = 8000
SPLITS = ("train", "val", "test")
PCA_MIN_VARIANCE = 0.25
"""k = the smallest number of principal components keeping at least this share of the variance."""
MNIST_VAL_START = 55_000
"""MNIST training rows ``[0, 55000)`` are ``train``, ``[55000, 60000)`` are ``val``."""
FSDD_POOLS = {"train": (10, 49), "val": (5, 9), "test": (0, 4)}
"""FSDD file indices (inclusive) whose recordings each split draws from."""
SNR_DB_RANGE = (-15.0, -5.0)
SILENT_NOISE_POWER = 1e-10
"""A noise segment with less power than this is not scaled: the sample stays clean."""
VAD_RELATIVE_THRESHOLD = 0.01
"""A frame is voiced when its clean-clip energy exceeds this fraction of the clip's peak frame energy."""

_FSDD_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")
_ID = re.compile(r"^avmnist-(train|val|test|test_speaker|test_noise)-(\d+)$")
ESC50_GROUPS = ("animals", "natural soundscapes & water", "human non-speech", "interior/domestic", "exterior/urban")
"""ESC-50's five major groups, in the order of its targets (``esc50_target // 10``)."""


# ------------------------------------------------------------------------------------- raw files


def _read_int16_wav(path: Path) -> np.ndarray:
    """An 8 kHz mono 16-bit PCM WAV as its int16 samples (anything else is refused)."""
    from scipy.io import wavfile

    rate, data = wavfile.read(path)
    if rate != SAMPLE_RATE or data.dtype != np.int16 or data.ndim != 1 or data.shape[0] == 0:
        raise ValueError(
            f"avmnist: {path.name} must be {SAMPLE_RATE} Hz mono int16 with samples "
            f"(got {rate} Hz, dtype {data.dtype}, shape {data.shape})"
        )
    return data


# ------------------------------------------------------------------------------------------ images


class PCA(NamedTuple):
    """Principal components of flattened images scaled to [0, 1]."""

    mean: np.ndarray  # (D,) float64
    components: np.ndarray  # (k, D) float64, orthonormal rows
    explained_variance_ratio: np.ndarray  # (min(n, D),) float64, descending

    @property
    def k(self) -> int:
        return self.components.shape[0]

    @property
    def variance_kept(self) -> float:
        return float(self.explained_variance_ratio[: self.k].sum())


def fit_pca(images: np.ndarray, min_variance: float = PCA_MIN_VARIANCE) -> PCA:
    """PCA by SVD of ``images`` (uint8, ``(n, H, W)``) flattened, scaled to [0, 1], float64, mean-centred.

    k is the smallest number of components whose cumulative explained-variance ratio is
    ``>= min_variance``. The right singular vectors and squared singular values of the centred
    ``(n, D)`` matrix X are taken from the SVD of the ``(D, D)`` Gram matrix XᵀX: the same
    decomposition, in seconds instead of the two minutes LAPACK's SVD of the 60,000 × 784 MNIST
    matrix takes on 2 cores; it reproduces the reference checksums bit for bit.
    """
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    x = images.reshape(images.shape[0], -1).astype(np.float64) / 255.0
    mean = x.mean(axis=0)
    x -= mean
    gram = x.T @ x  # (D, D)
    # A D×D SVD gains nothing from BLAS threads, and they spin for seconds when the cores are busy.
    with threadpool_limits(limits=1, user_api="blas"):
        _, power, vt = np.linalg.svd(gram)  # power = squared singular values of x, descending
    ratio = power / power.sum()
    k = int(np.argmax(np.cumsum(ratio) >= min_variance)) + 1
    return PCA(mean, vt[:k].copy(), ratio)


def pca_degrade(images: np.ndarray, pca: PCA) -> np.ndarray:
    """``images`` (uint8, ``(n, H, W)``) reconstructed from ``pca``: mean + (x − mean)·V_kᵀ·V_k, clipped, uint8."""
    n = images.shape[0]
    x = images.reshape(n, -1).astype(np.float64) / 255.0
    x -= pca.mean
    recon = (x @ pca.components.T) @ pca.components  # (n, D)
    recon += pca.mean
    np.clip(recon, 0.0, 1.0, out=recon)
    recon *= 255.0
    return np.round(recon).astype(np.uint8).reshape(images.shape)


# ------------------------------------------------------------------------------------------- audio


def _as_float(clip: np.ndarray) -> np.ndarray:
    """int16 samples as float32 in [-1, 1] (/ 32768)."""
    return clip.astype(np.float32) / np.float32(32768.0)


class Mix(NamedTuple):
    """A clean clip mixed with noise."""

    waveform: np.ndarray  # (L,) float32 in [-1, 1]
    noise_added: bool
    """False when the noise segment was silent (power < ``SILENT_NOISE_POWER``): the clip stays clean."""
    peak_normalised: bool
    """True when |mix| exceeded 1 and the mix was divided by its peak."""


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, offset: int, snr_db: float) -> Mix:
    """``clean + g · noise[offset : offset + L]`` (wrapping) with g set so the SNR over the clip is ``snr_db``.

    Float64 arithmetic on int16/32768 samples; the result is divided by its peak if it exceeds 1
    and stored as float32 (recipe step d).
    """
    clip = clean.astype(np.float64) / 32768.0
    length, n_noise = clip.shape[0], noise.shape[0]
    segment = noise[(offset + np.arange(length)) % n_noise].astype(np.float64) / 32768.0
    clip_power = np.mean(clip**2)
    segment_power = np.mean(segment**2)
    noise_added = bool(segment_power >= SILENT_NOISE_POWER)
    if noise_added:
        gain = np.sqrt(clip_power / (segment_power * 10.0 ** (snr_db / 10.0)))
        mix = clip + gain * segment
    else:
        mix = clip
    peak = np.abs(mix).max()
    peak_normalised = bool(peak > 1.0)
    if peak_normalised:
        mix = mix / peak
    return Mix(mix.astype(np.float32), noise_added, peak_normalised)


@dataclass(frozen=True, eq=False)
class SoundBanks:
    """The FSDD clips and ESC-50 noise clips, as int16 samples at 8 kHz.

    Attributes:
        clips: FSDD recordings, in file-name order.
        clip_files: their file names (``"7_jackson_32.wav"``).
        clip_digits, clip_speakers, clip_takes: digit, speaker id (index into ``speakers``) and take
            index of each clip, ``(n_clips,)`` int64.
        speakers: speaker names, sorted.
        noises: ESC-50 clips, sorted by file name (the order the recipe draws from).
        noise_files: their file names.
    """

    clips: list[np.ndarray]
    clip_files: list[str]
    clip_digits: np.ndarray
    clip_speakers: np.ndarray
    clip_takes: np.ndarray
    speakers: tuple[str, ...]
    noises: list[np.ndarray]
    noise_files: list[str]

    def pool(self, split: str, digit: int) -> np.ndarray:
        """Clip indices a split draws ``digit`` from: its FSDD take range, ordered by (speaker, take)."""
        lo, hi = FSDD_POOLS[split]
        index = np.flatnonzero((self.clip_digits == digit) & (self.clip_takes >= lo) & (self.clip_takes <= hi))
        return index[np.lexsort((self.clip_takes[index], self.clip_speakers[index]))]


def load_sound_banks(fsdd: Path, esc50: Path, *, verify: bool = True) -> SoundBanks:
    """Read every FSDD recording and every ESC-50 noise clip (checked against ``SHA256SUMS`` if ``verify``)."""
    fsdd_sums = read_sha256sums(fsdd)
    esc_sums = read_sha256sums(esc50)
    clip_names = listed_files(fsdd, fsdd_sums, "recordings/*.wav", "avmnist")
    noise_names = listed_files(esc50, esc_sums, "*.wav", "avmnist")
    if verify:
        verify_files(fsdd, clip_names, fsdd_sums)
        verify_files(esc50, noise_names, esc_sums)
    parsed = []
    for name in clip_names:
        match = _FSDD_NAME.match(Path(name).name)
        if match is None:
            raise ValueError(f"avmnist: FSDD file {name!r} is not named '<digit>_<speaker>_<take>.wav'")
        parsed.append((int(match[1]), match[2], int(match[3])))
    speakers = tuple(sorted({p[1] for p in parsed}))
    speaker_id = {s: i for i, s in enumerate(speakers)}
    return SoundBanks(
        clips=[_read_int16_wav(fsdd / n) for n in clip_names],
        clip_files=[Path(n).name for n in clip_names],
        clip_digits=np.array([p[0] for p in parsed], dtype=np.int64),
        clip_speakers=np.array([speaker_id[p[1]] for p in parsed], dtype=np.int64),
        clip_takes=np.array([p[2] for p in parsed], dtype=np.int64),
        speakers=speakers,
        noises=[_read_int16_wav(esc50 / n) for n in noise_names],
        noise_files=noise_names,
    )


class Pairing(NamedTuple):
    """Per-row audio of one split (recipe steps c-d)."""

    clip_index: np.ndarray  # (n,) int64 into SoundBanks.clips
    noise_index: np.ndarray  # (n,) int64 into SoundBanks.noises
    noise_offset: np.ndarray  # (n,) int64
    snr_db: np.ndarray  # (n,) float64


def draw_pairing(
    split: str, labels: np.ndarray, banks: SoundBanks, rng: np.random.Generator,
    snr_db_range: tuple[float, float] = SNR_DB_RANGE, *, speakers: Sequence[int] | None = None,
    noises: Sequence[int] | None = None,
) -> Pairing:
    """Draw clip, noise clip, noise offset and SNR for every row of a split, in row order.

    Per row, from the one generator: ``clip = pool[digit][rng.integers(len(pool))]``, then
    ``j = rng.integers(n_noise)``, ``offset = rng.integers(N - L + 1)`` (or ``rng.integers(N)``
    when the noise is shorter than the clip), ``snr = rng.uniform(lo, hi)``. ``speakers`` (speaker
    ids) and ``noises`` (noise indices) restrict the pools; ``None``: all (the recipe).
    """
    pools = [banks.pool(split, d) for d in range(10)]
    if speakers is not None:
        pools = [p[np.isin(banks.clip_speakers[p], list(speakers))] for p in pools]
    pools = [p.tolist() for p in pools]
    noise_ids = list(range(len(banks.noises))) if noises is None else [int(j) for j in noises]
    empty = [d for d in range(10) if not pools[d]]
    if empty:
        raise ValueError(f"avmnist: the {split} pool has no FSDD recording of digit(s) {empty}")
    clip_lengths = [c.shape[0] for c in banks.clips]
    noise_lengths = [n.shape[0] for n in banks.noises]
    n_noise = len(noise_ids)
    lo, hi = snr_db_range
    n = labels.shape[0]
    clip_index = np.empty(n, dtype=np.int64)
    noise_index = np.empty(n, dtype=np.int64)
    noise_offset = np.empty(n, dtype=np.int64)
    snr_db = np.empty(n, dtype=np.float64)
    for row, digit in enumerate(labels.tolist()):  # scalar draws: the stream order is the recipe
        pool = pools[digit]
        clip = pool[rng.integers(len(pool))]
        j = noise_ids[rng.integers(n_noise)]
        length, n_samples = clip_lengths[clip], noise_lengths[j]
        offset = rng.integers(n_samples - length + 1) if n_samples >= length else rng.integers(n_samples)
        clip_index[row], noise_index[row], noise_offset[row] = clip, j, offset
        snr_db[row] = rng.uniform(lo, hi)
    return Pairing(clip_index, noise_index, noise_offset, snr_db)


# ------------------------------------------------------------------------------------------- splits


class AVMNISTSplit(Sequence[MultimodalSample]):
    """One AV-MNIST split as a lazy sequence: ``split[i]`` builds the ``MultimodalSample`` of row i.

    Indexing with an int gives a sample; with a slice or an integer array, a lighter ``AVMNISTSplit``
    over those rows (tables are views or small copies; nothing is mixed until accessed). Sample ids
    are ``"avmnist-<split>-<row>"`` with the row number in the full split, kept by sub-views.

    Attributes:
        name: ``"train"``, ``"val"`` or ``"test"``.
        rows: row number of each entry in the full split, ``(n,)`` int64.
        images: PCA-degraded images, ``(n, 28, 28)`` uint8.
        original_images: the MNIST images before degradation, ``(n, 28, 28)`` uint8.
        labels: digits, ``(n,)`` int64.
        pairing: clip index, noise index, noise offset and SNR of each row.
        banks: the clip and noise banks the indices point into.
    """

    def __init__(
        self, name: str, rows: np.ndarray, images: np.ndarray, original_images: np.ndarray,
        labels: np.ndarray, pairing: Pairing, banks: SoundBanks,
    ) -> None:
        self.name = name
        self.rows = rows
        self.images = images
        self.original_images = original_images
        self.labels = labels
        self.pairing = pairing
        self.banks = banks

    def __len__(self) -> int:
        return self.rows.shape[0]

    def _index(self, i: int) -> int:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for the {len(self)} samples of avmnist/{self.name}")
        return i % len(self)

    def _take(self, index: slice | np.ndarray) -> AVMNISTSplit:
        return AVMNISTSplit(
            self.name, self.rows[index], self.images[index], self.original_images[index], self.labels[index],
            Pairing(*(column[index] for column in self.pairing)), self.banks,
        )

    @overload
    def __getitem__(self, i: int) -> MultimodalSample: ...

    @overload
    def __getitem__(self, i: slice | Sequence[int] | np.ndarray) -> AVMNISTSplit: ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self._take(i)
        if isinstance(i, (int, np.integer)) and not isinstance(i, bool):
            return self.sample(int(i))
        index = np.asarray(i)
        if index.ndim != 1 or not (index.dtype.kind in "iu" or index.size == 0):
            raise TypeError(
                f"avmnist/{self.name}: index with an int, a slice or a 1-D integer array (got {type(i).__name__}"
                f"{' of dtype ' + str(index.dtype) if index.ndim == 1 else ''})"
            )
        if index.size and (index.min() < -len(self) or index.max() >= len(self)):
            raise IndexError(f"indices out of range for the {len(self)} samples of avmnist/{self.name}")
        return self._take(index.astype(np.int64))

    def sample(self, i: int) -> MultimodalSample:
        """The sample at position ``i``: degraded image, noisy audio, digit, SNR and speaker."""
        i = self._index(i)
        clip = int(self.pairing.clip_index[i])
        return MultimodalSample(
            image=self.images[i],
            audio=self.mix(i).waveform,
            sample_rate=SAMPLE_RATE,
            y=int(self.labels[i]),
            targets={"snr_db": float(self.pairing.snr_db[i]), "speaker": float(self.banks.clip_speakers[clip])},
            id=f"avmnist-{self.name}-{int(self.rows[i]):05d}",
        )

    def redraw_nuisance(self, rng: np.random.Generator, snr_db_range: tuple[float, float] = SNR_DB_RANGE, *,
                        noises: Sequence[int] | None = None) -> AVMNISTSplit:
        """This split with every row's noise re-drawn: a fresh noise clip, offset and SNR per row (drawn
        as ``draw_pairing`` draws them, vectorised; ``noises``: the noise indices allowed, ``None``: all).
        Each row keeps its image and clean clip, hence its digit and speaker: a label-free augmentation
        (the ``nuisance`` of the ``avmnist`` dataset)."""
        n = len(self)
        clip_lengths = np.array([self.banks.clips[int(c)].shape[0] for c in self.pairing.clip_index], dtype=np.int64)
        allowed = np.arange(len(self.banks.noises)) if noises is None else np.asarray(noises, dtype=np.int64)
        noise_lengths = np.array([self.banks.noises[int(j)].shape[0] for j in allowed], dtype=np.int64)
        pick = rng.integers(len(allowed), size=n)
        noise = allowed[pick]
        length = noise_lengths[pick]
        offset = rng.integers(0, np.where(length >= clip_lengths, length - clip_lengths + 1, length))
        snr = rng.uniform(*snr_db_range, size=n)
        pairing = Pairing(self.pairing.clip_index.copy(), noise.astype(np.int64), offset.astype(np.int64), snr)
        return AVMNISTSplit(self.name, self.rows, self.images, self.original_images, self.labels, pairing, self.banks)

    def mix(self, i: int) -> Mix:
        """The noisy waveform at position ``i`` (with whether noise was added and whether it was normalised)."""
        i = self._index(i)
        p = self.pairing
        return mix_at_snr(
            self.banks.clips[int(p.clip_index[i])], self.banks.noises[int(p.noise_index[i])],
            int(p.noise_offset[i]), float(p.snr_db[i]),
        )

    def clean_audio(self, i: int) -> np.ndarray:
        """The clean FSDD clip at position ``i``, float32 in [-1, 1] (int16 / 32768)."""
        return _as_float(self.banks.clips[int(self.pairing.clip_index[self._index(i)])])

    def original_image(self, i: int) -> np.ndarray:
        """The MNIST image at position ``i`` before PCA degradation, ``(28, 28)`` uint8."""
        return self.original_images[self._index(i)]

    def describe(self, i: int) -> dict[str, int | float | str]:
        """Row ``i`` as in ``avmnist_reference.json``: row, label, clip file, noise file, offset, SNR (6 decimals)."""
        i = self._index(i)
        p = self.pairing
        return {
            "row": int(self.rows[i]),
            "label": int(self.labels[i]),
            "clip_file": self.banks.clip_files[int(p.clip_index[i])],
            "noise_file": self.banks.noise_files[int(p.noise_index[i])],
            "noise_offset": int(p.noise_offset[i]),
            "snr_db": round(float(p.snr_db[i]), 6),
        }

    def __iter__(self):
        for i in range(len(self)):
            yield self.sample(i)

    def __repr__(self) -> str:
        return f"AVMNISTSplit({self.name!r}, {len(self)} samples)"


# --------------------------------------------------------------------------------- voice activity


def frame_energies(waveform: np.ndarray, config: GraphConfig) -> np.ndarray:
    """Energy of each STFT frame of ``waveform`` (already at the audio sample rate of ``config``), ``(1 + L // hop,)``.

    The framing is the audio featurizer's: centred frames (``n_fft // 2`` zeros each side), a
    periodic Hann window of ``win_length`` centred in ``n_fft``, one frame every ``hop_length``
    samples; the energy is the sum of the squared windowed samples (float64).
    """
    from numpy.lib.stride_tricks import as_strided

    audio = config.settings["audio"]
    n_fft, win, hop = audio.n_fft, audio.win_length, audio.hop_length
    length, pad = waveform.shape[0], n_fft // 2
    padded = np.zeros(length + 2 * pad)  # np.pad's result, without its per-call overhead (called per sample)
    padded[pad: pad + length] = waveform
    left = (n_fft - win) // 2  # torch.stft centres a shorter window inside n_fft
    n_frames = min(1 + length // hop, (padded.shape[0] - left - win) // hop + 1)
    frames = as_strided(padded[left:], (n_frames, win), (hop * padded.itemsize, padded.itemsize),
                        writeable=False)  # (T, win): every hop-th window of length win
    energy = frames * _hann(win)
    return np.square(energy, out=energy).sum(axis=1)


@lru_cache(maxsize=8)
def _hann(length: int) -> np.ndarray:
    """The periodic Hann window (``torch.hann_window``'s default), float64.

    ``scipy.signal.get_window("hann", length, fftbins=True)``'s arithmetic, step for step (the same
    bits; a test compares them): importing scipy.signal costs a conversion worker about a second of CPU.
    """
    if length <= 1:
        window = np.ones(length)
    else:
        fac = np.linspace(-np.pi, np.pi, length + 1)  # periodic: one more point, dropped below
        window = np.zeros(length + 1)
        window += 0.5 * np.cos(0 * fac)
        window += 0.5 * np.cos(1 * fac)
        window = window[:-1].copy()
    window.flags.writeable = False
    return window


@lru_cache(maxsize=8)
def _audio_featurizer(settings: AudioSettings) -> AudioFeaturizer:
    """The featurizer of ``settings``, built once (its window and filter bank: tens of µs per sample)."""
    return AudioFeaturizer.from_settings(settings)


class VoiceActivityTargets:
    """The ``vad`` node target of ``avmnist``: per audio node, 1 where the clean clip is voiced.

    A frame is voiced when the clean FSDD clip's frame energy (``frame_energies``, at the
    featurizer's sample rate and framing) exceeds ``VAD_RELATIVE_THRESHOLD`` of its peak frame
    energy. The clean clip is found from the sample id, so perturbed copies of a sample (noisier
    audio, same id) keep the targets of the original. Where the audio ``max_frames`` setting pools
    frames into nodes, a node is voiced when at least half of its frames are. A ``NodeTargetFn``.
    """

    def __init__(self, splits: Mapping[str, AVMNISTSplit], threshold: float = VAD_RELATIVE_THRESHOLD) -> None:
        # each split's rows and clip indices and the clip bank, not the splits: what a conversion worker
        # receives with this (their images and noise would be 110 MB more for the full dataset)
        self.clean_clips = {name: (split.rows, split.pairing.clip_index, split.banks.clips)
                            for name, split in splits.items()}
        self.threshold = threshold

    def clean_clip(self, sample_id: str | None) -> np.ndarray:
        """The clean clip of the sample called ``sample_id`` (float32, 8 kHz)."""
        match = _ID.match(sample_id or "")
        if match is None or match[1] not in self.clean_clips:
            raise ValueError(f"vad: {sample_id!r} is not an avmnist sample id ('avmnist-<split>-<row>')")
        (rows, clip_index, clips), row = self.clean_clips[match[1]], int(match[2])
        if row >= len(rows) or int(rows[row]) != row:
            raise ValueError(f"vad: {sample_id!r} names a row outside avmnist/{match[1]} ({len(rows)} rows)")
        return _as_float(clips[int(clip_index[row])])

    def __call__(
        self, raw: MultimodalSample, featurized: FeaturizedSample, config: GraphConfig
    ) -> dict[Modality, dict[str, torch.Tensor]]:
        n_nodes = featurized.num_nodes("audio")
        if n_nodes == 0:  # audio removed: no frames, no targets
            return {}
        featurizer = _audio_featurizer(config.settings["audio"])
        n_frames = featurizer.num_frames(featurizer.resampled_length(raw.audio))  # before max_frames pooling
        clean = featurizer.resample(Audio(self.clean_clip(raw.id), SAMPLE_RATE))
        energy = frame_energies(clean, config)
        if energy.shape[0] < n_frames:
            raise ValueError(
                f"vad: sample {raw.id!r} has {n_frames} audio frames but its clean clip only {energy.shape[0]} "
                f"(was the audio replaced by a longer one?)"
            )
        energy = energy[:n_frames]
        voiced = torch.from_numpy(energy > self.threshold * energy.max())
        if n_nodes < n_frames:  # the max_frames setting pooled the frames: a node is voiced if most of its frames are
            voiced = featurizer.pool(voiced) >= 0.5
        return {"audio": {"vad": voiced.long()}}

    def __repr__(self) -> str:
        return f"VoiceActivityTargets(threshold={self.threshold})"


# ------------------------------------------------------------------------------------------ loader


def _held_out_noise(esc50: Path, banks: SoundBanks, holdout: Sequence[str]) -> np.ndarray:
    """Indices of the noise clips whose category (or ESC-50 group, ``ESC50_GROUPS``) ``holdout`` names."""
    with open(esc50 / "index.csv", newline="") as f:
        rows = {r["filename"]: (r["category"], ESC50_GROUPS[int(r["esc50_target"]) // 10]) for r in csv.DictReader(f)}
    known = {c for c, _ in rows.values()} | set(ESC50_GROUPS)
    unknown = sorted(set(holdout) - known)
    if unknown:
        raise ValueError(f"avmnist: holdout_noise names unknown ESC-50 categories or groups {unknown}; "
                         f"groups: {list(ESC50_GROUPS)}, categories: {sorted({c for c, _ in rows.values()})}")
    return np.array([i for i, f in enumerate(banks.noise_files) if set(rows[f]) & set(holdout)], dtype=np.int64)


def shifted_splits(test: AVMNISTSplit, seed: int, held_speakers: Sequence[int], held_noise: np.ndarray
                   ) -> dict[str, AVMNISTSplit]:
    """``test_speaker`` and ``test_noise``: the test rows with one thing changed each, so that the
    difference to ``test`` is the shift alone. ``test_speaker``: the clip of the same digit from a
    held-out speaker (any take; drawn with ``default_rng([seed, 101])``), same noise segment and SNR.
    ``test_noise``: the same clip and SNR, the noise clip and offset drawn from the held-out noise
    (``default_rng([seed, 202])``)."""
    banks, p = test.banks, test.pairing
    out = {}
    if len(held_speakers):
        rng = np.random.default_rng([seed, 101])
        pools = [np.flatnonzero((banks.clip_digits == d) & np.isin(banks.clip_speakers, list(held_speakers)))
                 for d in range(10)]
        clip = np.array([pools[d][rng.integers(len(pools[d]))] for d in test.labels.tolist()], dtype=np.int64)
        out["test_speaker"] = AVMNISTSplit("test_speaker", test.rows, test.images, test.original_images,
                                           test.labels, Pairing(clip, p.noise_index, p.noise_offset, p.snr_db), banks)
    if len(held_noise):
        rng = np.random.default_rng([seed, 202])
        noise = np.empty_like(p.noise_index)
        offset = np.empty_like(p.noise_offset)
        for i, c in enumerate(p.clip_index.tolist()):
            j = int(held_noise[rng.integers(len(held_noise))])
            length, n_samples = banks.clips[c].shape[0], banks.noises[j].shape[0]
            offset[i] = rng.integers(n_samples - length + 1) if n_samples >= length else rng.integers(n_samples)
            noise[i] = j
        out["test_noise"] = AVMNISTSplit("test_noise", test.rows, test.images, test.original_images, test.labels,
                                         Pairing(p.clip_index, noise, offset, p.snr_db), banks)
    return out


def _redraw(splits: Mapping[str, AVMNISTSplit], split: str, rows: np.ndarray, rng: np.random.Generator,
            noises: np.ndarray | None) -> AVMNISTSplit:
    """The ``nuisance`` of ``avmnist``: rows of a recipe split re-drawn from the noises that split may use
    (held-out noise categories stay held out)."""
    if split not in SPLITS:
        raise ValueError(f"avmnist: the nuisance is re-drawn for the splits {list(SPLITS)} only (got {split!r})")
    return splits[split][rows].redraw_nuisance(rng, noises=noises)


def load_avmnist_dataset(
    seed: int = 0, root: str | os.PathLike | None = None, *, verify: bool = True,
    holdout_speakers: Sequence[str] = (), holdout_noise: Sequence[str] = (),
) -> MultimodalDataset:
    """The ``avmnist`` dataset (recipe of ``BENCHMARKS.md``; train 55,000 / val 5,000 / test 10,000).

    Args:
        seed: seed of the one ``numpy.random.default_rng`` drawing clips, noises, offsets and SNRs
            (the benchmark uses 0; the images and splits do not depend on it).
        root: the folder holding ``mnist/``, ``fsdd/`` and ``esc50_8k/`` (default ``$MMGRAPH_DATA``).
        verify: check every raw file read against its folder's ``SHA256SUMS`` (once per process).
        holdout_speakers: FSDD speakers (``"theo"``, ...) whose clips no train/val/test row draws;
            the split ``test_speaker`` pairs the test rows with their clips instead (speaker shift).
        holdout_noise: ESC-50 categories (``"crying_baby"``) or groups (``ESC50_GROUPS``: ``"human
            non-speech"``) whose noise clips no train/val/test row draws; the split ``test_noise``
            mixes the test rows with them instead (noise shift). With either holdout the draws
            differ from the recipe's (restricted pools, same generator and order).

    Raises:
        ValueError: no data folder, missing files, a checksum mismatch, or an unknown speaker /
            noise category.
    """
    path = resolve_data_root(root, "avmnist", ("mnist", "fsdd", "esc50_8k"))
    mnist_file = path / "mnist" / "mnist.npz"
    if verify:
        verify_files(path / "mnist", ["mnist.npz"])
    elif not mnist_file.is_file():
        raise ValueError(f"avmnist: {mnist_file} not found")
    with np.load(mnist_file) as arrays:
        x_train, y_train = arrays["x_train"], arrays["y_train"].astype(np.int64)
        x_test, y_test = arrays["x_test"], arrays["y_test"].astype(np.int64)
    banks = load_sound_banks(path / "fsdd", path / "esc50_8k", verify=verify)

    pca = fit_pca(x_train)
    degraded_train, degraded_test = pca_degrade(x_train, pca), pca_degrade(x_test, pca)
    log.info("avmnist: PCA k=%d keeps %.4f of the variance", pca.k, pca.variance_kept)
    for array in (x_train, x_test, y_train, y_test, degraded_train, degraded_test):
        array.flags.writeable = False  # shared by the splits and their views

    tables = {
        "train": (slice(0, MNIST_VAL_START), degraded_train, x_train, y_train),
        "val": (slice(MNIST_VAL_START, x_train.shape[0]), degraded_train, x_train, y_train),
        "test": (slice(0, x_test.shape[0]), degraded_test, x_test, y_test),
    }
    unknown = sorted(set(holdout_speakers) - set(banks.speakers))
    if unknown:
        raise ValueError(f"avmnist: holdout_speakers {unknown} are not FSDD speakers {list(banks.speakers)}")
    held_speakers = [i for i, name in enumerate(banks.speakers) if name in holdout_speakers]
    held_noise = _held_out_noise(path / "esc50_8k", banks, holdout_noise) if holdout_noise else np.zeros(0, np.int64)
    speakers = [i for i in range(len(banks.speakers)) if i not in held_speakers] if held_speakers else None
    noises = np.setdiff1d(np.arange(len(banks.noises)), held_noise) if len(held_noise) else None
    rng = np.random.default_rng(seed)
    splits: dict[str, AVMNISTSplit] = {}
    for name in SPLITS:  # train, then val, then test: one generator, in row order
        rows, images, originals, labels = tables[name]
        pairing = draw_pairing(name, labels[rows], banks, rng, speakers=speakers, noises=noises)
        n = labels[rows].shape[0]
        splits[name] = AVMNISTSplit(name, np.arange(n), images[rows], originals[rows], labels[rows], pairing, banks)
    splits.update(shifted_splits(splits["test"], seed, held_speakers, held_noise))

    return MultimodalDataset(
        name="avmnist",
        splits=splits,
        tasks={
            "digit": Task("digit", "classification", "y", num_classes=10, class_names=DIGIT_NAMES),
            "snr_db": Task("snr_db", "regression", "snr_db"),
            "speaker": Task("speaker", "classification", "speaker", num_classes=len(banks.speakers),
                            class_names=banks.speakers),
            "vad": Task("vad", "node_classification", "vad", num_classes=2, node_type="audio",
                        class_names=("silence", "voice")),
        },
        graph_config=GraphConfig(modalities=("audio", "image"), image={"patch_size": 4, "channels": 1}, audio=AUDIO_8K),
        node_targets=VoiceActivityTargets(splits),
        nuisance=lambda split, rows, rng: _redraw(splits, split, rows, rng, noises),
        nuisance_modalities=("audio",),
        info={
            "source": "MNIST (PCA-degraded) + Free Spoken Digit Dataset mixed with ESC-50 noise "
            "(recipe: BENCHMARKS.md, AV-MNIST v2-valpool)",
            "seed": seed,
            "pca_k": pca.k,
            "pca_variance_kept": round(pca.variance_kept, 6),
            "snr_db_range": list(SNR_DB_RANGE),
            "fsdd_pools": {k: list(v) for k, v in FSDD_POOLS.items()},
            "noise_clips": len(banks.noises),
            "speakers": list(banks.speakers),
            "vad_relative_threshold": VAD_RELATIVE_THRESHOLD,
            "checksums_verified": verify,
            "holdout_speakers": sorted(holdout_speakers),
            "holdout_noise": sorted(holdout_noise),
            "held_out_noise_clips": int(len(held_noise)),
        },
    )
