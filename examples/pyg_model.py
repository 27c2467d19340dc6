"""Your own PyG heterogeneous GNN in mmgraph: registered by name, trained and measured by ``mmgraph bench``.

    mmgraph bench --suite examples/pyg_suite.toml     # this file is the suite's 'imports'
"""

import torch
from torch_geometric.nn import HGTConv

from mmgraph.models import MODELS, DataSpec, ModelConfig, PyGModel


class HGT(torch.nn.Module):
    """Message passing only: ``(x_dict, edge_index_dict) -> x_dict``, every node type at width ``channels``."""

    def __init__(self, channels: int, metadata, heads: int = 2, layers: int = 2) -> None:
        super().__init__()
        self.convs = torch.nn.ModuleList(HGTConv(channels, channels, metadata, heads=heads) for _ in range(layers))

    def forward(self, x_dict, edge_index_dict):
        for conv in self.convs:
            out = conv(x_dict, edge_index_dict)  # None for a node type that received nothing
            x_dict = {t: x if out.get(t) is None else x + out[t].relu() for t, x in x_dict.items()}
        return x_dict


@MODELS.register("my_hgt")
def build_my_hgt(config: ModelConfig, spec: DataSpec) -> PyGModel:
    """mmgraph's encoders (to width ``hidden``) → ``HGT`` → mmgraph's readout and task heads."""
    return PyGModel.from_config(HGT(config.hidden, spec.metadata(), config.heads, config.layers), config, spec)
