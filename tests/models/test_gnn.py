"""MultimodalGNN and build_model: assembly, shapes, gradients, missing modalities, order independence."""

import numpy as np
import pytest
import torch

from mmgraph import GraphConfig, Tokenizer, collate
from mmgraph.models import MODELS, DataSpec, ModelConfig, MultimodalGNN, build_model
from mmgraph.task import Task
from tests.conftest import WORDS, make_sample

TASKS = {
    "digit": Task("digit", "classification", "y", num_classes=3),
    "snr": Task("snr", "regression", "snr"),
    "vad": Task("vad", "node_classification", "vad", num_classes=2, node_type="audio"),
}


def make_data(sets=None, hub=False, seed=0):
    rng = np.random.default_rng(seed)
    config = GraphConfig(text={"tokenizer": Tokenizer.fit([" ".join(WORDS)])}, hub=hub, image={"patch_size": 7})
    sets = sets or [("audio", "image", "text"), ("image",), ("audio", "text"), ("audio", "image", "text")]
    samples = [make_sample(rng, m, y=i % 3, audio_len=int(rng.integers(500, 3000))) for i, m in enumerate(sets)]
    from mmgraph.graph import Featurizer

    feats = Featurizer(config).batch(samples)
    for i, f in enumerate(feats):
        f.targets["snr"] = float(i)
        if "audio" in f.nodes:
            f.node_targets["audio"] = {"vad": (torch.arange(len(f.nodes["audio"])) % 2)}
    return collate(feats, config, full_edges="dense"), DataSpec.from_graph_config(config, TASKS)


@pytest.mark.parametrize("conv", ["cross_attention", "hgt", "gatv2", "sage"])
def test_forward_backward_every_conv(conv):
    batch, spec = make_data()
    torch.manual_seed(0)
    model = build_model(ModelConfig(conv=conv, hidden=16, tasks=["digit", "snr", "vad"]), spec)
    assert isinstance(model, MultimodalGNN)
    out = model(batch)
    assert out.predictions["digit"].shape == (4, 3)
    assert out.predictions["snr"].shape == (4,)
    assert out.predictions["vad"].shape == (batch["audio"].num_nodes, 2)
    assert out.graph_embedding.shape == (4, 16) and out.gate.shape == (4, 3)
    loss, parts = model.loss(out, batch)
    assert set(parts) == {"digit", "snr", "vad"}
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing


def test_missing_modality_batch_runs_and_hub_readout():
    batch, spec = make_data(sets=[("image",), ("text",)], hub=True)
    model = build_model(ModelConfig(hidden=16, readout="hub"), spec)
    out = model(batch)
    assert torch.isfinite(out.predictions["digit"]).all()


def test_eval_is_deterministic_and_order_independent():
    batch, spec = make_data()
    torch.manual_seed(0)
    a = build_model(ModelConfig(hidden=16), spec).eval()
    spec_rev = DataSpec(spec.modalities, list(reversed(spec.node_types)), list(reversed(spec.edge_types)),
                        dict(reversed(list(spec.in_features.items()))), spec.patch_size, spec.tasks)
    b = build_model(ModelConfig(hidden=16), spec_rev).eval()
    b.load_state_dict(a.state_dict())
    assert torch.allclose(a(batch).predictions["digit"], b(batch).predictions["digit"], atol=1e-6)


def test_modality_dropout_never_drops_everything():
    batch, spec = make_data()
    model = build_model(ModelConfig(hidden=16, modality_dropout=0.99), spec).train()
    torch.manual_seed(0)
    for _ in range(5):
        out = model(batch)
        kept_any = torch.zeros(4, dtype=torch.bool)
        for t, keep in out.node_keep.items():
            kept_any |= torch.zeros(4, dtype=torch.bool).index_fill(0, batch[t].batch[keep], True)
        assert kept_any.all()
        assert torch.allclose(out.gate.sum(1), torch.ones(4))


def test_unimodal_restriction_and_aux_loss():
    batch, spec = make_data()
    model = build_model(ModelConfig(hidden=16, modalities=["image"]), spec)
    assert model.node_types == ["image"] and all(et[0] == "image" for et in model.edge_types)
    out = model(batch)
    assert out.gate.shape == (4, 1)
    aux = build_model(ModelConfig(hidden=16, unimodal_weight=0.5), spec).train()
    _, parts = aux.loss(aux(batch), batch)
    assert "unimodal_aux" in parts


def test_config_round_trip_and_errors(tmp_path):
    cfg = ModelConfig(hidden=32, conv="hgt", tasks=["digit"])
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    (tmp_path / "m.toml").write_text('[model]\nname = "mmgnn"\nhidden = 32\nlayers = 3\n')
    assert ModelConfig.from_toml(tmp_path / "m.toml").layers == 3
    with pytest.raises(ValueError, match="unknown ModelConfig fields"):
        ModelConfig.from_dict({"hiden": 3})
    _, spec = make_data()
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        build_model(ModelConfig(name="nope"), spec)
    with pytest.raises(ValueError, match="unknown tasks"):
        build_model(ModelConfig(tasks=["speaker"]), spec)
    assert {"mmgnn", "transformer"} <= set(MODELS.list())


def test_transformer_reference_model():
    batch, spec = make_data()
    model = build_model(ModelConfig(name="transformer", hidden=16), spec)
    out = model(batch)
    assert out.predictions["digit"].shape == (4, 3)
    model.loss(out, batch)[0].backward()


def test_a_registered_encoder_builder_gets_the_config_and_spec():
    from torch import nn

    from mmgraph.nn.encoders import ENCODERS

    seen = {}

    class MeanFrames(nn.Module):
        def __init__(self, in_features, channels):
            super().__init__()
            self.proj = nn.Linear(in_features, channels)

        def forward(self, x, pos, layout):
            return self.proj(x)

    def build(node_type, config, spec):
        seen.update(node_type=node_type, hidden=config.hidden, in_features=spec.in_features[node_type])
        return MeanFrames(spec.in_features[node_type], config.hidden)

    ENCODERS.register("test_linear_frames", build)
    try:
        batch, spec = make_data()
        model = build_model(ModelConfig(hidden=16, layers=1, encoders={"audio": "test_linear_frames"}), spec)
        assert isinstance(model.encoders["audio"], MeanFrames)
        assert seen == {"node_type": "audio", "hidden": 16, "in_features": spec.in_features["audio"]}
        assert model(batch).graph_embedding.shape == (4, 16)
        with pytest.raises(ValueError, match=r"unknown encoder 'nope'; registered: .*test_linear_frames"):
            build_model(ModelConfig(encoders={"audio": "nope"}), spec)
    finally:
        ENCODERS._items.pop("test_linear_frames")
