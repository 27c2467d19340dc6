"""Reading media files and waveforms: ``read_image``, ``read_audio`` (``read_wav`` built in, with its
layout check; FLAC, OGG, MP3 through the ``mmgraph[audio]`` extra), ``Audio``.

The bottom floor of the data path: decoding files into arrays, with the same field-naming errors as
sample validation (a truncated WAV, a decompression bomb and an unreadable image are refused with a
reason, never partly read). ``mmgraph.modality`` validates values with these; manifests and dataset
recipes read files with them.
"""

from __future__ import annotations

import os
import re
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmgraph.errors import MissingExtra

DEFAULT_MAX_IMAGE_PIXELS = 50_000_000
"""Images with more pixels are refused before decoding (decompression-bomb guard)."""

MAX_AUDIO_CHANNELS = 16
"""2-D audio arrays with more rows than this are refused as ``(samples, channels)`` mistakes."""

PathLike = str | os.PathLike

WAV_SUFFIXES = (".wav", ".wave")
"""Audio files read by the built-in WAV reader (scipy)."""

SOUNDFILE_SUFFIXES = (".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff")
"""Audio files read through ``soundfile`` (libsndfile), the optional ``mmgraph[audio]`` extra."""


class MissingExtraError(MissingExtra):
    """An optional dependency is missing: the message says which ``mmgraph[...]`` extra installs it.

    An ``ImportError``, so that it stops a conversion or a training run at once (a missing package is
    the environment's problem, not one record's) rather than rejecting every record that needs it;
    ``extra`` names the extra, which the CLI reports in one line.
    """

    def __init__(self, message: str, extra: str) -> None:
        super().__init__(message)
        self.extra = extra


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


_INT_SCALE = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0}


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


def read_audio(path: PathLike) -> tuple[np.ndarray, int]:
    """Read an audio file to a mono float32 waveform in [-1, 1] and its sample rate, by its suffix.

    WAV (``.wav``) is built in (``read_wav``); FLAC, OGG (Vorbis, Opus), MP3 and AIFF
    (``SOUNDFILE_SUFFIXES``) are read with ``soundfile``, the optional extra
    ``pip install "mmgraph[audio]"``: without it, reading one raises ``MissingExtraError`` naming the
    extra. A file with another suffix is read as WAV. Channels are averaged, as for WAV.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in SOUNDFILE_SUFFIXES:
        return _read_soundfile(path)
    if suffix in WAV_SUFFIXES or not path.exists():
        return read_wav(path)
    try:  # any other name: WAV is the one format always available
        return read_wav(path)
    except ValueError as exc:
        raise ValueError(
            f"{exc} (read as WAV: mmgraph reads {', '.join(WAV_SUFFIXES)} files and, with the extra "
            f"mmgraph[audio], {', '.join(SOUNDFILE_SUFFIXES)})"
        ) from None


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    try:
        import soundfile
    except ImportError:
        raise MissingExtraError(
            f'audio: reading {path.suffix} files needs the optional extra: pip install "mmgraph[audio]" '
            f"(soundfile; {path.name})", extra="audio",
        ) from None
    if not path.exists():
        raise ValueError(f"audio: file not found: {path}")
    try:
        data, rate = soundfile.read(path, dtype="float32", always_2d=True)  # (samples, channels)
    except (RuntimeError, OSError, ValueError, TypeError) as exc:  # libsndfile's errors are RuntimeErrors
        raise ValueError(f"audio: cannot read {path.name}: {exc}") from None
    if rate <= 0:
        raise ValueError(f"audio: {path.name} declares sample rate {rate}")
    return to_mono_float(data, field=f"audio ({path.name})", channels_last=True), int(rate)


__all__ = [
    "DEFAULT_MAX_IMAGE_PIXELS",
    "MAX_AUDIO_CHANNELS",
    "SOUNDFILE_SUFFIXES",
    "WAV_SUFFIXES",
    "Audio",
    "MissingExtraError",
    "PathLike",
    "read_audio",
    "read_image",
    "read_wav",
    "to_mono_float",
]
