"""``PatchEncoder``: image patch pixels → node embeddings."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from mmgraph.nn.dense import DenseLayout
from mmgraph.nn.encoders.position import SinusoidalPosition
from mmgraph.typing import NodeType


class PatchEncoder(nn.Module):
    """Embeds image patches: a linear or small convolutional stem plus a 2-D position embedding.

    Args:
        in_features: pixels per patch, ``P * P * C``.
        channels: output width ``d``.
        patch_size: ``P`` (needed by the conv stem).
        stem: ``"linear"`` (one projection of the flattened patch) or ``"conv"`` (3×3 conv over
            the patch's pixels, ReLU, then a projection).

    Shapes:
        - input: ``x``: ``(N_image, P * P * C)``; ``pos``: ``(N_image, 2)`` (row, col)
        - output: ``(N_image, d)``
    """

    def __init__(self, in_features: int, channels: int, patch_size: int | None = None, stem: str = "linear") -> None:
        super().__init__()
        if stem not in ("linear", "conv"):
            raise ValueError(f"'stem' must be 'linear' or 'conv' (got {stem!r})")
        self.in_features, self.channels, self.stem = in_features, channels, stem
        if stem == "conv":
            if not patch_size or in_features % (patch_size * patch_size):
                raise ValueError(f"the conv stem needs patch_size with P * P dividing in_features (got {patch_size})")
            self.patch_size = patch_size
            self.in_channels = in_features // (patch_size * patch_size)
            self.conv = nn.Conv2d(self.in_channels, 16, kernel_size=3, padding=1)
            self.proj = nn.Linear(16 * patch_size * patch_size, channels)
        else:
            self.proj = nn.Linear(in_features, channels)
        self.position = SinusoidalPosition(channels, dims=2)
        self.norm = nn.LayerNorm(channels)
        self.reset_parameters()

    @classmethod
    def from_config(cls, node_type: NodeType, config: Any, spec: Any) -> PatchEncoder:
        """``ENCODERS["patch"]``: width ``config.hidden``, stem ``config.image_stem``; pixels per patch
        ``spec.in_features[node_type]`` and the patch side ``spec.patch_size``."""
        return cls(spec.in_features[node_type], config.hidden, patch_size=spec.patch_size, stem=config.image_stem)

    def reset_parameters(self) -> None:
        self.proj.reset_parameters()
        self.norm.reset_parameters()
        if self.stem == "conv":
            self.conv.reset_parameters()

    def forward(self, x: Tensor, pos: Tensor, layout: DenseLayout | None = None) -> Tensor:
        if self.stem == "conv":
            p = self.patch_size
            pix = x.view(-1, p, p, self.in_channels).permute(0, 3, 1, 2)  # (N, C, P, P)
            x = F.relu(self.conv(pix)).flatten(1)  # (N, 16 * P * P)
        return self.norm(self.proj(x) + self.position(pos))

    def __repr__(self) -> str:
        return f"PatchEncoder({self.in_features}, {self.channels}, stem={self.stem!r})"
