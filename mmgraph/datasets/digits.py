"""``digits``: the embedded default dataset (image + audio + text), partly synthesised.

scikit-learn's bundled 1,797 real handwritten 8×8 digits, each paired with a synthesised DTMF
telephone tone of its digit and the digit's name in one of six languages, every modality degraded
so that none is enough alone. Needs no file beyond the installed packages; deterministic from the
seed. The card is ``datasets/digits.md``.
"""

from __future__ import annotations

import numpy as np

from mmgraph.datasets.base import MultimodalDataset
from mmgraph.featurize import AUDIO_8K
from mmgraph.graph.config import GraphConfig
from mmgraph.sample import MultimodalSample
from mmgraph.task import Task

SAMPLE_RATE = 8000
# DTMF keypad: (row frequency, column frequency) in Hz for digits 0..9.
DTMF = {
    1: (697, 1209), 2: (697, 1336), 3: (697, 1477),
    4: (770, 1209), 5: (770, 1336), 6: (770, 1477),
    7: (852, 1209), 8: (852, 1336), 9: (852, 1477),
    0: (941, 1336),
}
NUMBER_WORDS = {
    "en": ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
    "de": ["null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun"],
    "fr": ["zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf"],
    "es": ["cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve"],
    "it": ["zero", "uno", "due", "tre", "quattro", "cinque", "sei", "sette", "otto", "nove"],
    "nl": ["nul", "een", "twee", "drie", "vier", "vijf", "zes", "zeven", "acht", "negen"],
}
LANGUAGES = tuple(sorted(NUMBER_WORDS))
ALPHABET = "abcdefghijklmnopqrstuvwxyz"

# Degradation levels (see datasets/digits.md for the single-modality accuracies they give).
IMAGE_NOISE_STD = 0.35  # Gaussian pixel noise, in units of the full [0, 1] range
IMAGE_OCCLUDED_ROWS = (2, 3)  # a random band of this many rows (inclusive range) is blanked
AUDIO_DURATION_S = (0.2, 0.6)
AUDIO_AMPLITUDE = (0.1, 0.5)
AUDIO_SNR_DB = (-24.0, -8.0)
TEXT_CHAR_CORRUPTION = 0.3  # probability that each character is replaced by a random letter
SPLIT_FRACTIONS = (0.7, 0.15, 0.15)
DIGIT_NAMES = tuple(str(d) for d in range(10))
"""The class names of the ``digit`` task (also AV-MNIST's)."""


def dtmf_tone(digit: int, duration: float, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """The clean DTMF tone of ``digit``: two sines with random phases, float64."""
    t = np.arange(int(round(duration * SAMPLE_RATE))) / SAMPLE_RATE
    low, high = DTMF[digit]
    phases = rng.uniform(0.0, 2.0 * np.pi, size=2)
    return amplitude * 0.5 * (np.sin(2 * np.pi * low * t + phases[0]) + np.sin(2 * np.pi * high * t + phases[1]))


def add_noise_at_snr(clean: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``clean`` plus white Gaussian noise whose power is ``snr_db`` below the signal's."""
    signal_power = float(np.mean(clean**2))
    noise = rng.standard_normal(clean.shape[0]) * np.sqrt(signal_power / 10.0 ** (snr_db / 10.0))
    mix = clean + noise
    peak = np.abs(mix).max()
    return mix / peak if peak > 1.0 else mix


def corrupt_text(word: str, p: float, rng: np.random.Generator) -> str:
    """Replace each character of ``word`` by a random letter with probability ``p``."""
    chars = list(word)
    for i in range(len(chars)):
        if rng.random() < p:
            chars[i] = ALPHABET[rng.integers(len(ALPHABET))]
    return "".join(chars)


def degrade_image(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An 8×8 image in [0, 1] with Gaussian noise and a blanked band of rows, as uint8."""
    noisy = image + rng.normal(0.0, IMAGE_NOISE_STD, size=image.shape)
    rows = rng.integers(IMAGE_OCCLUDED_ROWS[0], IMAGE_OCCLUDED_ROWS[1] + 1)
    start = rng.integers(0, image.shape[0] - rows + 1)
    noisy[start : start + rows] = 0.0
    return np.round(np.clip(noisy, 0.0, 1.0) * 255.0).astype(np.uint8)


def stratified_split(labels: np.ndarray, fractions: tuple[float, float, float], seed: int) -> dict[str, np.ndarray]:
    """Indices of train/val/test, stratified by label (sorted within each split)."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    train, rest = train_test_split(index, train_size=fractions[0], stratify=labels, random_state=seed)
    val, test = train_test_split(
        rest, train_size=fractions[1] / (fractions[1] + fractions[2]), stratify=labels[rest], random_state=seed
    )
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def make_digits_samples(seed: int = 0) -> list[MultimodalSample]:
    """All 1,797 samples, in scikit-learn's order, generated from one ``default_rng(seed)``."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images / 16.0  # (1797, 8, 8) in [0, 1]
    labels = bunch.target.astype(int)
    rng = np.random.default_rng(seed)
    samples = []
    for i, (image, digit) in enumerate(zip(images, labels)):
        duration = rng.uniform(*AUDIO_DURATION_S)
        amplitude = rng.uniform(*AUDIO_AMPLITUDE)
        snr_db = rng.uniform(*AUDIO_SNR_DB)
        clean = dtmf_tone(int(digit), duration, amplitude, rng)
        audio = add_noise_at_snr(clean, snr_db, rng).astype(np.float32)
        language = LANGUAGES[rng.integers(len(LANGUAGES))]
        text = corrupt_text(NUMBER_WORDS[language][digit], TEXT_CHAR_CORRUPTION, rng)
        samples.append(
            MultimodalSample(
                image=degrade_image(image, rng),
                text=text,
                audio=audio,
                sample_rate=SAMPLE_RATE,
                y=int(digit),
                targets={"snr_db": float(snr_db)},
                id=f"digits-{i:04d}",
            )
        )
    return samples


def load_digits_dataset(seed: int = 0, root: str | None = None) -> MultimodalDataset:
    """The ``digits`` dataset: 70/15/15 stratified split (seed 0 split, ``seed`` for the noise)."""
    del root  # embedded: no files needed
    samples = make_digits_samples(seed)
    labels = np.array([s.y for s in samples])
    splits = stratified_split(labels, SPLIT_FRACTIONS, seed=0)
    config = GraphConfig(
        modalities=("audio", "image", "text"),
        image={"patch_size": 4, "channels": 1},
        text={"max_tokens": 8},
        audio=AUDIO_8K,
        edges={"audio": "window:2", "image": "grid", "text": "window:1"},
    )
    return MultimodalDataset(
        name="digits",
        splits={k: [samples[i] for i in v] for k, v in splits.items()},
        tasks={
            "digit": Task("digit", "classification", "y", num_classes=10, class_names=DIGIT_NAMES),
            "snr_db": Task("snr_db", "regression", "snr_db"),
        },
        graph_config=config,
        info={
            "source": "scikit-learn load_digits (1,797 real 8×8 handwritten digits) + synthesised "
            "DTMF audio and number-word text",
            "seed": seed,
            "image_noise_std": IMAGE_NOISE_STD,
            "image_occluded_rows": list(IMAGE_OCCLUDED_ROWS),
            "audio_snr_db": list(AUDIO_SNR_DB),
            "audio_duration_s": list(AUDIO_DURATION_S),
            "text_char_corruption": TEXT_CHAR_CORRUPTION,
            "languages": list(LANGUAGES),
        },
    )
