"""Text → token ids (sequence nodes), with a tokenizer built from training text; optionally float token
vectors in graphs (``TextSettings.features``) for PyG layers that need float ``x``."""

from __future__ import annotations

import json
import math
import os
import re
import weakref
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from mmgraph.config import ConfigMixin
from mmgraph.featurize.base import TOKEN, ModalityFeaturizer, NodeSet, register_featurizer
from mmgraph.featurize.minilm import minilm_word_vectors

_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class Tokenizer:
    """A word-level (or character-level) vocabulary with ``<pad>``, ``<unk>`` and ``<mask>``.

    Built from training text with ``Tokenizer.fit``; unseen tokens map to ``<unk>``. Words are
    runs of letters/digits (Unicode-aware) and single punctuation marks; text is lower-cased unless
    ``lowercase=False``. Saved and loaded as JSON with the dataset or converted graphs.
    """

    PAD, UNK, MASK = "<pad>", "<unk>", "<mask>"
    SPECIALS = (PAD, UNK, MASK)

    def __init__(self, vocab: Sequence[str], *, level: str = "word", lowercase: bool = True) -> None:
        if level not in ("word", "char"):
            raise ValueError(f"'level' must be 'word' or 'char' (got {level!r})")
        vocab = list(vocab)
        if vocab[: len(self.SPECIALS)] != list(self.SPECIALS):
            raise ValueError(f"vocab must start with the special tokens {list(self.SPECIALS)}")
        if len(set(vocab)) != len(vocab):
            raise ValueError("vocab has duplicate tokens")
        self.vocab = vocab
        self.level = level
        self.lowercase = lowercase
        self._index = {tok: i for i, tok in enumerate(vocab)}

    pad_id, unk_id, mask_id = 0, 1, 2

    @classmethod
    def fit(
        cls,
        texts: Iterable[str],
        *,
        level: str = "word",
        min_freq: int = 1,
        max_size: int | None = None,
        lowercase: bool = True,
    ) -> Tokenizer:
        """Build the vocabulary from ``texts``: tokens seen ``>= min_freq`` times, most frequent first."""
        probe = cls(list(cls.SPECIALS), level=level, lowercase=lowercase)
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(probe.split(text))
        ranked = sorted((tok for tok, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t))
        ranked = [t for t in ranked if t not in cls.SPECIALS]
        if max_size is not None:
            ranked = ranked[: max(0, max_size - len(cls.SPECIALS))]
        return cls([*cls.SPECIALS, *ranked], level=level, lowercase=lowercase)

    def split(self, text: str) -> list[str]:
        """The text's tokens (strings)."""
        if self.lowercase:
            text = text.lower()
        if self.level == "char":
            return [ch for ch in text if not ch.isspace()]
        return _WORD.findall(text)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (unknown tokens → ``unk_id``)."""
        index = self._index
        return [index.get(tok, self.unk_id) for tok in self.split(text)]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.vocab[i] for i in ids]

    def __len__(self) -> int:
        return len(self.vocab)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Tokenizer)
            and self.vocab == other.vocab
            and self.level == other.level
            and self.lowercase == other.lowercase
        )

    def __hash__(self) -> int:
        return hash((len(self.vocab), self.level, self.lowercase, tuple(self.vocab[:50])))

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "lowercase": self.lowercase, "vocab": self.vocab}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tokenizer:
        return cls(d["vocab"], level=d.get("level", "word"), lowercase=d.get("lowercase", True))

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike) -> Tokenizer:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def __repr__(self) -> str:
        return f"Tokenizer(size={len(self)}, level={self.level!r}, lowercase={self.lowercase})"


TEXT_FEATURES = ("ids", "embedding", "minilm")
"""Values of ``TextSettings.features``: what a text node's ``x`` holds in graphs and batches."""


@lru_cache(maxsize=8)
def seeded_embedding(vocab_size: int, dim: int, seed: int) -> Tensor:
    """The fixed table of ``features="embedding"``: ``(vocab_size, dim)`` float32, N(0, 1/dim) entries
    from ``torch.Generator().manual_seed(seed)``, row 0 (padding) zero. A function of its arguments only."""
    table = torch.randn(vocab_size, dim, generator=torch.Generator().manual_seed(seed)) / math.sqrt(dim)
    table[Tokenizer.pad_id] = 0.0
    return table


_MINILM_TABLES: weakref.WeakKeyDictionary[Tokenizer, Tensor] = weakref.WeakKeyDictionary()


def minilm_embedding(tokenizer: Tokenizer) -> Tensor:
    """The table of ``features="minilm"``: each vocabulary word's all-MiniLM-L6-v2 embedding, ``(V, 384)``
    (the special tokens zero); computed once per tokenizer (needs the ``mmgraph[pretrained]`` extra)."""
    if tokenizer not in _MINILM_TABLES:
        words = tokenizer.vocab[len(Tokenizer.SPECIALS) :]
        vectors = minilm_word_vectors(words)
        _MINILM_TABLES[tokenizer] = torch.cat([vectors.new_zeros(len(Tokenizer.SPECIALS), vectors.shape[1]), vectors])
    return _MINILM_TABLES[tokenizer]


@dataclass(frozen=True)
class TextSettings(ConfigMixin):
    """The ``text`` table of a ``GraphConfig`` (``[graph.text]`` in TOML); see ``TextFeaturizer``.

    ``tokenizer`` may be given as a ``Tokenizer`` or as its ``to_dict()`` (as stored in run files).
    ``features`` says what a text node's ``x`` is in graphs and batches:

    - ``"ids"`` (default): the token id, ``(N_text,)`` int64 (what mmgraph's models read);
    - ``"embedding"``: a float vector per token, ``(N_text, embedding_dim)``, the token's row of a fixed
      table seeded by ``embedding_seed`` (``seeded_embedding``), so any PyG layer and transform can take it;
    - ``"minilm"``: the token's all-MiniLM-L6-v2 embedding, ``(N_text, 384)`` (``mmgraph[pretrained]``).

    With float features the ids move to the node attribute ``token``, which mmgraph's encoders read
    (``encoder_input``): the same model gives the same numbers whichever ``features`` the graphs have.
    What is stored (datasets, converted shards) is the ids either way.
    """

    tokenizer: Tokenizer | None = None
    max_tokens: int = 64
    features: str = "ids"
    embedding_dim: int = 32
    embedding_seed: int = 0

    def __post_init__(self) -> None:
        if self.features not in TEXT_FEATURES:
            raise ValueError(f"TextSettings.features must be one of {list(TEXT_FEATURES)} (got {self.features!r})")
        if isinstance(self.embedding_dim, bool) or not isinstance(self.embedding_dim, int) or self.embedding_dim < 1:
            raise ValueError(f"TextSettings.embedding_dim must be a positive int (got {self.embedding_dim!r})")
        if isinstance(self.tokenizer, dict):
            object.__setattr__(self, "tokenizer", Tokenizer.from_dict(self.tokenizer))
        elif self.tokenizer is not None and not isinstance(self.tokenizer, Tokenizer):
            raise TypeError(
                f"TextSettings.tokenizer must be a Tokenizer, its to_dict() or None "
                f"(got {type(self.tokenizer).__name__})"
            )

    def to_dict(self) -> dict[str, Any]:
        tokenizer = None if self.tokenizer is None else self.tokenizer.to_dict()
        return {"tokenizer": tokenizer, "max_tokens": self.max_tokens, "features": self.features,
                "embedding_dim": self.embedding_dim, "embedding_seed": self.embedding_seed}


@register_featurizer
class TextFeaturizer(ModalityFeaturizer):
    """One node per token: ``x`` = token id, ``pos`` = token index.

    Args:
        tokenizer: the vocabulary (``Tokenizer.fit`` on training text).
        max_tokens: keep the first ``max_tokens`` tokens (default 64: a caption or a short paragraph;
            longer text is cut, which ``mmgraph convert --preflight`` reports).
        features, embedding_dim, embedding_seed: the float features graphs carry as ``x`` (see
            ``TextSettings``); the featurized (stored) ``x`` is the ids whatever they are.

    Shapes:
        output ``x``: ``(N_text,)`` int64; ``pos``: ``(N_text, 1)``.
        ``node_attributes``: ``x`` ``(N_text,)`` int64 ids, or ``(N_text, F)`` float32 plus ``token`` ``(N_text,)``.
    """

    modality = "text"
    settings_class: ClassVar[type[TextSettings]] = TextSettings
    size_settings: ClassVar[tuple[str, ...]] = ("max_tokens",)

    def __init__(self, tokenizer: Tokenizer | None, max_tokens: int = 64, features: str = "ids",
                 embedding_dim: int = 32, embedding_seed: int = 0) -> None:
        if max_tokens < 1:
            raise ValueError(f"'max_tokens' must be >= 1 (got {max_tokens})")
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.features = features
        self.embedding_dim = embedding_dim
        self.embedding_seed = embedding_seed

    def embedding(self) -> Tensor:
        """The ``(V, F)`` table that turns ids into the float ``x`` of ``features`` other than ``"ids"``."""
        if self.tokenizer is None:
            raise ValueError("text: float features need a tokenizer (GraphConfig(text={'tokenizer': ...}))")
        if self.features == "minilm":
            return minilm_embedding(self.tokenizer)
        return seeded_embedding(len(self.tokenizer), self.embedding_dim, self.embedding_seed)

    def node_attributes(self, x: Tensor) -> dict[str, Tensor]:
        """``{"x": ids}``, or with float ``features`` ``{"x": (N, F) vectors, "token": ids}``."""
        if self.features == "ids":
            return {"x": x}
        return {"x": self.embedding()[x], TOKEN: x}

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return ()

    @property
    def feature_dtype(self) -> torch.dtype:
        return torch.int64

    @property
    def in_features(self) -> int:
        """The vocabulary size (``x`` holds token ids)."""
        if self.tokenizer is None:
            raise ValueError("the graph config has text but no tokenizer (fit one on the training text)")
        return len(self.tokenizer)

    def __call__(self, text: str) -> NodeSet:
        if self.tokenizer is None:
            raise ValueError(
                "text: featurizing text needs a tokenizer; build one from training text with "
                "mmgraph.Tokenizer.fit(texts) and pass GraphConfig(text={'tokenizer': ...})"
            )
        ids = self.tokenizer.encode(text)[: self.max_tokens]
        if not ids:  # visible characters that form no token (cannot happen with the word regex)
            ids = [self.tokenizer.unk_id]
        n = len(ids)
        return NodeSet(
            torch.tensor(ids, dtype=torch.int64),
            torch.arange(n, dtype=torch.float32).unsqueeze(1),
            (n,),
        )

    def __repr__(self) -> str:
        features = "" if self.features == "ids" else f", features={self.features!r}"
        return f"TextFeaturizer({self.tokenizer!r}, max_tokens={self.max_tokens}{features})"
