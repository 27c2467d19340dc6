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
    model = build_model(ModelConfig(conv=conv, hidden=16, tasks=["digit", "snr", "vad"], modality_dropout=0.0), spec)
    assert isinstance(model, MultimodalGNN)
    out = model(batch)
    assert out.predictions["digit"].shape == (4, 3)
    assert out.predictions["snr"].shape == (4,)
    assert out.predictions["vad"].shape == (batch["audio"].num_nodes, 2)
    assert out.graph_embedding.shape == (4, 16) and out.gate.shape == (4, 3)
    loss, parts = model.loss(out, batch)
    assert set(parts) == {"digit", "snr", "vad", "isolated_aux"}  # the default isolated views
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


def test_isolated_aux_off_is_the_old_model_and_on_trains_the_isolated_views():
    batch, spec = make_data()
    old = ModelConfig(hidden=16, modality_dropout=0.0, isolated_aux_weight=0.0, token_unk_rate=0.0)
    torch.manual_seed(0)
    a = build_model(old, spec).train()
    torch.manual_seed(0)
    b = build_model(old.replace(isolated_aux_weight=0.5), spec).train()
    out_a, out_b = a(batch), b(batch)
    assert out_a.isolated_embeddings is None
    loss_a, parts_a = a.loss(out_a, batch)
    loss_b, parts_b = b.loss(out_b, batch)
    # the main pass is the same model on the same batch; the isolated term adds exactly its weight
    assert torch.allclose(out_a.predictions["digit"], out_b.predictions["digit"], atol=1e-6)
    assert "isolated_aux" not in parts_a and torch.allclose(parts_a["digit"], parts_b["digit"])
    assert torch.allclose(loss_b, loss_a + 0.5 * parts_b["isolated_aux"], atol=1e-6)
    # the isolated views are each modality alone: equal to the model run on a one-modality graph
    b.eval()
    alone = batch.node_type_subgraph(["image"])
    ctx = b.context(batch).within_types()
    ctx.precompute_masks()
    x, pos, _ = b.prepare_inputs(batch)
    _, _, r = b.core(x, pos, ctx)
    i = r.node_types.index("image")
    ref = b(alone)
    j = ref.modalities.index("image")
    rows = r.present[:, i]
    assert torch.allclose(r.per_type[rows, i], ref.modality_embeddings[rows, j], atol=1e-5)
    # gradients of the isolated term alone reach every modality's encoder, without cross-modal edges
    b.train()
    b.zero_grad()
    out = b(batch)
    b.per_modality_loss(out.isolated_embeddings, out.isolated_present, batch).backward()
    for t in ("audio", "image", "text"):
        grads = [p.grad for p in b.encoders[t].parameters() if p.requires_grad]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), t
    assert not any(et[0] != et[2] for et in ctx.sparse_edges) and all(et[0] == et[2] for et in ctx.dense_edge_types)


def test_token_unk_rate_replaces_text_ids_in_training_only():
    batch, spec = make_data()
    model = build_model(ModelConfig(hidden=16, token_unk_rate=0.5), spec)
    ids = batch["text"].x
    torch.manual_seed(0)
    x = model.replace_tokens({"text": ids, "audio": batch["audio"].x})
    swapped = x["text"] != ids
    assert swapped.any() and (~swapped).any()
    assert (x["text"][swapped] == Tokenizer.unk_id).all()
    assert x["audio"] is batch["audio"].x  # float inputs untouched
    big = torch.randint(3, 50, (20000,))
    rate = (model.replace_tokens({"text": big})["text"] == Tokenizer.unk_id).float().mean()
    assert abs(float(rate) - 0.5) < 0.02
    model.eval()  # evaluation reads the text as it is
    torch.manual_seed(1)
    p1 = model(batch).predictions["digit"]
    torch.manual_seed(2)
    assert torch.equal(p1, model(batch).predictions["digit"])
    with pytest.raises(ValueError, match="token_unk_rate"):
        ModelConfig(token_unk_rate=1.0)


def test_token_random_rate_draws_real_words_beside_unk_replacement():
    batch, spec = make_data()
    vocab = spec.in_features["text"]
    model = build_model(ModelConfig(hidden=16, token_unk_rate=0.2, token_random_rate=0.5), spec)
    assert model.vocab_size == vocab
    big = torch.randint(len(Tokenizer.SPECIALS), vocab, (40000,))
    big[::10] = Tokenizer.pad_id
    torch.manual_seed(0)
    out = model.replace_tokens({"text": big})["text"]
    real = big != Tokenizer.pad_id
    assert (out[~real] == Tokenizer.pad_id).all()  # padding is never replaced
    unk = (out == Tokenizer.unk_id) & real
    changed = (out != big) & ~unk
    assert abs(float(unk[real].float().mean()) - 0.2) < 0.02
    # a uniform draw keeps the word with probability 1/(V - 3): changed ≈ 0.5 × (1 - that)
    expected = 0.5 * (1 - 1 / (vocab - len(Tokenizer.SPECIALS)))
    assert abs(float(changed[real].float().mean()) - expected) < 0.02
    assert int(out[changed].min()) >= len(Tokenizer.SPECIALS) and int(out[changed].max()) < vocab
    # without random words, the draw is unk replacement's as before (one uniform per token): same seed, same ids
    plain = build_model(ModelConfig(hidden=16, token_unk_rate=0.2), spec)
    torch.manual_seed(3)
    a = plain.replace_tokens({"text": big})["text"]
    torch.manual_seed(3)
    before = torch.where((torch.rand(big.shape) < 0.2) & real, torch.full_like(big, Tokenizer.unk_id), big)
    assert torch.equal(a, before)
    with pytest.raises(ValueError, match="token_random_rate"):
        ModelConfig(token_unk_rate=0.5, token_random_rate=0.5)
