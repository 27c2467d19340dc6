"""Clustering without labels on what pretraining trained: a two-modality dataset whose shared information is
known (the class) is recovered from the contrastive projections, by k-means and by DEC; ``mmgraph cluster``
writes its assignments and scores."""

import csv
import json

import pytest
import torch

from mmgraph.bench.cluster import assign, dec, kmeans, pretrained_features
from mmgraph.cli import main
from mmgraph.models import ModelConfig
from mmgraph.nn.heads.metrics import clustering_metrics
from mmgraph.train import TrainConfig, seed_everything
from mmgraph.train.pretrain import PretrainConfig, pretrain

SMALL = ModelConfig(hidden=16, layers=1, heads=2)


@pytest.fixture(scope="module")
def pretrained_net(shared_info):
    _, splits = shared_info
    seed_everything(0)
    net, _ = pretrain(splits["train"], None, model_config=SMALL, pretrain_config=PretrainConfig(guard_steps=8),
                      train_config=TrainConfig(steps=40, batch_size=32, lr=2e-3, weight_decay=0.05, warmup=0.1,
                                               grad_clip=5.0, progress=False))
    return net


def test_kmeans_on_the_projections_recovers_the_shared_information(shared_info, pretrained_net):
    _, splits = shared_info
    test = splits["test"]
    features = pretrained_features(pretrained_net, test)
    assert features.shape == (len(test), 2 * 128)  # [p_audio, p_image], each L2-normalised
    assert abs(float((features[:, :128] ** 2).sum(1).mean()) - 1.0) < 1e-6
    scores = clustering_metrics(kmeans(features, 4), test.y.numpy())
    assert scores["nmi"] > 0.9, scores
    joint = pretrained_features(pretrained_net, test, "all")
    assert joint.shape == (len(test), 3 * 128)


def test_dec_from_the_projections_keeps_the_shared_information(shared_info, pretrained_net):
    import copy

    _, splits = shared_info
    net = copy.deepcopy(pretrained_net)
    centroids = dec(net, splits["train"], 4, seed=0, steps=10, batch_size=32, refresh=5)
    assert centroids.shape == (4, 256) and not net.training
    assigned = assign(torch.from_numpy(pretrained_features(net, splits["test"])).float(), centroids)
    assert clustering_metrics(assigned, splits["test"].y.numpy())["nmi"] > 0.9


def test_cli_cluster_writes_assignments_and_scores(tmp_path, capsys, digits_run):
    model_toml = tmp_path / "small.toml"
    model_toml.write_text('name = "mmgnn"\nhidden = 16\nlayers = 1\nheads = 2\n')
    run = tmp_path / "pre"
    assert main(["pretrain", "--data", "digits", "--out", str(run), "--steps", "2", "--batch-size", "64",
                 "--model", str(model_toml), "--no-progress", "--no-chance-guard"]) == 0
    out = tmp_path / "clusters"
    assert main(["cluster", str(run), "digits", "--k", "5", "--split", "val", "--out", str(out)]) == 0
    assert "clusters" in capsys.readouterr().out
    rows = list(csv.DictReader((out / "clusters.csv").open()))
    metrics = json.loads((out / "cluster_metrics.json").read_text())
    assert len(rows) == metrics["samples"] and {int(r["cluster"]) for r in rows} <= set(range(5))
    assert metrics["features"] == "projections" and metrics["task"] == "digit"
    assert set(metrics["scores"]) == {"nmi", "ari", "cluster_accuracy"}
    assert all(0.0 <= metrics["scores"][k] <= 1.0 for k in ("nmi", "cluster_accuracy"))
    # a supervised run is clustered on its graph embedding (written beside the run by default)
    assert main(["cluster", str(digits_run), "digits", "--k", "3", "--split", "val"]) == 0
    written = json.loads((digits_run / "clusters" / "digits-val" / "cluster_metrics.json").read_text())
    assert written["features"] == "graph embedding" and written["k"] == 3
    assert main(["cluster", str(digits_run), "digits", "--method", "dec"]) == 2  # DEC needs a pretraining run
    assert "--method dec clusters a pretraining run" in capsys.readouterr().err
