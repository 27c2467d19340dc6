"""Edge construction strategies, selected by name per node-type pair.

Every strategy is a function of the two node layouts only (grid ``(rows, cols)`` or sequence
``(n,)``), never of feature values, so one sample's edges are a cached *template* and a batch's
edges are templates plus node offsets (see ``collate``).

=============  ==========================================================================
``grid``       4-neighbour patch grid (``grid:8`` adds diagonals); within a grid modality.
``window:k``   sequence neighbours ``1 <= |i - j| <= k`` (row-major order for grids); within.
``knn:k``      each node's ``k`` nearest nodes by ``pos`` (ties to the lower index); within.
``full``       complete bipartite between two modalities (complete graph without self-loops
               within one); run as dense masked attention by mmgraph's layers.
``aligned:w``  two sequences at proportional positions ``u = (i + 0.5) / n``: linked when
               ``|u_i - v_j| <= w`` (w a fraction of the length), plus each node's nearest
               counterpart (modal-temporal alignment); between sequence modalities.
``none``       no edges.
=============  ==========================================================================

Edges inside a modality are made symmetric; between modalities the forward direction is built
here and the reverse type is its flip (``GraphConfig.reverse``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor

from mmgraph.errors import InvalidType

KINDS = ("grid", "window", "knn", "full", "aligned", "none")
_DEFAULT_PARAM = {"grid": 4, "window": 1, "knn": 4}


@dataclass(frozen=True)
class EdgeStrategy:
    """A parsed strategy name such as ``"window:2"``."""

    kind: str
    param: float | None = None

    @classmethod
    def parse(cls, spec: str | EdgeStrategy) -> EdgeStrategy:
        if isinstance(spec, EdgeStrategy):
            return spec
        if not isinstance(spec, str):
            raise InvalidType(f"edge strategy must be a string like 'window:2' (got {spec!r})")
        kind, _, arg = spec.strip().lower().partition(":")
        if kind not in KINDS:
            raise ValueError(
                f"unknown edge strategy {spec!r}; valid: grid[:4|8], window:k, knn:k, full, aligned:w, none"
            )
        if kind in ("full", "none"):
            if arg:
                raise ValueError(f"edge strategy {kind!r} takes no parameter (got {spec!r})")
            return cls(kind)
        if kind == "aligned":
            try:
                w = float(arg)
            except ValueError:
                raise ValueError(f"'aligned:w' needs a window fraction 0 <= w <= 1 (got {spec!r})") from None
            if not 0.0 <= w <= 1.0:
                raise ValueError(f"'aligned:w' needs 0 <= w <= 1 (got {spec!r})")
            return cls(kind, w)
        if not arg:
            return cls(kind, _DEFAULT_PARAM[kind])
        try:
            k = int(arg)
        except ValueError:
            raise ValueError(f"edge strategy {spec!r}: parameter must be an integer") from None
        if k < 1 or (kind == "grid" and k not in (4, 8)):
            raise ValueError(f"edge strategy {spec!r}: " + ("grid takes 4 or 8" if kind == "grid" else "k >= 1"))
        return cls(kind, k)

    @property
    def is_dense(self) -> bool:
        """Complete blocks: mmgraph runs them as dense masked attention, no edge list."""
        return self.kind == "full"

    @property
    def depends_on_counts_only(self) -> bool:
        """True when a graph's edges are those of a larger graph restricted to its first nodes.

        ``window:k`` and ``full`` are such (prefix-closed) strategies: edges for ``n`` nodes are
        exactly the edges for ``n_max`` nodes with both ends below ``n``, so one template serves a
        whole batch of different sizes.
        """
        return self.kind in ("window", "full", "none")

    def check(self, src_layout: str, dst_layout: str, intra: bool) -> None:
        """Raise if this strategy is undefined for the pair of layouts."""
        if self.kind == "grid" and not (intra and src_layout == "grid"):
            raise ValueError("edge strategy 'grid' links patches of one grid modality (e.g. image) only")
        if self.kind in ("window", "knn") and not intra:
            raise ValueError(
                f"edge strategy '{self}' links nodes within one modality only; "
                "between modalities use full or aligned:w"
            )
        if self.kind == "aligned" and (intra or src_layout != "sequence" or dst_layout != "sequence"):
            raise ValueError("edge strategy 'aligned:w' links two different sequence modalities (e.g. text and audio)")

    def local_edges(self, src_shape: tuple[int, ...], dst_shape: tuple[int, ...], intra: bool) -> Tensor:
        """Edges of one graph, ``(2, E)`` int64 local indices (row 0 source, row 1 destination).

        Cached per (strategy, shapes): callers must not modify the result.
        """
        return _local_edges(self.kind, self.param, tuple(src_shape), tuple(dst_shape), intra)

    def num_edges(self, src_shape: tuple[int, ...], dst_shape: tuple[int, ...], intra: bool) -> int:
        """How many edges ``local_edges`` gives, counted without building them (budgets, preflight).

        Exact by formula for ``grid``, ``window``, ``full`` and ``none``. ``knn`` and ``aligned`` are
        built and counted when the pair holds at most ``EXACT_COUNT_PAIRS`` node pairs; above that
        the count is an upper bound (``2 n k`` for knn, every pair for aligned), so that sizing a huge
        graph never allocates it.
        """
        return _num_edges(self.kind, self.param, tuple(src_shape), tuple(dst_shape), intra)

    def __str__(self) -> str:
        if self.param is None:
            return self.kind
        return f"{self.kind}:{self.param:g}"


def prefix_template(strategy: EdgeStrategy, num_nodes: int) -> tuple[Tensor, Tensor]:
    """A within-modality template whose first ``cum[n]`` edges are exactly the edges for ``n`` nodes.

    For a strategy that depends on counts only, the edges of a graph with ``n`` nodes are the
    largest graph's edges with both ends below ``n``; ordering the template by its larger endpoint
    turns that subset into a prefix, so a batch of different sizes needs no mask, only slices.

    Returns:
        ``(template (2, E), cum (num_nodes + 1,))`` with ``cum[n]`` = number of edges among the
        first ``n`` nodes.
    """
    return _prefix_template(strategy.kind, strategy.param, num_nodes)


@lru_cache(maxsize=1024)
def _prefix_template(kind: str, param: float | None, num_nodes: int) -> tuple[Tensor, Tensor]:
    edges = _local_edges(kind, param, (num_nodes,), (num_nodes,), True)
    top = torch.maximum(edges[0], edges[1])
    order = torch.argsort(top * max(num_nodes, 1) + torch.minimum(edges[0], edges[1]), stable=True)
    edges = edges[:, order].contiguous()
    cum = torch.zeros(num_nodes + 1, dtype=torch.long)
    cum[1:] = torch.cumsum(torch.bincount(top, minlength=num_nodes), 0)
    return edges, cum


def _count(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _sort_edges(edges: Tensor, num_src: int) -> Tensor:
    """Unique edges ordered by (destination, source)."""
    if edges.numel() == 0:
        return edges.reshape(2, 0)
    key = torch.unique(edges[1] * max(num_src, 1) + edges[0])
    return torch.stack([key % max(num_src, 1), key // max(num_src, 1)])


def _symmetric(edges: Tensor, n: int) -> Tensor:
    return _sort_edges(torch.cat([edges, edges.flip(0)], dim=1), n)


def grid_edges(rows: int, cols: int, neighbours: int = 4) -> Tensor:
    """Symmetric 4- or 8-neighbour edges of a ``rows × cols`` grid, row-major node numbering."""
    idx = torch.arange(rows * cols).reshape(rows, cols)
    offsets = [(0, 1), (1, 0)] + ([(1, 1), (1, -1)] if neighbours == 8 else [])
    parts = []
    for dr, dc in offsets:
        r0, r1 = 0, rows - dr
        c0, c1 = max(0, -dc), cols - max(0, dc)
        src = idx[r0:r1, c0:c1]
        dst = idx[r0 + dr : r1 + dr, c0 + dc : c1 + dc]
        parts.append(torch.stack([src.reshape(-1), dst.reshape(-1)]))
    return _symmetric(torch.cat(parts, dim=1), rows * cols)


def window_edges(n: int, k: int) -> Tensor:
    """Symmetric edges between sequence positions at distance ``1..k``."""
    parts = []
    for d in range(1, min(k, n - 1) + 1):
        src = torch.arange(n - d)
        parts.append(torch.stack([src, src + d]))
    if not parts:
        return torch.empty(2, 0, dtype=torch.long)
    return _symmetric(torch.cat(parts, dim=1), n)


def knn_edges(pos: Tensor, k: int) -> Tensor:
    """Each node linked from its ``k`` nearest other nodes by Euclidean ``pos`` (made symmetric)."""
    n = pos.shape[0]
    if n < 2:
        return torch.empty(2, 0, dtype=torch.long)
    k = min(k, n - 1)
    dist = torch.cdist(pos.double(), pos.double())
    dist.fill_diagonal_(float("inf"))
    # stable sort: equal distances keep index order, so ties go to the lower index
    nbr = torch.sort(dist, dim=1, stable=True).indices[:, :k]  # (n, k)
    dst = torch.arange(n).repeat_interleave(k)
    return _symmetric(torch.stack([nbr.reshape(-1), dst]), n)


def full_edges(num_src: int, num_dst: int, intra: bool) -> Tensor:
    """All (source, destination) pairs; without self-loops within one modality."""
    src = torch.arange(num_src).repeat(num_dst)
    dst = torch.arange(num_dst).repeat_interleave(num_src)
    edges = torch.stack([src, dst])
    if intra:
        edges = edges[:, edges[0] != edges[1]]
    return edges


def aligned_edges(num_src: int, num_dst: int, w: float) -> Tensor:
    """Proportional-position alignment between two sequences (see module docstring)."""
    if num_src == 0 or num_dst == 0:
        return torch.empty(2, 0, dtype=torch.long)
    u = (torch.arange(num_src, dtype=torch.float64) + 0.5) / num_src
    v = (torch.arange(num_dst, dtype=torch.float64) + 0.5) / num_dst
    gap = (u[:, None] - v[None, :]).abs()  # (num_src, num_dst)
    linked = gap <= w + 1e-12
    linked[torch.arange(num_src), gap.argmin(dim=1)] = True
    linked[gap.argmin(dim=0), torch.arange(num_dst)] = True
    src, dst = linked.nonzero(as_tuple=True)
    return _sort_edges(torch.stack([src, dst]), num_src)


def _positions(shape: tuple[int, ...]) -> Tensor:
    if len(shape) == 2:
        r, c = torch.meshgrid(torch.arange(shape[0]), torch.arange(shape[1]), indexing="ij")
        return torch.stack([r.reshape(-1), c.reshape(-1)], dim=1).double()
    return torch.arange(shape[0]).double().unsqueeze(1)


@lru_cache(maxsize=8192)
def _local_edges(
    kind: str, param: float | None, src_shape: tuple[int, ...], dst_shape: tuple[int, ...], intra: bool
) -> Tensor:
    num_src, num_dst = _count(src_shape), _count(dst_shape)
    if kind == "none" or num_src == 0 or num_dst == 0:
        edges = torch.empty(2, 0, dtype=torch.long)
    elif kind == "grid":
        edges = grid_edges(src_shape[0], src_shape[1], int(param))
    elif kind == "window":
        edges = window_edges(num_src, int(param))
    elif kind == "knn":
        edges = knn_edges(_positions(src_shape), int(param))
    elif kind == "full":
        edges = full_edges(num_src, num_dst, intra)
    elif kind == "aligned":
        edges = aligned_edges(num_src, num_dst, float(param))
    else:  # pragma: no cover - parse() admits only KINDS
        raise ValueError(kind)
    return edges.contiguous()


EXACT_COUNT_PAIRS = 4_000_000
"""``EdgeStrategy.num_edges`` builds knn and aligned edges to count them up to this many node pairs."""


@lru_cache(maxsize=8192)
def _num_edges(
    kind: str, param: float | None, src_shape: tuple[int, ...], dst_shape: tuple[int, ...], intra: bool
) -> int:
    num_src, num_dst = _count(src_shape), _count(dst_shape)
    if kind == "none" or num_src == 0 or num_dst == 0:
        return 0
    if kind == "grid":
        rows, cols = src_shape
        straight = rows * (cols - 1) + (rows - 1) * cols
        diagonal = 2 * (rows - 1) * (cols - 1) if int(param) == 8 else 0
        return 2 * (straight + diagonal)  # both directions
    if kind == "window":
        return 2 * sum(num_src - d for d in range(1, min(int(param), num_src - 1) + 1))
    if kind == "full":
        return num_src * (num_src - 1) if intra else num_src * num_dst
    if num_src * num_dst <= EXACT_COUNT_PAIRS:  # knn, aligned: no closed form; small enough to build
        return int(_local_edges(kind, param, src_shape, dst_shape, intra).shape[1])
    if kind == "knn":
        return min(2 * num_src * min(int(param), num_src - 1), num_src * (num_src - 1))
    return num_src * num_dst
