"""Image → P×P patches (grid nodes), ``pos`` = (row, col)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from mmgraph.config import ConfigMixin
from mmgraph.featurize.base import ModalityFeaturizer, NodeSet, register_featurizer

# ITU-R BT.601 luma weights: the same grey conversion as Pillow's "L" mode.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def to_float_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """An ``H×W`` / ``H×W×C`` uint8 or [0, 1] float image as float32 ``H×W×channels`` in [0, 1].

    Alpha is composited over a white background; RGB becomes grey by BT.601 luma; grey becomes
    RGB by repetition.
    """
    img = image.astype(np.float32)
    if image.dtype == np.uint8:
        img /= 255.0
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 4:
        alpha = img[:, :, 3:4]
        img = img[:, :, :3] * alpha + (1.0 - alpha)
    if channels == 1 and img.shape[2] == 3:
        img = (img @ _LUMA)[:, :, None]
    elif channels == 3 and img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return img


DEFAULT_MAX_GRID = 14
"""The default cap on patch-grid rows and columns: at most 14 × 14 = 196 patches (ViT-style)."""


@dataclass(frozen=True)
class ImageSettings(ConfigMixin):
    """The ``image`` table of a ``GraphConfig`` (``[graph.image]`` in TOML); see ``ImageFeaturizer``.

    The defaults suit photos of any size: RGB patches of 4 × 4 pixels, and images whose patch grid
    would have more than 14 rows or columns scaled down (aspect kept) until it has 14 at most.
    """

    patch_size: int = 4
    channels: int = 3
    size: tuple[int, int] | None = None
    max_grid: int | None = DEFAULT_MAX_GRID

    def __post_init__(self) -> None:
        if self.size is not None:
            object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))


@register_featurizer
class ImageFeaturizer(ModalityFeaturizer):
    """Cuts an image into non-overlapping ``patch_size × patch_size`` patches, one node each.

    The right and bottom edges are zero-padded up to a multiple of ``patch_size``. Node features
    are the patch's pixels flattened in (row, col, channel) order; ``pos`` is the patch's
    (row, col) in the patch grid; patches are numbered row-major.

    Args:
        patch_size: side P of a patch in pixels.
        channels: 3 (RGB, the default: colour is kept; grey images are repeated over the three
            channels) or 1 (grey); inputs are converted (see ``to_float_channels``).
        size: optional ``(H, W)`` to resize every image to first (bilinear, antialiased).
        max_grid: the most patch rows and columns (``None``: no cap); applied after ``size``.

    Shapes:
        output ``x``: ``(rows * cols, P * P * channels)``; ``pos``: ``(rows * cols, 2)``.
    """

    modality = "image"
    settings_class: ClassVar[type[ImageSettings]] = ImageSettings

    size_settings: ClassVar[tuple[str, ...]] = ("max_grid", "patch_size")

    def __init__(
        self,
        patch_size: int = 4,
        channels: int = 3,
        size: tuple[int, int] | None = None,
        max_grid: int | None = DEFAULT_MAX_GRID,
    ) -> None:
        if not isinstance(patch_size, int) or patch_size < 1:
            raise ValueError(f"'patch_size' must be a positive int (got {patch_size!r})")
        if channels not in (1, 3):
            raise ValueError(f"'channels' must be 1 (grey) or 3 (RGB) (got {channels!r})")
        if size is not None and (len(size) != 2 or min(size) < 1):
            raise ValueError(f"'size' must be (H, W) with positive sides (got {size!r})")
        if max_grid is not None and (isinstance(max_grid, bool) or not isinstance(max_grid, int) or max_grid < 1):
            raise ValueError(f"'max_grid' must be a positive int or None (got {max_grid!r})")
        self.patch_size = patch_size
        self.channels = channels
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self.max_grid = max_grid

    def capped_size(self, height: int, width: int) -> tuple[int, int]:
        """The ``(H, W)`` an image of ``height × width`` pixels is scaled to by ``max_grid`` (itself when it fits)."""
        p, cap = self.patch_size, self.max_grid
        if cap is None or max(math.ceil(height / p), math.ceil(width / p)) <= cap:
            return height, width
        scale = cap * p / max(height, width)
        return max(1, round(height * scale)), max(1, round(width * scale))

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (self.patch_size * self.patch_size * self.channels,)

    def __call__(self, image: np.ndarray) -> NodeSet:
        img = torch.from_numpy(to_float_channels(image, self.channels))  # (H, W, C)
        if self.size is not None and tuple(img.shape[:2]) != self.size:
            img = _resize(img, self.size)
        capped = self.capped_size(img.shape[0], img.shape[1])
        if capped != tuple(img.shape[:2]):
            img = _resize(img, capped)
        height, width, channels = img.shape
        p = self.patch_size
        rows, cols = math.ceil(height / p), math.ceil(width / p)
        if rows * p != height or cols * p != width:
            img = F.pad(img, (0, 0, 0, cols * p - width, 0, rows * p - height))
        x = img.reshape(rows, p, cols, p, channels).permute(0, 2, 1, 3, 4).reshape(rows * cols, p * p * channels)
        r, c = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
        pos = torch.stack([r.reshape(-1), c.reshape(-1)], dim=1).to(torch.float32)
        return NodeSet(x.contiguous(), pos, (rows, cols))

    def __repr__(self) -> str:
        return (f"ImageFeaturizer(patch_size={self.patch_size}, channels={self.channels}, size={self.size}, "
                f"max_grid={self.max_grid})")


def _resize(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(H, W, C)`` → ``(size[0], size[1], C)``, bilinear and antialiased, values kept in [0, 1]."""
    return F.interpolate(
        img.permute(2, 0, 1)[None], size=size, mode="bilinear", antialias=True, align_corners=False
    )[0].permute(1, 2, 0).clamp_(0.0, 1.0)
