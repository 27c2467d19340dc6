"""One sample → one heterogeneous graph (PyG ``HeteroData``), per the schema in ``GraphConfig``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from mmgraph.featurize import FeaturizedSample, NodeSet
from mmgraph.graph.config import GraphConfig
from mmgraph.graph.featurizer import Featurizer
from mmgraph.sample import MultimodalSample
from mmgraph.typing import HUB, EdgeType

if TYPE_CHECKING:
    from torch_geometric.data import HeteroData

HUB_FEATURE_DIM = 1
"""The hub node carries a constant feature: its encoder learns one embedding for it."""


def hub_nodes(num_graphs: int) -> NodeSet:
    """``num_graphs`` hub nodes (one per graph), each a sequence of length one."""
    return NodeSet(torch.zeros(num_graphs, HUB_FEATURE_DIM), torch.zeros(num_graphs, 1), (1,))


def featurize_all(
    samples: Sequence[MultimodalSample | FeaturizedSample], config: GraphConfig
) -> list[FeaturizedSample]:
    """Featurize the ``MultimodalSample``s among ``samples`` (in one batched call); keep the rest."""
    out = list(samples)
    raw = [i for i, s in enumerate(out) if not isinstance(s, FeaturizedSample)]
    for i in raw:
        if not isinstance(out[i], MultimodalSample):
            raise TypeError(f"expected MultimodalSample or FeaturizedSample, got {type(out[i]).__name__}")
    if raw:
        done = Featurizer(config).batch([samples[i] for i in raw])  # type: ignore[misc]
        for i, fs in zip(raw, done):
            out[i] = fs
    allowed = set(config.modalities)
    for fs in out:
        if not fs.nodes.keys() <= allowed:
            unknown = sorted(set(fs.nodes) - allowed)
            raise ValueError(
                f"sample {fs.id!r} has modalities {unknown} that the graph config does not list "
                f"(GraphConfig.modalities={list(config.modalities)})"
            )
    return out


def label_tensor(values: Sequence[int | float | None], name: str = "y") -> Tensor | None:
    """Labels of several graphs as one tensor.

    All ``None`` → ``None``. Class labels (ints) → int64 with -1 where a sample has none
    (the losses' ignore index); values (floats) → float32 with NaN where missing. Mixing ints
    and floats is an error: a task is either classification or regression.
    """
    present = [v for v in values if v is not None]
    if not present:
        return None
    is_int = [isinstance(v, int) for v in present]
    if all(is_int):
        return torch.tensor([-1 if v is None else v for v in values], dtype=torch.int64)
    if any(is_int):
        raise ValueError(f"{name}: mixes class labels (int) and values (float) across samples")
    return torch.tensor([math.nan if v is None else v for v in values], dtype=torch.float32)


def set_graph_attributes(data: HeteroData, samples: Sequence[FeaturizedSample], *, batched: bool) -> None:
    """Graph-level label, targets and ids of ``samples`` on ``data`` (shape ``(B,)`` each)."""
    y = label_tensor([s.y for s in samples])
    if y is not None:
        data.y = y
    names = sorted({name for s in samples for name in s.targets})
    for name in names:
        data[name] = torch.tensor([s.targets.get(name, math.nan) for s in samples], dtype=torch.float32)
    ids = [s.id for s in samples]
    if any(i is not None for i in ids):
        data.id = ids if batched else ids[0]


def concat_node_target(samples: Sequence[FeaturizedSample], modality: str, name: str) -> Tensor:
    """One node-level target over several samples; nodes of samples without it get -1 / NaN."""
    ref = next(s.node_targets[modality][name] for s in samples if name in s.node_targets.get(modality, {}))
    fill = -1 if not ref.is_floating_point() else math.nan
    parts = []
    for s in samples:
        n = s.num_nodes(modality)
        value = s.node_targets.get(modality, {}).get(name)
        if value is None:
            value = torch.full((n, *ref.shape[1:]), fill, dtype=ref.dtype)
        elif value.shape[0] != n:
            raise ValueError(
                f"sample {s.id!r}: node target {modality}.{name} has {value.shape[0]} values for {n} nodes"
            )
        parts.append(value)
    return torch.cat(parts)


def set_node_targets(data: HeteroData, samples: Sequence[FeaturizedSample]) -> None:
    """Per-node targets (e.g. ``audio.vad``) of ``samples`` on ``data``."""
    pairs = sorted({(m, name) for s in samples for m, d in s.node_targets.items() for name in d})
    for modality, name in pairs:
        data[modality][name] = concat_node_target(samples, modality, name)


def build_graph(sample: MultimodalSample | FeaturizedSample, config: GraphConfig | None = None) -> HeteroData:
    """Build one sample's heterogeneous graph.

    Node types are ``config.modalities`` (plus ``sample`` with a hub); a modality the sample lacks
    is a node type with zero nodes. Every edge type of the schema is present, with its edge list
    materialised (``full`` blocks included), so the result works with any PyG layer. For training
    batches use ``collate``, which is vectorised and keeps ``full`` blocks implicit.

    Args:
        sample: a ``MultimodalSample`` (featurized here) or an already ``FeaturizedSample``.
        config: the graph schema; ``GraphConfig()`` when ``None``.

    Returns:
        ``HeteroData`` with ``x``, ``pos`` (and node targets) per node type (text with float
        ``features``: ``token`` too), ``edge_index`` per edge type, and graph-level ``y``, targets and ``id``.
    """
    config = config or GraphConfig()
    (fs,) = featurize_all([sample], config)
    featurizer = Featurizer(config)
    from torch_geometric.data import HeteroData  # here, not at the top: see the package docstring

    data = HeteroData()
    nodes: dict[str, NodeSet] = {}
    for node_type in config.node_types:
        if node_type == HUB:
            nodes[node_type] = hub_nodes(1)
        elif node_type in fs.nodes:
            nodes[node_type] = fs.nodes[node_type]
        else:
            nodes[node_type] = featurizer.empty(node_type)
        store = data[node_type]
        for key, value in featurizer.node_attributes(node_type, nodes[node_type].x).items():
            store[key] = value
        store.pos = nodes[node_type].pos
        store.num_nodes = len(nodes[node_type])
    set_node_targets(data, [fs])

    forward: dict[EdgeType, Tensor] = {}
    for spec in config.edge_specs:
        if spec.reverse_of is None:
            src, _, dst = spec.edge_type
            forward[spec.edge_type] = spec.strategy.local_edges(nodes[src].shape, nodes[dst].shape, spec.intra).clone()
    for spec in config.edge_specs:
        edges = forward[spec.edge_type] if spec.reverse_of is None else forward[spec.reverse_of].flip(0)
        data[spec.edge_type].edge_index = edges
    set_graph_attributes(data, [fs], batched=False)
    return data
