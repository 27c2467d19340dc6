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
