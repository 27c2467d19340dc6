"""``FrameEncoder``: log-mel frames → node embeddings (1-D convolution over time)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmgraph.nn.dense import DenseLayout
from mmgraph.nn.encoders.position import SinusoidalPosition
from mmgraph.typing import NodeType


class FrameEncoder(nn.Module):
    """Embeds audio frames: input standardisation, a 1-D conv over each clip's frames, time embedding.

    Inputs are standardised per mel band with statistics of the training data (``fit_inputs``,
    called by the trainer before training; buffers saved with the model), not batch statistics:
    the encoding of a clip never depends on the other clips of its batch (batch size, distributed
    training and evaluation all see the same function).

    Args:
        in_features: mel bands.
        channels: output width ``d``.
        kernel_size: frames the convolution sees (odd).
        time_scale: multiplies ``pos`` (seconds) before the sinusoidal embedding (100: 10 ms steps).

    Shapes:
        - input: ``x``: ``(N_audio, n_mels)``; ``pos``: ``(N_audio, 1)`` seconds
        - output: ``(N_audio, d)``
    """

    def __init__(self, in_features: int, channels: int, kernel_size: int = 5, time_scale: float = 100.0) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"'kernel_size' must be odd (got {kernel_size})")
        self.in_features, self.channels, self.kernel_size = in_features, channels, kernel_size
        self.register_buffer("input_mean", torch.zeros(in_features))
        self.register_buffer("input_std", torch.ones(in_features))
        self.conv = nn.Conv1d(in_features, channels, kernel_size, padding=kernel_size // 2)
        self.position = SinusoidalPosition(channels, dims=1, scale=time_scale)
        self.norm = nn.LayerNorm(channels)
        self.reset_parameters()

    @classmethod
    def from_config(cls, node_type: NodeType, config: Any, spec: Any) -> FrameEncoder:
        """``ENCODERS["frame"]``: width ``config.hidden``, ``config.audio_kernel`` frames per convolution;
        mel bands ``spec.in_features[node_type]``."""
        return cls(spec.in_features[node_type], config.hidden, kernel_size=config.audio_kernel)

    def reset_parameters(self) -> None:
        self.conv.reset_parameters()
        self.norm.reset_parameters()

    @torch.no_grad()
    def fit_inputs(self, x: Tensor) -> None:
        """Set the per-band standardisation from training frames ``(N, n_mels)``."""
        if x.shape[0] > 1:
            x = x.double()
            self.input_mean.copy_(x.mean(0))
            self.input_std.copy_(x.std(0).clamp_min(1e-3))

    def forward(self, x: Tensor, pos: Tensor, layout: DenseLayout) -> Tensor:
        if x.shape[0] == 0:
            return x.new_zeros(0, self.channels)
        x = (x - self.input_mean) / self.input_std
        dense = layout.to_dense(x).transpose(1, 2)  # (B, n_mels, T_max); padding frames are 0
        h = F.gelu(self.conv(dense)).transpose(1, 2)  # (B, T_max, d)
        return self.norm(layout.from_dense(h) + self.position(pos))

    def __repr__(self) -> str:
        return f"FrameEncoder({self.in_features}, {self.channels}, kernel_size={self.kernel_size})"
