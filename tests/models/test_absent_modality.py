"""A whole modality absent from a batch: the graph model with every conv (PyG's HGT, GATv2, SAGE and
the cross-modal attention) and the ``transformer`` baseline give finite outputs and gradients, give
each sample what it gets alone, never read the absent modality's encoder, and score it zero."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmgraph import GraphConfig, Tokenizer, collate
from mmgraph.graph import Featurizer
from mmgraph.models import DataSpec, ModelConfig, build_model
from mmgraph.task import Task
from tests.conftest import WORDS, make_sample

TASKS = {"digit": Task("digit", "classification", "y", num_classes=3), "snr": Task("snr", "regression", "snr")}
NO_AUDIO = [("image", "text"), ("image",), ("text",), ("image", "text")]


def featurized(sets, seed=0):
    rng = np.random.default_rng(seed)
    config = GraphConfig(text={"tokenizer": Tokenizer.fit([" ".join(WORDS)])}, image={"patch_size": 7})
    samples = [make_sample(rng, m, y=i % 3, n_words=2 + i) for i, m in enumerate(sets)]
    feats = Featurizer(config).batch(samples)
    for i, f in enumerate(feats):
        f.targets["snr"] = float(i)
    return feats, config, DataSpec.from_graph_config(config, TASKS)


CASES = {
    "mmgnn-cross_attention": ModelConfig(conv="cross_attention", hidden=16, heads=2, tasks=["digit", "snr"]),
    "mmgnn-hgt": ModelConfig(conv="hgt", hidden=16, heads=2, tasks=["digit", "snr"]),
    "mmgnn-gatv2": ModelConfig(conv="gatv2", hidden=16, heads=2, tasks=["digit", "snr"]),
    "mmgnn-sage": ModelConfig(conv="sage", hidden=16, heads=2, tasks=["digit", "snr"]),
    "transformer": ModelConfig(name="transformer", hidden=16, heads=2, layers=1, tasks=["digit", "snr"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_modality_absent_from_the_whole_batch(case):
    feats, config, spec = featurized(NO_AUDIO)
    assert "audio" in spec.modalities  # the model has an audio encoder; no sample of the batch has audio
    batch = collate(feats, config, full_edges="dense")
    assert batch["audio"].num_nodes == 0
    torch.manual_seed(0)
    model = build_model(CASES[case], spec)
    model.train()
    out = model(batch)
    assert out.predictions["digit"].shape == (4, 3) and out.predictions["snr"].shape == (4,)
    assert all(torch.isfinite(p).all() for p in out.predictions.values())
    loss, _ = model.loss(out, batch)
    assert torch.isfinite(loss)
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(torch.isfinite(g).all() for g in grads.values() if g is not None)
    audio_encoder = [n for n in grads if n.startswith("encoders.audio.")]
    assert audio_encoder and all(grads[n] is None or not grads[n].any() for n in audio_encoder)
    gate = getattr(out, "gate", None)
    if gate is not None and case.startswith("mmgnn"):
        assert torch.equal(gate[:, sorted(spec.modalities).index("audio")], torch.zeros(4))

    model.eval()
    with torch.no_grad():
        together = model(batch).predictions["digit"]
        alone = torch.cat([model(collate([f], config, full_edges="dense")).predictions["digit"] for f in feats])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)
