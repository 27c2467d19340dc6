"""``TokenEncoder``: token ids → node embeddings, optionally with sequence context."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from mmgraph.nn.dense import DenseLayout
from mmgraph.nn.encoders.position import SinusoidalPosition
from mmgraph.typing import NodeType


class TokenEncoder(nn.Module):
    """Embeds tokens: an embedding table plus position, optionally a 1-layer context model.

    Args:
        vocab_size: tokenizer size (id 0 is padding).
        channels: output width ``d``.
        context: ``"none"``, ``"bilstm"`` (one bidirectional LSTM layer over each text) or
            ``"transformer"`` (one encoder layer, 4 heads, over each text).

    Shapes:
        - input: ``x``: ``(N_text,)`` token ids; ``pos``: ``(N_text, 1)``
        - output: ``(N_text, d)``
    """

    def __init__(self, vocab_size: int, channels: int, context: str = "none") -> None:
        super().__init__()
        if context not in ("none", "bilstm", "transformer"):
            raise ValueError(f"'context' must be 'none', 'bilstm' or 'transformer' (got {context!r})")
        if context == "bilstm" and channels % 2:
            raise ValueError(f"a BiLSTM context needs an even width (got {channels})")
        self.vocab_size, self.channels, self.context = vocab_size, channels, context
        self.embedding = nn.Embedding(vocab_size, channels, padding_idx=0)
        self.position = SinusoidalPosition(channels, dims=1)
        if context == "bilstm":
            self.rnn = nn.LSTM(channels, channels // 2, batch_first=True, bidirectional=True)
        elif context == "transformer":
            self.rnn = nn.TransformerEncoderLayer(
                channels, nhead=4, dim_feedforward=2 * channels, batch_first=True, norm_first=True
            )
        self.norm = nn.LayerNorm(channels)
        self.reset_parameters()

    @classmethod
    def from_config(cls, node_type: NodeType, config: Any, spec: Any) -> TokenEncoder:
        """``ENCODERS["token"]``: width ``config.hidden``, context ``config.text_context``; vocabulary size
        ``spec.in_features[node_type]``."""
        return cls(spec.in_features[node_type], config.hidden, context=config.text_context)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=self.channels**-0.5)
        with torch.no_grad():
            self.embedding.weight[0].zero_()
        self.norm.reset_parameters()

    def forward(self, x: Tensor, pos: Tensor, layout: DenseLayout | None = None) -> Tensor:
        h = self.embedding(x) + self.position(pos)  # (N, d)
        if self.context != "none" and h.shape[0] > 0:
            if layout is None:
                raise ValueError("a context model needs the batch layout")
            dense = layout.to_dense(h)  # (B, L, d)
            if self.context == "bilstm":
                lengths = layout.counts.clamp_min(1).cpu()
                packed = nn.utils.rnn.pack_padded_sequence(dense, lengths, batch_first=True, enforce_sorted=False)
                out, _ = self.rnn(packed)
                dense, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=layout.max_nodes)
            else:
                dense = self.rnn(dense, src_key_padding_mask=~layout.mask)
            h = layout.from_dense(dense)
        return self.norm(h)

    def __repr__(self) -> str:
        return f"TokenEncoder({self.vocab_size}, {self.channels}, context={self.context!r})"
