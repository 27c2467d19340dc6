import hashlib

import numpy as np
import torch

from mmgraph.datasets import DATASETS, load_dataset
from mmgraph.datasets.digits import DTMF, make_digits_samples


def _digest(samples):
    h = hashlib.sha256()
    for s in samples:
        h.update(s.image.tobytes())
        h.update(s.audio.waveform.tobytes())
        h.update(s.text.encode())
    return h.hexdigest()


def test_deterministic_from_seed_and_sizes():
    a, b = make_digits_samples(0)[:20], make_digits_samples(0)[:20]
    assert _digest(a) == _digest(b)
    assert _digest(make_digits_samples(1)[:20]) != _digest(a)
    ds = load_dataset("digits")
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 1257, "val": 270, "test": 270}
    ids = [s.id for split in ds.splits.values() for s in split]
    assert len(set(ids)) == 1797
    assert "digits" in DATASETS.list()


def test_every_sample_has_three_modalities_and_labels():
    ds = load_dataset("digits")
    s = ds.splits["train"][0]
    assert s.modalities == ("audio", "image", "text")
    assert s.image.shape == (8, 8) and s.image.dtype == np.uint8
    assert 0.2 <= s.audio.duration <= 0.6 and s.audio.sample_rate == 8000
    assert -24.0 <= s.targets["snr_db"] <= -8.0
    assert ds.tasks["digit"].num_classes == 10


def test_dtmf_tone_peaks_at_its_frequencies():
    samples = make_digits_samples(0)[:40]
    s = next(x for x in samples if x.targets["snr_db"] > -12)
    spectrum = np.abs(np.fft.rfft(s.audio.waveform))
    freqs = np.fft.rfftfreq(s.audio.waveform.shape[0], 1 / 8000)
    low, high = DTMF[s.y]
    band = (freqs > 600) & (freqs < 1600)
    top = freqs[band][np.argsort(spectrum[band])[-6:]]
    assert any(abs(f - low) < 15 for f in top) and any(abs(f - high) < 15 for f in top)


def test_graph_dataset_batches_match_collate():
    from mmgraph import collate

    ds = load_dataset("digits")
    config = ds.fit_graph_config()
    gd = ds.featurize("val", config)
    idx = [5, 0, 17, 3]
    batch = gd.collate_indices(idx, full_edges="list")
    direct = collate([ds.splits["val"][i] for i in idx], config)
    for nt in batch.node_types:
        assert torch.allclose(batch[nt].x.float(), direct[nt].x.float(), atol=1e-5)
        assert torch.equal(batch[nt].batch, direct[nt].batch)
    for et in batch.edge_types:
        assert torch.equal(batch[et].edge_index, direct[et].edge_index)
    assert batch.y.tolist() == direct.y.tolist() and batch.id == direct.id
    assert torch.allclose(batch.snr_db, direct.snr_db)
    one = gd[17]
    assert one.id == ds.splits["val"][17].id and one.y == ds.splits["val"][17].y
