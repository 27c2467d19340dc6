"""Task: class names are validated, survive run.json, and name predictions."""

import json

import pytest

from mmgraph.datasets import load_dataset
from mmgraph.task import Task


def test_class_names_round_trip_through_json():
    task = Task("digit", "classification", num_classes=3, class_names=["zero", "one", "two"])
    assert task.class_names == ("zero", "one", "two") and hash(task)
    back = Task(**json.loads(json.dumps(task.to_dict())))
    assert back == task and back.class_name(2) == "two"
    assert Task("x", "classification", num_classes=3).class_name(2) == "2"


def test_class_names_are_checked():
    with pytest.raises(ValueError, match="class_names must be 3 strings, one per class \\(got 2\\)"):
        Task("t", "classification", num_classes=3, class_names=("a", "b"))
    with pytest.raises(ValueError, match="class_names must differ \\(given twice: \\['a'\\]\\)"):
        Task("t", "classification", num_classes=3, class_names=("a", "b", "a"))
    with pytest.raises(ValueError, match="class_names apply to classification tasks"):
        Task("t", "regression", class_names=("a",))


def test_built_in_datasets_name_their_classes():
    assert load_dataset("digits").tasks["digit"].class_names == tuple("0123456789")
