import numpy as np
import pytest
import torch

from mmgraph.featurize import ImageFeaturizer
from mmgraph.featurize.image import to_float_channels


def test_patches_are_the_pixels_in_row_major_order():
    img = np.arange(16, dtype=np.uint8).reshape(4, 4)
    ns = ImageFeaturizer(patch_size=2)(img)
    assert ns.shape == (2, 2)
    assert ns.x.shape == (4, 4)
    np.testing.assert_allclose(ns.x[0].numpy() * 255, [0, 1, 4, 5], atol=1e-4)
    np.testing.assert_allclose(ns.x[3].numpy() * 255, [10, 11, 14, 15], atol=1e-4)
    assert ns.pos.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]


def test_edges_are_zero_padded():
    img = np.ones((5, 3), np.float32)
    ns = ImageFeaturizer(patch_size=2)(img)
    assert ns.shape == (3, 2)
    last = ns.x[-1].reshape(2, 2)  # bottom-right patch covers pixel (4, 2) and padding
    assert last.tolist() == [[1.0, 0.0], [0.0, 0.0]]
    assert float(ns.x.sum()) == 15.0  # no pixel lost, none invented


def test_channels_conversion():
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 255
    grey = to_float_channels(rgb, 1)
    np.testing.assert_allclose(grey, 0.299, atol=1e-6)
    rgba = np.zeros((1, 1, 4), np.uint8)  # fully transparent black → white background
    np.testing.assert_allclose(to_float_channels(rgba, 3), 1.0)
    ns = ImageFeaturizer(patch_size=1, channels=3)(np.full((2, 2), 0.5, np.float32))
    assert ns.x.shape == (4, 3)


def test_resize_and_validation():
    ns = ImageFeaturizer(patch_size=4, size=(8, 8))(np.zeros((28, 28), np.uint8))
    assert ns.shape == (2, 2)
    with pytest.raises(ValueError, match="'patch_size' must be a positive int"):
        ImageFeaturizer(patch_size=0)
    with pytest.raises(ValueError, match="'channels' must be 1"):
        ImageFeaturizer(channels=2)


def test_deterministic():
    rng = np.random.default_rng(0)
    img = rng.random((9, 7)).astype(np.float32)
    a, b = ImageFeaturizer(3)(img), ImageFeaturizer(3)(img)
    assert torch.equal(a.x, b.x) and torch.equal(a.pos, b.pos)
