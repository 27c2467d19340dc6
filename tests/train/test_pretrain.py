"""Self-supervised pretraining: masking never leaks, InfoNCE pulls pairs together, pretrain → fine-tune."""

import json
from dataclasses import replace

import pytest
import torch

from mmgraph.cli import main
from mmgraph.datasets import GraphDataset, load_dataset
from mmgraph.models import DataSpec, ModelConfig, build_model
from mmgraph.models.objectives import CrossModalContrastive, MaskedNodeObjective
from mmgraph.nn.losses import symmetric_info_nce
from mmgraph.nn.masking import mask_nodes
from mmgraph.train import TrainConfig, Trainer, read_checkpoint, seed_everything
from mmgraph.train.pretrain import PretrainConfig, build_pretrain_model, load_pretrain_run, pretrain
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
    assert torch.isclose(out.parts["contrastive/temperature"], torch.tensor(0.07))


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
                 "--batch-size", "128", "--model", str(model_toml), "--no-progress"]) == 0
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
    pretrain(train, tmp_path, model_config=SMALL, pretrain_config=PretrainConfig(objective="contrastive"),
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
