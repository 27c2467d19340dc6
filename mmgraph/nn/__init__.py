"""Neural building blocks: encoders, cross-modal layers, readouts, heads (assembled by ``mmgraph.models``)."""

from mmgraph.nn.context import BatchContext
from mmgraph.nn.conv import CONVS, CrossModalAttention, HeteroGATv2Layer, HeteroSAGELayer, HGTLayer
from mmgraph.nn.dense import DenseLayout
from mmgraph.nn.encoders import ENCODERS, FrameEncoder, HubEncoder, PatchEncoder, TokenEncoder
from mmgraph.nn.heads import (
    HEADS,
    ClassificationHead,
    ClusterHead,
    Head,
    MultiTaskHead,
    NodeClassificationHead,
    NodeRegressionHead,
    RegressionHead,
)
from mmgraph.nn.readout import READOUTS, GatedReadout, HubReadout, MeanReadout, ReadoutOutput

__all__ = [
    "CONVS",
    "ENCODERS",
    "HEADS",
    "READOUTS",
    "BatchContext",
    "ClassificationHead",
    "ClusterHead",
    "CrossModalAttention",
    "DenseLayout",
    "FrameEncoder",
    "GatedReadout",
    "HGTLayer",
    "Head",
    "HeteroGATv2Layer",
    "HeteroSAGELayer",
    "HubEncoder",
    "HubReadout",
    "MeanReadout",
    "MultiTaskHead",
    "NodeClassificationHead",
    "NodeRegressionHead",
    "PatchEncoder",
    "ReadoutOutput",
    "RegressionHead",
    "TokenEncoder",
]
