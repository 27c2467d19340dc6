"""``ModelConfig`` (flat, names parts by registry name) and ``DataSpec`` (what a model needs of the data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from mmgraph.config import ConfigMixin
from mmgraph.featurize import ImageSettings
from mmgraph.graph.build import HUB_FEATURE_DIM
from mmgraph.graph.config import GraphConfig
from mmgraph.graph.featurizer import Featurizer
from mmgraph.task import Task
from mmgraph.typing import HUB, EdgeType, Modality, NodeType


@dataclass
class DataSpec:
    """The data facts a model is built for: schema, input widths, tasks.

    Attributes:
        modalities: modality node types.
        node_types, edge_types: the graph schema (``GraphConfig.metadata()``).
        in_features: node type → input width (pixels per patch, vocabulary size, mel bands).
        patch_size: image patch side (for convolutional stems).
        tasks: task name → ``Task``.
        vocab: the text tokenizer's vocabulary (index → word), for encoders that read the words
            (the pretrained ``minilm`` text encoder); ``None`` without text.
    """

    modalities: tuple[Modality, ...]
    node_types: list[NodeType]
    edge_types: list[EdgeType]
    in_features: dict[NodeType, int]
    patch_size: int
    tasks: dict[str, Task]
    vocab: list[str] | None = None

    @classmethod
    def from_graph_config(cls, config: GraphConfig, tasks: dict[str, Task]) -> DataSpec:
        """The spec of data featurized with ``config``: input widths from each modality's featurizer."""
        featurizer = Featurizer(config)
        in_features: dict[NodeType, int] = {m: f.in_features for m, f in featurizer.modalities.items()}
        if config.hub:
            in_features[HUB] = HUB_FEATURE_DIM
        image = config.settings.get("image", ImageSettings())
        text = config.settings.get("text")
        vocab = list(text.tokenizer.vocab) if text is not None and text.tokenizer is not None else None
        return cls(config.modalities, config.node_types, config.edge_types, in_features, image.patch_size,
                   dict(tasks), vocab)

    def metadata(self) -> tuple[list[NodeType], list[EdgeType]]:
        """``(node_types, edge_types)``, as PyG's ``HeteroData.metadata()`` (what ``HGTConv`` or ``to_hetero`` take)."""
        return list(self.node_types), list(self.edge_types)

    def restrict(self, modalities: list[Modality] | tuple[Modality, ...]) -> DataSpec:
        """The spec seen by a model that uses only ``modalities`` (unimodal models)."""
        unknown = set(modalities) - set(self.modalities)
        if unknown:
            raise ValueError(f"modalities {sorted(unknown)} are not in the data (has {list(self.modalities)})")
        keep = set(modalities) | ({HUB} if HUB in self.node_types else set())
        return DataSpec(
            tuple(sorted(modalities)),
            [t for t in self.node_types if t in keep],
            [et for et in self.edge_types if et[0] in keep and et[2] in keep],
            {t: n for t, n in self.in_features.items() if t in keep},
            self.patch_size,
            self.tasks,
            self.vocab if "text" in modalities else None,
        )


ATTENTION_MODELS = ("transformer", "mult")
"""Baselines whose attention layers always split ``hidden`` across ``heads``."""
BRANCH_MODELS = ("unimodal", "late_fusion", "tensor_fusion", "low_rank_fusion")
"""Baselines whose modality branches have ``layers`` self-attention layers of ``heads`` heads."""
TEXT_CONTEXT_HEADS = 4
"""Attention heads of the text encoder's ``transformer`` context (``nn.encoders.token``)."""


@dataclass
class ModelConfig(ConfigMixin):
    """Everything that defines a model, flat; parts are named by registry name.

    Args:
        name: the model builder (``MODELS``): ``mmgnn`` (the graph model), a baseline, ...
        hidden: node / embedding width ``d``.
        layers: message-passing layers.
        heads: attention heads.
        ff_mult: feed-forward width as a multiple of ``hidden``.
        dropout, attn_dropout: dropout rates.
        modality_dropout: probability of dropping each present modality of a training sample
            (never all of them), so that the model learns to work when one is missing. Default 0.3
            (was 0.15): alone it lifted the digits graph model's audio-removed accuracy from 47.0 to
            57.0 and its audio-SNR AUC from 61.7 to 66.5 (one seed, R16 study).
        conv: message-passing layer (``CONVS``): ``cross_attention``, ``hgt``, ``gatv2``, ``sage``.
        readout: ``gate`` (attention pooling + modality gate), ``mean`` or ``hub``.
        encoders: modality → encoder name (``ENCODERS``) where the default is not wanted; text may
            use ``minilm`` (pretrained all-MiniLM-L6-v2, frozen) or ``minilm:finetune`` (the
            ``mmgraph[pretrained]`` extra).
        image_stem: ``linear`` or ``conv`` patch stem.
        text_context: ``none``, ``bilstm`` or ``transformer`` context in the text encoder.
        audio_kernel: frames per 1-D convolution in the audio encoder.
        modalities: use only these modalities (``None``: all of the data's) — unimodal models.
        tasks: the dataset tasks to train (``None``: the first task).
        task_weights: task → loss weight.
        unimodal_weight: weight of auxiliary losses that apply each graph-level head to every
            modality's own pooled embedding after message passing over the whole graph (0: off, the
            default: those embeddings carry the other modalities' information, so the loss does not
            make a modality competent alone; on AV-MNIST 0.5 did not help against 0).
        isolated_aux_weight: weight of the graph model's task loss on each modality's isolated view
            (the batch with every edge between two modalities removed: the model on that modality
            alone), a second forward pass per training step (0: off). Default 0.5: on AV-MNIST (10k
            samples, 3 epochs, one seed, R16 study) test 85.1 vs 83.9 without, image removed 62.4 vs
            57.9. With the other new defaults on digits (quick suite recipe, seed 0): test 88.5 vs 78.9,
            audio removed 74.1 vs 47.0 (image only: 65.9), audio-SNR AUC 76.7 vs 61.7
            (``benchmarks/results/robust``). It costs about 2× training time.
        token_unk_rate: in the graph model's training, each token id (text) becomes ``<unk>`` with this
            probability (default 0.1; 0: off): on emoji the drop-k and unknown-word sweeps' AUCs rose
            from 57.8 / 54.6 to 63.7 / 62.8 (category, one seed) at equal clean accuracy.
        token_random_rate: in the graph model's training, each token id (text) becomes a word drawn
            uniformly from the vocabulary with this probability (default 0: off; on top of
            ``token_unk_rate``): text that contradicts the image and audio, seen in training.
        num_clusters: add a ``cluster`` DEC head with this many clusters.
        dense_path: run complete blocks as dense attention (``False``: force edge lists).
        dense_block_limit: run edge lists over per-graph blocks of at most this many
            (destination × source) pairs as masked dense attention (0: never).
        options: free extra options for models registered by users.
    """

    name: str = "mmgnn"
    hidden: int = 64
    layers: int = 2
    heads: int = 4
    ff_mult: int = 2
    dropout: float = 0.0
    attn_dropout: float = 0.0
    modality_dropout: float = 0.3
    conv: str = "cross_attention"
    readout: str = "gate"
    encoders: dict[str, str] = field(default_factory=dict)
    image_stem: str = "linear"
    text_context: str = "none"
    audio_kernel: int = 5
    modalities: list[str] | None = None
    tasks: list[str] | None = None
    task_weights: dict[str, float] = field(default_factory=dict)
    unimodal_weight: float = 0.0
    isolated_aux_weight: float = 0.5
    token_unk_rate: float = 0.1
    token_random_rate: float = 0.0
    num_clusters: int | None = None
    dense_path: bool = True
    dense_block_limit: int = 16384
    options: dict[str, Any] = field(default_factory=dict)

    toml_table: ClassVar[str] = "model"

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.layers < 0 or self.heads < 1:
            raise ValueError(
                f"need hidden >= 1, layers >= 0, heads >= 1 (got {self.hidden}, {self.layers}, {self.heads})"
            )
        if not 0.0 <= self.modality_dropout < 1.0:
            raise ValueError(f"'modality_dropout' must be in [0, 1) (got {self.modality_dropout})")
        if not 0.0 <= self.token_unk_rate < 1.0:
            raise ValueError(f"'token_unk_rate' must be in [0, 1) (got {self.token_unk_rate})")
        if not 0.0 <= self.token_random_rate < 1.0 - self.token_unk_rate:
            raise ValueError(f"'token_random_rate' must be in [0, 1 - token_unk_rate) (got {self.token_random_rate}, "
                             f"token_unk_rate {self.token_unk_rate})")
        if self.isolated_aux_weight < 0 or self.unimodal_weight < 0:
            raise ValueError(f"'isolated_aux_weight' and 'unimodal_weight' must be >= 0 (got "
                             f"{self.isolated_aux_weight}, {self.unimodal_weight})")
        part = self._head_split_part()
        if part is not None and self.hidden % self.heads:
            raise ValueError(f"'hidden' (got {self.hidden}) must be divisible by 'heads' (got {self.heads}): "
                             f"{part} splits the width across its attention heads")
        if self.text_context == "transformer" and self.hidden % TEXT_CONTEXT_HEADS:
            raise ValueError(f"'hidden' (got {self.hidden}) must be divisible by {TEXT_CONTEXT_HEADS}, the attention "
                             f"heads of text_context 'transformer'")

    def _head_split_part(self) -> str | None:
        """The part of this model that splits ``hidden`` across ``heads`` attention heads (``None``: none)."""
        if self.name == "mmgnn":
            from mmgraph.nn.conv import CONVS

            conv = CONVS.get(self.conv) if self.layers > 0 and self.conv in CONVS else None
            return f"conv {self.conv!r}" if getattr(conv, "splits_channels_across_heads", False) else None
        if self.name in ATTENTION_MODELS or (self.name in BRANCH_MODELS and self.layers > 0):
            return f"model {self.name!r}"
        return None
