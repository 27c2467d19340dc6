"""``PyGModel``: a user's own PyG heterogeneous GNN between mmgraph's encoders and its readout and heads."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn
from torch_geometric.data import HeteroData

from mmgraph.featurize import encoder_input
from mmgraph.models.config import DataSpec, ModelConfig
from mmgraph.models.outputs import ModelOutput
from mmgraph.nn.context import BatchContext
from mmgraph.nn.heads import Head, MultiTaskHead
from mmgraph.nn.prepare import Embed, TrainingData, fit_encoder_inputs
from mmgraph.typing import EdgeType, NodeType, sorted_edge_types


class PyGModel(nn.Module):
    """Any PyG heterogeneous GNN as an mmgraph model: the ``Trainer``, ``mmgraph train`` and ``mmgraph bench``
    (with its robustness table) run it like the built-in ones.

    ``encoders`` embed each node type's raw features to width ``d`` (patch pixels, token ids, mel frames:
    mmgraph's per-modality encoders), ``backbone(x_dict, edge_index_dict)`` passes messages and returns
    node embeddings ``(N_t, d)`` per node type, then mmgraph's readout pools them per graph and the heads
    predict every task. A node type the backbone leaves out of its output (or returns ``None`` for: no
    incoming edges) keeps its encoder embedding. The backbone gets every edge type of the schema the batch
    has, empty ones included (``to_hetero`` models need them): batches must hold every edge list
    (``full_edges="list"``, what the ``Trainer`` gives a model without ``supports_dense_blocks``).

    Register a builder to use it by name (``ModelConfig(name=...)``, a suite's ``[[models]]``)::

        @MODELS.register("my_hgt")
        def build_my_hgt(config: ModelConfig, spec: DataSpec) -> PyGModel:
            return PyGModel.from_config(MyHGT(config.hidden, spec.metadata()), config, spec)

    Args:
        backbone: ``nn.Module`` called as ``backbone(x_dict, edge_index_dict) -> x_dict``.
        encoders: node type → encoder (``(x, pos, layout) → (N_t, d)``).
        readout: node embeddings → ``ReadoutOutput`` (``mmgraph.nn.readout.READOUTS``).
        head: the task heads.
        node_types, edge_types: the schema the model reads from a batch (others are ignored).

    Shapes:
        - input: a batched ``HeteroData`` with every edge list
        - output: ``ModelOutput`` (``predictions`` per task, ``graph_embedding``: ``(B, d)``)
    """

    supports_dense_blocks = False
    """The backbone reads edge lists: batches must carry the complete blocks' lists too."""

    def __init__(self, backbone: nn.Module, encoders: nn.ModuleDict, readout: nn.Module, head: MultiTaskHead,
                 node_types: list[NodeType], edge_types: list[EdgeType]) -> None:
        super().__init__()
        self.node_types = sorted(node_types)
        self.edge_types = sorted_edge_types(edge_types)
        missing = set(self.node_types) - set(encoders.keys())
        if missing:
            raise ValueError(f"no encoder for node types {sorted(missing)}")
        self.backbone, self.encoders, self.readout, self.head = backbone, encoders, readout, head

    @classmethod
    def from_config(cls, backbone: nn.Module, config: ModelConfig, spec: DataSpec) -> PyGModel:
        """``backbone`` with the encoders (``config.encoders`` or each node type's default, width
        ``config.hidden``), readout (``config.readout``) and task heads (``config.tasks``) a config names."""
        from mmgraph.models.build import build_encoder, build_heads
        from mmgraph.nn.readout import READOUTS

        if config.modalities is not None:
            spec = spec.restrict(config.modalities)
        encoders = nn.ModuleDict({t: build_encoder(t, config, spec) for t in spec.node_types})
        readout = READOUTS.create(config.readout, config.hidden, spec.node_types)
        return cls(backbone, encoders, readout, build_heads(config, spec), spec.node_types, spec.edge_types)

    @property
    def task_heads(self) -> Mapping[str, Head]:
        """Task name → head: what the ``Trainer`` evaluates and selects on."""
        return self.head.heads

    def prepare(self, data: TrainingData, embed: Embed, seed: int = 0) -> None:
        """Data-dependent set-up before training (``mmgraph.nn.prepare``): the encoders' input statistics,
        then the heads (target standardisation, cluster centroids)."""
        fit_encoder_inputs(self.encoders, data)
        self.head.prepare(data, embed, seed)

    def edge_index_dict(self, batch: HeteroData) -> dict[EdgeType, Tensor]:
        """The batch's edge list of every edge type of the schema it has (empty ones too)."""
        out = {}
        for et in self.edge_types:
            if et not in batch.edge_types:
                continue
            store = batch[et]
            if "edge_index" not in store:
                raise ValueError(
                    f"edge type {et} has no edge list (a batch made with full_edges='dense'); a PyG backbone "
                    f"reads edge lists: make the batch with full_edges='list'"
                )
            out[et] = store.edge_index
        return out

    def forward(self, batch: HeteroData) -> ModelOutput:
        ctx = BatchContext.from_batch(batch, self.node_types, [])  # node layouts, for encoders and readout
        h = {}
        for t in self.node_types:
            if t in batch.node_types and "x" in batch[t]:
                h[t] = self.encoders[t](encoder_input(batch[t]), batch[t].pos, ctx.layouts[t])
            else:  # a type the batch lacks: no nodes
                h[t] = next(self.parameters()).new_zeros(0, self.readout.channels)
        out = self.backbone(h, self.edge_index_dict(batch))
        h = {t: out[t] if out.get(t) is not None else h[t] for t in self.node_types}
        r = self.readout(h, ctx)
        return ModelOutput(predictions=self.head(r.graph, h), graph_embedding=r.graph,
                           modality_embeddings=r.per_type, modality_present=r.present, gate=r.gate,
                           modalities=r.node_types, node_embeddings=h)

    def loss(self, output: ModelOutput, batch: HeteroData) -> tuple[Tensor, dict[str, Tensor]]:
        return self.head.loss(output.predictions, batch, output.node_keep)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def __repr__(self) -> str:
        return f"PyGModel({self.backbone.__class__.__name__}, node_types={self.node_types})"
