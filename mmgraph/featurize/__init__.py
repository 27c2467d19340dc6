"""Featurizers: raw modality values → nodes (unit features + positions), one module per modality."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mmgraph.featurize.audio import AudioFeaturizer, mel_filterbank
from mmgraph.featurize.base import FEATURIZERS, FeaturizedSample, ModalityFeaturizer, NodeSet
from mmgraph.featurize.image import ImageFeaturizer
from mmgraph.featurize.text import TextFeaturizer, Tokenizer
from mmgraph.sample import MultimodalSample
from mmgraph.typing import Modality

if TYPE_CHECKING:
    from mmgraph.graph.config import GraphConfig

__all__ = [
    "FEATURIZERS",
    "AudioFeaturizer",
    "FeaturizedSample",
    "Featurizer",
    "ImageFeaturizer",
    "ModalityFeaturizer",
    "NodeSet",
    "TextFeaturizer",
    "Tokenizer",
    "mel_filterbank",
]


class Featurizer:
    """All the modality featurizers a ``GraphConfig`` asks for, applied to whole samples."""

    def __init__(self, config: GraphConfig) -> None:
        self.config = config
        self.modalities: dict[Modality, ModalityFeaturizer] = {
            m: FEATURIZERS.get(m).from_config(config) for m in config.modalities
        }

    def _check(self, sample: MultimodalSample) -> None:
        unknown = [m for m in sample.modalities if m not in self.modalities]
        if unknown:
            raise ValueError(
                f"sample {sample.id!r} has modalities {unknown} that the graph config does not list "
                f"(GraphConfig.modalities={list(self.modalities)})"
            )

    def __call__(self, sample: MultimodalSample) -> FeaturizedSample:
        return self.batch([sample])[0]

    def batch(self, samples: Sequence[MultimodalSample]) -> list[FeaturizedSample]:
        """Featurize many samples (audio clips of equal length share one STFT call)."""
        for s in samples:
            self._check(s)
        nodes: list[dict[Modality, NodeSet]] = [{} for _ in samples]
        for m, featurizer in self.modalities.items():
            idx = [i for i, s in enumerate(samples) if s.get(m) is not None]
            if not idx:
                continue
            values = [samples[i].get(m) for i in idx]
            if hasattr(featurizer, "batch"):
                sets = featurizer.batch(values)
            else:
                sets = [featurizer(v) for v in values]
            for i, node_set in zip(idx, sets):
                nodes[i][m] = node_set
        return [
            FeaturizedSample(nodes=n, y=s.y, targets=dict(s.targets), id=s.id) for n, s in zip(nodes, samples)
        ]

    def empty(self, modality: Modality) -> NodeSet:
        return self.modalities[modality].empty()
