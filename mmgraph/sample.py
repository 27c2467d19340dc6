"""``MultimodalSample``: one validated record (any subset of image, text, audio), the start of the data path.

Validation happens here, at the edge, so that everything downstream can trust its input. Every error
names the field, what was received and what was expected; nothing is silently coerced (a float image
outside [0, 1] is an error, not a clip; a (samples, channels) waveform is an error, not a transpose).
"""

from __future__ import annotations

import math
import numbers
import os
import re
import struct
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmgraph.typing import BUILTIN_MODALITIES, HUB, Modality

DEFAULT_MAX_IMAGE_PIXELS = 50_000_000
"""Images with more pixels are refused before decoding (decompression-bomb guard)."""

MAX_AUDIO_CHANNELS = 16
RESERVED_TARGET_NAMES = frozenset(
    {"x", "pos", "batch", "ptr", "y", "id", "num_graphs", "edge_index", "num_nodes", HUB}
    | set(BUILTIN_MODALITIES)
)

PathLike = str | os.PathLike


@dataclass(frozen=True, eq=False)
class Audio:
    """A mono waveform in [-1, 1]-scaled float32 and its sample rate in Hz."""

    waveform: np.ndarray  # (L,) float32
    sample_rate: int

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.waveform.shape[0] / self.sample_rate

    def __repr__(self) -> str:
        return f"Audio(samples={self.waveform.shape[0]}, sample_rate={self.sample_rate})"


class MultimodalSample:
    """One multimodal record: any non-empty subset of image, text and audio, plus optional labels.

    Args:
        image: an ``H×W`` or ``H×W×C`` (C in 1, 3, 4) ``uint8`` array, a float array with values in
            [0, 1], or a path to an image file (PNG, JPEG, ... read with Pillow).
        text: a non-empty string with at least one visible character.
        audio: a 1-D waveform or a 2-D ``(channels, samples)`` array (int16, int32, uint8 or float;
            several channels are averaged to mono), given with ``sample_rate``; or a path to a WAV
            file (read with scipy; 8/16/24/32-bit PCM and float).
        sample_rate: sampling rate in Hz of an ``audio`` array (ignored for WAV paths).
        extra: values of modalities registered by the user (``{"tabular": ...}``), validated by the
            featurizer registered under that name.
        y: the graph-level label: an int (class) or a finite float (regression).
        targets: further named graph-level targets, ``{"snr_db": -4.2}`` (finite floats).
        id: an identifier kept through batching and conversion.
        max_image_pixels: refuse images with more pixels than this (checked before decoding).

    Raises:
        TypeError: a field has the wrong type, rank or dtype.
        ValueError: a field has a bad value (NaN/inf, empty, unreadable file, ...).
    """

    __slots__ = ("image", "text", "audio", "extra", "y", "targets", "id")

    def __init__(
        self,
        image: np.ndarray | PathLike | None = None,
        text: str | None = None,
        audio: np.ndarray | PathLike | None = None,
        *,
        sample_rate: int | None = None,
        extra: Mapping[str, Any] | None = None,
        y: int | float | None = None,
        targets: Mapping[str, float] | None = None,
        id: str | None = None,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    ) -> None:
        self.id = _check_id(id)
        self.image: np.ndarray | None = None if image is None else _check_image(image, max_image_pixels)
        self.text: str | None = None if text is None else check_text(text)
        self.audio: Audio | None = None if audio is None else _check_audio(audio, sample_rate)
        self.extra: dict[str, Any] = _check_extra(extra)
        if self.image is None and self.text is None and self.audio is None and not self.extra:
            raise ValueError(
                "MultimodalSample needs at least one modality (image, text, audio or a registered "
                "extra modality); got none"
            )
        self.y = _check_label(y)
        self.targets = _check_targets(targets)

    @property
    def modalities(self) -> tuple[Modality, ...]:
        """Names of the modalities present, sorted."""
        present = [m for m in BUILTIN_MODALITIES if getattr(self, m) is not None]
        return tuple(sorted(present + list(self.extra)))

    def get(self, modality: Modality) -> Any:
        """The validated value of ``modality`` (``None`` when absent)."""
        if modality in BUILTIN_MODALITIES:
            return getattr(self, modality)
        return self.extra.get(modality)

    def without(self, *modalities: Modality) -> MultimodalSample:
        """A copy with the given modalities removed (for missing-modality experiments)."""
        out = object.__new__(MultimodalSample)
        for name in self.__slots__:
            setattr(out, name, getattr(self, name))
        out.extra = {k: v for k, v in self.extra.items() if k not in modalities}
        for m in modalities:
            if m in BUILTIN_MODALITIES:
                setattr(out, m, None)
        if not out.modalities:
            raise ValueError(f"removing {list(modalities)} leaves sample {self.id!r} with no modality")
        return out

    def __repr__(self) -> str:
        parts = []
        if self.image is not None:
            parts.append(f"image={tuple(self.image.shape)}")
        if self.text is not None:
            shown = self.text if len(self.text) <= 30 else self.text[:27] + "..."
            parts.append(f"text={shown!r}")
        if self.audio is not None:
            parts.append(f"audio={self.audio.duration:.2f}s@{self.audio.sample_rate}Hz")
        parts += [f"{k}=..." for k in sorted(self.extra)]
        if self.y is not None:
            parts.append(f"y={self.y!r}")
        if self.id is not None:
            parts.insert(0, f"id={self.id!r}")
        return f"MultimodalSample({', '.join(parts)})"


# ----------------------------------------------------------------------------------------------- checks


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__}"


def _check_id(id: Any) -> str | None:
    if id is None or isinstance(id, str):
        return id
    raise TypeError(f"id: expected a str or None, got {_describe(id)} ({id!r})")


def _check_image(image: Any, max_pixels: int) -> np.ndarray:
    if isinstance(image, (str, os.PathLike)):
        image = read_image(image, max_pixels=max_pixels)
    if not isinstance(image, np.ndarray):
        raise TypeError(
            f"image: expected a numpy array (H×W or H×W×C) or a file path, got {_describe(image)}"
        )
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise TypeError(
            f"image: expected shape H×W or H×W×C with C in (1, 3, 4), got shape {image.shape}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image: height and width must be positive, got shape {image.shape}")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ValueError(
            f"image: {image.shape[0]}×{image.shape[1]} pixels exceeds max_image_pixels={max_pixels}"
        )
    if image.dtype == np.uint8:
        pass
    elif image.dtype in (np.float16, np.float32, np.float64):
        if not np.isfinite(image).all():
            raise ValueError("image: contains NaN or infinite values")
        lo, hi = float(image.min()), float(image.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"image: float images must have values in [0, 1], got range [{lo:.4g}, {hi:.4g}] "
                f"(scale it, or pass uint8)"
            )
    else:
        raise TypeError(f"image: expected dtype uint8 or float (values in [0, 1]), got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    image = np.array(image, copy=True)  # the sample owns its data: later edits by the caller cannot leak in
    image.flags.writeable = False
    return image


def read_image(path: PathLike, *, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode an image file to an ``H×W`` (grey) or ``H×W×C`` (RGB/RGBA) uint8 array.

    The pixel count is checked from the header before any pixel is decoded, so a decompression bomb
    is refused without allocating it.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise ValueError(
                    f"image: {path.name} declares {width}×{height} pixels, more than "
                    f"max_image_pixels={max_pixels} (refused before decoding)"
                )
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img.load()
            mode = img.mode
            if mode in ("L", "RGB", "RGBA"):
                arr = np.asarray(img)
            elif mode == "1":
                arr = np.asarray(img.convert("L"))
            elif mode in ("I;16", "I;16B", "I;16L"):
                arr = (np.asarray(img).astype(np.uint32) // 257).astype(np.uint8)
            elif mode in ("LA", "P", "PA", "RGBa", "La") or "transparency" in img.info:
                arr = np.asarray(img.convert("RGBA"))
            else:
                arr = np.asarray(img.convert("RGB"))
    except FileNotFoundError:
        raise ValueError(f"image: file not found: {path}") from None
    except UnidentifiedImageError:
        raise ValueError(f"image: {path} is not a readable image file") from None
    except Image.DecompressionBombError as exc:  # Pillow's own limit (2 × Image.MAX_IMAGE_PIXELS), checked at open
        raise ValueError(f"image: {path.name} refused before decoding: {exc}") from None
    except (OSError, SyntaxError, Image.DecompressionBombWarning) as exc:
        raise ValueError(f"image: cannot decode {path}: {exc}") from None
    return arr


def check_text(text: Any) -> str:
    """Validate a text field: a str with at least one visible (non-space, non-control) character."""
    if isinstance(text, bytes):
        raise TypeError("text: expected str, got bytes (decode it first, e.g. text.decode('utf-8'))")
    if not isinstance(text, str):
        raise TypeError(f"text: expected str, got {_describe(text)}")
    if not text.strip():
        raise ValueError(f"text: must not be empty or whitespace only (got {text!r})")
    if not any(ch.isprintable() and not ch.isspace() for ch in text):
        raise ValueError(
            f"text: has no visible character, only control/format characters (got {text[:40]!r})"
        )
    return text


_INT_SCALE = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0}


def _check_audio(audio: Any, sample_rate: Any) -> Audio:
    if isinstance(audio, (str, os.PathLike)):
        waveform, sample_rate = read_wav(audio)
        return Audio(waveform, sample_rate)
    if not isinstance(audio, np.ndarray):
        raise TypeError(f"audio: expected a numpy waveform array or a WAV path, got {_describe(audio)}")
    if sample_rate is None:
        raise ValueError("audio: an audio array needs sample_rate=... (Hz)")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Integral) or sample_rate <= 0:
        raise ValueError(f"audio: sample_rate must be a positive int, got {sample_rate!r}")
    return Audio(to_mono_float(audio, field="audio"), int(sample_rate))


def to_mono_float(audio: np.ndarray, *, field: str = "audio", channels_last: bool = False) -> np.ndarray:
    """Convert a 1-D or 2-D integer/float waveform to mono float32 scaled to [-1, 1].

    2-D input is ``(channels, samples)`` with at most ``MAX_AUDIO_CHANNELS`` channels, or
    ``(samples, channels)`` with any number of channels when ``channels_last`` (the layout scipy's
    WAV reader returns).
    """
    if audio.ndim == 2 and channels_last:
        audio = audio.T
    if audio.ndim not in (1, 2):
        raise TypeError(f"{field}: expected a 1-D waveform or 2-D (channels, samples), got shape {audio.shape}")
    # the guard catches (samples, channels) arrays passed by mistake; channels_last states the layout
    if audio.ndim == 2 and not channels_last and audio.shape[0] > MAX_AUDIO_CHANNELS:
        raise TypeError(
            f"{field}: 2-D audio must be (channels, samples) with at most {MAX_AUDIO_CHANNELS} channels, "
            f"got shape {audio.shape} (is it (samples, channels)? transpose it)"
        )
    if audio.shape[-1] == 0 or audio.size == 0:
        raise ValueError(f"{field}: waveform has zero length (shape {audio.shape})")
    dtype = audio.dtype
    if dtype in _INT_SCALE:
        wave = audio.astype(np.float32) / np.float32(_INT_SCALE[dtype])
    elif dtype == np.uint8:
        wave = (audio.astype(np.float32) - 128.0) / 128.0
    elif dtype in (np.float16, np.float32, np.float64):
        if not np.isfinite(audio).all():
            raise ValueError(f"{field}: waveform contains NaN or infinite samples")
        wave = audio.astype(np.float32)
    else:
        raise TypeError(
            f"{field}: expected dtype int16, int32, uint8 or float, got dtype {dtype}"
        )
    if wave.ndim == 2:
        wave = wave.mean(axis=0, dtype=np.float32)
    wave = np.ascontiguousarray(wave)
    wave.flags.writeable = False
    return wave


_RIFF_CHUNK_ID = re.compile(rb"[\x20-\x7e]{4}")  # RIFF chunk ids are four printable ASCII characters


def _check_wav_layout(path: Path) -> None:
    """Refuse a RIFF/RIFX WAV whose declared sizes do not tile the file exactly.

    scipy reads a ``data`` chunk that declares more bytes than the file holds as far as the file
    goes, without a word, and ignores bytes after the end the RIFF header declares; a ``data``
    chunk declaring fewer bytes leaves samples that scipy then takes for a chunk header. Walking
    the chunk headers (a few reads) catches all three with a reason that says which size is
    wrong. Written by hand because scipy does not expose the chunk sizes it reads. RF64 files
    keep their sizes in a ``ds64`` chunk and are left to scipy.
    """
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"audio: cannot read WAV {path.name}: the file is empty (0 bytes)")
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:] != b"WAVE":
            return  # not a RIFF/RIFX WAVE file: scipy's message says what it is
        order = "<" if head[:4] == b"RIFF" else ">"
        end = 8 + struct.unpack(order + "I", head[4:8])[0]
        if abs(end - size) > 1:  # one byte of slack: writers disagree on counting the last pad byte
            why = "truncated, or its header lies about its length" if end > size else (
                "its header lies about its length, or data was appended after the end it declares")
            raise ValueError(
                f"audio: cannot read WAV {path.name}: the RIFF header declares {end} bytes but the file has "
                f"{size} ({why})"
            )
        end = min(end, size)
        offset, previous, frame_bytes = 12, "the RIFF header", 0
        while end - offset >= 8:
            f.seek(offset)
            chunk_id, chunk_size = struct.unpack(order + "4sI", f.read(8))
            if not _RIFF_CHUNK_ID.fullmatch(chunk_id):
                raise ValueError(
                    f"audio: cannot read WAV {path.name}: no chunk header at byte {offset} (found {chunk_id!r}): "
                    f"{previous} is wrong (the header lies about the length)"
                )
            name = chunk_id.decode()
            if offset + 8 + chunk_size > end:
                raise ValueError(
                    f"audio: cannot read WAV {path.name}: its {name!r} chunk declares {chunk_size} bytes but only "
                    f"{end - offset - 8} follow (the file is truncated, or its header lies about its length)"
                )
            if name == "fmt " and chunk_size >= 14:
                frame_bytes = struct.unpack(order + "H", f.read(14)[12:14])[0]  # nBlockAlign
            elif name == "data" and frame_bytes and chunk_size % frame_bytes:
                raise ValueError(
                    f"audio: cannot read WAV {path.name}: its 'data' chunk declares {chunk_size} bytes, not a whole "
                    f"number of {frame_bytes}-byte frames (the header lies about the length)"
                )
            previous = f"the size the {name!r} chunk at byte {offset} declares ({chunk_size} bytes)"
            offset += 8 + chunk_size + (chunk_size & 1)
        if 0 < end - offset < 8:
            raise ValueError(
                f"audio: cannot read WAV {path.name}: {end - offset} stray byte(s) after the last chunk: "
                f"{previous} is wrong (the header lies about the length)"
            )


def read_wav(path: PathLike) -> tuple[np.ndarray, int]:
    """Read a WAV file to a mono float32 waveform in [-1, 1] and its sample rate.

    scipy decodes 8/16/24/32-bit PCM and float WAVs (24-bit arrives left-justified in int32, so
    the int32 scale applies); channels, however many, are averaged. Chunks scipy does not know
    (``cue ``, ``bext``, ...) are skipped. A file whose header disagrees with its length (a size
    field larger or smaller than the bytes present, bytes after the declared end), that scipy
    finds malformed, or whose samples are not finite, is refused rather than partly read.
    """
    from scipy.io import wavfile

    path = Path(path)
    if not path.exists():
        raise ValueError(f"audio: file not found: {path}")
    try:
        _check_wav_layout(path)
    except OSError as exc:
        raise ValueError(f"audio: cannot read WAV {path.name}: {exc}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", wavfile.WavFileWarning)
            # the layout check has vouched for the chunk sizes: an unknown chunk is metadata, not damage
            warnings.filterwarnings("ignore", r"Chunk \(non-data\) not understood", wavfile.WavFileWarning)
            rate, data = wavfile.read(path, mmap=False)
    except wavfile.WavFileWarning as exc:
        raise ValueError(f"audio: {path.name} is malformed ({exc})") from None
    except (ValueError, OSError, EOFError, IndexError, struct.error) as exc:
        raise ValueError(f"audio: cannot read WAV {path.name}: {exc}") from None
    if rate <= 0:
        raise ValueError(f"audio: {path.name} declares sample rate {rate}")
    return to_mono_float(np.asarray(data), field=f"audio ({path.name})", channels_last=True), int(rate)


def _check_extra(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    if extra is None:
        return {}
    if not isinstance(extra, Mapping):
        raise TypeError(f"extra: expected a mapping of modality name to value, got {_describe(extra)}")
    from mmgraph.featurize import FEATURIZERS

    out = {}
    for name in sorted(extra):
        if name in BUILTIN_MODALITIES or name == HUB:
            raise ValueError(f"extra: {name!r} is a built-in node type; pass it as its own argument")
        if name not in FEATURIZERS:
            raise ValueError(
                f"extra: modality {name!r} is not registered; register a featurizer with "
                f"mmgraph.featurize.FEATURIZERS.register({name!r}, ...) (registered: {FEATURIZERS.list()})"
            )
        out[name] = FEATURIZERS.get(name).validate(extra[name])
    return out


def _check_label(y: Any) -> int | float | None:
    if y is None:
        return None
    if isinstance(y, (bool, np.bool_)):
        raise TypeError(f"y: expected an int (class) or a float (regression), got bool {y!r}")
    if isinstance(y, numbers.Integral):
        if int(y) < 0:
            raise ValueError(f"y: class labels must be >= 0, got {int(y)}")
        return int(y)
    if isinstance(y, numbers.Real):
        if not math.isfinite(float(y)):
            raise ValueError(f"y: must be finite, got {y!r}")
        return float(y)
    raise TypeError(f"y: expected an int (class) or a float (regression), got {_describe(y)} ({y!r})")


def _check_targets(targets: Mapping[str, Any] | None) -> dict[str, float]:
    if targets is None:
        return {}
    if not isinstance(targets, Mapping):
        raise TypeError(f"targets: expected a mapping of name to number, got {_describe(targets)}")
    out: dict[str, float] = {}
    for name, value in sorted(targets.items()):
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"targets: names must be identifiers, got {name!r}")
        if name in RESERVED_TARGET_NAMES:
            raise ValueError(f"targets: {name!r} is reserved (reserved: {sorted(RESERVED_TARGET_NAMES)})")
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise TypeError(f"targets[{name!r}]: expected a number, got {_describe(value)} ({value!r})")
        if not math.isfinite(float(value)):
            raise ValueError(f"targets[{name!r}]: must be finite, got {value!r}")
        out[name] = float(value)
    return out
