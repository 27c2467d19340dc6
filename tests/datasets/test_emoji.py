"""Emoji: split sizes and stratification, class mappings, RGBA images, featurize round trip."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from mmgraph.datasets import load_dataset
from mmgraph.datasets.emoji import load_emoji_dataset, stratified_split
from mmgraph.featurize import ImageFeaturizer

REPO = Path(__file__).resolve().parents[2]
DATA_ROOT = Path(os.environ.get("MMGRAPH_DATA") or REPO.parent / "shared" / "data")
needs_data = pytest.mark.skipif(
    not (DATA_ROOT / "emoji" / "index.jsonl").is_file(),
    reason=f"emoji raw data not found under {DATA_ROOT} (set $MMGRAPH_DATA to the folder holding emoji/)",
)

CATEGORY_COUNTS = {
    "Activities": 85, "Animals & Nature": 159, "Component": 5, "Flags": 270, "Food & Drink": 131,
    "Objects": 264, "People & Body": 386, "Smileys & Emotion": 169, "Symbols": 224, "Travel & Places": 218,
}


@pytest.fixture(scope="module")
def dataset():
    return load_dataset("emoji", root=str(DATA_ROOT))  # checksums verified (the default)


@pytest.mark.data
@needs_data
def test_split_sizes_and_stratification(dataset):
    sizes = {k: len(v) for k, v in dataset.splits.items()}
    assert sizes == {"train": 1527, "val": 192, "test": 192}
    ids = [s.id for split in dataset.splits.values() for s in split]
    assert len(ids) == len(set(ids)) == 1911
    categories = dataset.info["categories"]
    per_split = {k: Counter(categories[s.y] for s in v) for k, v in dataset.splits.items()}
    assert per_split["train"] + per_split["val"] + per_split["test"] == Counter(CATEGORY_COUNTS)
    for name, n in CATEGORY_COUNTS.items():
        train, val, test = (per_split[k][name] for k in ("train", "val", "test"))
        assert val >= 1 and test >= 1, name  # every category is evaluated
        if n >= 10:
            assert abs(train - 0.8 * n) <= 1 and abs(val - test) <= 1, (name, train, val, test)
    assert (per_split["train"]["Component"], per_split["val"]["Component"], per_split["test"]["Component"]) == (3, 1, 1)
    # the rule for small classes goes by sort order: the last swatch (skin-tone-6, 1F3FF) is in test
    assert "emoji-1f3ff" in {s.id for s in dataset.splits["test"]}
    assert "emoji-1f3fe" in {s.id for s in dataset.splits["val"]}


@pytest.mark.data
@needs_data
def test_tasks_and_class_mappings(dataset):
    info = dataset.info
    assert info["categories"] == sorted(CATEGORY_COUNTS) and len(info["subcategories"]) == 99
    assert info["subcategories"] == sorted(info["subcategories"])
    assert dataset.tasks["category"].num_classes == 10 and dataset.tasks["category"].target == "y"
    assert dataset.tasks["subcategory"].num_classes == 99 and dataset.tasks["subcategory"].target == "subcategory"
    grinning = next(s for s in dataset.splits["train"] + dataset.splits["val"] + dataset.splits["test"]
                    if s.id == "emoji-1f600")
    assert grinning.text == "grinning face: grinning"
    assert info["categories"][grinning.y] == "Smileys & Emotion"
    assert info["subcategories"][int(grinning.targets["subcategory"])] == "face-smiling"
    for s in dataset.splits["val"]:
        sub = s.targets["subcategory"]
        assert float(sub).is_integer() and 0 <= sub < 99
        assert s.image.shape == (64, 64, 4) and s.image.dtype == np.uint8


@pytest.mark.data
@needs_data
def test_featurize_round_trip_composites_over_white(dataset):
    config = dataset.fit_graph_config()
    tokenizer = config.settings["text"].tokenizer
    assert config.modalities == ("image", "text") and config.settings["image"].channels == 3
    train_words = {w for s in dataset.splits["train"] for w in tokenizer.split(s.text)}
    assert set(tokenizer.vocab[3:]) == train_words  # fit on training text only
    gd = dataset.featurize("val", config)
    assert len(gd) == 192 and (gd.columns["image"].counts == 16).all()
    assert gd.columns["image"].x.shape[1] == 16 * 16 * 3
    text_counts = gd.columns["text"].counts
    assert text_counts.min() >= 3 and text_counts.max() <= 25
    batch = gd.collate_indices([0, 1, 2])
    assert batch.y.tolist() == [s.y for s in dataset.splits["val"][:3]]
    assert batch.subcategory.tolist() == [s.targets["subcategory"] for s in dataset.splits["val"][:3]]
    # transparent corners become white, not black, after compositing
    transparent = next(s for s in dataset.splits["val"] if s.image[0, 0, 3] == 0)
    corner = ImageFeaturizer(16, channels=3)(transparent.image).x[0].reshape(16, 16, 3)
    assert torch.allclose(corner[0, 0], torch.ones(3))


@pytest.mark.data
@needs_data
def test_split_is_deterministic_from_the_seed(dataset):
    again = load_emoji_dataset(seed=0, root=DATA_ROOT, verify=False)
    other = load_emoji_dataset(seed=1, root=DATA_ROOT, verify=False)
    ids = {k: [s.id for s in v] for k, v in dataset.splits.items()}
    assert ids == {k: [s.id for s in v] for k, v in again.splits.items()}
    assert ids["test"] != [s.id for s in other.splits["test"]]
    assert {k: len(v) for k, v in other.splits.items()} == {k: len(v) for k, v in ids.items()}


def test_stratified_split_rule_for_small_classes():
    labels = np.array([0] * 20 + [1] * 5 + [2] * 2 + [3])
    order = np.arange(len(labels))[::-1]  # reversed: the "last by order" member is the first index
    splits = stratified_split(labels, order, seed=0)
    assert sorted(np.concatenate(list(splits.values())).tolist()) == list(range(len(labels)))
    assert Counter(labels[splits["train"]].tolist()) == {0: 16, 1: 3, 2: 1, 3: 1}
    assert 20 in splits["test"] and 21 in splits["val"]  # class 1: lowest order → test, next → val
    assert 25 in splits["test"] and 26 in splits["train"]  # class 2 (two members): one to test
