"""The hostile-input corpus: malformed files and manifest lines, written by the tests (nothing binary is committed).

``write_corpus(root)`` writes ``root/manifest.jsonl`` with one record per entry of ``CASES``, each between
good records, plus ``root/alone.jsonl``: the records expected to convert, alone, in the same order.
``CASES`` maps a case name to the field its rejection reason starts with and a substring of that
reason (``None``: the record must be converted). A case's record has the case name as its id where the id can be read.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

GOOD_RATE = 8000

CASES: dict[str, tuple[str, str] | None] = {
    # name: (field the reason starts with, substring of the reason), or None: converted
    # images
    "png-truncated": ("image", "image file is truncated"),
    "png-not-an-image": ("image", "is not a readable image file"),
    "png-header-20000x20000": ("image", "bomb.png refused before decoding: Image size (400000000 pixels) exceeds"),
    "png-header-8000x8000": ("image", "declares 8000×8000 pixels, more than max_image_pixels=50000000 (refused"),
    "image-is-a-folder": ("image", "image: not a regular file: bad"),
    # audio: unreadable or lying WAVs
    "wav-zero-bytes": ("audio", "audio: cannot read WAV empty.wav: the file is empty (0 bytes)"),
    "wav-nan-samples": ("audio", "audio (nan.wav): waveform contains NaN or infinite samples"),
    "wav-data-size-larger-than-file": ("audio", "its 'data' chunk declares 11600 bytes but only 1600 follow"),
    "wav-data-size-smaller-than-data": ("audio", "no chunk header at byte 844"),
    "wav-data-size-not-whole-frames": ("audio", "'data' chunk declares 1599 bytes, not a whole number of 2-byte"),
    "wav-riff-size-larger-than-file": ("audio", "the RIFF header declares 6652 bytes but the file has 1644"),
    "wav-cut-in-half": ("audio", "the RIFF header declares 1644 bytes but the file has 822 (truncated"),
    "wav-no-samples": ("audio", "waveform has zero length"),
    # audio: unusual but valid WAVs
    "wav-24-bit": None,
    "wav-stereo": None,
    "wav-17-channels": None,
    "wav-44100-hz": None,
    "wav-with-cue-chunk": None,
    # text
    "text-empty": ("text", "text: must not be empty or whitespace only"),
    "text-control-characters-only": ("text", "text: has no visible character"),
    # manifest lines
    "line-invalid-utf8": ("text", "text: not valid UTF-8 (invalid continuation byte"),
    "line-not-json": ("not valid JSON", "not valid JSON: Expecting ',' delimiter (column 51)"),
    "file-missing": ("image", "image: file not found: bad/missing.png"),
    "id-duplicate": ("duplicate id", "duplicate id 'good-0' (an earlier record has it)"),
    # a class name is a label, but not an empty one (refused in any order: a name among integer labels
    # is refused only after them, see tests/datasets/test_manifest.py)
    "label-empty-name": ("label", "label: ' ' is not a class name (it is empty)"),
    "label-boolean": ("label", "label: expected an integer (class id), a number (regression value) or a class name "
                               "(string), got boolean"),
    "path-escaping-folder": ("image", "image: path '../../etc/passwd' leaves the manifest folder"),
    "path-absolute-outside": ("audio", "audio: path '/etc/passwd' leaves the manifest folder"),
}

# Cases whose record has no readable id: found by line instead.
NO_ID = {"line-not-json"}  # a Latin-1 line keeps its id: it is readable JSON apart from one byte
DUPLICATE_OF = "good-0"


@dataclass(frozen=True)
class Corpus:
    """What ``write_corpus`` wrote: manifests, the line of each case and the ids expected to convert."""

    root: Path
    manifest: Path
    alone: Path
    lines: dict[str, int]  # case name → 1-based manifest line
    converted_ids: list[str]  # in manifest order


# -------------------------------------------------------------------------------------------- files


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def with_declared_size(png: bytes, width: int, height: int) -> bytes:
    """``png`` with its IHDR claiming ``width``×``height`` (CRC fixed): a small file with a huge header."""
    data = bytearray(png)
    if data[12:16] != b"IHDR":
        raise ValueError("not a PNG starting with IHDR")
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def zeros_png(width: int, height: int) -> bytes:
    """A valid grey PNG of zeros, streamed through zlib: ~1 KB per MB of pixels (a decompression bomb)."""
    deflate, idat = zlib.compressobj(9), []
    row = b"\0" * (width + 1)  # filter byte + pixels
    for _ in range(height):
        idat.append(deflate.compress(row))
    idat.append(deflate.flush())

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(idat)) + chunk(b"IEND", b"")


def wav_bytes(
    frames: np.ndarray, rate: int, *, bits: int = 16, extra_chunks: tuple[tuple[bytes, bytes], ...] = ()
) -> bytes:
    """A WAV file of ``frames`` (``(samples,)`` or ``(samples, channels)``; ints, or float32 for 32-bit float).

    Written by hand because scipy cannot write 24-bit PCM nor extra chunks. Integer samples are
    stored in ``bits`` bits (little-endian, two's complement); ``extra_chunks`` (id, payload) go
    between ``fmt `` and ``data``.
    """
    frames = frames.reshape(len(frames), 1) if frames.ndim == 1 else frames
    channels = frames.shape[1]
    if frames.dtype == np.float32:
        fmt_tag, bits, payload = 3, 32, frames.astype("<f4").tobytes()
    else:
        fmt_tag = 1
        width = bits // 8
        as_bytes = frames.astype("<i4").reshape(-1, 1).view(np.uint8).reshape(-1, 4)
        payload = as_bytes[:, :width].tobytes()  # the low bytes of each little-endian int32
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)
    chunks = [(b"fmt ", fmt), *extra_chunks, (b"data", payload)]
    body = b"".join(cid + struct.pack("<I", len(p)) + p + b"\0" * (len(p) & 1) for cid, p in chunks)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def with_chunk_size(wav: bytes, chunk_id: bytes, size: int) -> bytes:
    """``wav`` with the size field of its first ``chunk_id`` chunk (or of the RIFF header) set to ``size``."""
    data = bytearray(wav)
    at = 4 if chunk_id == b"RIFF" else data.index(chunk_id, 12) + 4
    data[at : at + 4] = struct.pack("<I", size)
    return bytes(data)


def int24_samples(n: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    """Random 24-bit sample values (int32 holding [-2**23, 2**23)), full scale included."""
    rng = np.random.default_rng(seed)
    values = rng.integers(-(2**23), 2**23, size=(n, channels), dtype=np.int32)
    values[0, 0], values[1, 0] = -(2**23), 2**23 - 1
    return values[:, 0] if channels == 1 else values


def int16_samples(n: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    values = np.round(np.random.default_rng(seed).standard_normal((n, channels)) * 3000).astype(np.int16)
    return values[:, 0] if channels == 1 else values


# ------------------------------------------------------------------------------------------ corpus


def good_record(i: int) -> dict:
    return {"id": f"good-{i}", "image": f"good/{i}.png", "text": f"word{i % 4} hello", "audio": f"good/{i}.wav",
            "label": i % 3, "split": "val" if i % 5 == 4 else "train"}


def write_files(root: Path, n_good: int) -> None:
    """The good files, and the bad files under ``bad/`` (``bad/`` is itself the folder case)."""
    rng = np.random.default_rng(0)
    good, bad = root / "good", root / "bad"
    good.mkdir(parents=True)
    bad.mkdir()
    for i in range(n_good):
        (good / f"{i}.png").write_bytes(png_bytes((rng.random((8, 8, 3)) * 255).astype(np.uint8)))
        length = 800 if i % 2 else 1200
        (good / f"{i}.wav").write_bytes(wav_bytes(int16_samples(length, seed=i), GOOD_RATE))

    png = png_bytes((rng.random((32, 32)) * 255).astype(np.uint8))
    (bad / "truncated.png").write_bytes(png[: len(png) // 2])  # cut inside the IDAT chunk
    (bad / "text.png").write_bytes(b"This is a text file, named as if it were a PNG image.\n" * 4)
    tiny = png_bytes(np.zeros((1, 1), np.uint8))
    (bad / "bomb.png").write_bytes(with_declared_size(tiny, 20_000, 20_000))
    (bad / "big.png").write_bytes(zeros_png(8_000, 8_000))  # complete: decoding it really takes 64 MB

    wav = wav_bytes(int16_samples(800, seed=99), GOOD_RATE)  # 44-byte header + 1600 data bytes
    (bad / "empty.wav").write_bytes(b"")
    (bad / "nan.wav").write_bytes(wav_bytes(np.array([0.1, np.nan, -0.2] * 100, np.float32), GOOD_RATE))
    (bad / "long.wav").write_bytes(with_chunk_size(wav, b"data", 1600 + 10_000))
    (bad / "short.wav").write_bytes(with_chunk_size(wav, b"data", 800))
    (bad / "odd.wav").write_bytes(with_chunk_size(wav, b"data", 1599))
    (bad / "riff-long.wav").write_bytes(with_chunk_size(wav, b"RIFF", len(wav) - 8 + 5008))
    (bad / "half.wav").write_bytes(wav[: len(wav) // 2])
    (bad / "nosamples.wav").write_bytes(wav_bytes(np.zeros(0, np.int16), GOOD_RATE))
    (bad / "ch17.wav").write_bytes(wav_bytes(int16_samples(1000, channels=17, seed=6), GOOD_RATE))

    (bad / "24bit.wav").write_bytes(wav_bytes(int24_samples(1000), GOOD_RATE, bits=24))
    (bad / "stereo.wav").write_bytes(wav_bytes(int16_samples(1000, channels=2, seed=3), GOOD_RATE))
    (bad / "44100.wav").write_bytes(wav_bytes(int16_samples(4410, seed=4), 44_100))
    cue = struct.pack("<I", 1) + struct.pack("<II4sIII", 1, 0, b"data", 0, 0, 400)  # one cue point
    (bad / "cue.wav").write_bytes(wav_bytes(int16_samples(800, seed=5), GOOD_RATE, extra_chunks=((b"cue ", cue),)))


UNUSUAL_WAVS = {"wav-24-bit": "24bit.wav", "wav-stereo": "stereo.wav", "wav-17-channels": "ch17.wav",
                "wav-44100-hz": "44100.wav", "wav-with-cue-chunk": "cue.wav"}


def case_line(name: str) -> bytes:
    """The manifest line of a case."""
    text = f"case {name}"
    files = {
        "png-truncated": "truncated.png", "png-not-an-image": "text.png", "png-header-20000x20000": "bomb.png",
        "png-header-8000x8000": "big.png",
    }
    wavs = {
        "wav-zero-bytes": "empty.wav", "wav-nan-samples": "nan.wav", "wav-data-size-larger-than-file": "long.wav",
        "wav-data-size-smaller-than-data": "short.wav", "wav-riff-size-larger-than-file": "riff-long.wav",
        "wav-data-size-not-whole-frames": "odd.wav", "wav-cut-in-half": "half.wav", "wav-no-samples": "nosamples.wav",
        **UNUSUAL_WAVS,
    }
    if name in files:  # a bad file spoils its whole record, text included: nothing is half-converted
        record = {"id": name, "image": f"bad/{files[name]}", "text": text}
    elif name in wavs:
        record = {"id": name, "audio": f"bad/{wavs[name]}", "text": text}
    elif name == "image-is-a-folder":
        record = {"id": name, "image": "bad", "text": text}
    elif name == "text-empty":
        record = {"id": name, "text": ""}
    elif name == "text-control-characters-only":
        record = {"id": name, "text": "\x00\x01\x07\x1b\x7f\u200b\u2028"}
    elif name == "line-invalid-utf8":
        return b'{"id": "line-invalid-utf8", "text": "caf\xe9 au lait"}'  # Latin-1, not UTF-8
    elif name == "line-not-json":
        return b'{"id": "line-not-json", "text": "no closing brace"'
    elif name == "file-missing":
        record = {"id": name, "image": "bad/missing.png", "text": text}
    elif name == "id-duplicate":
        record = {"id": DUPLICATE_OF, "text": text}
    elif name == "label-empty-name":
        record = {"id": name, "text": text, "label": " "}
    elif name == "label-boolean":
        record = {"id": name, "text": text, "label": True}
    elif name == "path-escaping-folder":
        record = {"id": name, "image": "../../etc/passwd", "text": text}
    elif name == "path-absolute-outside":
        record = {"id": name, "audio": "/etc/passwd", "text": text}
    else:
        raise KeyError(name)
    return json.dumps(record).encode()


def write_corpus(root: Path, n_good: int = 30) -> Corpus:
    """Write the corpus under ``root``: good records first and last, one good record between cases."""
    write_files(root, n_good)
    names = list(CASES)
    lines: list[bytes] = []
    alone: list[bytes] = []
    at: dict[str, int] = {}
    converted: list[str] = []
    g = 0

    def add_good() -> None:
        nonlocal g
        line = json.dumps(good_record(g)).encode()
        lines.append(line)
        alone.append(line)
        converted.append(f"good-{g}")
        g += 1

    for name in names:
        if g < n_good:
            add_good()
        lines.append(case_line(name))
        at[name] = len(lines)
        if CASES[name] is None:
            alone.append(lines[-1])
            converted.append(name)
    while g < n_good:
        add_good()
    manifest, alone_path = root / "manifest.jsonl", root / "alone.jsonl"
    manifest.write_bytes(b"\n".join(lines) + b"\n")
    alone_path.write_bytes(b"\n".join(alone) + b"\n")
    return Corpus(root, manifest, alone_path, at, converted)
