"""Small batches for layer tests."""

import numpy as np
import pytest
import torch

from mmgraph import GraphConfig, Tokenizer, collate
from tests.conftest import WORDS, make_sample


@pytest.fixture
def mixed_batch_factory():
    def make(hub=False, edges=None, full_edges="dense", sets=None, seed=0):
        rng = np.random.default_rng(seed)
        config = GraphConfig(text={"tokenizer": Tokenizer.fit([" ".join(WORDS)])}, hub=hub, edges=edges or {},
                             image={"patch_size": 7})
        sets = sets or [("audio", "image", "text"), ("image",), ("audio", "text"), ("audio", "image", "text"),
                        ("text",)]
        samples = [make_sample(rng, m, n_words=int(rng.integers(1, 7)), audio_len=int(rng.integers(200, 3000)),
                               y=i % 3) for i, m in enumerate(sets)]
        return collate(samples, config, full_edges=full_edges), config
    return make


def random_x(batch, channels=16, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {t: torch.randn(batch[t].num_nodes, channels, generator=g, dtype=dtype, requires_grad=True)
            for t in batch.node_types}
