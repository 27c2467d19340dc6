"""Every head learns a tiny separable problem; metrics and DEC assignments are right."""

import numpy as np
import pytest
import torch

from mmgraph.nn.heads import (
    ClassificationHead,
    ClusterHead,
    MultiTaskHead,
    NodeClassificationHead,
    RegressionHead,
    cluster_accuracy,
    clustering_metrics,
    regression_metrics,
)


def blobs(n=120, d=8, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, d, generator=g) * 4
    y = torch.arange(n) % k
    return centres[y] + torch.randn(n, d, generator=g) * 0.5, y


def fit(head, x, target, steps=150, lr=0.05):
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = head.loss(head(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_classification_head_learns():
    torch.manual_seed(0)
    x, y = blobs()
    head = ClassificationHead("c", 8, 3, dropout=0.0)
    losses = fit(head, x, y)
    assert losses[-1] < 0.1 * losses[0]
    assert head.metrics(head(x), y)["accuracy"] == 1.0
    y_partial = y.clone()
    y_partial[:10] = -1  # unlabelled rows are ignored
    assert torch.isfinite(head.loss(head(x), y_partial))


def test_regression_head_learns_in_target_units():
    torch.manual_seed(0)
    x = torch.randn(100, 8)
    y = 50.0 + 10.0 * torch.nn.functional.layer_norm(x, (8,))[:, 0]  # reachable through the head's LayerNorm
    head = RegressionHead("r", 8, dropout=0.0)
    head.fit_target(y)
    assert abs(head.mean.item() - y.mean().item()) < 1e-3
    losses = fit(head, x, y, steps=300)
    assert losses[-1] < 0.05 * losses[0]
    metrics = head.metrics(head(x), y)
    assert metrics["mae"] < 1.5 and metrics["r2"] > 0.95
    y_nan = y.clone()
    y_nan[0] = float("nan")
    assert torch.isfinite(head.loss(head(x), y_nan))


def test_node_head_masks_dropped_nodes():
    torch.manual_seed(0)
    x, y = blobs(60, k=2)
    head = NodeClassificationHead("n", 8, 2, node_type="audio", dropout=0.0)
    fit(head, x, y, steps=100)
    assert head.metrics(head(x), y)["accuracy"] == 1.0
    mask = torch.zeros(60, dtype=torch.bool)
    assert head.loss(head(x), y, mask) == 0


def test_cluster_head_assignments_are_distributions_and_find_clusters():
    torch.manual_seed(0)
    x, y = blobs(150, k=3)
    head = ClusterHead("cluster", 8, 3)
    head.init_centroids(x)
    q = head(x)
    assert q.shape == (150, 3) and torch.all(q >= 0) and torch.allclose(q.sum(1), torch.ones(150))
    p = head.target_distribution(q)
    assert torch.allclose(p.sum(1), torch.ones(150))
    before = head.loss(q)
    fit(head, x, None, steps=50, lr=0.01)
    assert head.loss(head(x)) < before
    m = head.metrics(head(x), y)
    assert m["nmi"] > 0.95 and m["cluster_accuracy"] > 0.95


def test_metric_helpers():
    assert cluster_accuracy(np.array([1, 1, 0, 0]), np.array([0, 0, 1, 1])) == 1.0
    m = clustering_metrics(np.array([0, 0, 1, 1]), np.array([1, 1, 0, -1]))
    assert m["nmi"] == pytest.approx(1.0)
    assert regression_metrics(np.array([1.0, 2.0]), np.array([1.0, np.nan]))["mae"] == 0.0


def test_multitask_head_weights_and_dict_outputs():
    torch.manual_seed(0)
    heads = {"a": ClassificationHead("a", 8, 3), "b": RegressionHead("b", 8, target="b")}
    mt = MultiTaskHead(heads, {"b": 0.5})
    preds = mt(torch.randn(4, 8), {})
    assert set(preds) == {"a", "b"} and preds["a"].shape == (4, 3) and preds["b"].shape == (4,)

    class Batch(dict):
        def __getattr__(self, k):
            return self[k]
    batch = Batch(y=torch.tensor([0, 1, 2, 0]), b=torch.randn(4))
    total, parts = mt.loss(preds, batch)
    assert torch.allclose(total, parts["a"] + 0.5 * parts["b"])
    with pytest.raises(ValueError, match="weights for unknown tasks"):
        MultiTaskHead(heads, {"c": 1.0})


def test_heads_registry_builds_the_head_of_every_task_kind():
    from mmgraph.nn.heads import HEADS, NodeRegressionHead
    from mmgraph.task import TASK_KINDS, Task

    assert set(HEADS.list()) == set(TASK_KINDS)
    tasks = [Task("digit", "classification", "y", num_classes=10), Task("snr", "regression", "snr_db"),
             Task("vad", "node_classification", "vad", num_classes=2, node_type="audio"),
             Task("energy", "node_regression", "energy", node_type="audio")]
    kinds = [ClassificationHead, RegressionHead, NodeClassificationHead, NodeRegressionHead]
    for task, cls in zip(tasks, kinds):
        head = HEADS.create(task.kind, task, 8, 0.0)
        assert type(head) is cls and head.name == task.name and head.target_attr == task.target
        assert head.node_type == task.node_type and head.level == ("node" if task.is_node_level else "graph")
    assert HEADS.create("classification", tasks[0], 8, 0.0)(torch.randn(5, 8)).shape == (5, 10)


def test_multitask_prepare_fits_targets_and_centroids_with_one_embedding_pass():
    class Data:
        columns: dict = {}
        y = torch.tensor([0, 1, 0, 1])
        targets = {"snr": torch.tensor([1.0, 3.0, float("nan"), 5.0])}
        node_targets: dict = {}

    torch.manual_seed(0)
    emb, _ = blobs(n=40, d=8, k=2)
    calls = []

    def embed():
        calls.append(1)
        return emb

    heads = {"snr": RegressionHead("snr", 8, target="snr"), "c1": ClusterHead("c1", 8, 2),
             "c2": ClusterHead("c2", 8, 2)}
    MultiTaskHead(heads).prepare(Data(), embed, seed=0)
    assert len(calls) == 1  # both cluster heads share one pass
    assert heads["snr"].mean.item() == pytest.approx(3.0) and heads["snr"].std.item() == pytest.approx((8 / 3) ** 0.5)
    assert torch.equal(heads["c1"].centroids, heads["c2"].centroids)
    assert heads["c1"].metrics(heads["c1"](emb), torch.arange(40) % 2)["cluster_accuracy"] == 1.0
    MultiTaskHead({"snr": RegressionHead("snr", 8, target="absent")}).prepare(Data(), embed, seed=0)
    assert len(calls) == 1  # no cluster head: the embeddings are never computed


def test_dec_prepare_initialises_the_centroids_by_kmeans():
    """Before any training step, the centroids are k-means' on the embeddings: well separated blobs are
    assigned perfectly (random centroids would not be), and a fixed seed gives fixed centroids."""
    from sklearn.cluster import KMeans

    x, y = blobs(n=90, d=8, k=3, seed=1)
    head = ClusterHead("cl", 8, 3)
    before = head.centroids.detach().clone()
    head.prepare(None, lambda: x, seed=4)
    expected = KMeans(3, n_init=10, random_state=4).fit(x.double().numpy()).cluster_centers_
    torch.testing.assert_close(head.centroids.detach(), torch.from_numpy(expected).float())
    assert not torch.allclose(head.centroids.detach(), before)
    metrics = head.metrics(head(x), y)
    assert metrics["nmi"] == pytest.approx(1.0) and metrics["cluster_accuracy"] == 1.0


def test_node_regression_head_learns_node_targets_in_their_units():
    """One value per node of its type (standardised on the training targets), masked nodes ignored."""
    from mmgraph.nn.heads import NodeRegressionHead
    from mmgraph.task import Task

    torch.manual_seed(0)
    x = torch.randn(200, 8)
    y = 300.0 + 40.0 * torch.nn.functional.layer_norm(x, (8,))[:, 1]
    head = NodeRegressionHead.from_task(Task("energy", "node_regression", "energy", node_type="audio"), 8, dropout=0.0)
    assert head.level == "node" and head.node_type == "audio" and head.target_attr == "energy"
    assert repr(head) == "NodeRegressionHead('energy', 8, node_type='audio')"
    head.fit_target(y)
    assert head.mean.item() == pytest.approx(y.mean().item(), rel=1e-6)
    assert head(x).shape == (200,)
    losses = fit(head, x, y, steps=300)
    assert losses[-1] < 0.05 * losses[0]
    assert head.metrics(head(x), y)["mae"] < 3.0  # in the targets' own units (the std is 40)
    # masked nodes do not enter the loss: a wild target under the mask changes nothing
    mask = torch.ones(200, dtype=torch.bool)
    mask[:20] = False
    wild = y.clone()
    wild[:20] = 1e6
    assert head.loss(head(x), wild, mask).item() == pytest.approx(head.loss(head(x)[20:], y[20:]).item(), rel=1e-5)


def test_multitask_head_gives_node_heads_their_node_embeddings():
    from mmgraph.nn.heads import NodeRegressionHead

    torch.manual_seed(0)
    heads = MultiTaskHead({"d": ClassificationHead("d", 4, 3, dropout=0.0),
                           "e": NodeRegressionHead("e", 4, node_type="audio", dropout=0.0)})
    graph, audio = torch.randn(2, 4), torch.randn(7, 4)
    out = heads(graph, {"audio": audio, "image": torch.randn(5, 4)})
    assert out["d"].shape == (2, 3) and out["e"].shape == (7,)
    torch.testing.assert_close(out["e"], heads["e"](audio))
