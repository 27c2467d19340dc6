import numpy as np
import pytest
import torch

from mmgraph.featurize import ImageFeaturizer
from mmgraph.featurize.image import to_float_channels


def test_patches_are_the_pixels_in_row_major_order():
    img = np.arange(16, dtype=np.uint8).reshape(4, 4)
    ns = ImageFeaturizer(patch_size=2, channels=1)(img)
    assert ns.shape == (2, 2)
    assert ns.x.shape == (4, 4)
    np.testing.assert_allclose(ns.x[0].numpy() * 255, [0, 1, 4, 5], atol=1e-4)
    np.testing.assert_allclose(ns.x[3].numpy() * 255, [10, 11, 14, 15], atol=1e-4)
    assert ns.pos.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]


def test_edges_are_zero_padded():
    img = np.ones((5, 3), np.float32)
    ns = ImageFeaturizer(patch_size=2, channels=1)(img)
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


def test_large_photos_are_scaled_to_the_grid_cap_aspect_kept_colour_kept():
    rng = np.random.default_rng(0)
    photo = (rng.random((512, 384, 3)) * 255).astype(np.uint8)
    photo[..., 1:] = 0  # pure red: the colour must survive
    ns = ImageFeaturizer()(photo)  # defaults: RGB, 4×4 patches, at most 14×14
    assert ImageFeaturizer().capped_size(512, 384) == (56, 42)  # longer side 14 × 4 pixels, aspect kept
    assert ns.shape == (14, 11) and ns.x.shape == (154, 48)
    pixels = ns.x.reshape(-1, 16, 3)[ns.pos[:, 1] < 10]  # the last patch column holds padding (42 = 10.5 patches)
    assert float(pixels[..., 0].min()) > 0.05 and float(pixels[..., 1:].abs().max()) == 0.0
    tall = ImageFeaturizer(patch_size=16, max_grid=7)(np.zeros((1000, 100), np.uint8))
    assert tall.shape == (7, 1)  # 112 × 11 pixels
    assert ImageFeaturizer(max_grid=None)(np.zeros((100, 60), np.uint8)).shape == (25, 15)


@pytest.mark.parametrize(("hw", "patch", "channels"), [((28, 28), 4, 1), ((8, 8), 4, 1), ((64, 64), 16, 3),
                                                        ((56, 56), 4, 3), ((57, 20), 4, 1)])
def test_images_within_the_cap_are_featurized_exactly_as_without_it(hw, patch, channels):
    rng = np.random.default_rng(1)
    img = (rng.random((*hw, 4)) * 255).astype(np.uint8)  # RGBA, as emoji are
    capped = ImageFeaturizer(patch_size=patch, channels=channels)(img)
    uncapped = ImageFeaturizer(patch_size=patch, channels=channels, max_grid=None)(img)
    if max(-(-hw[0] // patch), -(-hw[1] // patch)) <= 14:
        assert torch.equal(capped.x, uncapped.x) and capped.shape == uncapped.shape
    else:  # 57 rows of 4-pixel patches is 15 > 14: scaled to 56 × 20
        assert capped.shape == (14, 5) and uncapped.shape == (15, 5)
    with pytest.raises(ValueError, match="'max_grid' must be a positive int or None"):
        ImageFeaturizer(max_grid=0)
