"""Test-time perturbations for robustness curves and shift tests (raw samples in, out).

- audio: white noise at an SNR (``audio_snr_db``);
- image: Gaussian pixel noise (``image_noise_std``), contrast scaled towards the image mean
  (``image_contrast``), hue rotated (``image_hue_deg``, colour images);
- text (``TextPerturber``, built from the training split only, ``k`` words per sample):
  ``text_rare_other`` appends the ``k`` rarest words that occur in training text of exactly one
  *other* class, ``text_drop`` deletes ``k`` words, ``text_unknown`` replaces ``k`` words by made-up
  words absent from the training text.
"""

from __future__ import annotations

import math
import string
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

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


def _with_image(sample: MultimodalSample, pixels: np.ndarray, like: np.ndarray) -> MultimodalSample:
    """A copy of ``sample`` whose image is ``pixels`` (floats in [0, 1]) in ``like``'s dtype."""
    out = _copy(sample)
    pixels = np.clip(pixels, 0.0, 1.0)
    arr = np.round(pixels * 255.0).astype(np.uint8) if like.dtype == np.uint8 else pixels.astype(like.dtype)
    arr.flags.writeable = False
    out.image = arr
    return out


def _unit_pixels(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float64) / (255.0 if img.dtype == np.uint8 else 1.0)


def change_contrast(sample: MultimodalSample, factor: float, rng: np.random.Generator | None = None
                    ) -> MultimodalSample:
    """Each colour channel pulled towards its mean by ``factor`` (1: unchanged, 0: a flat image):
    ``mean + factor * (pixel - mean)``; an alpha channel is kept. Deterministic (``rng`` unused: the
    signature of every image sweep)."""
    if sample.image is None or factor == 1.0:
        return sample
    img = sample.image
    x = _unit_pixels(img)
    colour = x if x.ndim == 2 else x[..., : min(3, x.shape[-1])]
    mean = colour.mean(axis=(0, 1), keepdims=True)
    changed = mean + factor * (colour - mean)
    if x.ndim == 3:
        changed = np.concatenate([changed, x[..., changed.shape[-1]:]], axis=-1)
    return _with_image(sample, changed, img)


def hue_rotation(degrees: float) -> np.ndarray:
    """The ``(3, 3)`` rotation of RGB space by ``degrees`` about the grey axis (1, 1, 1)/√3: hues turn,
    greys stay, 120° is the channel cycle R → G → B → R."""
    theta = math.radians(degrees)
    u = np.full(3, 1.0 / math.sqrt(3.0))
    cross = np.array([[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]])
    return math.cos(theta) * np.eye(3) + math.sin(theta) * cross + (1.0 - math.cos(theta)) * np.outer(u, u)


def rotate_hue(sample: MultimodalSample, degrees: float, rng: np.random.Generator | None = None
               ) -> MultimodalSample:
    """The image's colours rotated by ``degrees`` about the grey axis (``hue_rotation``), clipped to
    [0, 1]. Greyscale images (no 3 colour channels) come back unchanged. Deterministic (``rng`` unused)."""
    img = sample.image
    if img is None or degrees % 360 == 0 or img.ndim != 3 or img.shape[-1] < 3:
        return sample
    x = _unit_pixels(img)
    rgb = x[..., :3] @ hue_rotation(degrees).T  # (H, W, 3)
    return _with_image(sample, np.concatenate([rgb, x[..., 3:]], axis=-1), img)


def _copy_with_text(sample: MultimodalSample, text: str) -> MultimodalSample:
    out = _copy(sample)
    out.text = text
    return out


class TextPerturber:
    """Text perturbations built from the training split only (nothing of the test text is used).

    Args:
        train: training samples (their ``text``, and the label ``label_of`` reads).
        split_words: the tokenizer's splitter (``Tokenizer.split``): perturbed texts are its tokens
            joined by spaces, which it splits back into the same tokens.
        label_of: sample → class (e.g. the headline task's label); ``None`` for unlabelled samples.
        min_count: rare words are words seen at least this often in training (2: words a
            ``min_freq=2`` vocabulary keeps, so the sweep tests rare *known* words, not ``<unk>``).

    ``rare[c]``: the words that occur in training text of class ``c`` only, rarest first (ties by the
    word); ``vocab``: every training word.
    """

    KINDS = ("rare_other", "drop", "unknown")

    def __init__(self, train: Sequence[MultimodalSample], split_words: Callable[[str], list[str]],
                 label_of: Callable[[MultimodalSample], Any], min_count: int = 2) -> None:
        self.split = split_words
        counts: Counter[str] = Counter()
        classes: dict[str, set] = defaultdict(set)
        for s in train:
            if s.text is None:
                continue
            words = [w for w in self.split(s.text) if w.isalnum()]
            counts.update(words)
            label = label_of(s)
            if label is not None:
                for w in words:
                    classes[w].add(label)
        exclusive: dict[Any, list[str]] = defaultdict(list)
        for w, cs in classes.items():
            if len(cs) == 1 and counts[w] >= min_count:
                exclusive[next(iter(cs))].append(w)
        self.rare = {c: sorted(ws, key=lambda w: (counts[w], w)) for c, ws in sorted(exclusive.items(), key=str)}
        self.vocab = set(counts)
        self.label_of = label_of

    def apply(self, samples: Sequence[MultimodalSample], kind: str, k: int, seed: int = 0) -> list[MultimodalSample]:
        """Every sample with ``k`` words perturbed (``KINDS``); samples without text are unchanged."""
        if kind not in self.KINDS:
            raise ValueError(f"unknown text perturbation {kind!r} (one of {list(self.KINDS)})")
        if k == 0:
            return list(samples)
        rng = np.random.default_rng([seed, k, self.KINDS.index(kind)])
        donors = list(self.rare)
        out = []
        for s in samples:
            if s.text is None:
                out.append(s)
                continue
            toks = self.split(s.text)
            words = [i for i, t in enumerate(toks) if t.isalnum()]
            if kind == "rare_other":
                own = self.label_of(s)
                others = [c for c in donors if c != own]
                if others:
                    toks = toks + self.rare[others[int(rng.integers(len(others)))]][:k]
            elif kind == "drop":
                n = min(k, len(words) - 1)  # one word stays
                gone = set(rng.choice(words, size=n, replace=False).tolist()) if n > 0 else set()
                toks = [t for i, t in enumerate(toks) if i not in gone]
            else:
                for i in rng.choice(words, size=min(k, len(words)), replace=False).tolist():
                    toks[i] = self._unknown_word(rng)
            out.append(_copy_with_text(s, " ".join(toks)))
        return out

    def _unknown_word(self, rng: np.random.Generator) -> str:
        while True:
            w = "".join(rng.choice(list(string.ascii_lowercase), size=int(rng.integers(5, 9))))
            if w not in self.vocab:
                return w


IMAGE_SHIFTS = {"image_noise_std": add_image_noise, "image_contrast": change_contrast, "image_hue_deg": rotate_hue}
"""Image sweep kind → perturbation ``(sample, level, rng) -> sample``."""
TEXT_SWEEPS = {f"text_{kind}": kind for kind in TextPerturber.KINDS}
"""Text sweep kind → ``TextPerturber`` kind (levels: words per sample, k)."""


def perturbed(samples, kind: str, level: float, seed: int = 0, *,
              text: TextPerturber | None = None) -> list[MultimodalSample]:
    """All ``samples`` perturbed at one level of a sweep (``mmgraph.bench.robustness.SWEEPS``).

    Text sweeps (``text_*``, level ``k``) need ``text``: a ``TextPerturber`` of the training split.
    """
    if kind in TEXT_SWEEPS:
        if text is None:
            raise ValueError(f"the {kind} sweep needs the training text: pass text=TextPerturber(train, ...)")
        if level != int(level) or level < 0:
            raise ValueError(f"{kind}: levels are word counts k >= 0 (got {level})")
        return text.apply(samples, TEXT_SWEEPS[kind], int(level), seed)
    rng = np.random.default_rng([seed, int(round(level * 1000)) & 0xFFFFFFFF])
    fns = {"audio_snr_db": add_audio_noise, **IMAGE_SHIFTS}
    if kind not in fns:
        raise ValueError(f"unknown sweep {kind!r} (one of {sorted([*fns, *TEXT_SWEEPS])})")
    return [fns[kind](s, level, rng) for s in samples]
