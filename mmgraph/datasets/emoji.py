"""``emoji``: the 1,911 base Twemoji emoji (64×64 RGBA images) with their names as text.

Two graph-level tasks: the emoji's category (10 classes, ``y``) and subcategory (99 classes,
target ``subcategory`` as a float class id). The split is stratified by category, 80/10/10; the
card is ``datasets/emoji.md``. Raw files: ``<root>/emoji/`` (``index.jsonl`` and ``img/*.png``),
checked against ``emoji/SHA256SUMS`` on first use in a process.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from mmgraph.datasets.base import MultimodalDataset
from mmgraph.datasets.raw import read_sha256sums, resolve_data_root, verify_files
from mmgraph.graph.config import GraphConfig
from mmgraph.sample import MultimodalSample
from mmgraph.task import Task

log = logging.getLogger(__name__)

SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
MIN_STRATIFIED = 10
"""Categories with fewer members than this (only ``Component``, 5 skin-tone swatches) are not split by
``train_test_split`` (it needs two members per class at each step) but by rule: in ``sort_order``,
the last member goes to test, the one before it to val, the rest to train."""
_FIELDS = ("image", "text", "category", "subcategory", "unified", "sort_order")


def read_emoji_index(folder: Path) -> list[dict]:
    """The rows of ``index.jsonl`` (one dict per emoji, in file order), with the fields the dataset uses checked."""
    path = folder / "index.jsonl"
    if not path.is_file():
        raise ValueError(f"emoji: {path} not found")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        missing = [f for f in _FIELDS if f not in row]
        if missing:
            raise ValueError(f"emoji: {path} line {number} lacks field(s) {missing} (has {sorted(row)})")
        rows.append(row)
    return rows


def stratified_split(labels: np.ndarray, order: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Indices of train/val/test, stratified by ``labels`` 80/10/10 (each split sorted).

    Classes with at least ``MIN_STRATIFIED`` members go through two ``train_test_split`` calls
    (80 / 20, then the 20 halved), stratified, ``random_state=seed``. Smaller classes are split by
    rule, by ``order`` (ascending): the last member to test, the one before it to val, the rest
    to train (a class of 2 gives one to train and one to test; a class of 1 goes to train).
    """
    from sklearn.model_selection import train_test_split

    counts = np.bincount(labels)
    small = np.isin(labels, np.flatnonzero((counts > 0) & (counts < MIN_STRATIFIED)))
    index = np.flatnonzero(~small)
    train, rest = train_test_split(
        index, train_size=SPLIT_FRACTIONS[0], stratify=labels[index], random_state=seed
    )
    val, test = train_test_split(
        rest, train_size=SPLIT_FRACTIONS[1] / (SPLIT_FRACTIONS[1] + SPLIT_FRACTIONS[2]),
        stratify=labels[rest], random_state=seed,
    )
    parts = {"train": list(train), "val": list(val), "test": list(test)}
    for label in np.unique(labels[small]):
        members = np.flatnonzero(labels == label)
        members = members[np.argsort(order[members], kind="stable")].tolist()
        if len(members) >= 2:
            parts["test"].append(members.pop())
        if len(members) >= 2:
            parts["val"].append(members.pop())
        parts["train"].extend(members)
    return {k: np.sort(np.asarray(v, dtype=np.int64)) for k, v in parts.items()}


def _read_rgba(path: Path) -> np.ndarray:
    """A PNG as ``(H, W, 4)`` uint8 RGBA (palette images with transparency included)."""
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGBA"))


def load_emoji_dataset(
    seed: int = 0, root: str | os.PathLike | None = None, *, verify: bool = True
) -> MultimodalDataset:
    """The ``emoji`` dataset: 1,911 emoji, image + text, category and subcategory tasks.

    Args:
        seed: ``random_state`` of the stratified split (the benchmark split is seed 0).
        root: the folder holding ``emoji/`` (default ``$MMGRAPH_DATA``).
        verify: check ``index.jsonl`` and every image against ``emoji/SHA256SUMS`` (once per process).

    Raises:
        ValueError: no data folder, missing files, or a checksum mismatch.
    """
    folder = resolve_data_root(root, "emoji", ("emoji",)) / "emoji"
    rows = read_emoji_index(folder)
    if verify:
        sums = read_sha256sums(folder)
        listed_images = sorted(n for n in sums if n.startswith("img/"))
        indexed_images = sorted(r["image"] for r in rows)
        if listed_images != indexed_images:
            raise ValueError(
                f"emoji: index.jsonl names {len(indexed_images)} images, SHA256SUMS lists {len(listed_images)}; "
                f"they must be the same files"
            )
        verify_files(folder, ["index.jsonl", *indexed_images], sums)

    categories = sorted({r["category"] for r in rows})
    subcategories = sorted({r["subcategory"] for r in rows})
    category_id = {c: i for i, c in enumerate(categories)}
    subcategory_id = {c: i for i, c in enumerate(subcategories)}
    labels = np.array([category_id[r["category"]] for r in rows], dtype=np.int64)
    order = np.array([r["sort_order"] for r in rows], dtype=np.int64)
    samples = [
        MultimodalSample(
            image=_read_rgba(folder / r["image"]),
            text=r["text"],
            y=category_id[r["category"]],
            targets={"subcategory": float(subcategory_id[r["subcategory"]])},
            id=f"emoji-{r['unified'].lower()}",
        )
        for r in rows
    ]
    splits = stratified_split(labels, order, seed=seed)
    train_subcategories = {rows[i]["subcategory"] for i in splits["train"]}
    unseen = sorted(set(subcategories) - train_subcategories)
    if unseen:
        log.info("emoji: %d subcategories have no training example: %s", len(unseen), unseen)

    return MultimodalDataset(
        name="emoji",
        splits={k: [samples[i] for i in v] for k, v in splits.items()},
        tasks={
            "category": Task("category", "classification", "y", num_classes=len(categories),
                             class_names=tuple(categories)),
            "subcategory": Task("subcategory", "classification", "subcategory", num_classes=len(subcategories),
                                class_names=tuple(subcategories)),
        },
        graph_config=GraphConfig(
            modalities=("image", "text"), image={"channels": 3, "patch_size": 16}, text={"max_tokens": 32}
        ),
        info={
            "source": "Twemoji 64×64 (emoji-datasource-twitter 16.0.0), base emoji only, text = name: short names",
            "seed": seed,
            "split": "stratified by category 80/10/10 (sklearn train_test_split); categories with fewer than "
            f"{MIN_STRATIFIED} members split by rule (last by sort_order to test, the one before to val)",
            "categories": categories,
            "subcategories": subcategories,
            "subcategories_without_train_example": unseen,
            "checksums_verified": verify,
        },
    )
