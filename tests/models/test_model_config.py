"""ModelConfig: hidden and heads are checked where the chosen parts split the width across heads."""

import pytest

from mmgraph.models import DataSpec, ModelConfig, build_model
from mmgraph.task import Task


@pytest.mark.parametrize("kw, part", [
    ({}, "conv 'cross_attention'"),
    ({"conv": "hgt"}, "conv 'hgt'"),
    ({"conv": "gatv2"}, "conv 'gatv2'"),
    ({"name": "transformer"}, "model 'transformer'"),
    ({"name": "mult"}, "model 'mult'"),
    ({"name": "late_fusion"}, "model 'late_fusion'"),
])
def test_hidden_must_divide_into_heads_where_a_part_splits_it(kw, part):
    with pytest.raises(ValueError) as exc:
        ModelConfig(hidden=30, heads=4, **kw)
    assert str(exc.value) == (f"'hidden' (got 30) must be divisible by 'heads' (got 4): {part} splits the width "
                              f"across its attention heads")


@pytest.mark.parametrize("kw", [{"conv": "sage"}, {"layers": 0}, {"name": "early_fusion"},
                                {"name": "late_fusion", "layers": 0}])
def test_other_widths_are_fine_where_nothing_splits_them(kw, config):
    model_config = ModelConfig(hidden=36, heads=8, **kw)
    spec = DataSpec.from_graph_config(config, {"y": Task("y", "classification", num_classes=3)})
    assert build_model(model_config, spec) is not None


def test_an_encoder_refusing_the_width_names_the_setting(config):
    spec = DataSpec.from_graph_config(config, {"y": Task("y", "classification", num_classes=3)})
    with pytest.raises(ValueError, match="the image encoder 'patch' with 'hidden' = 30: 'channels' \\(got 30\\) "
                                         "must be divisible by 2 \\* dims \\(got 4\\)"):
        build_model(ModelConfig(hidden=30, conv="sage"), spec)


def test_the_text_transformer_context_has_four_heads():
    with pytest.raises(ValueError, match="'hidden' \\(got 30\\) must be divisible by 4, the attention heads of "
                                         "text_context 'transformer'"):
        ModelConfig(hidden=30, heads=5, text_context="transformer")


def test_a_toml_value_of_the_wrong_type_names_the_field(tmp_path):
    from mmgraph.errors import InvalidType

    path = tmp_path / "m.toml"
    path.write_text('[model]\nhidden = "32"\n')
    with pytest.raises(InvalidType, match="ModelConfig.hidden must be int \\(got str '32'\\)"):
        ModelConfig.from_toml(path)


def test_new_runs_name_their_text_encoder(monkeypatch, caplog):
    import mmgraph.nn.encoders as encoders
    from mmgraph.models import ModelConfig
    from mmgraph.models.build import with_default_text_encoder

    monkeypatch.delenv(encoders.TEXT_ENCODER_ENV, raising=False)
    monkeypatch.setattr(encoders, "_pretrained_installed", lambda: True)
    encoders._log_choice.cache_clear()
    with caplog.at_level("WARNING", logger="mmgraph.nn.encoders"):
        assert encoders.default_text_encoder() == "minilm_words"
    assert "text encoder: minilm_words (the mmgraph[pretrained] extra is installed)" in caplog.text
    config = ModelConfig(hidden=16)
    assert with_default_text_encoder(config, ("image", "text")).encoders == {"text": "minilm_words"}
    assert with_default_text_encoder(config, ("audio", "image")) is config  # no text in the data
    assert with_default_text_encoder(config.replace(modalities=["image"]), ("image", "text")).encoders == {}
    chosen = config.replace(encoders={"text": "minilm"})
    assert with_default_text_encoder(chosen, ("image", "text")) is chosen  # a named encoder is kept
    monkeypatch.setattr(encoders, "_pretrained_installed", lambda: False)
    assert encoders.default_text_encoder() == "token"
    assert with_default_text_encoder(config, ("image", "text")) is config  # the stored default: token
    monkeypatch.setenv(encoders.TEXT_ENCODER_ENV, "minilm_words")
    assert encoders.default_text_encoder() == "minilm_words"
    monkeypatch.setenv(encoders.TEXT_ENCODER_ENV, "bert")
    with pytest.raises(ValueError, match="MMGRAPH_TEXT_ENCODER='bert' is not a registered encoder"):
        encoders.default_text_encoder()
