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

    The convolution (``conv``, an ``nn.Conv1d`` whose weights it owns) runs as one matrix product
    over every real frame's window (im2col), not over a padded batch of clips: same numbers to
    float rounding, no work on padding.

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
        # the convolution as one matrix product over each clip's real frames: every frame's window of
        # kernel_size frames (zeros beyond its clip's ends, the convolution's zero padding) times the
        # kernel; no padded batch of clips, so no work on padding frames
        window = torch.cat([x, x.new_zeros(1, x.shape[1])])[self._window_rows(layout)]  # (N, k, n_mels)
        weight = self.conv.weight.permute(0, 2, 1).reshape(self.channels, -1)  # (d, k * n_mels)
        h = F.gelu(F.linear(window.flatten(1), weight, self.conv.bias))  # (N, d)
        return self.norm(h + self.position(pos))

    def _window_rows(self, layout: DenseLayout) -> Tensor:
        """``(N, kernel_size)``: the row of each frame's neighbours in its clip, ``N`` (a zero row) beyond the clip."""
        graph, local = layout.graph_and_local()
        half = self.kernel_size // 2
        offsets = torch.arange(-half, half + 1, device=local.device)  # (k,)
        neighbour = local[:, None] + offsets  # (N, k) position within the clip
        inside = (neighbour >= 0) & (neighbour < layout.counts[graph][:, None])
        rows = torch.arange(local.shape[0], device=local.device)[:, None] + offsets
        return torch.where(inside, rows, local.shape[0])

    def __repr__(self) -> str:
        return f"FrameEncoder({self.in_features}, {self.channels}, kernel_size={self.kernel_size})"
