"""Featurizers: raw modality values → nodes (unit features + positions), one module per modality.

Each featurizer declares its settings dataclass (``ImageSettings``, ``TextSettings``,
``AudioSettings``): the modality's table in ``GraphConfig``. Applying a whole ``GraphConfig`` to
samples is the graph layer's ``mmgraph.graph.Featurizer``.
"""

from __future__ import annotations

from mmgraph.featurize.audio import AUDIO_8K, AudioFeaturizer, AudioSettings, mel_filterbank
from mmgraph.featurize.base import (
    FEATURIZERS,
    TOKEN,
    FeaturizedSample,
    ModalityFeaturizer,
    NodeSet,
    NoSettings,
    encoder_input,
    register_featurizer,
)
from mmgraph.featurize.image import ImageFeaturizer, ImageSettings
from mmgraph.featurize.text import TextFeaturizer, TextSettings, Tokenizer

__all__ = [
    "AUDIO_8K",
    "FEATURIZERS",
    "TOKEN",
    "AudioFeaturizer",
    "AudioSettings",
    "FeaturizedSample",
    "ImageFeaturizer",
    "ImageSettings",
    "ModalityFeaturizer",
    "NoSettings",
    "NodeSet",
    "TextFeaturizer",
    "TextSettings",
    "Tokenizer",
    "encoder_input",
    "mel_filterbank",
    "register_featurizer",
]
