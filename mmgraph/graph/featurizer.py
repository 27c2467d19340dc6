"""``Featurizer``: the modality featurizers a ``GraphConfig`` asks for, applied to whole samples."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from mmgraph.featurize import FEATURIZERS, FeaturizedSample, ModalityFeaturizer, NodeSet
from mmgraph.graph.budget import check_budget
from mmgraph.graph.config import GraphConfig
from mmgraph.sample import MultimodalSample
from mmgraph.typing import Modality


class Featurizer:
    """All the modality featurizers a ``GraphConfig`` asks for, applied to whole samples.

    Each modality's featurizer is built from its settings table (``config.settings[modality]``).
    Every featurized sample is checked against the config's per-sample budget (``max_nodes``,
    ``max_edges``): one over it is logged as a warning naming it (``mmgraph.graph.budget``).
    """

    def __init__(self, config: GraphConfig) -> None:
        self.config = config
        self.modalities: dict[Modality, ModalityFeaturizer] = {
            m: FEATURIZERS.get(m).from_settings(config.settings[m]) for m in config.modalities
        }
        self.over_budget = 0
        """Samples featurized so far whose graph exceeds the budget."""

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
        """Featurize many samples (audio clips of equal length share one STFT call); warn about any over budget."""
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
        out = [FeaturizedSample(nodes=n, y=s.y, targets=dict(s.targets), id=s.id) for n, s in zip(nodes, samples)]
        self.over_budget += check_budget(out, self.config, seen=self.over_budget)
        return out

    def node_attributes(self, node_type: str, x: Tensor) -> dict[str, Tensor]:
        """The node attributes a graph carries for a node type's stored ``x`` (its featurizer's
        ``node_attributes``; ``{"x": x}`` for the hub)."""
        featurizer = self.modalities.get(node_type)
        return {"x": x} if featurizer is None else featurizer.node_attributes(x)

    def empty(self, modality: Modality) -> NodeSet:
        """A zero-node ``NodeSet`` of ``modality`` (a sample that lacks it)."""
        return self.modalities[modality].empty()

    def __repr__(self) -> str:
        return f"Featurizer({list(self.modalities.values())!r})"
