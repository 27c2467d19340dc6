"""``PyGModel``: a user's own PyG heterogeneous GNN between mmgraph's encoders and its readout and heads."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from mmgraph.models.build import build_encoder, build_heads
from mmgraph.models.config import DataSpec, ModelConfig
from mmgraph.models.gnn import MultimodalGNN
from mmgraph.nn.context import BatchContext
from mmgraph.nn.heads import MultiTaskHead
from mmgraph.nn.readout import READOUTS
from mmgraph.typing import EdgeType, NodeType


class BackboneLayer(nn.Module):
    """A whole ``backbone(x_dict, edge_index_dict) -> x_dict`` as one layer of ``MultimodalGNN``.

    The backbone gets the edge list of every edge type the batch has, empty ones included (``to_hetero``
    models look each one up); edges from nodes dropped by modality dropout are already gone. A node type
    the backbone leaves out of its output (or returns ``None`` for: it received nothing) keeps its input.

    Shapes:
        - input: ``x_dict[t]``: ``(N_t, d)``; a ``BatchContext`` (built with ``use_dense=False``)
        - output: ``x_dict[t]``: ``(N_t, d)``
    """

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x_dict: dict[NodeType, Tensor], ctx: BatchContext) -> dict[NodeType, Tensor]:
        out = self.backbone(x_dict, dict(ctx.sparse_edges))
        return {t: x if out.get(t) is None else out[t] for t, x in x_dict.items()}


class PyGModel(MultimodalGNN):
    """Any PyG heterogeneous GNN as an mmgraph model, which the ``Trainer``, ``mmgraph train``, ``explain``
    and ``mmgraph bench`` (with its robustness table) run like the built-in ones.

    A ``MultimodalGNN`` whose message passing is ``backbone(x_dict, edge_index_dict) -> x_dict`` (node
    embeddings ``(N_t, d)`` per node type, in and out): mmgraph's per-modality encoders embed each node
    type's raw features to width ``d`` first (patch pixels, token ids, mel frames), its readout and heads
    pool and predict after. The backbone reads edge lists, so the model's batches carry every edge list
    (``supports_dense_blocks`` is ``False``: the ``Trainer`` gives it ``full_edges="list"`` batches).

    Register a builder to use it by name (``ModelConfig(name=...)``, a suite's ``[[models]]``)::

        @MODELS.register("my_hgt")
        def build_my_hgt(config: ModelConfig, spec: DataSpec) -> PyGModel:
            return PyGModel.from_config(MyHGT(config.hidden, spec.metadata()), config, spec)

    Args:
        backbone: ``nn.Module`` called as ``backbone(x_dict, edge_index_dict) -> x_dict`` (``BackboneLayer``).
        encoders: node type → encoder (``(x, pos, layout) → (N_t, d)``).
        readout: node embeddings → ``ReadoutOutput`` (``mmgraph.nn.readout.READOUTS``).
        head: the task heads.
        node_types, edge_types: the schema the model reads from a batch (others are ignored).
        modality_dropout: as ``MultimodalGNN``.

    Shapes:
        - input: a batched ``HeteroData`` holding every edge list
        - output: ``ModelOutput`` (``predictions`` per task, ``graph_embedding``: ``(B, d)``)
    """

    def __init__(self, backbone: nn.Module, encoders: nn.ModuleDict, readout: nn.Module, head: MultiTaskHead,
                 node_types: Sequence[NodeType], edge_types: Sequence[EdgeType], modality_dropout: float = 0.0) -> None:
        super().__init__(encoders, [BackboneLayer(backbone)], readout, head, node_types, edge_types,
                         modality_dropout=modality_dropout, dense_path=False, dense_block_limit=0)

    @property
    def backbone(self) -> nn.Module:
        return self.layers[0].backbone

    @classmethod
    def from_config(cls, backbone: nn.Module, config: ModelConfig, spec: DataSpec) -> PyGModel:
        """``backbone`` with the encoders (``config.encoders`` or each node type's default, width
        ``config.hidden``), readout (``config.readout``), task heads (``config.tasks``) and modality dropout
        a config names."""
        if config.modalities is not None:
            spec = spec.restrict(config.modalities)
        encoders = nn.ModuleDict({t: build_encoder(t, config, spec) for t in spec.node_types})
        readout = READOUTS.create(config.readout, config.hidden, spec.node_types)
        return cls(backbone, encoders, readout, build_heads(config, spec), spec.node_types, spec.edge_types,
                   modality_dropout=config.modality_dropout)
