"""Explanations: shapes and normalisation, batched = one by one, a task only the image solves,
integrated-gradients completeness, deletion curves, modality agreement, pictures, the CLI."""

import json
import shutil

import numpy as np
import pytest
import torch

from mmgraph import GraphConfig, MultimodalSample, Tokenizer, collate, explain
from mmgraph.cli import main
from mmgraph.datasets.base import GraphDataset
from mmgraph.explain import (
    deletion_curves,
    integrated_gradients,
    modality_agreement,
    plot_explanation,
)
from mmgraph.explain.attribution import logits_from_embeddings
from mmgraph.models import DataSpec, ModelConfig, build_model
from mmgraph.nn import BatchContext, GatedReadout
from mmgraph.task import Task
from mmgraph.train import TrainConfig, Trainer, seed_everything
from tests.conftest import WORDS

NUM_CLASSES = 3
MODALITIES = ("audio", "image", "text")
METHODS = ("gradient", "attention")
MIXED_SETS = [("audio", "image", "text"), ("image",), ("audio", "text"), ("image", "text"), ("audio", "image")]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # graphs of a few dozen nodes: one thread is faster than two on a shared 2-core machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def image_task_samples(n: int, seed: int) -> list[MultimodalSample]:
    """Only the image carries the class (a bright 4×4 quadrant of an 8×8 image); text and audio are noise."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        y = int(rng.integers(NUM_CLASSES))
        image = rng.random((8, 8)) * 0.3
        row, col = divmod(y, 2)
        image[4 * row : 4 * row + 4, 4 * col : 4 * col + 4] += 0.7
        samples.append(MultimodalSample(
            image=(image.clip(0, 1) * 255).astype(np.uint8),
            text=" ".join(rng.choice(WORDS, size=int(rng.integers(2, 6)))),
            audio=(rng.standard_normal(int(rng.integers(480, 960))) * 0.1).astype(np.float32),
            sample_rate=8000, y=y, id=f"s{seed}-{i}",
        ))
    return samples


@pytest.fixture(scope="module")
def image_task():
    """A small MultimodalGNN trained on the image-only task (240 train / 60 test samples, 20 epochs, ~10 s).

    Trained to a wide margin, so that what it learnt does not hinge on the CPU's rounding (at 10
    epochs another CPU gave the noise audio half of the gradient importance)."""
    config = GraphConfig(text={"tokenizer": Tokenizer.fit([" ".join(WORDS)]), "max_tokens": 8},
                         image={"patch_size": 4, "channels": 1})
    train = GraphDataset.from_samples(image_task_samples(240, 0), config)
    test_samples = image_task_samples(60, 1)
    test = GraphDataset.from_samples(test_samples, config)
    spec = DataSpec.from_graph_config(config, {"y": Task("y", "classification", "y", num_classes=NUM_CLASSES)})
    seed_everything(0)
    model = build_model(ModelConfig(hidden=16, layers=1, heads=2, modality_dropout=0.3), spec)
    result = Trainer(model, TrainConfig(epochs=20, batch_size=32, lr=3e-3, progress=False, device="cpu")).fit(
        train, test)
    assert result.history[-1]["val/y/accuracy"] >= 0.95
    return model.eval(), config, test, test_samples


@pytest.fixture(scope="module")
def mixed(image_task):
    """Samples with different modality sets, their batch, and each alone."""
    model, config, _, _ = image_task
    samples = [s.without(*[m for m in MODALITIES if m not in keep])
               for s, keep in zip(image_task_samples(len(MIXED_SETS), 7), MIXED_SETS)]
    batch = collate(samples, config, full_edges="dense")
    singles = [collate([s], config, full_edges="dense") for s in samples]
    return batch, singles


@pytest.mark.parametrize("method", METHODS)
def test_importances_are_normalised_per_graph(image_task, mixed, method):
    model, _, _, _ = image_task
    batch, _ = mixed
    explanations = explain(model, batch, method=method)
    with torch.no_grad():
        probs = torch.softmax(model(batch).predictions["y"], 1)
    assert len(explanations) == len(MIXED_SETS)
    for g, (e, present) in enumerate(zip(explanations, MIXED_SETS)):
        assert e.id == batch.id[g] and e.method == method and e.task == "y"
        assert sorted(e.modality_importance) == sorted(present) == sorted(e.node_importance)
        assert sum(e.modality_importance.values()) == pytest.approx(1.0, abs=1e-5)
        assert all(v >= 0 for v in e.modality_importance.values())
        for m, values in e.node_importance.items():
            assert values.shape == (int(batch[m].ptr[g + 1] - batch[m].ptr[g]),)
            assert (values >= 0).all()
            assert float(values.sum()) == pytest.approx(e.modality_importance[m], abs=1e-5)
        assert e.predicted_class == e.target == int(probs[g].argmax())
        assert e.probability == pytest.approx(float(probs[g].max()), abs=1e-5)
        assert e.label == int(batch.y[g])


def test_attention_method_reads_the_gate_and_pooling_weights(image_task, mixed):
    model, _, _, _ = image_task
    batch, _ = mixed
    explanations = explain(model, batch, method="attention")
    with torch.no_grad():
        out = model(batch)
    for g, e in enumerate(explanations):
        for m, share in e.modality_importance.items():
            assert share == pytest.approx(float(out.gate[g, out.modalities.index(m)]), abs=1e-5)


def test_gated_readout_pool_weights_reproduce_the_pooling():
    torch.manual_seed(0)
    ptr = {"image": torch.tensor([0, 3, 3, 7]), "audio": torch.tensor([0, 2, 5, 6])}
    from torch_geometric.data import HeteroData

    data = HeteroData()
    for t, p in ptr.items():
        data[t].ptr = p
        data[t].batch = torch.repeat_interleave(torch.arange(3), p.diff())
        data[t].num_nodes = int(p[-1])
    data.num_graphs = 3
    ctx = BatchContext.from_batch(data, ["audio", "image"], [])
    x = {t: torch.randn(int(p[-1]), 8) for t, p in ptr.items()}
    readout = GatedReadout(8, ["audio", "image"])
    plain = readout(x, ctx)
    out = readout(x, ctx, return_pool_weights=True)
    assert plain.pool_weights is None and torch.equal(plain.graph, out.graph)
    for i, t in enumerate(out.node_types):
        w = out.pool_weights[t]
        sums = torch.zeros(3).index_add(0, data[t].batch, w)
        assert torch.allclose(sums, out.present[:, i].float(), atol=1e-6)
        pooled = torch.zeros(3, 8).index_add(0, data[t].batch, w[:, None] * x[t])
        assert torch.allclose(pooled, out.per_type[:, i], atol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_the_label_carrying_modality_gets_most_importance(image_task, method):
    model, _, test, _ = image_task
    explanations = explain(model, test.collate_indices(list(range(len(test)))), method=method)
    shares = torch.tensor([[e.modality_importance[m] for m in MODALITIES] for e in explanations])  # (G, T)
    mean = shares.mean(0)
    # threshold: the image holds more than half of all importance on average, and more than any other modality
    assert mean[MODALITIES.index("image")] > 0.5, mean
    assert int(mean.argmax()) == MODALITIES.index("image")


@pytest.mark.parametrize("method", METHODS)
def test_batched_explanations_equal_one_by_one(image_task, mixed, method):
    model, _, _, _ = image_task
    batch, singles = mixed
    together = explain(model, batch, method=method)
    for single, e in zip(singles, together):
        (alone,) = explain(model, single, method=method)
        assert alone.predicted_class == e.predicted_class
        assert alone.probability == pytest.approx(e.probability, abs=1e-5)
        assert alone.modality_importance == pytest.approx(e.modality_importance, abs=1e-5)
        for m in e.node_importance:
            assert torch.allclose(alone.node_importance[m], e.node_importance[m], atol=1e-5)


def test_integrated_gradients_are_complete(image_task, mixed):
    model, _, _, _ = image_task
    batch, _ = mixed
    x, pos, ctx = model.prepare_inputs(batch)
    target = torch.tensor([0, 1, 2, 0, 1])
    attributions = integrated_gradients(model, x, pos, ctx, target, "y", steps=32)
    assert {t: a.shape for t, a in attributions.items()} == {
        "audio": (batch["audio"].num_nodes, 40), "image": (batch["image"].num_nodes, 16),
        "text": (batch["text"].num_nodes, 16)}
    total = sum(torch.zeros(5).index_add(0, ctx.batch[t], a.sum(-1)) for t, a in attributions.items())
    # the baseline: black patches, the encoder's mean frame, padding tokens (whose embedding is zero)
    baseline = {t: torch.zeros_like(v) for t, v in x.items()}
    baseline["audio"] = model.encoders["audio"].input_mean.expand_as(x["audio"])
    assert baseline["audio"].abs().sum() > 0  # fitted on the training frames
    with torch.no_grad():
        full, _ = logits_from_embeddings(model, model.embed_nodes(x, pos, ctx), ctx, "y")
        empty, _ = logits_from_embeddings(model, model.embed_nodes(baseline, pos, ctx), ctx, "y")
    difference = (full - empty).gather(1, target[:, None])[:, 0]
    assert torch.allclose(total, difference, atol=1e-2 * float(difference.abs().max()))


@pytest.mark.parametrize("method", METHODS)
def test_deletion_curves_beat_random_order(image_task, method):
    model, _, test, _ = image_task
    batch = test.collate_indices(list(range(len(test))))
    explanations = explain(model, batch, method=method)
    curves = deletion_curves(model, batch, explanations, seed=0)
    assert curves.fractions.shape == (11,) and curves.importance.shape == curves.random.shape == (len(test), 11)
    probs = torch.tensor([e.target_probability for e in explanations])
    assert torch.allclose(curves.importance[:, 0], probs, atol=1e-5)
    assert torch.allclose(curves.random[:, 0], probs, atol=1e-5)
    assert torch.allclose(curves.importance[:, -1], curves.random[:, -1])  # everything removed either way
    assert curves.area_between > 0.02
    summary = curves.to_dict()
    assert summary["area_between"] == pytest.approx(summary["auc_random"] - summary["auc_importance"])


def test_modality_agreement_matches_removal_from_the_data(image_task, mixed):
    model, _, test, _ = image_task
    batch = test.collate_indices(list(range(len(test))))
    explanations = explain(model, batch, method="attention")
    agreement = modality_agreement(model, batch, explanations)
    assert agreement.importance.shape == agreement.probability_drop.shape == (len(test), 3)
    assert agreement.eligible.all() and agreement.rate >= 0.8
    # removing a modality by keep masks = removing it from the data
    without = test.without_modalities(["image"]).collate_indices(list(range(len(test))))
    with torch.no_grad():
        probs = torch.softmax(model(without).predictions["y"], 1)
    target = torch.tensor([e.target for e in explanations])
    full = torch.tensor([e.target_probability for e in explanations])
    expected = full - probs.gather(1, target[:, None])[:, 0]
    assert torch.allclose(agreement.probability_drop[:, MODALITIES.index("image")], expected, atol=1e-5)
    # graphs with one modality cannot disagree; absent modalities have no drop
    mixed_batch, _ = mixed
    partial = modality_agreement(model, mixed_batch, explain(model, mixed_batch, method="gradient"))
    assert partial.eligible.tolist() == [len(s) >= 2 for s in MIXED_SETS]
    assert torch.isnan(partial.probability_drop[1, MODALITIES.index("audio")])


def test_pictures_and_json(image_task, mixed, tmp_path):
    model, config, _, _ = image_task
    _, singles = mixed
    for i in (2, 4):  # audio + text; audio + image (the CLI test draws all three)
        (e,) = explain(model, singles[i])
        path = tmp_path / f"{i}.png"
        plot_explanation(e, singles[i], config, path)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
        record = json.loads(json.dumps(e.to_dict()))
        assert set(record["node_importance"]) == set(MIXED_SETS[i])
        assert sum(record["modality_importance"].values()) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="not this sample's graph"):
        plot_explanation(e, singles[0], config)


@pytest.mark.parametrize("readout", ["gate", "hub"])
def test_hub_graphs_explain_modality_nodes_only(readout):
    config = GraphConfig(text={"tokenizer": Tokenizer.fit([" ".join(WORDS)])}, image={"patch_size": 4}, hub=True)
    spec = DataSpec.from_graph_config(config, {"y": Task("y", "classification", "y", num_classes=NUM_CLASSES)})
    seed_everything(0)
    model = build_model(ModelConfig(hidden=16, layers=1, heads=2, readout=readout), spec).train()
    batch = collate(image_task_samples(3, 3), config, full_edges="dense")
    for e in explain(model, batch, steps=4):
        assert set(e.node_importance) == set(MODALITIES)
        assert sum(float(v.sum()) for v in e.node_importance.values()) == pytest.approx(1.0, abs=1e-5)
    assert model.training  # put back in its mode
    if readout == "hub":
        with pytest.raises(ValueError, match="needs the model's gated readout"):
            explain(model, batch, method="attention")
    else:
        assert len(explain(model, batch, method="attention")) == 3


def test_errors_name_what_was_wrong(image_task, mixed):
    model, _, _, _ = image_task
    batch, _ = mixed
    with pytest.raises(ValueError, match="'method' must be one of"):
        explain(model, batch, method="shap")
    with pytest.raises(ValueError, match="not a graph-level classification task"):
        explain(model, batch, task="nope")
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\)"):
        explain(model, batch, target=3)
    with pytest.raises(TypeError, match="MultimodalGNN"):
        explain(torch.nn.Linear(2, 2), batch)


def test_cli_explains_a_trained_run(tmp_path, capsys):
    from mmgraph.datasets import load_dataset
    from mmgraph.train.runs import train_run

    run = tmp_path / "run"
    train_run("digits", ModelConfig(hidden=16, layers=1), run, train_config=TrainConfig(epochs=1, progress=False))
    ids = [s.id for s in load_dataset("digits").splits["test"][:2]]
    out = tmp_path / "explained"
    code = main(["explain", "--run", str(run), "--data", "digits", "--ids", ",".join(ids), "--out", str(out),
                 "--method", "attention"])
    assert code == 0
    printed = capsys.readouterr().out
    for sid in ids:
        record = json.loads((out / f"{sid}.json").read_text())
        assert record["id"] == sid and record["method"] == "attention" and record["task"] == "digit"
        assert sum(record["modality_importance"].values()) == pytest.approx(1.0, abs=1e-5)
        assert set(record["node_importance"]) == {"audio", "image", "text"}
        assert len(record["node_importance"]["image"]) == 4  # 8×8 digits in 4×4 patches
        assert (out / f"{sid}.png").stat().st_size > 10_000
        assert str(out / f"{sid}.png") in printed
    assert main(["explain", "--run", str(run), "--data", "digits", "--ids", "nope", "--out", str(out)]) == 2
    assert "ids not in the test split of digits: ['nope']" in capsys.readouterr().err


def test_explain_reads_the_runs_own_data_by_default_and_checks_other_data(digits_run, manifest_run, tmp_path,
                                                                         capsys, caplog):
    import logging

    from mmgraph.datasets import load_dataset

    sid = load_dataset("digits").splits["test"][0].id
    out = tmp_path / "own"
    assert main(["explain", "--run", str(digits_run), "--ids", sid, "--out", str(out)]) == 0  # no --data
    assert json.loads((out / f"{sid}.json").read_text())["id"] == sid
    # other data the run can read: explained, with a warning that it is not the run's data
    _, manifest = manifest_run
    record = json.loads(manifest.read_text().splitlines()[4])  # a test record
    with caplog.at_level(logging.WARNING):
        assert main(["explain", "--run", str(digits_run), "--data", str(manifest), "--ids", record["id"],
                     "--out", str(tmp_path / "other")]) == 0
    assert f"applying run {digits_run} (trained on digits) to other data: {manifest}" in caplog.text
    # data the run cannot read: refused before anything is explained
    conflicting = tmp_path / "conflicting.jsonl"
    conflicting.write_text("".join(json.dumps({**json.loads(line), "targets": {"digit": 1.5}}) + "\n"
                                   for line in manifest.read_text().splitlines()))
    for folder in ("imgs", "wav"):  # copies: links to files outside a manifest's folder are not followed
        shutil.copytree(manifest.parent / folder, tmp_path / folder)
    capsys.readouterr()
    assert main(["explain", "--run", str(digits_run), "--data", str(conflicting), "--ids", record["id"],
                 "--out", str(tmp_path / "no")]) == 2
    assert "task 'digit' of conflicting is regression but the run's is classification" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()
