"""Per-modality encoders: raw node features → a common width ``d``. One file per encoder."""

from mmgraph.nn.encoders.frame import FrameEncoder
from mmgraph.nn.encoders.hub import HubEncoder
from mmgraph.nn.encoders.patch import PatchEncoder
from mmgraph.nn.encoders.position import SinusoidalPosition
from mmgraph.nn.encoders.pretrained import PretrainedTextEncoder
from mmgraph.nn.encoders.token import TokenEncoder
from mmgraph.registry import Registry

ENCODERS: Registry = Registry("encoder")
"""Encoder name → class taking ``(in_features, channels, **options)``."""
ENCODERS.register("patch", PatchEncoder)
ENCODERS.register("token", TokenEncoder)
ENCODERS.register("frame", FrameEncoder)
ENCODERS.register("hub", HubEncoder)
ENCODERS.register("minilm", PretrainedTextEncoder)  # needs the mmgraph[pretrained] extra

DEFAULT_ENCODERS = {"image": "patch", "text": "token", "audio": "frame", "sample": "hub"}
"""The encoder each built-in node type gets unless a config names another."""

__all__ = [
    "DEFAULT_ENCODERS",
    "ENCODERS",
    "FrameEncoder",
    "HubEncoder",
    "PatchEncoder",
    "PretrainedTextEncoder",
    "SinusoidalPosition",
    "TokenEncoder",
]
