"""Fixed sinusoidal position embeddings (1-D and 2-D), for positions of any range."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class SinusoidalPosition(nn.Module):
    r"""Sinusoidal embedding of ``D``-dimensional positions, ``channels / D`` dimensions per axis.

    .. math::
        \mathrm{PE}(p)_{2i} = \sin(s p / 10000^{2i/c}), \quad
        \mathrm{PE}(p)_{2i+1} = \cos(s p / 10000^{2i/c})

    with ``c = channels / D`` per axis and ``s = scale`` (e.g. 100 turns seconds into 10 ms steps).

    Args:
        channels: output width (divisible by ``2 * dims``).
        dims: position dimensions ``D`` (1 for sequences, 2 for grids).
        scale: multiplies positions first.

    Shapes:
        - input: ``(N, D)``
        - output: ``(N, channels)``
    """

    def __init__(self, channels: int, dims: int = 1, scale: float = 1.0) -> None:
        super().__init__()
        if channels % (2 * dims) != 0:
            raise ValueError(f"'channels' (got {channels}) must be divisible by 2 * dims (got {2 * dims})")
        self.channels, self.dims, self.scale = channels, dims, scale
        per_axis = channels // dims
        freq = torch.exp(torch.arange(0, per_axis, 2, dtype=torch.float32) * (-math.log(10000.0) / per_axis))
        self.register_buffer("freq", freq, persistent=False)

    def forward(self, pos: Tensor) -> Tensor:
        angles = pos[:, :, None].to(self.freq.dtype) * self.scale * self.freq  # (N, D, per_axis / 2)
        emb = torch.stack([angles.sin(), angles.cos()], dim=-1)  # (N, D, per_axis / 2, 2)
        return emb.reshape(pos.shape[0], self.channels)

    def __repr__(self) -> str:
        return f"SinusoidalPosition({self.channels}, dims={self.dims}, scale={self.scale})"
