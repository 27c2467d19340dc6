"""Fusion baselines: built by name, shapes, learning, missing modalities, restriction, reprs, the fusion maths."""

import numpy as np
import pytest
import torch
from torch import nn

from mmgraph import GraphConfig, Tokenizer, collate
from mmgraph.featurize.image import to_float_channels
from mmgraph.graph import Featurizer
from mmgraph.models import MODELS, DataSpec, ModelConfig, build_model
from mmgraph.models.baselines import (
    BaselineModel,
    EarlyFusion,
    LateFusion,
    LowRankTensorFusion,
    MulT,
    TensorFusion,
    UnimodalModel,
)
from mmgraph.task import Task
from tests.conftest import WORDS, make_sample

TASKS = {
    "digit": Task("digit", "classification", "y", num_classes=3),
    "snr": Task("snr", "regression", "snr"),
    "vad": Task("vad", "node_classification", "vad", num_classes=2, node_type="audio"),
}
ALL = [("audio", "image", "text"), ("image",), ("audio", "text"), ("audio", "image", "text")]
MIXED = [("image",), ("audio", "text"), ("text",), ("audio", "image")]

# small sizes, so that every test runs in well under a second per model
BASELINES = {
    "unimodal": dict(modalities=["image"]),
    "early_fusion": dict(options={"conv_channels": 4, "embed_dim": 8, "lstm_hidden": 8, "audio_channels": 8}),
    "late_fusion": dict(),
    "late_fusion_concat": dict(options={"late_fusion": "concat"}),
    "tensor_fusion": dict(options={"fusion_dim": 4}),
    "low_rank_fusion": dict(options={"fusion_dim": 4, "rank": 2}),
    "mult": dict(),
}
CLASSES = {"unimodal": UnimodalModel, "early_fusion": EarlyFusion, "late_fusion": LateFusion,
           "tensor_fusion": TensorFusion, "low_rank_fusion": LowRankTensorFusion, "mult": MulT}


def config_of(case: str, **changes) -> ModelConfig:
    name = case.removesuffix("_concat")
    return ModelConfig(name=name, hidden=16, layers=1, tasks=["digit", "snr"], **{**BASELINES[case], **changes})


def featurized(sets, seed=0):
    """Featurized samples with the given modality sets, their graph config and data spec."""
    rng = np.random.default_rng(seed)
    config = GraphConfig(text={"tokenizer": Tokenizer.fit([" ".join(WORDS)])}, image={"patch_size": 7, "channels": 1})
    samples = [make_sample(rng, m, y=i % 3, n_words=int(rng.integers(2, 7)), audio_len=int(rng.integers(500, 3000)))
               for i, m in enumerate(sets)]
    feats = Featurizer(config).batch(samples)
    for i, f in enumerate(feats):
        f.targets["snr"] = float(i)
    return feats, config, DataSpec.from_graph_config(config, TASKS)


def make_batch(sets=ALL, seed=0):
    feats, config, spec = featurized(sets, seed)
    return collate(feats, config, full_edges="dense"), spec


def embedding_width(model) -> int:
    if isinstance(model, MulT):
        t = len(model.modalities)
        return t * (t - 1) * 16
    return 16


@pytest.fixture(scope="module")
def full():
    return make_batch(ALL)


def test_every_baseline_is_registered():
    assert set(CLASSES) | {"transformer", "mmgnn"} <= set(MODELS.list())


@pytest.mark.parametrize("case", list(BASELINES))
def test_build_by_name_and_toml_round_trip(case, tmp_path):
    _, spec = make_batch()
    config = config_of(case)
    torch.manual_seed(0)
    model = build_model(config, spec)
    assert isinstance(model, CLASSES[config.name]) and isinstance(model, BaselineModel)
    lines = ["[model]", f'name = "{config.name}"', "hidden = 16", "layers = 1", 'tasks = ["digit", "snr"]']
    if config.modalities:
        lines.append("modalities = [" + ", ".join(f'"{m}"' for m in config.modalities) + "]")
    if config.options:
        lines.append("[model.options]")
        lines += [f"{k} = {v!r}".replace("'", '"') for k, v in config.options.items()]
    (tmp_path / "m.toml").write_text("\n".join(lines) + "\n")
    loaded = ModelConfig.from_toml(tmp_path / "m.toml")
    assert loaded == config
    torch.manual_seed(0)
    again = build_model(loaded, spec)
    assert repr(again) == repr(model)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


@pytest.mark.parametrize("case", list(BASELINES))
def test_forward_shapes_gradients_and_parameter_count(case, full):
    batch, spec = full
    torch.manual_seed(0)
    model = build_model(config_of(case), spec)
    out = model(batch)
    assert out.predictions["digit"].shape == (4, 3)
    assert out.predictions["snr"].shape == (4,)
    assert out.graph_embedding.shape == (4, embedding_width(model))
    if out.modality_present is not None:
        assert out.modality_present.shape == (4, len(model.modalities))
        expected = torch.tensor([[m in s for m in model.modalities] for s in ALL])
        assert torch.equal(out.modality_present, expected)
    loss, parts = model.loss(out, batch)
    assert set(parts) == {"digit", "snr"} and torch.isfinite(loss)
    loss.backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert not unused, unused
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    assert model.num_parameters() == sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.parametrize("case", list(BASELINES))
def test_a_few_steps_reduce_the_loss(case, full):
    batch, spec = full
    torch.manual_seed(0)
    model = build_model(config_of(case), spec).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        optimizer.zero_grad()
        loss, _ = model.loss(model(batch), batch)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


@pytest.mark.parametrize("case", list(BASELINES))
@pytest.mark.parametrize("sets", [MIXED, [("image",), ("image", "text")], [("text",)]],
                         ids=["mixed", "no_audio", "text_only"])
def test_missing_modalities_give_finite_outputs_and_gradients(case, sets):
    batch, spec = make_batch(sets)
    torch.manual_seed(0)
    model = build_model(config_of(case), spec)
    for train in (True, False):
        model.train(train)
        model.zero_grad()
        out = model(batch)
        assert all(torch.isfinite(p).all() for p in out.predictions.values())
        assert torch.isfinite(out.graph_embedding).all()
        loss, _ = model.loss(out, batch)
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("case", list(BASELINES))
def test_predictions_do_not_depend_on_the_rest_of_the_batch(case):
    feats, config, spec = featurized(MIXED + ALL)
    torch.manual_seed(0)
    model = build_model(config_of(case), spec).eval()
    with torch.no_grad():
        together = model(collate(feats, config, full_edges="dense")).predictions["digit"]
        alone = torch.cat([model(collate([f], config, full_edges="dense")).predictions["digit"] for f in feats])
    assert torch.allclose(together, alone, atol=1e-5)


@pytest.mark.parametrize("name", ["unimodal", "early_fusion", "late_fusion", "tensor_fusion", "low_rank_fusion"])
def test_single_modality_restriction_ignores_other_modalities(name, full):
    batch, spec = full
    torch.manual_seed(0)
    model = build_model(ModelConfig(name=name, hidden=16, layers=1, modalities=["audio"]), spec).eval()
    assert model.modalities == ["audio"]
    changed = batch.clone()
    changed["image"].x = torch.rand_like(batch["image"].x)
    changed["text"].x = torch.randint_like(batch["text"].x, 1, spec.in_features["text"])
    with torch.no_grad():
        assert torch.allclose(model(batch).predictions["digit"], model(changed).predictions["digit"])


def test_single_modality_errors():
    _, spec = make_batch()
    with pytest.raises(ValueError, match="exactly one modality"):
        build_model(ModelConfig(name="unimodal"), spec)
    with pytest.raises(ValueError, match="exactly one modality"):
        build_model(ModelConfig(name="unimodal", modalities=["image", "text"]), spec)
    with pytest.raises(ValueError, match="at least two modalities"):
        build_model(ModelConfig(name="mult", modalities=["text"]), spec)
    with pytest.raises(ValueError, match="not in the data"):
        build_model(ModelConfig(name="early_fusion", modalities=["video"]), spec)


def test_option_and_task_errors_say_what_was_received():
    _, spec = make_batch()
    with pytest.raises(ValueError, match=r"unknown options \['rnak'\] for model 'low_rank_fusion'"):
        build_model(ModelConfig(name="low_rank_fusion", options={"rnak": 2}), spec)
    with pytest.raises(ValueError, match=r"'late_fusion' must be one of \('mean', 'concat'\) \(got 'max'\)"):
        build_model(ModelConfig(name="late_fusion", options={"late_fusion": "max"}), spec)
    with pytest.raises(ValueError, match=r"'image_size' must be \(H, W\) with positive int sides \(got 28\)"):
        build_model(ModelConfig(name="early_fusion", options={"image_size": 28}), spec)
    with pytest.raises(ValueError, match="'fusion_dim' must be a positive int"):
        build_model(ModelConfig(name="tensor_fusion", options={"fusion_dim": 0}), spec)
    for name in CLASSES:
        modalities = ["audio"] if name == "unimodal" else None
        with pytest.raises(ValueError, match=r"graph-level tasks only .*'vad' \(audio nodes\)"):
            build_model(ModelConfig(name=name, modalities=modalities, tasks=["digit", "vad"]), spec)


def test_reprs_show_the_key_hyperparameters():
    _, spec = make_batch()
    expected = {
        "unimodal": ["UnimodalModel(", "modality='image'", "ModalityBranch('image', PatchEncoder(49, 16"],
        "early_fusion": ["EarlyFusion(", "conv_channels=4", "lstm_hidden=8", "image_size=(28, 28)"],
        "late_fusion": ["LateFusion(", "combine='mean'", "ModalityBranch('text'"],
        "late_fusion_concat": ["combine='concat'"],
        "tensor_fusion": ["TensorFusion(", "fusion_dim=4", "fused_features=125"],
        "low_rank_fusion": ["LowRankTensorFusion(", "rank=2"],
        "mult": ["MulT(", "image<-audio", "out_channels=96"],
    }
    for case, parts in expected.items():
        text = repr(build_model(config_of(case), spec))
        assert all(p in text for p in parts), (case, text)


def test_early_fusion_reassembles_images_from_patches():
    rng = np.random.default_rng(1)
    config = GraphConfig(text={"tokenizer": Tokenizer.fit([" ".join(WORDS)])}, image={"patch_size": 7, "channels": 1})
    samples = [make_sample(rng, ("image",), image_hw=(28, 28)), make_sample(rng, ("audio",)),
               make_sample(rng, ("image",), image_hw=(14, 21))]
    batch = collate(samples, config, full_edges="dense")
    spec = DataSpec.from_graph_config(config, TASKS)
    model = build_model(ModelConfig(name="early_fusion", modalities=["image"]), spec)
    branch = model.branches["image"]
    branch.conv, branch.pool = nn.Identity(), nn.Identity()  # expose the reassembled canvas
    canvas = branch(batch["image"].x, batch["image"].pos, batch["image"].batch, 3).view(3, 28, 28)
    assert torch.equal(canvas[0], torch.from_numpy(to_float_channels(samples[0].image, 1)[:, :, 0]))
    assert not canvas[1].any()  # no image: an empty canvas (its features are zero-filled anyway)
    assert torch.equal(canvas[2, :14, :21], torch.from_numpy(to_float_channels(samples[2].image, 1)[:, :, 0]))
    assert not canvas[2, 14:].any() and not canvas[2, :, 21:].any()
    small = build_model(ModelConfig(name="early_fusion", modalities=["image"], options={"image_size": [14, 14]}), spec)
    with pytest.raises(ValueError, match=r"4×4 patches does not fit .* built for 2×2 patches"):
        small(batch)


def test_early_fusion_default_is_the_documented_design():
    spec = DataSpec(("audio", "image"), ["audio", "image"], [], {"audio": 40, "image": 16}, 4,
                    {"digit": Task("digit", "classification", "y", num_classes=10)})
    model = build_model(ModelConfig(name="early_fusion"), spec)
    assert model.branches["image"].out_features == 64 * 14 * 14
    assert model.fusion.in_features == 64 * 14 * 14 + 64


def test_late_fusion_mean_is_the_mean_over_present_modalities():
    batch, spec = make_batch(MIXED)
    torch.manual_seed(0)
    model = build_model(config_of("late_fusion"), spec).eval()
    out = model(batch)
    for name in ("digit", "snr"):
        per = torch.stack([model.heads_of(m).heads[name](out.modality_embeddings[:, i])
                           for i, m in enumerate(model.modalities)], dim=1)
        for b, present in enumerate(out.modality_present):
            assert torch.allclose(out.predictions[name][b], per[b, present].mean(0), atol=1e-6)
    assert torch.allclose(out.gate.sum(1), torch.ones(4))
    # separate heads per modality, while ``head`` alone owns loss and target standardisation
    assert model.heads_of("audio") is model.head and model.heads_of("text") is not model.head
    assert model.num_parameters() == sum(p.numel() for p in model.parameters())


def test_late_fusion_cluster_head_reads_the_fused_embedding():
    batch, spec = make_batch(MIXED)
    model = build_model(config_of("late_fusion", num_clusters=3, task_weights={"cluster": 0.5}), spec)
    out = model(batch)
    assert "cluster" in model.head.heads and all("cluster" not in h.heads for h in model.modality_heads.values())
    assert torch.allclose(out.predictions["cluster"].sum(1), torch.ones(4))
    loss, parts = model.loss(out, batch)
    assert set(parts) == {"digit", "snr", "cluster"} and torch.isfinite(loss)


def test_tensor_fusion_keeps_the_unimodal_terms_of_a_lone_modality():
    batch, spec = make_batch([("image",)])
    model = build_model(config_of("tensor_fusion"), spec)
    captured = {}
    model.mlp[0].register_forward_hook(lambda module, args, out: captured.update(fused=args[0]))
    out = model(batch)
    z = out.modality_embeddings[0]  # (T, f): only the image row is non-zero
    image = model.modalities.index("image")
    assert not z[[i for i in range(3) if i != image]].any() and z[image].any()
    fused = captured["fused"].view(5, 5, 5)  # (audio, image, text) each f + 1 = 5
    assert torch.allclose(fused[4, :4, 4], z[image]) and fused[4, 4, 4] == 1
    assert fused.count_nonzero() == 5  # the image's terms and the constant


def test_low_rank_fusion_equals_its_full_rank_tensor():
    _, spec = make_batch()
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="low_rank_fusion", hidden=8, modalities=["audio", "image"],
                                    options={"fusion_dim": 3, "rank": 2}), spec)
    za, zi = torch.randn(5, 3), torch.randn(5, 3)
    a1, i1 = torch.cat([za, torch.ones(5, 1)], 1), torch.cat([zi, torch.ones(5, 1)], 1)
    w = torch.einsum("r,rac,ric->aic", model.rank_weights[0], model.factors["audio"], model.factors["image"])
    expected = torch.einsum("ba,bi,aic->bc", a1, i1, w) + model.bias
    assert torch.allclose(model.fuse([za, zi]), expected, atol=1e-6)


def test_mult_missing_source_leaves_the_target_stream_without_cross_update():
    feats, config, spec = featurized([("image",), ("audio", "image")])
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="mult", hidden=16, layers=1, modalities=["audio", "image"]), spec).eval()
    with torch.no_grad():
        out = model(collate(feats, config, full_edges="dense"))
    width = 16  # (T - 1) d per target; targets in order audio, image
    assert not out.graph_embedding[0, :width].any()  # no audio: its target slot is zero
    assert out.graph_embedding[0, width:].abs().sum() > 0 and out.graph_embedding[1].abs().sum() > 0
    assert torch.equal(out.modality_present, torch.tensor([[False, True], [True, True]]))
