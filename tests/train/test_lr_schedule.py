"""The learning-rate schedule: linear warm-up to the peak, then cosine decay to 0, step by step."""

import math

import pytest
import torch

from mmgraph.train.trainer import warmup_cosine


def test_warmup_then_cosine_values():
    factor = warmup_cosine(total_steps=10, warmup_steps=2)
    assert [factor(s) for s in (0, 1)] == [0.5, 1.0]  # warm-up: (step + 1) / warmup
    assert factor(2) == 1.0  # the peak, at the start of the decay
    assert factor(6) == pytest.approx(0.5)  # half way through the decay
    assert factor(4) == pytest.approx(0.5 * (1 + math.cos(math.pi * 2 / 8)))
    assert factor(10) == pytest.approx(0.0, abs=1e-12) and factor(25) == pytest.approx(0.0, abs=1e-12)
    decay = [factor(s) for s in range(2, 11)]
    assert all(a > b for a, b in zip(decay, decay[1:]))  # strictly decreasing after the warm-up
    no_warmup = warmup_cosine(total_steps=4, warmup_steps=1)
    assert [no_warmup(s) for s in range(5)] == pytest.approx([1.0, 1.0, 0.75, 0.25, 0.0])


def test_the_trainer_steps_the_schedule_once_per_batch(tmp_path):
    """After epoch e the learning rate is the peak times the factor of the steps taken so far."""
    from mmgraph.datasets import load_dataset
    from mmgraph.models import DataSpec, ModelConfig, build_model
    from mmgraph.train import TrainConfig, Trainer

    ds = load_dataset("digits")
    config = ds.fit_graph_config()
    train = ds.featurize("train", config).subset(range(50))
    model = build_model(ModelConfig(hidden=8, layers=1, modality_dropout=0.0),
                        DataSpec.from_graph_config(config, ds.tasks))
    cfg = TrainConfig(epochs=4, batch_size=16, lr=0.01, warmup=0.25, progress=False)
    history = Trainer(model, cfg).fit(train).history
    steps = math.ceil(50 / 16)  # 4 per epoch, 16 in all, 4 of warm-up
    factor = warmup_cosine(steps * cfg.epochs, round(cfg.warmup * steps * cfg.epochs))
    assert [row["lr"] for row in history] == pytest.approx([0.01 * factor(steps * (e + 1)) for e in range(4)])
    assert history[0]["lr"] == pytest.approx(0.01)  # the warm-up ends with the first epoch
    assert torch.get_num_threads() >= 1
