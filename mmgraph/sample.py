"""``MultimodalSample``: one validated record (any subset of the registered modalities), the start of the data path.

Validation happens here, at the edge, so that everything downstream can trust its input: each
modality's value by its ``mmgraph.modality`` entry, labels, targets and ids here. Every error names
the field, what was received and what was expected; nothing is silently coerced (a float image
outside [0, 1] is an error, not a clip; a (samples, channels) waveform is an error, not a transpose).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from mmgraph.media import DEFAULT_MAX_IMAGE_PIXELS, Audio, PathLike
from mmgraph.modality import MODALITIES, check_audio, check_image, check_text, describe_value
from mmgraph.typing import BUILTIN_MODALITIES, HUB, Modality

RESERVED_TARGET_NAMES = frozenset(
    {"x", "pos", "batch", "ptr", "y", "id", "num_graphs", "edge_index", "num_nodes", HUB}
    | set(BUILTIN_MODALITIES)
)
"""Names a target may not take (graph attributes and node types; registered modalities are refused too)."""


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
        extra: values of modalities registered by the user (``{"tabular": ...}``), each validated by
            the ``validate`` of its ``mmgraph.modality.register_modality`` entry.
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
        self.image: np.ndarray | None = None if image is None else check_image(image, max_image_pixels)
        self.text: str | None = None if text is None else check_text(text)
        self.audio: Audio | None = None if audio is None else check_audio(audio, sample_rate)
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


def _check_id(id: Any) -> str | None:
    if id is None or isinstance(id, str):
        return id
    raise TypeError(f"id: expected a str or None, got {describe_value(id)} ({id!r})")


def _check_extra(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    if extra is None:
        return {}
    if not isinstance(extra, Mapping):
        raise TypeError(f"extra: expected a mapping of modality name to value, got {describe_value(extra)}")
    out: dict[str, Any] = {}
    for name in sorted(extra, key=str):
        if not isinstance(name, str):
            raise TypeError(f"extra: modality names must be strings, got {describe_value(name)} ({name!r})")
        if name in BUILTIN_MODALITIES or name == HUB:
            raise ValueError(f"extra: {name!r} is a built-in node type; pass it as its own argument")
        if name not in MODALITIES:
            raise ValueError(
                f"extra: modality {name!r} is not registered; register it with "
                f"mmgraph.modality.register_modality({name!r}, ...) (registered: {MODALITIES.list()})"
            )
        spec = MODALITIES.get(name)
        if spec.name in out:
            raise ValueError(f"extra: modality {spec.name!r} is given twice (names are case-insensitive)")
        out[spec.name] = spec.validate(extra[name])
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
    raise TypeError(f"y: expected an int (class) or a float (regression), got {describe_value(y)} ({y!r})")


def _check_targets(targets: Mapping[str, Any] | None) -> dict[str, float]:
    if targets is None:
        return {}
    if not isinstance(targets, Mapping):
        raise TypeError(f"targets: expected a mapping of name to number, got {describe_value(targets)}")
    out: dict[str, float] = {}
    for name, value in sorted(targets.items()):
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"targets: names must be identifiers, got {name!r}")
        if name in RESERVED_TARGET_NAMES:
            raise ValueError(f"targets: {name!r} is reserved (reserved: {sorted(RESERVED_TARGET_NAMES)})")
        if name in MODALITIES:
            raise ValueError(f"targets: {name!r} is the name of a registered modality (a node type); rename it")
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise TypeError(f"targets[{name!r}]: expected a number, got {describe_value(value)} ({value!r})")
        if not math.isfinite(float(value)):
            raise ValueError(f"targets[{name!r}]: must be finite, got {value!r}")
        out[name] = float(value)
    return out
