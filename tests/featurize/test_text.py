import pytest
import torch

from mmgraph.featurize import TextFeaturizer, Tokenizer


def test_fit_orders_by_frequency_and_maps_unknown():
    tok = Tokenizer.fit(["b a b", "c b a"], min_freq=1)
    assert tok.vocab[:3] == ["<pad>", "<unk>", "<mask>"]
    assert tok.vocab[3:] == ["b", "a", "c"]
    assert tok.encode("A b, zz") == [4, 3, tok.unk_id, tok.unk_id]  # ',' and 'zz' unseen
    assert Tokenizer.fit(["b a b", "c b a"], min_freq=2).vocab[3:] == ["b", "a"]
    assert len(Tokenizer.fit(["a b c d"], max_size=5)) == 5


def test_word_split_is_unicode_aware_and_char_level():
    tok = Tokenizer.fit(["Fünf zéro!"])
    assert tok.split("Fünf zéro!") == ["fünf", "zéro", "!"]
    chars = Tokenizer.fit(["ab c"], level="char")
    assert chars.split("ab c") == ["a", "b", "c"]


def test_save_load_round_trip(tmp_path):
    tok = Tokenizer.fit(["x y z"], level="word", lowercase=False)
    tok.save(tmp_path / "tok.json")
    back = Tokenizer.load(tmp_path / "tok.json")
    assert back == tok and back.encode("x Q") == tok.encode("x Q")


def test_featurizer_ids_positions_and_truncation():
    tok = Tokenizer.fit(["one two three"])
    ns = TextFeaturizer(tok, max_tokens=2)("one two three")
    assert ns.x.dtype == torch.int64 and ns.x.tolist() == tok.encode("one two")
    assert ns.pos.squeeze(1).tolist() == [0.0, 1.0] and ns.shape == (2,)


def test_featurizer_without_tokenizer_explains():
    with pytest.raises(ValueError, match="needs a tokenizer"):
        TextFeaturizer(None)("hello")


def test_bad_vocab():
    with pytest.raises(ValueError, match="must start with the special tokens"):
        Tokenizer(["a", "b"])
    with pytest.raises(ValueError, match="duplicate"):
        Tokenizer(["<pad>", "<unk>", "<mask>", "a", "a"])


def test_float_features_are_rows_of_a_fixed_table_beside_the_ids():
    from mmgraph.featurize import TOKEN, TextSettings, encoder_input
    from mmgraph.featurize.text import seeded_embedding

    tok = Tokenizer.fit(["x y z"])
    ids = torch.tensor([3, 4, 1])
    plain = TextFeaturizer.from_settings(TextSettings(tokenizer=tok))
    assert plain.node_attributes(ids) == {"x": ids}
    emb = TextFeaturizer.from_settings(TextSettings(tokenizer=tok, features="embedding", embedding_dim=8))
    attrs = emb.node_attributes(ids)
    assert attrs["x"].shape == (3, 8) and attrs["x"].dtype == torch.float32 and torch.equal(attrs[TOKEN], ids)
    table = seeded_embedding(len(tok), 8, 0)
    assert torch.equal(attrs["x"], table[ids]) and not table[0].any()  # padding row zero
    assert torch.equal(table, seeded_embedding(len(tok), 8, 0)) and not torch.equal(table, seeded_embedding(6, 8, 1))
    assert emb.node_attributes(ids[:0])["x"].shape == (0, 8)
    # the stored form is the ids either way; encoders read the ids
    assert emb("x y").x.dtype == torch.int64
    assert torch.equal(encoder_input(attrs), ids) and torch.equal(encoder_input({"x": ids}), ids)
    settings = TextSettings(tokenizer=tok, features="embedding", embedding_dim=8, embedding_seed=3)
    assert TextSettings.from_dict(settings.to_dict()) == settings
    with pytest.raises(ValueError, match="features must be one of"):
        TextSettings(features="glove")
    with pytest.raises(ValueError, match="embedding_dim must be a positive int"):
        TextSettings(features="embedding", embedding_dim=0)
