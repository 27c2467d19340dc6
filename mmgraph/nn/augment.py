"""Label-free batch augmentations for self-supervised pretraining: SpecAugment masking and node dropout.

- ``spec_augment`` (Park et al. 2019): per sample, one block of mel bands and one block of frames of
  a log-mel node type are set to a fill value (the frame encoder's per-band input mean, i.e. 0 after
  its standardisation), so the model cannot rely on any one band or instant.
- ``node_dropout``: per node type, a random fraction of the nodes is dropped as message sources and
  from pooling (``BatchContext.drop_nodes``, the mechanism of modality dropout): patch dropout for
  image grids, token dropout for text, frame dropout for audio.

Which augmentation applies to which data is ``mmgraph.models.self_supervised``'s (``AUGMENTATIONS``).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from mmgraph.nn.context import BatchContext
from mmgraph.typing import NodeType


def spec_augment(x: Tensor, batch: Tensor, num_graphs: int, fill: Tensor, *, max_bands: int = 8,
                 max_time: float = 0.2, generator: torch.Generator | None = None) -> Tensor:
    """Mask one band block and one time block of every sample's log-mel frames (a new tensor).

    Per sample: a band block of ``uniform{0..max_bands}`` consecutive bands at a uniform start, and a
    time block of ``floor(u * max_time * T)`` consecutive frames (``u ~ U[0, 1)``, ``T`` the sample's
    frame count) at a uniform start; masked values become ``fill`` (per band).

    Args:
        x: frames ``(N, n_mels)`` of every sample, sample after sample (``batch`` sorted).
        batch: ``(N,)`` sample index of each frame.
        num_graphs: ``B``.
        fill: ``(n_mels,)`` value of masked entries.
        max_bands, max_time: the largest band block, and the largest time block as a fraction of ``T``.
        generator: CPU generator (repeatable masks).

    Shapes:
        - input: ``x`` ``(N, n_mels)``, ``batch`` ``(N,)``
        - output: ``(N, n_mels)``
    """
    if x.shape[0] == 0:
        return x
    device = x.device
    n_mels = x.shape[1]
    counts = torch.bincount(batch, minlength=num_graphs)  # (B,)
    starts = torch.cumsum(counts, 0) - counts
    fill = fill.to(x.dtype).expand_as(x)
    out = x
    if max_bands > 0:
        width = torch.randint(0, min(max_bands, n_mels) + 1, (num_graphs,), generator=generator).to(device)
        first = (torch.rand(num_graphs, generator=generator).to(device) * (n_mels - width + 1)).long()
        band = torch.arange(n_mels, device=device)[None, :]
        masked = (band >= first[:, None]) & (band < (first + width)[:, None])  # (B, n_mels)
        out = torch.where(masked[batch], fill, out)
    if max_time > 0:
        width = (torch.rand(num_graphs, generator=generator).to(device) * max_time * counts).long()  # (B,)
        first = (torch.rand(num_graphs, generator=generator).to(device) * (counts - width + 1)).long()
        rank = torch.arange(x.shape[0], device=device) - starts[batch]  # frame index within its sample
        masked = (rank >= first[batch]) & (rank < (first + width)[batch])  # (N,)
        out = torch.where(masked[:, None], fill, out)
    return out


def node_dropout(ctx: BatchContext, rates: Mapping[NodeType, float],
                 generator: torch.Generator | None = None) -> BatchContext:
    """``ctx`` with each node of type ``t`` dropped with probability ``rates[t]`` (never every node of a
    sample's type: its first node is kept when all would go), as message source and from pooling."""
    keep = {}
    for t, p in sorted(rates.items()):
        if p <= 0 or t not in ctx.layouts:
            continue
        layout = ctx.layouts[t]
        if layout.num_nodes == 0:
            continue
        k = torch.rand(layout.num_nodes, generator=generator).to(layout.counts.device) >= p  # (N_t,)
        kept = torch.zeros_like(layout.counts).index_add_(0, ctx.batch[t], k.long())  # (B,)
        starts = torch.cumsum(layout.counts, 0) - layout.counts
        empty = (kept == 0) & (layout.counts > 0)
        k[starts[empty]] = True
        keep[t] = k
    if not keep:
        return ctx
    if ctx.keep:  # compose with a dropout already applied (modality dropout)
        keep = {t: keep[t] & ctx.keep[t] if t in ctx.keep else keep[t] for t in keep}
        keep = {**ctx.keep, **keep}
    out = ctx.drop_nodes(keep)
    out.precompute_masks()
    return out


__all__ = ["node_dropout", "spec_augment"]
