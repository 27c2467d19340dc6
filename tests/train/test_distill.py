"""Cross-modal distillation: the wrapper trains the student, freezes the teacher, leaves a usable student."""

import pytest
import torch

from mmgraph.datasets import load_dataset
from mmgraph.models import DataSpec, ModelConfig, build_model
from mmgraph.train import TrainConfig, Trainer, seed_everything
from mmgraph.train.distill import DistillationModel


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits")
    config = ds.fit_graph_config()
    train = ds.featurize("train", config).subset(range(192))
    val = ds.featurize("val", config).subset(range(64))
    spec = DataSpec.from_graph_config(config, ds.tasks)
    seed_everything(0)
    teacher = build_model(ModelConfig(hidden=16, layers=1, heads=2, tasks=["digit"]), spec)
    Trainer(teacher, TrainConfig(epochs=4, batch_size=32, lr=1e-2, progress=False)).fit(train)
    return train, val, spec, teacher


def student_of(spec, seed=1):
    seed_everything(seed)
    return build_model(ModelConfig(hidden=16, layers=1, heads=2, tasks=["digit"], modalities=["image"]), spec)


def test_distillation_trains_student_and_freezes_teacher(digits):
    train, val, spec, teacher = digits
    frozen = {k: v.clone() for k, v in teacher.state_dict().items()}
    student = student_of(spec)
    model = DistillationModel(student, teacher, temperature=4.0, alpha=0.5)
    assert model.tasks == ["digit"] and model.head is student.head
    result = Trainer(model, TrainConfig(epochs=8, batch_size=32, lr=1e-2, progress=False)).fit(train)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0]
    assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in frozen.items())
    assert not teacher.training
    # afterwards the student alone is a plain model: same predictions, evaluated without the teacher
    batch = val.collate_indices(range(8))
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(batch).predictions["digit"], student(batch).predictions["digit"])
    image_only = val.without_modalities(["audio", "text"])
    metrics = Trainer(student, TrainConfig(progress=False)).evaluate(image_only)
    assert metrics["digit/accuracy"] == Trainer(student, TrainConfig(progress=False)).evaluate(val)["digit/accuracy"]
    trained = Trainer(student, TrainConfig(progress=False)).evaluate(train)["digit/accuracy"]
    assert trained > 0.2, trained  # chance is 0.1


def test_distillation_loss_is_zero_when_student_matches_teacher(digits):
    _, _, spec, teacher = digits
    model = DistillationModel(student_of(spec), teacher)
    logits = torch.randn(6, 10)
    assert model.distillation_loss(logits, logits).abs() < 1e-6
    assert model.distillation_loss(logits, torch.randn(6, 10)) > 0


def test_distillation_alpha_zero_is_the_student_alone(digits):
    train, _, spec, teacher = digits
    batch = train.collate_indices(range(16))
    student = student_of(spec)
    model = DistillationModel(student, teacher, alpha=0.0)
    model.eval()
    with torch.no_grad():
        out = model(batch)
        total, parts = model.loss(out, batch)
        alone, _ = student.loss(student(batch), batch)
    assert torch.allclose(total, alone) and "distillation" in parts


def test_distillation_errors(digits):
    _, _, spec, teacher = digits
    with pytest.raises(ValueError, match="'alpha' must be in"):
        DistillationModel(student_of(spec), teacher, alpha=1.5)
    with pytest.raises(ValueError, match="cannot distil"):
        DistillationModel(student_of(spec), teacher, tasks=["snr_db"])
    regression = build_model(ModelConfig(hidden=16, layers=1, heads=2, tasks=["snr_db"]), spec)
    with pytest.raises(ValueError, match="share no graph-level classification task"):
        DistillationModel(student_of(spec), regression)
