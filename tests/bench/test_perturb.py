"""Test-time perturbations: image contrast and hue, text sweeps built from training text (values)."""

import numpy as np
import pytest

from mmgraph import Tokenizer
from mmgraph.bench.perturb import TextPerturber, change_contrast, hue_rotation, perturbed, rotate_hue
from mmgraph.sample import MultimodalSample

SPLIT = Tokenizer(list(Tokenizer.SPECIALS)).split
TRAIN = [
    MultimodalSample(text="red apple fruit crunchy", y=0),
    MultimodalSample(text="red apple fruit", y=0),
    MultimodalSample(text="green pear fruit crunchy", y=0),
    MultimodalSample(text="fast car engine wheel", y=1),
    MultimodalSample(text="fast car wheel turbo", y=1),
    MultimodalSample(text="turbo engine garage", y=1),
    MultimodalSample(text="blue whale ocean", y=2),
    MultimodalSample(text="blue whale ocean deep krill", y=2),
]


def test_contrast_scales_each_channel_towards_its_mean():
    img = np.array([[0, 100], [200, 100]], dtype=np.uint8)
    out = change_contrast(MultimodalSample(image=img), 0.5).image
    assert out.dtype == np.uint8
    assert out.tolist() == [[50, 100], [150, 100]]  # mean 100: 100 + 0.5 * (x - 100)
    rgba = np.zeros((2, 2, 4), dtype=np.float32)
    rgba[..., 0] = [[0.0, 1.0], [1.0, 0.0]]
    rgba[..., 3] = 0.7
    out = change_contrast(MultimodalSample(image=rgba), 0.0).image
    assert np.allclose(out[..., 0], 0.5) and np.allclose(out[..., 3], 0.7)  # flat colour, alpha kept
    same = MultimodalSample(image=img)
    assert change_contrast(same, 1.0) is same


def test_hue_rotation_turns_colours_and_keeps_greys():
    assert np.allclose(hue_rotation(120.0) @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)  # R → G
    assert np.allclose(hue_rotation(37.0) @ [0.3, 0.3, 0.3], [0.3, 0.3, 0.3])
    img = np.zeros((1, 3, 3), dtype=np.uint8)
    img[0, 0] = [255, 0, 0]
    img[0, 1] = [0, 0, 255]
    img[0, 2] = [128, 128, 128]
    out = rotate_hue(MultimodalSample(image=img), 120.0).image
    assert out[0].tolist() == [[0, 255, 0], [255, 0, 0], [128, 128, 128]]
    grey = MultimodalSample(image=np.full((4, 4), 9, dtype=np.uint8))
    assert rotate_hue(grey, 90.0) is grey  # no colour to turn


def test_rare_words_of_other_classes_come_from_training_text_only():
    p = TextPerturber(TRAIN, SPLIT, lambda s: s.y, min_count=2)
    # words seen twice or more, in one class only, rarest first (ties by the word)
    assert p.rare == {0: ["apple", "crunchy", "red", "fruit"], 1: ["car", "engine", "fast", "turbo", "wheel"],
                      2: ["blue", "ocean", "whale"]}
    test = [MultimodalSample(text="a red fruit", y=0), MultimodalSample(text="ocean", y=2)]
    for k in (1, 2, 4):
        for s, out in zip(test, p.apply(test, "rare_other", k, seed=3)):
            added = SPLIT(out.text)[len(SPLIT(s.text)):]
            donor = [c for c, ws in p.rare.items() if ws[: len(added)] == added]
            assert len(added) == min(k, len(p.rare[donor[0]])) and donor and donor[0] != s.y
            assert out.y == s.y and out.text.startswith(" ".join(SPLIT(s.text)))
    assert p.apply(test, "rare_other", 0) == test


def test_drop_and_unknown_words():
    p = TextPerturber(TRAIN, SPLIT, lambda s: s.y)
    test = [MultimodalSample(text="red apple fruit crunchy green", y=0), MultimodalSample(text="whale", y=2)]
    dropped = p.apply(test, "drop", 2, seed=0)
    assert len(SPLIT(dropped[0].text)) == 3 and set(SPLIT(dropped[0].text)) < set(SPLIT(test[0].text))
    assert dropped[1].text == "whale"  # one word always stays
    unknown = p.apply(test, "unknown", 4, seed=0)
    words = SPLIT(unknown[0].text)
    assert len(words) == 5 and sum(w not in p.vocab for w in words) == 4
    assert unknown[1].text not in p.vocab
    again = perturbed(test, "text_unknown", 4, seed=0, text=p)
    assert [s.text for s in again] == [s.text for s in unknown]  # seeded
    with pytest.raises(ValueError, match="needs the training text"):
        perturbed(test, "text_drop", 1)
    with pytest.raises(ValueError, match="unknown sweep"):
        perturbed(test, "text_shuffle", 1)
