"""Same seed, same numbers: every registered model, twice, and once more killed after an epoch and resumed.

On the CPU a run is a function of (data, configs, seed, thread count) (``mmgraph.train.environment``):
two runs agree bit for bit, every epoch and on the test set, and so does a run stopped dead after
its first epoch's checkpoint and resumed. Dropout of every kind is on, so that the random streams
are exercised, not skipped. The run record names the thread count and library versions.
"""

from __future__ import annotations

import pytest
import torch

from mmgraph.datasets import load_dataset
from mmgraph.models import MODELS, DataSpec, ModelConfig, build_model
from mmgraph.train import TrainConfig, Trainer, seed_everything
from mmgraph.train.environment import environment, nondeterminism, use_threads_of

EPOCHS = 2


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits")
    config = ds.fit_graph_config()
    train = ds.featurize("train", config).subset(range(64))
    val = ds.featurize("val", config).subset(range(32))
    test = ds.featurize("test", config).subset(range(32))
    return train, val, test, DataSpec.from_graph_config(config, ds.tasks)


def model_config(name: str) -> ModelConfig:
    extra = {"modalities": ["image"]} if name == "unimodal" else {}
    return ModelConfig(name=name, hidden=16, layers=1, heads=2, dropout=0.1, attn_dropout=0.1,
                       modality_dropout=0.2, tasks=["digit", "snr_db"], **extra)


class Killed(BaseException):
    """Stands for a SIGKILL right after an epoch's checkpoint (raised past every ``except Exception``)."""


def run(name: str, digits, out, *, kill_after: int | None = None, resume: bool = False):
    train, val, test, spec = digits
    seed_everything(5)
    model = build_model(model_config(name), spec)
    trainer = Trainer(model, TrainConfig(epochs=EPOCHS, batch_size=32, lr=5e-3, seed=5, progress=False), out_dir=out)

    def die(epoch, row):
        if epoch == kill_after:
            raise Killed

    result = trainer.fit(train, val, resume=resume, on_epoch_end=die if kill_after is not None else None)
    history = [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in result.history]
    return history, trainer.evaluate(test), {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", MODELS.list())
def test_two_runs_and_a_killed_then_resumed_run_give_identical_numbers(name, digits, tmp_path):
    first = run(name, digits, tmp_path / "a")
    second = run(name, digits, tmp_path / "b")
    with pytest.raises(Killed):
        run(name, digits, tmp_path / "c", kill_after=0)
    resumed = run(name, digits, tmp_path / "c", resume=True)
    for other in (second, resumed):
        assert other[0] == first[0]  # every epoch: losses, learning rate, validation metrics
        assert other[1] == first[1]  # the test metrics
        assert other[2].keys() == first[2].keys()
        for key in first[2]:
            assert torch.equal(other[2][key], first[2][key]), key
    assert len(first[0]) == EPOCHS


def test_environment_names_what_the_numbers_depend_on():
    env = environment("cpu")
    assert env["threads"] == torch.get_num_threads() and env["device"] == "cpu"
    assert env["libraries"]["torch"] and env["libraries"]["torch_geometric"] and env["libraries"]["numpy"]
    assert env["nondeterminism"] is None and nondeterminism("cpu") is None
    assert "atomic adds" in nondeterminism("cuda") or torch.are_deterministic_algorithms_enabled()
    threads = torch.get_num_threads()
    try:
        assert use_threads_of({"threads": threads + 1}) == threads + 1 and torch.get_num_threads() == threads + 1
        assert use_threads_of(None) is None and use_threads_of({"threads": 0}) is None
    finally:
        torch.set_num_threads(threads)


def test_a_resumed_cli_run_continues_with_the_thread_count_it_started_with(tmp_path):
    import json

    from mmgraph.train.run_folder import RunFolder
    from mmgraph.train.runs import train_run

    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"id": str(i), "text": f"word{i % 3} and more", "label": i % 2}) + "\n"
                                for i in range(16)))
    threads = torch.get_num_threads()
    out = tmp_path / "run"
    config = TrainConfig(epochs=1, batch_size=8, progress=False)
    try:
        torch.set_num_threads(2)
        train_run(str(manifest), ModelConfig(hidden=8, layers=1), out, train_config=config)
        info = RunFolder(out).read_info()
        assert info.environment["threads"] == 2 and info.to_dict()["environment"]["threads"] == 2
        torch.set_num_threads(1)
        train_run(str(manifest), None, out, train_config=config, resume=True)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
