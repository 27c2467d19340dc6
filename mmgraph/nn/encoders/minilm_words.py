"""``MiniLMWordEncoder``: word nodes read through a frozen table of all-MiniLM-L6-v2 word vectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from mmgraph.featurize.text import Tokenizer, minilm_embedding
from mmgraph.nn.dense import DenseLayout
from mmgraph.nn.encoders.position import SinusoidalPosition
from mmgraph.typing import NodeType


class MiniLMWordEncoder(nn.Module):
    """Word ids → each word's frozen all-MiniLM-L6-v2 vector → ``d``, plus position.

    The vectors are the ones ``TextSettings(features="minilm")`` puts in graphs
    (``minilm_embedding``: each vocabulary word's MiniLM sentence embedding, ``<pad>``, ``<unk>`` and
    ``<mask>`` zero), computed once per vocabulary when the encoder is built, never per training
    step: a step costs a table lookup and a ``Linear(384, d)``, as the word-level ``token`` encoder
    costs its embedding. Unlike the contextual ``minilm`` encoder (which runs MiniLM over every
    batch), a word's vector does not depend on its neighbours; the graph's text edges and the
    cross-modal layers supply the context. The table is a non-persistent buffer (not in
    checkpoints): it is rebuilt from the installed ``mmgraph[pretrained]`` extra.

    Args:
        vocab: the tokenizer's vocabulary (index → word), as ``DataSpec.vocab``.
        channels: output width ``d``.

    Shapes:
        - input: ``x``: ``(N_text,)`` word ids; ``pos``: ``(N_text, 1)``
        - output: ``(N_text, d)``
    """

    def __init__(self, vocab: Sequence[str], channels: int) -> None:
        super().__init__()
        table = minilm_embedding(Tokenizer(list(vocab)))  # (V, 384)
        self.vocab_size, self.channels = table.shape[0], channels
        self.register_buffer("table", table.clone(), persistent=False)
        self.proj = nn.Linear(table.shape[1], channels)
        self.position = SinusoidalPosition(channels, dims=1)
        self.norm = nn.LayerNorm(channels)

    @classmethod
    def from_config(cls, node_type: NodeType, config: Any, spec: Any) -> MiniLMWordEncoder:
        """``ENCODERS["minilm_words"]``: width ``config.hidden``; the vocabulary ``spec.vocab`` of
        ``spec.in_features[node_type]`` words."""
        vocab = spec.vocab
        if not vocab or len(vocab) != spec.in_features[node_type]:
            raise ValueError(f"the 'minilm_words' text encoder needs the tokenizer's vocabulary of "
                             f"{spec.in_features[node_type]} words (DataSpec.vocab; got "
                             f"{None if vocab is None else len(vocab)})")
        return cls(vocab, config.hidden)

    def forward(self, x: Tensor, pos: Tensor, layout: DenseLayout | None = None) -> Tensor:
        return self.norm(self.proj(self.table[x]) + self.position(pos))  # (N, d)

    def __repr__(self) -> str:
        return f"MiniLMWordEncoder({self.vocab_size} words → {self.channels}, frozen all-MiniLM-L6-v2 vectors)"
