"""GraphConfig: one settings table per modality, its TOML form, merging replace, and mmgraph 0.1's flat keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mmgraph import GraphConfig, Tokenizer
from mmgraph.convert import convert
from mmgraph.datasets import load_dataset
from mmgraph.featurize import AudioSettings, ImageSettings, TextSettings
from mmgraph.models import ModelConfig
from mmgraph.train import TrainConfig
from mmgraph.train.runs import init_graph_config

WORDS = "one two three four five six seven eight nine zero"


def legacy_dict(config: GraphConfig) -> dict[str, Any]:
    """``config`` as mmgraph 0.1's ``GraphConfig.to_dict`` wrote it: flat keys, every modality's fields."""
    image = config.settings.get("image", ImageSettings())
    text = config.settings.get("text", TextSettings())
    audio = config.settings.get("audio", AudioSettings())
    return {
        "modalities": list(config.modalities),
        "image_patch_size": image.patch_size,
        "image_channels": image.channels,
        "image_size": None if image.size is None else list(image.size),
        "tokenizer": None if text.tokenizer is None else text.tokenizer.to_dict(),
        "text_max_tokens": text.max_tokens,
        "audio_sample_rate": audio.sample_rate,
        "audio_n_fft": audio.n_fft,
        "audio_win_length": audio.win_length,
        "audio_hop_length": audio.hop_length,
        "audio_n_mels": audio.n_mels,
        "audio_f_min": audio.f_min,
        "audio_f_max": audio.f_max,
        "audio_max_frames": audio.max_frames,
        "edges": dict(config.edges),
        "hub": config.hub,
        "reverse": config.reverse,
    }


def test_each_modality_has_a_settings_table(tmp_path: Path) -> None:
    tokenizer = Tokenizer.fit([WORDS])
    config = GraphConfig(image={"patch_size": 7}, text=TextSettings(tokenizer=tokenizer, max_tokens=8))
    assert config.settings["image"] == ImageSettings(patch_size=7, channels=3, size=None, max_grid=14)
    assert config.settings["text"].tokenizer is tokenizer and config.settings["text"].max_tokens == 8
    assert config.settings["audio"] == AudioSettings()  # left out: the defaults
    assert "image=ImageSettings(patch_size=7, channels=3, size=None, max_grid=14)" in repr(config)
    assert "max_tokens=8" in repr(config) and "n_mels=40" in repr(config)
    # the dict form is the TOML layout: one table per modality
    d = config.to_dict()
    assert d["image"] == {"patch_size": 7, "channels": 3, "size": None, "max_grid": 14} and d["text"]["max_tokens"] == 8
    assert d["max_nodes"] == 1024 and d["max_edges"] == 250_000
    assert GraphConfig.from_dict(json.loads(config.to_json())) == config
    assert GraphConfig.from_dict(GraphConfig().to_dict()) == GraphConfig()  # default edge names round-trip
    (tmp_path / "g.toml").write_text(
        '[graph]\nmodalities = ["audio", "image"]\n[graph.image]\npatch_size = 2\nsize = [16, 16]\n'
        '[graph.audio]\nn_mels = 20\n'
    )
    loaded = GraphConfig.from_toml(tmp_path / "g.toml")
    assert loaded.settings["image"] == ImageSettings(patch_size=2, size=(16, 16))
    assert loaded.settings["audio"].n_mels == 20 and loaded.settings["audio"].hop_length == 160


def test_replace_merges_a_table_and_keeps_the_others() -> None:
    tokenizer = Tokenizer.fit([WORDS])
    config = GraphConfig(image={"patch_size": 7}, text={"tokenizer": tokenizer})
    changed = config.replace(audio={"n_mels": 64})
    assert changed.settings["audio"].n_mels == 64 and changed.settings["audio"].hop_length == 160
    assert changed.settings["image"].patch_size == 7 and changed.settings["text"].tokenizer is tokenizer
    assert config.settings["audio"].n_mels == 40  # the original is unchanged
    whole = config.replace(image=ImageSettings(channels=1))  # an object replaces the table whole
    assert whole.settings["image"] == ImageSettings(patch_size=4, channels=1)
    fewer = config.replace(modalities=("image", "text"), edges={})
    assert sorted(fewer.settings) == ["image", "text"] and fewer.settings["image"].patch_size == 7
    assert config.replace(hub=True).hub and config.replace(hub=True).settings == config.settings


@pytest.mark.parametrize(("call", "exc", "message"), [
    (lambda: GraphConfig(image_patch_size=4), TypeError,
     "'image_patch_size' is now the 'image' setting 'patch_size': GraphConfig(image={'patch_size': ...})"),
    (lambda: GraphConfig().replace(tokenizer=None), TypeError, "GraphConfig(text={'tokenizer': ...})"),
    (lambda: GraphConfig(video={}), TypeError, "unexpected argument 'video'"),
    (lambda: GraphConfig.from_dict({"patch": 3}), ValueError, "unknown GraphConfig fields ['patch']"),
    (lambda: GraphConfig.from_dict({"image": {"patch": 3}}), ValueError,
     "GraphConfig.image: unknown ImageSettings fields ['patch']; "
     "valid: ['channels', 'max_grid', 'patch_size', 'size']"),
    (lambda: GraphConfig.from_dict({"audio": {"n_mels": "40"}}), TypeError,
     "GraphConfig.audio: AudioSettings.n_mels must be int (got str '40')"),
    (lambda: GraphConfig(modalities=("image",), text={}), ValueError,
     "settings for ['text'], which 'modalities' does not list (['image'])"),
    (lambda: GraphConfig(image=TextSettings()), TypeError, "GraphConfig.image: expected ImageSettings"),
    (lambda: GraphConfig(text={"tokenizer": ["a"]}), TypeError, "TextSettings.tokenizer must be a Tokenizer"),
    (lambda: GraphConfig().replace(image={"patch_size": "4"}), TypeError, "ImageSettings.patch_size must be int"),
])
def test_errors_name_the_field_and_the_new_spelling(call, exc, message) -> None:
    with pytest.raises(exc) as info:
        call()
    assert message in str(info.value)


def test_flat_keys_of_mmgraph_0_1_are_translated() -> None:
    config = GraphConfig(
        modalities=("audio", "image", "text"),
        image={"patch_size": 2, "channels": 3, "size": (12, 12), "max_grid": None},
        text={"tokenizer": Tokenizer.fit([WORDS]), "max_tokens": 5}, audio={"n_mels": 24, "max_frames": 30},
        edges={"audio-text": "aligned:0.1"}, hub=True,
    )
    assert GraphConfig.from_dict(legacy_dict(config)) == config
    # 0.1 wrote every field, also those of modalities the config does not list: they are dropped
    image_only = GraphConfig(modalities=("image",), image={"patch_size": 5, "max_grid": None})
    old = legacy_dict(image_only)
    # 0.1 had no cap on the patch grid: its configs keep featurizing large images whole
    assert GraphConfig.from_dict(old).settings["image"].max_grid is None
    assert old["text_max_tokens"] == 64 and old["audio_n_mels"] == 40
    assert GraphConfig.from_dict(old) == image_only
    with pytest.raises(ValueError, match="'image_patch_size' and the 'image' table's 'patch_size' both given"):
        GraphConfig.from_dict({**old, "image": {"patch_size": 3}})


def test_run_json_and_meta_json_written_by_mmgraph_0_1_load(tmp_path: Path) -> None:
    # run.json: the graph config an --init run reuses
    tokenizer = Tokenizer.fit([WORDS])
    config = GraphConfig(modalities=("image", "text"), image={"patch_size": 2, "max_grid": None},
                         text={"tokenizer": tokenizer})
    run = tmp_path / "run"
    run.mkdir()
    record = {"data": "m.jsonl", "graph_config": legacy_dict(config), "model_config": ModelConfig().to_dict(),
              "train_config": TrainConfig().to_dict(), "tasks": {}}
    (run / "run.json").write_text(json.dumps(record))
    # a stored config keeps the reverse names its model was built with: (text, cross, image)
    assert init_graph_config(run) == config.replace(reverse_prefix="")
    assert ("text", "cross", "image") in init_graph_config(run).edge_types
    # meta.json of a converted folder
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(
        json.dumps({"id": f"r{i}", "text": WORDS.split()[i], "label": i % 2, "split": "train" if i < 6 else "val"})
        + "\n" for i in range(8)
    ))
    out = tmp_path / "converted"
    convert(manifest, out, progress=False)
    fresh = load_dataset(str(out))
    meta = json.loads((out / "meta.json").read_text())
    assert meta["graph_config"]["text"]["max_tokens"] == 64  # written in the new layout
    meta["graph_config"] = legacy_dict(fresh.graph_config)
    (out / "meta.json").write_text(json.dumps(meta))
    old = load_dataset(str(out))
    assert old.graph_config == fresh.graph_config.replace(reverse_prefix="")
    assert old.featurize("train", old.graph_config).columns["text"].x.tolist() == \
        fresh.splits["train"].columns["text"].x.tolist()


def test_overrides_merge_tables_and_edges_over_a_config(tmp_path: Path) -> None:
    from mmgraph.graph.config import merge_graph_overrides, read_graph_overrides

    base = GraphConfig(image={"patch_size": 4, "channels": 1}, edges={"text": "window:1", "audio-image": "none"})
    (tmp_path / "g.toml").write_text('[graph]\nmax_nodes = 500\n[graph.image]\nmax_grid = 7\n'
                                     '[graph.edges]\n"text-audio" = "aligned:0.1"\n')
    table = read_graph_overrides(tmp_path / "g.toml")
    changed = base.with_overrides(table)
    assert changed.settings["image"] == ImageSettings(patch_size=4, channels=1, max_grid=7)  # merged, not reset
    assert changed.edges["text"] == "window:1" and changed.edges["audio-image"] == "none"  # kept
    assert changed.edges["audio-text"] == "aligned:0.1" and changed.max_nodes == 500
    fewer = base.with_overrides({"modalities": ["image", "text"]})  # the dropped modality's edges go with it
    assert fewer.modalities == ("image", "text") and fewer.edges["text"] == "window:1"
    merged = merge_graph_overrides({"image": {"patch_size": 7}, "edges": {"image": "full", "audio-text": "full"}},
                                   {"image": {"max_grid": 3}, "edges": {"text-audio": "none"}, "hub": True})
    assert merged == {"image": {"patch_size": 7, "max_grid": 3}, "edges": {"image": "full", "audio-text": "none"},
                      "hub": True}
    # mistakes are reported with the file's name before any data is read
    for text, exc, message in [
        ('[graph.image]\npatch = 3\n', ValueError, "bad.toml: [graph.image]: unknown ImageSettings fields ['patch']"),
        ('[graph]\nmax_nodes = "many"\n', TypeError, "bad.toml: GraphConfig.max_nodes must be int | None"),
        ('[graph]\nimage_size = 3\n', ValueError, "bad.toml: unknown [graph] keys ['image_size']"),
    ]:
        (tmp_path / "bad.toml").write_text(text)
        with pytest.raises(exc) as info:
            read_graph_overrides(tmp_path / "bad.toml")
        assert message in str(info.value)


def test_reverse_types_are_named_as_pyg_names_them() -> None:
    """``(b, "rev_cross", a)`` reverses ``(a, "cross", b)`` (``ToUndirected``'s name); stored configs keep theirs."""
    config = GraphConfig(modalities=("image", "text"), hub=True)
    # in edge_type_order: a reverse type where it sat when it shared its forward type's name (same model init)
    assert config.edge_types == [("image", "cross", "text"), ("image", "hub", "sample"), ("image", "intra", "image"),
                                 ("sample", "rev_hub", "image"), ("sample", "rev_hub", "text"),
                                 ("text", "rev_cross", "image"), ("text", "hub", "sample"), ("text", "intra", "text")]
    forward_only = config.replace(reverse=False)
    assert forward_only.edge_types == [et for et in config.edge_types if not et[1].startswith("rev_")]
    # user tables (TOML) get the default; a stored record without the key is from before it existed
    stored = {k: v for k, v in config.to_dict().items() if k != "reverse_prefix"}
    assert GraphConfig.from_dict(stored) == config
    legacy = GraphConfig.from_record(stored)
    assert legacy.reverse_prefix == "" and ("text", "cross", "image") in legacy.edge_types
    assert ("sample", "hub", "text") in legacy.edge_types
    assert GraphConfig.from_record(config.to_dict()) == config
    with pytest.raises(ValueError, match="'reverse_prefix' must be one of"):
        GraphConfig(reverse_prefix="back_")
