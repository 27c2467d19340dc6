"""Per-modality encoders: raw node features → a common width ``d``. One file per encoder."""

from functools import partial

from mmgraph.nn.encoders.frame import FrameEncoder
from mmgraph.nn.encoders.hub import HubEncoder
from mmgraph.nn.encoders.minilm_words import MiniLMWordEncoder
from mmgraph.nn.encoders.patch import PatchEncoder
from mmgraph.nn.encoders.position import SinusoidalPosition
from mmgraph.nn.encoders.pretrained import PretrainedTextEncoder
from mmgraph.nn.encoders.token import TokenEncoder
from mmgraph.registry import Registry

ENCODERS: Registry = Registry("encoder")
"""Encoder name → ``builder(node_type, config, spec) -> nn.Module`` (``ModelConfig.encoders`` names them).

Each builder reads the options its encoder takes: the width ``config.hidden`` and its own fields of
the ``ModelConfig`` (``image_stem``, ``text_context``, ``audio_kernel``), and the data facts of the
``DataSpec`` (``in_features[node_type]``, ``patch_size``, ``vocab``); the built-in encoders' builders
are their ``from_config`` class methods. A registered encoder of yours gets the same call. The module
takes ``(x, pos, layout)`` and returns ``(N_t, d)``.
"""
ENCODERS.register("patch", PatchEncoder.from_config)
ENCODERS.register("token", TokenEncoder.from_config)
ENCODERS.register("frame", FrameEncoder.from_config)
ENCODERS.register("hub", HubEncoder.from_config)
# all-MiniLM-L6-v2 word embeddings, frozen or fine-tuned (the mmgraph[pretrained] extra)
ENCODERS.register("minilm", PretrainedTextEncoder.from_config)
ENCODERS.register("minilm:finetune", partial(PretrainedTextEncoder.from_config, trainable=True))
# frozen per-word MiniLM vectors, computed once per vocabulary (TextSettings(features="minilm")'s vectors)
ENCODERS.register("minilm_words", MiniLMWordEncoder.from_config)

DEFAULT_ENCODERS = {"image": "patch", "text": "token", "audio": "frame", "sample": "hub"}
"""The encoder each built-in node type gets unless a config names another."""

__all__ = [
    "DEFAULT_ENCODERS",
    "ENCODERS",
    "FrameEncoder",
    "HubEncoder",
    "MiniLMWordEncoder",
    "PatchEncoder",
    "PretrainedTextEncoder",
    "SinusoidalPosition",
    "TokenEncoder",
]
