"""Pretraining augmentations: SpecAugment masks one band block and one time block per sample; node
dropout drops about the asked fraction and never every node of a sample."""

import torch

from mmgraph.datasets import load_dataset
from mmgraph.models import DataSpec, ModelConfig, build_model
from mmgraph.nn.augment import node_dropout, spec_augment
from mmgraph.task import Task


def test_spec_augment_masks_one_band_block_and_one_time_block_per_sample():
    g = torch.Generator().manual_seed(0)
    counts = torch.tensor([50, 20, 1, 35])
    batch = torch.repeat_interleave(torch.arange(4), counts)
    x = torch.randn(int(counts.sum()), 40, generator=g) + 10.0  # never equal to the fill
    fill = torch.full((40,), -7.0)
    out = spec_augment(x, batch, 4, fill, max_bands=8, max_time=0.2, generator=torch.Generator().manual_seed(1))
    assert out.shape == x.shape and not torch.equal(out, x)
    masked = out == -7.0
    assert torch.equal(out[~masked], x[~masked])  # everything else untouched
    start = 0
    for n in counts.tolist():
        m = masked[start:start + n]  # (n, 40)
        full_rows = m.all(1)  # frames of the time block
        bands = m[~full_rows].any(0) if (~full_rows).any() else torch.zeros(40, dtype=torch.bool)
        width = int(bands.sum())
        assert width <= 8 and (width == 0 or int(bands.nonzero().max() - bands.nonzero().min()) + 1 == width)
        if (~full_rows).any():  # the same bands in every frame outside the time block
            assert torch.equal(m[~full_rows], bands.expand(int((~full_rows).sum()), 40))
        t = int(full_rows.sum())
        assert t <= 0.2 * n and (t == 0 or int(full_rows.nonzero().max() - full_rows.nonzero().min()) + 1 == t)
        start += n
    # repeatable with the same generator, different with another
    again = spec_augment(x, batch, 4, fill, generator=torch.Generator().manual_seed(1))
    other = spec_augment(x, batch, 4, fill, generator=torch.Generator().manual_seed(2))
    assert torch.equal(again, out) and not torch.equal(other, out)


def test_node_dropout_drops_the_rate_and_keeps_a_node_of_every_sample():
    ds = load_dataset("digits")
    train = ds.featurize("train", ds.fit_graph_config()).subset(range(64))
    spec = DataSpec.from_graph_config(train.config, {"digit": Task("digit", "classification", "y", num_classes=10)})
    model = build_model(ModelConfig(hidden=8, layers=1, heads=2, tasks=["digit"]), spec)
    ctx = model.context(train.collate_indices(range(64)))
    dropped = node_dropout(ctx, {"image": 0.5, "text": 0.95}, torch.Generator().manual_seed(0))
    keep_image, keep_text = dropped.keep["image"], dropped.keep["text"]
    assert "audio" not in dropped.keep and 0.4 < 1 - keep_image.float().mean() < 0.6
    per_sample = torch.zeros(64, dtype=torch.long).index_add_(0, ctx.batch["text"], keep_text.long())
    assert per_sample.min() >= 1  # 95 % asked: every sample still has a token
    # dropped nodes send no message along any sparse edge list
    for (src, _, _), edges in dropped.sparse_edges.items():
        if src in ("image", "text"):
            assert dropped.keep[src][edges[0]].all()
    assert node_dropout(ctx, {"image": 0.0}) is ctx
