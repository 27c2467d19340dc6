"""Cross-modal message-passing layers (``x_dict, BatchContext → x_dict``), selectable by name."""

from mmgraph.nn.conv.cross_modal_attention import CrossModalAttention, edge_key
from mmgraph.nn.conv.cross_modal_conv import CrossModalConv
from mmgraph.nn.conv.pyg_layers import HeteroGATv2Layer, HeteroSAGELayer, HGTLayer, PyGHeteroLayer
from mmgraph.registry import Registry

CONVS: Registry = Registry("conv")
"""Layer name → class taking ``(channels, node_types, edge_types, heads=..., dropout=..., ff_channels=...)``."""
CONVS.register("cross_attention", CrossModalAttention)
CONVS.register("hgt", HGTLayer)
CONVS.register("gatv2", HeteroGATv2Layer)
CONVS.register("sage", HeteroSAGELayer)

__all__ = [
    "CONVS",
    "CrossModalAttention",
    "CrossModalConv",
    "HGTLayer",
    "HeteroGATv2Layer",
    "HeteroSAGELayer",
    "PyGHeteroLayer",
    "edge_key",
]
