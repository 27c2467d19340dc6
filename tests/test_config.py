"""``ConfigMixin``: unknown keys and wrong types are refused with the field's name, for every config."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmgraph.models import ModelConfig
from mmgraph.train import TrainConfig
from mmgraph.train.pretrain import PretrainConfig


def test_wrong_type_in_toml_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "model.toml"
    path.write_text('[model]\nhidden = "32"\n')
    with pytest.raises(TypeError, match=r"model\.toml: ModelConfig\.hidden must be int \(got str '32'\)"):
        ModelConfig.from_toml(path)


def test_unknown_key_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown TrainConfig fields \['epoch'\]; valid: \[.*'epochs'"):
        TrainConfig.from_dict({"epoch": 3})


@pytest.mark.parametrize(("cls", "field", "value"), [
    (TrainConfig, "lr", "1e-3"),
    (TrainConfig, "patience", 2.5),
    (TrainConfig, "progress", 1),
    (ModelConfig, "modalities", "image"),
    (ModelConfig, "encoders", {"text": 3}),
    (PretrainConfig, "mask_ratio", None),
])
def test_bad_values_are_type_errors(cls: type, field: str, value: object) -> None:
    with pytest.raises(TypeError, match=rf"{cls.__name__}\.{field} must be"):
        cls.from_dict({field: value})


def test_round_trip_and_checked_replace() -> None:
    config = ModelConfig(hidden=32, encoders={"text": "minilm"}, modalities=["image", "text"])
    assert ModelConfig.from_dict(config.to_dict()) == config
    assert TrainConfig.from_dict({"lr": 1, "patience": None}).lr == 1  # an int is a valid float
    assert config.replace(layers=3).layers == 3
    with pytest.raises(ValueError, match="unknown ModelConfig fields"):
        config.replace(layer=3)
    with pytest.raises(TypeError, match="ModelConfig.layers must be int"):
        config.replace(layers="3")


def test_train_table_is_read_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "train.toml"
    path.write_text("[train]\nepochs = 4\nlr = 0.01\n")
    assert TrainConfig.from_toml(path) == TrainConfig(epochs=4, lr=0.01)
