"""Self-supervised pretraining: masking never leaks, InfoNCE pulls pairs together, pretrain → fine-tune."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from mmgraph.cli import main
from mmgraph.datasets import GraphDataset, load_dataset
from mmgraph.models import DataSpec, ModelConfig, build_model
from mmgraph.models.objectives import CrossModalContrastive, MaskedNodeObjective
from mmgraph.nn.losses import symmetric_info_nce
from mmgraph.nn.masking import mask_nodes
from mmgraph.train import TrainConfig, Trainer, read_checkpoint, seed_everything
from mmgraph.train.pretrain import (
    PRETRAIN_TRAIN_CONFIG,
    LossAtChance,
    NuisanceRedraw,
    PretrainConfig,
    build_pretrain_model,
    load_pretrain_run,
    pretrain,
    pretrain_train_config,
)
from mmgraph.train.runs import init_from

SMALL = ModelConfig(hidden=16, layers=1, heads=2)


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits")
    config = ds.fit_graph_config()
    train = ds.featurize("train", config).subset(range(96))
    return train, config


def fitted_model(train, objective="masked", **kw):
    seed_everything(0)
    net = build_pretrain_model(SMALL, train.config, PretrainConfig(objective=objective, **kw))
    Trainer(net, TrainConfig(progress=False)).prepare(train)  # input statistics, as before training
    return net


def test_mask_nodes_masks_the_ratio_of_every_graph(digits):
    train, _ = digits
    net = fitted_model(train)
    batch = train.collate_indices(range(16))
    ctx = net.model.context(batch)
    masks = mask_nodes(ctx, ["audio", "image", "text"], 0.5, torch.Generator().manual_seed(0))
    for t, m in masks.items():
        counts = ctx.layouts[t].counts
        per_graph = torch.zeros_like(counts).index_add_(0, ctx.batch[t], m.long())
        assert torch.equal(per_graph, torch.floor(0.5 * counts.double() + 0.5).long()), t
    again = mask_nodes(ctx, ["audio", "image", "text"], 0.5, torch.Generator().manual_seed(0))
    assert all(torch.equal(masks[t], again[t]) for t in masks)


def test_masked_features_never_reach_the_model(digits):
    """Changing a masked node's raw features changes nothing the model computes, only the target."""
    train, _ = digits
    net = fitted_model(train)
    net.eval()
    objective: MaskedNodeObjective = net.objectives["masked"]
    batch = train.collate_indices(range(16))
    ctx = net.model.context(batch)
    masks = mask_nodes(ctx, ["audio", "image", "text"], 0.5, torch.Generator().manual_seed(1))
    assert all(m.any() for m in masks.values()) and not masks["audio"].all() and not masks["image"].all()
    changed = batch.clone()
    g = torch.Generator().manual_seed(2)
    for t in ("audio", "image"):
        x = changed[t].x.clone()
        x[masks[t]] = torch.randn(int(masks[t].sum()), x.shape[1], generator=g) * 5
        changed[t].x = x
    ids = changed["text"].x.clone()
    ids[masks["text"]] = (ids[masks["text"]] + 7) % objective.in_features["text"]
    changed["text"].x = ids

    with torch.no_grad():
        a, b = objective(net.model, batch, masks), objective(net.model, changed, masks)
        _, pos, ctx = net.model.prepare_inputs(batch)
        enc_a, enc_b = net.model.embed_nodes(a.inputs, pos, ctx), net.model.embed_nodes(b.inputs, pos, ctx)
    for t in ("audio", "image", "text"):
        m = masks[t]
        assert torch.equal(a.inputs[t], b.inputs[t]), t  # the model's input
        assert torch.equal(enc_a[t], enc_b[t]), t  # every encoder output (the frame conv's neighbours too)
        assert torch.equal(a.node_embeddings[t], b.node_embeddings[t]), t
        assert torch.equal(a.reconstructions[t], b.reconstructions[t]), t  # what the loss compares
        assert not torch.equal(a.targets[t], b.targets[t]), t
        assert not torch.equal(a.inputs[t][m], batch[t].x[m])  # masked rows were replaced
        assert torch.equal(a.inputs[t][~m], batch[t].x[~m])  # the others were not
    assert torch.all(a.inputs["text"][masks["text"]] == 2)  # <mask>
    # the targets are the original features, in the units the encoder reads them in
    enc = net.model.encoders["audio"]
    assert torch.allclose(a.targets["audio"], (batch["audio"].x[masks["audio"]] - enc.input_mean) / enc.input_std)
    assert torch.equal(b.targets["image"], changed["image"].x[masks["image"]])
    assert torch.equal(a.targets["text"], batch["text"].x[masks["text"]])


def test_masked_objective_learns(digits):
    train, _ = digits
    net = fitted_model(train)
    trainer = Trainer(net, TrainConfig(epochs=5, batch_size=32, lr=3e-3, progress=False))
    result = trainer.fit(train)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0]
    assert repr(net.objectives["masked"]).startswith("MaskedNodeObjective(")


def test_info_nce_is_lowest_for_aligned_pairs_and_pulls_them_together():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(32, 8, generator=g)
    b = a + 0.1 * torch.randn(32, 8, generator=g)
    scale = torch.tensor(2.0)
    aligned = symmetric_info_nce(a, b, scale)
    shuffled = symmetric_info_nce(a, b[torch.randperm(32, generator=g)], scale)
    assert aligned < shuffled
    a2 = torch.randn(32, 8, generator=g, requires_grad=True)
    b2 = torch.randn(32, 8, generator=g)
    symmetric_info_nce(a2, b2, scale).backward()
    before = torch.nn.functional.cosine_similarity(a2, b2).mean()
    after = torch.nn.functional.cosine_similarity(a2 - 0.5 * a2.grad, b2).mean()
    assert after > before
    assert symmetric_info_nce(a2 - 0.5 * a2.grad, b2, scale) < symmetric_info_nce(a2, b2, scale)


def test_contrastive_views_are_separate(digits):
    """Each modality's embedding comes from its own nodes: no modality can copy another's features."""
    train, _ = digits
    net = fitted_model(train, objective="contrastive")
    net.eval()
    objective: CrossModalContrastive = net.objectives["contrastive"]
    batch = train.collate_indices(range(16))
    changed = batch.clone()
    changed["audio"].x = changed["audio"].x + 3.0
    with torch.no_grad():
        za, present = objective.embeddings(net.model, batch)
        zb, _ = objective.embeddings(net.model, changed)
        out = objective(net.model, batch)
    audio, image = objective.modalities.index("audio"), objective.modalities.index("image")
    assert torch.equal(za[:, image], zb[:, image]) and not torch.allclose(za[:, audio], zb[:, audio])
    assert present.all() and set(out.parts) >= {"contrastive/audio-image", "contrastive/image-text"}
    assert torch.isclose(out.parts["contrastive/temperature"], torch.tensor(0.1))  # fixed by default
    assert not objective.logit_scale.requires_grad


def test_pretraining_reads_no_labels(digits):
    train, _ = digits
    net = fitted_model(train, objective="both")
    net.eval()
    batch = train.collate_indices(range(16))
    unlabelled = batch.clone()
    del unlabelled.y
    unlabelled.snr_db = torch.full_like(batch.snr_db, float("nan"))
    with torch.no_grad():
        a, _ = net.loss(net(batch), batch)
        b, _ = net.loss(net(unlabelled), unlabelled)
    assert torch.equal(a, b)


def test_cli_pretrain_then_train_init_round_trip(tmp_path, capsys):
    model_toml = tmp_path / "small.toml"
    model_toml.write_text('name = "mmgnn"\nhidden = 16\nlayers = 1\nheads = 2\n')
    pre, fine = tmp_path / "pre", tmp_path / "fine"
    assert main(["pretrain", "--data", "digits", "--out", str(pre), "--objective", "both", "--epochs", "1",
                 "--batch-size", "128", "--model", str(model_toml), "--no-progress", "--no-chance-guard"]) == 0
    assert "run folder" in capsys.readouterr().out
    info = json.loads((pre / "run.json").read_text())
    assert info["kind"] == "pretrain" and info["pretrain_config"]["objective"] == "both"
    # make the tokenizer differ from what refitting would give: fine-tuning must reuse the stored one
    vocab = info["graph_config"]["text"]["tokenizer"]["vocab"]
    vocab[3:] = vocab[3:][::-1]
    (pre / "run.json").write_text(json.dumps(info))

    pretrained = {k: v for k, v in read_checkpoint(pre / "checkpoints" / "best.pt")["model"].items()}
    loaded = load_pretrain_run(pre)
    assert all(torch.equal(v, pretrained[f"model.{k}"]) for k, v in loaded.backbone.state_dict().items())

    # lr 0: the fine-tuned weights stay what --init loaded
    assert main(["train", "--data", "digits", "--init", str(pre), "--out", str(fine), "--epochs", "1", "--lr", "0",
                 "--model", str(model_toml), "--no-progress"]) == 0
    tuned = json.loads((fine / "run.json").read_text())
    assert tuned["graph_config"]["text"]["tokenizer"] == info["graph_config"]["text"]["tokenizer"]
    state = read_checkpoint(fine / "checkpoints" / "best.pt")["model"]
    backbone = [k for k in state if k.startswith(("encoders.", "layers.", "readout."))]
    assert backbone and all(torch.equal(state[k], pretrained[f"model.{k}"]) for k in backbone)
    assert not any(k.startswith(("objectives.", "model.")) for k in state)

    # init_from copies the graph model only: not the decoders, projections or the unused head
    ds = load_dataset("digits")
    spec = DataSpec.from_graph_config(loaded.graph_config, ds.tasks)
    seed_everything(5)
    model = build_model(SMALL, spec)
    head_before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("head.")}
    copied = init_from(model, pre)
    own = model.state_dict()
    assert copied == len([k for k in own if not k.startswith("head.")])
    assert all(torch.equal(own[k], head_before[k]) for k in head_before)


def test_pretrain_resume_needs_flag(digits, tmp_path):
    train, _ = digits
    config = TrainConfig(epochs=1, batch_size=48, progress=False)
    pretrain(train, tmp_path, model_config=SMALL, pretrain_config=PretrainConfig(objective="masked"),
             train_config=config)
    with pytest.raises(ValueError, match="already holds a run"):
        pretrain(train, tmp_path, model_config=SMALL, train_config=config)


def test_pretrain_config_validation():
    with pytest.raises(ValueError, match="'objective' must be one of"):
        PretrainConfig(objective="nope")
    with pytest.raises(ValueError, match="'mask_ratio' must be in"):
        PretrainConfig(mask_ratio=0.0)
    with pytest.raises(ValueError, match="unknown PretrainConfig fields"):
        PretrainConfig.from_dict({"mask": 0.3})
    with pytest.raises(ValueError, match="pretraining needs the graph model"):
        build_pretrain_model(ModelConfig(name="transformer"), load_dataset("digits").fit_graph_config())


def test_dec_on_pretrained_embeddings_without_labels(digits, tmp_path):
    """The DEC head (num_clusters, no task) fine-tunes a pretrained model on data without labels."""
    train, config = digits
    pretrain(train, tmp_path, model_config=SMALL, pretrain_config=PretrainConfig(objective="contrastive",
                                                                             chance_guard=False),
             train_config=TrainConfig(epochs=1, batch_size=48, progress=False))
    unlabelled = GraphDataset(replace(train.data, y=None, targets={}), train.config)
    spec = DataSpec.from_graph_config(config, load_dataset("digits").tasks)
    seed_everything(0)
    model = build_model(SMALL.replace(tasks=[], num_clusters=4), spec)
    assert list(model.head.heads) == ["cluster"]
    init_from(model, tmp_path)
    trainer = Trainer(model, TrainConfig(epochs=2, batch_size=32, lr=1e-4, progress=False))
    result = trainer.fit(unlabelled)
    assert len(result.history) == 2
    q = trainer.predict_raw(unlabelled)[0]["cluster"]
    assert q.shape == (len(train), 4) and torch.all(q >= 0) and torch.allclose(q.sum(1), torch.ones(len(train)))
    metrics = trainer.evaluate(train)  # labels only here, for the metrics
    assert 0.0 <= metrics["cluster/nmi"] <= 1.0 and 0.0 <= metrics["cluster/cluster_accuracy"] <= 1.0


# ------------------------------------------------------------------------- the recipe that learns (issue 12)

TINY = TrainConfig(steps=40, batch_size=32, lr=2e-3, weight_decay=0.05, warmup=0.1, grad_clip=5.0, progress=False)


def test_pretrain_defaults_are_the_cross_modal_recipe():
    pc = PretrainConfig()
    assert pc.objective == "contrastive" and pc.views == "separate" and pc.projection == 128
    assert pc.temperature == 0.1 and not pc.learn_temperature and pc.joint_weight == 0.5
    assert pc.augment == ["redraw", "specaugment", "patch_dropout"] and pc.patch_dropout == 0.2
    tc = PRETRAIN_TRAIN_CONFIG
    assert (tc.steps, tc.batch_size, tc.lr, tc.weight_decay, tc.grad_clip) == (1200, 256, 2e-3, 0.05, 5.0)
    assert round(tc.warmup * tc.steps) == 100
    assert pretrain_train_config(None, {"epochs": 3}).steps is None  # --epochs alone: an epoch budget
    assert pretrain_train_config(None, {"lr": 1e-3}).steps == 1200
    with pytest.raises(ValueError, match="unknown augmentations"):
        PretrainConfig(augment=["mixup"])


def test_joint_term_trains_the_gate_and_not_the_views(digits):
    """The joint term reaches the modality gate (separate views never run it); its targets are detached,
    so it sends no gradient into the separate-view projections."""
    train, _ = digits
    batch = train.collate_indices(range(16))
    net = fitted_model(train, objective="contrastive")
    objective = net.objectives["contrastive"]
    objective(net.model, batch).parts["contrastive/joint"].backward()
    gate = [p.grad for n, p in net.model.named_parameters() if n.startswith("readout.gate.")]
    assert gate and all(g is not None and g.abs().sum() > 0 for g in gate)
    assert all(p.grad is None for p in objective.project.parameters())
    without = fitted_model(train, objective="contrastive", joint_weight=0.0)
    out = without.objectives["contrastive"](without.model, batch)
    out.loss.backward()
    assert "contrastive/joint" not in out.parts and torch.isclose(out.loss, out.parts["contrastive/infonce"])
    assert all(p.grad is None for n, p in without.model.named_parameters() if n.startswith("readout.gate."))


def test_spec_augment_changes_only_what_the_contrastive_objective_sees(digits):
    train, _ = digits
    net = fitted_model(train, objective="both")
    batch = train.collate_indices(range(16))
    before = batch["audio"].x.clone()
    net.train()
    augmented = net.augmented(batch)
    assert torch.equal(batch["audio"].x, before)  # the masked objective reads the batch unchanged
    assert not torch.equal(augmented["audio"].x, before) and torch.equal(augmented["image"].x, batch["image"].x)
    net.eval()
    assert net.augmented(batch) is batch


def test_loss_at_chance_guard_fires_on_an_untrainable_run(shared_info):
    _, splits = shared_info
    seed_everything(0)
    with pytest.raises(LossAtChance, match=r"learned nothing: the train InfoNCE .* of chance ln\(32\) = 3.466 "
                                           r"after 2 epoch\(s\), 10 steps"):
        pretrain(splits["train"], None, model_config=SMALL, train_config=TINY.replace(lr=0.0),
                 pretrain_config=PretrainConfig(guard_steps=8))
    # before the warm-up nothing is checked, but the end of the run is
    with pytest.raises(LossAtChance, match="at the end of the run"):
        pretrain(splits["train"], None, model_config=SMALL, train_config=TINY.replace(lr=0.0, steps=6),
                 pretrain_config=PretrainConfig(guard_steps=400))


def test_learnable_run_passes_the_guard_and_logs_held_out_infonce_against_chance(shared_info, tmp_path):
    ds, splits = shared_info
    seed_everything(0)
    redraw = NuisanceRedraw(ds, "train", np.arange(len(splits["train"])), splits["train"], seed=0)
    _, result = pretrain(splits["train"], tmp_path, model_config=SMALL, train_config=TINY, val=splits["val"],
                         pretrain_config=PretrainConfig(guard_steps=8), redraw=redraw)
    rows = result.history
    assert [r["steps"] for r in rows] == [5, 10, 15, 20, 25, 30, 35, 40]  # 160 samples, batch 32: 5 steps an epoch
    assert all(r["chance"] == pytest.approx(math.log(32)) for r in rows)
    assert rows[-1]["train/contrastive/infonce"] < 0.9 * math.log(32)
    assert rows[-1]["val/contrastive/infonce"] < rows[0]["val/contrastive/infonce"]
    assert all("val/contrastive/joint" in r and "train/contrastive/joint" in r for r in rows)
    summary = json.loads((tmp_path / "pretrain_metrics.json").read_text())
    assert summary["steps"] == 40 and summary["final_heldout_infonce"] == rows[-1]["val/contrastive/infonce"]
    assert "train/contrastive/infonce" in (tmp_path / "metrics.csv").read_text()


def test_nuisance_redraw_differs_per_epoch_and_keeps_labels(shared_info):
    ds, _ = shared_info
    data = ds.featurize("train", ds.fit_graph_config()).subset(range(40))
    original = {m: c.x.clone() for m, c in data.columns.items()}
    y = data.y.clone()
    redraw = NuisanceRedraw(ds, "train", np.arange(40), data, seed=3)
    redraw(0)  # the first epoch sees the dataset's own draw
    assert all(torch.equal(data.columns[m].x, original[m]) for m in original)
    redraw(1)
    epoch1 = data.columns["audio"].x.clone()
    redraw(2)
    epoch2 = data.columns["audio"].x.clone()
    assert not torch.equal(epoch1, original["audio"]) and not torch.equal(epoch1, epoch2)
    assert torch.equal(data.columns["image"].x, original["image"]) and torch.equal(data.y, y)
    assert torch.equal(data.columns["audio"].counts, data.columns["audio"].counts)
    redraw(1)  # the same epoch draws the same (a resumed run sees what an uninterrupted one did)
    assert torch.equal(data.columns["audio"].x, epoch1)
    with pytest.raises(ValueError, match="cannot re-draw"):
        load_dataset("digits").resample_nuisance("train", np.arange(3), np.random.default_rng(0))
