"""The modality registry: each modality's name, node layout, validation and manifest reading.

The one place that says what a modality *is* before it is featurized. ``MultimodalSample``
validates values with it, the default edge strategies read each modality's layout from it
(``grid`` inside a grid modality, ``window:2`` inside a sequence, ``full`` between modalities), and
manifests read a column named after a registered modality with its ``from_record`` hook. The
built-in ``image``, ``text`` and ``audio`` are registered here; a user's modality is one
``register_modality`` call (then a featurizer with ``mmgraph.featurize.register_featurizer``)::

    register_modality("tabular", layout="sequence", validate=check_vector, default_encoder="tabular")

Bottom floor: imports only the standard library, numpy, ``mmgraph.media`` and the registry.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmgraph.media import DEFAULT_MAX_IMAGE_PIXELS, Audio, read_audio, read_image, to_mono_float
from mmgraph.registry import Registry
from mmgraph.typing import HUB, Modality

LAYOUTS = ("grid", "sequence")
"""Node layouts: ``grid`` (nodes on rows × cols, ``pos`` = (row, col)) or ``sequence`` (``pos`` = (t,))."""

RECORDS = ("file", "text", "json")
"""How a manifest holds a modality's value: a file path, a string, or any JSON value."""

RESERVED_NAMES = frozenset(
    {HUB, "x", "pos", "batch", "ptr", "y", "id", "num_graphs", "edge_index", "num_nodes",
     "modalities", "settings", "edges", "hub", "reverse", "reverse_prefix", "max_nodes", "max_edges", "label",
     "split", "targets"}
)
"""Names no modality may take: the hub node type, graph attributes (a node type named ``y`` would
shadow the label), ``GraphConfig``'s own keys (a ``[graph]`` table holds one table per modality
beside them) and the other columns of a manifest."""


@dataclass(frozen=True)
class ModalitySpec:
    """What mmgraph knows about a modality before featurizing it.

    Attributes:
        name: the modality's name, also its node type (lower case, a Python identifier).
        layout: ``"grid"`` or ``"sequence"`` (see ``LAYOUTS``); the featurizer's ``NodeSet.shape``
            is ``(rows, cols)`` or ``(n,)`` accordingly.
        validate: ``validate(value) -> value``, run where a ``MultimodalSample`` is built: raises
            ``TypeError``/``ValueError`` whose message starts with the modality's name and says what
            was received; returns what the sample keeps (arrays copied and read-only: a sample owns
            its data).
        record: how a manifest column of this name holds the value: ``"file"`` (a path, resolved
            against the manifest's folder and refused when it leaves it), ``"text"`` (a string) or
            ``"json"`` (any JSON value; in a CSV manifest the cell is parsed as JSON).
        from_record: turns the manifest value (the file's absolute path for ``"file"``) into what
            ``validate`` takes; ``None`` passes the value as it is.
        default_encoder: the ``mmgraph.nn.encoders.ENCODERS`` name a model uses for this node type
            unless ``ModelConfig.encoders`` names another.
    """

    name: Modality
    layout: str
    validate: Callable[..., Any]
    record: str = "json"
    from_record: Callable[[Any], Any] | None = None
    default_encoder: str | None = None


MODALITIES: Registry[ModalitySpec] = Registry("modality")
"""Modality name → ``ModalitySpec``."""


def register_modality(
    name: str,
    *,
    layout: str,
    validate: Callable[..., Any],
    record: str = "json",
    from_record: Callable[[Any], Any] | None = None,
    default_encoder: str | None = None,
    overwrite: bool = False,
) -> ModalitySpec:
    """Register a modality (see ``ModalitySpec`` for the arguments) and return its spec.

    Raises:
        ValueError: the name is not an identifier, is reserved or already registered; the layout
            or record kind is unknown.
        TypeError: ``validate`` or ``from_record`` is not callable.
    """
    if not isinstance(name, str) or not name.strip().isidentifier():
        raise ValueError(f"modality name must be a Python identifier like 'tabular' (got {name!r})")
    key = name.strip().lower()
    if key in RESERVED_NAMES:
        raise ValueError(f"modality name {key!r} is reserved (reserved: {sorted(RESERVED_NAMES)})")
    if layout not in LAYOUTS:
        raise ValueError(f"modality {key!r}: 'layout' must be one of {list(LAYOUTS)} (got {layout!r})")
    if record not in RECORDS:
        raise ValueError(f"modality {key!r}: 'record' must be one of {list(RECORDS)} (got {record!r})")
    if not callable(validate):
        raise TypeError(f"modality {key!r}: 'validate' must be callable (got {validate!r})")
    if from_record is not None and not callable(from_record):
        raise TypeError(f"modality {key!r}: 'from_record' must be callable or None (got {from_record!r})")
    if default_encoder is not None and not isinstance(default_encoder, str):
        raise TypeError(f"modality {key!r}: 'default_encoder' must be an encoder name (got {default_encoder!r})")
    spec = ModalitySpec(key, layout, validate, record, from_record, default_encoder)
    MODALITIES.register(key, spec, overwrite=overwrite)
    return spec


def layout_of(modality: Modality) -> str:
    """The registered layout of ``modality`` (``KeyError`` listing the registered ones if unknown)."""
    return MODALITIES.get(modality).layout


def describe_value(value: Any) -> str:
    """A short description of a received value for error messages (arrays by shape and dtype)."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__}"


# ------------------------------------------------------------------------------ built-in validation


def check_image(image: Any, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> np.ndarray:
    """Validate an image: an ``H×W`` / ``H×W×C`` (C in 1, 3, 4) uint8 or [0, 1] float array, or a file path.

    Paths are decoded with ``read_image`` (at most ``max_pixels``, checked before decoding). Returns
    a read-only copy; ``H×W×1`` becomes ``H×W``.
    """
    if isinstance(image, (str, os.PathLike)):
        image = read_image(image, max_pixels=max_pixels)
    if not isinstance(image, np.ndarray):
        raise TypeError(
            f"image: expected a numpy array (H×W or H×W×C) or a file path, got {describe_value(image)}"
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


def check_text(text: Any) -> str:
    """Validate a text field: a str with at least one visible (non-space, non-control) character."""
    if isinstance(text, bytes):
        raise TypeError("text: expected str, got bytes (decode it first, e.g. text.decode('utf-8'))")
    if not isinstance(text, str):
        raise TypeError(f"text: expected str, got {describe_value(text)}")
    if not text.strip():
        raise ValueError(f"text: must not be empty or whitespace only (got {text!r})")
    if not any(ch.isprintable() and not ch.isspace() for ch in text):
        raise ValueError(
            f"text: has no visible character, only control/format characters (got {text[:40]!r})"
        )
    return text


def check_audio(audio: Any, sample_rate: Any = None) -> Audio:
    """Validate audio: a waveform array with its ``sample_rate`` (Hz), or an audio file path (``read_audio``)."""
    if isinstance(audio, (str, os.PathLike)):
        waveform, sample_rate = read_audio(audio)
        return Audio(waveform, sample_rate)
    if not isinstance(audio, np.ndarray):
        raise TypeError(f"audio: expected a numpy waveform array or an audio file path, got {describe_value(audio)}")
    if sample_rate is None:
        raise ValueError("audio: an audio array needs sample_rate=... (Hz)")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Integral) or sample_rate <= 0:
        raise ValueError(f"audio: sample_rate must be a positive int, got {sample_rate!r}")
    return Audio(to_mono_float(audio, field="audio"), int(sample_rate))


# the built-in modalities; paths in a manifest reach ``validate``, which reads them
register_modality("image", layout="grid", validate=check_image, record="file", default_encoder="patch")
register_modality("text", layout="sequence", validate=check_text, record="text", default_encoder="token")
register_modality("audio", layout="sequence", validate=check_audio, record="file", default_encoder="frame")


__all__ = [
    "LAYOUTS",
    "MODALITIES",
    "RECORDS",
    "RESERVED_NAMES",
    "ModalitySpec",
    "check_audio",
    "check_image",
    "check_text",
    "describe_value",
    "layout_of",
    "register_modality",
]
