"""AV-MNIST: the recipe reproduces ``avmnist_reference.json`` exactly; lazy splits, VAD targets, root handling."""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from mmgraph import MultimodalSample
from mmgraph.datasets import DATASETS, GraphDataset
from mmgraph.datasets.avmnist import (
    SNR_DB_RANGE,
    SPLITS,
    AVMNISTSplit,
    _hann,
    draw_pairing,
    frame_energies,
    load_avmnist_dataset,
    mix_at_snr,
)
from mmgraph.datasets.raw import verify_files
from mmgraph.graph.config import GraphConfig

REPO = Path(__file__).resolve().parents[2]
DATA_ROOT = Path(os.environ.get("MMGRAPH_DATA") or REPO.parent / "shared" / "data")
HAVE_DATA = all(
    (DATA_ROOT / p).exists()
    for p in ("mnist/mnist.npz", "fsdd/recordings", "esc50_8k/SHA256SUMS", "avmnist_reference.json")
)
needs_data = pytest.mark.skipif(
    not HAVE_DATA,
    reason=f"AV-MNIST raw data not found under {DATA_ROOT} (set $MMGRAPH_DATA to the folder holding "
    "mnist/, fsdd/, esc50_8k/ and avmnist_reference.json)",
)


@pytest.fixture(scope="module")
def dataset():
    return load_avmnist_dataset(root=DATA_ROOT)  # checksums verified (the default)


@pytest.fixture(scope="module")
def reference():
    return json.loads((DATA_ROOT / "avmnist_reference.json").read_text())


@pytest.mark.data
@needs_data
def test_reference_reproduced_exactly(dataset, reference):
    assert dataset.info["seed"] == reference["seed"] == 0
    assert dataset.info["pca_k"] == reference["k"]
    assert dataset.info["pca_variance_kept"] == reference["variance_kept"]
    assert dataset.info["snr_db_range"] == reference["snr_db_range"]
    assert {k: len(v) for k, v in dataset.splits.items()} == reference["n"]
    for split in SPLITS:
        images = dataset.splits[split].images
        assert images.shape == (reference["n"][split], 28, 28) and images.dtype == np.uint8
        digest = hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()
        assert digest == reference["sha256"][f"{split}_images"], split
        rows = reference["first_rows"][split]
        assert [dataset.splits[split].describe(i) for i in range(len(rows))] == rows, split
    waves = hashlib.sha256()
    for i in range(20):
        waves.update(dataset.splits["test"][i].audio.waveform.tobytes())
    assert waves.hexdigest() == reference["test_first20_wave_sha256"]


@pytest.mark.data
@needs_data
def test_mixing_counts_match_reference(dataset, reference):
    silent = normalised = 0
    for split in dataset.splits.values():
        for i in range(len(split)):
            mix = split.mix(i)
            silent += not mix.noise_added
            normalised += mix.peak_normalised
    assert {"n_peak_normalised": normalised, "n_silent_noise": silent} == reference["counts"]


@pytest.mark.data
@needs_data
def test_pairing_is_deterministic_from_the_seed(dataset):
    def draw(seed):
        rng = np.random.default_rng(seed)
        return {s: draw_pairing(s, dataset.splits[s].labels, dataset.splits[s].banks, rng) for s in SPLITS}

    again, other = draw(0), draw(1)
    for s in SPLITS:
        for mine, redrawn in zip(dataset.splits[s].pairing, again[s]):
            assert np.array_equal(mine, redrawn)
        assert not np.array_equal(dataset.splits[s].pairing.snr_db, other[s].snr_db)
    snr = np.concatenate([dataset.splits[s].pairing.snr_db for s in SPLITS])
    assert -15.0 <= snr.min() and snr.max() <= -5.0


@pytest.mark.data
@needs_data
def test_pools_keep_splits_apart(dataset):
    banks = dataset.splits["train"].banks
    takes = {s: set(banks.clip_takes[dataset.splits[s].pairing.clip_index].tolist()) for s in SPLITS}
    assert takes["train"] <= set(range(10, 50)) and takes["val"] <= set(range(5, 10))
    assert takes["test"] <= set(range(5))
    for s in SPLITS:
        clip_digits = banks.clip_digits[dataset.splits[s].pairing.clip_index]
        assert np.array_equal(clip_digits, dataset.splits[s].labels)
    pool = banks.pool("val", 3)
    keys = [(banks.clip_speakers[c], banks.clip_takes[c]) for c in pool]
    assert keys == sorted(keys) and len(pool) == 6 * 5


@pytest.mark.data
@needs_data
def test_samples_are_built_lazily_from_the_tables(dataset):
    val = dataset.splits["val"]
    s = val[7]
    assert s.id == "avmnist-val-00007" and s.modalities == ("audio", "image")
    assert np.array_equal(s.image, val.images[7]) and s.y == int(val.labels[7])
    assert s.audio.sample_rate == 8000 and s.audio.waveform.dtype == np.float32
    assert np.abs(s.audio.waveform).max() <= 1.0
    row = val.describe(7)
    speaker = row["clip_file"].split("_")[1]
    assert val.banks.speakers[int(s.targets["speaker"])] == speaker
    assert math.isclose(s.targets["snr_db"], row["snr_db"], abs_tol=1e-6)
    assert s.audio.waveform.shape == val.clean_audio(7).shape
    clip, noise = val.banks.clips[int(val.pairing.clip_index[7])], val.banks.noises[int(val.pairing.noise_index[7])]
    expected = mix_at_snr(clip, noise, row["noise_offset"], float(val.pairing.snr_db[7])).waveform
    assert np.array_equal(s.audio.waveform, expected)
    # the original image is kept and differs from the PCA-degraded one
    assert val.original_image(7).shape == (28, 28) and not np.array_equal(val.original_image(7), s.image)
    # slices and index arrays are lazy views that keep ids; negative indices count from the end
    view = val[10:20]
    assert isinstance(view, AVMNISTSplit) and len(view) == 10 and view[0].id == "avmnist-val-00010"
    picked = val[np.array([4, 2])]
    assert [x.id for x in picked] == ["avmnist-val-00004", "avmnist-val-00002"]
    assert val[-1].id == "avmnist-val-04999"
    with pytest.raises(IndexError, match="out of range"):
        val[5000]
    with pytest.raises(TypeError, match="index with an int"):
        val["a"]


def test_mix_hits_the_snr_wraps_and_normalises():
    rng = np.random.default_rng(0)
    clean = (rng.standard_normal(1000) * 3000).astype(np.int16)
    noise = (rng.standard_normal(300) * 3000).astype(np.int16)  # shorter than the clip: wraps
    mix = mix_at_snr(clean, noise, 250, -5.0)
    assert mix.noise_added and not mix.peak_normalised and mix.waveform.dtype == np.float32
    segment = noise[(250 + np.arange(1000)) % 300] / 32768.0
    added = mix.waveform.astype(np.float64) - clean / 32768.0
    gain = np.dot(added, segment) / np.dot(segment, segment)
    assert np.allclose(added, gain * segment, atol=1e-6)
    snr = 10 * np.log10(np.mean((clean / 32768.0) ** 2) / np.mean((gain * segment) ** 2))
    assert abs(snr - (-5.0)) < 1e-3
    loud = mix_at_snr(clean * 8, noise, 0, -15.0)
    assert loud.peak_normalised and np.isclose(np.abs(loud.waveform).max(), 1.0)
    quiet = mix_at_snr(clean, np.zeros(300, np.int16), 0, -10.0)
    assert not quiet.noise_added and np.array_equal(quiet.waveform, (clean / 32768.0).astype(np.float32))


@pytest.mark.data
@needs_data
def test_vad_targets_follow_the_audio_frames(dataset):
    config = dataset.fit_graph_config()
    audio = config.settings["audio"]
    assert config.modalities == ("audio", "image") and config.settings["image"].patch_size == 4
    samples = dataset.splits["val"][:12]
    gd = GraphDataset.from_samples(samples, config, node_targets=dataset.node_targets)
    counts = gd.columns["audio"].counts
    assert counts.tolist() == [1 + s.audio.waveform.shape[0] // audio.hop_length for s in samples]
    vad = gd.node_targets["audio"]["vad"]
    assert vad.dtype == torch.long and vad.shape == (int(counts.sum()),)
    assert set(vad.unique().tolist()) <= {0, 1}
    assert vad.float().mean() > 0.5  # FSDD clips are trimmed: speech fills most frames
    assert (gd.columns["image"].counts == 49).all()
    # the per-frame energies are the featurizer's STFT framing (Parseval on the one-sided spectrum)
    clean = samples.clean_audio(0)
    spec = torch.stft(
        torch.from_numpy(clean).double(), audio.n_fft, audio.hop_length, audio.win_length,
        window=torch.hann_window(audio.win_length, dtype=torch.float64), center=True,
        pad_mode="constant", return_complex=True,
    ).abs().square()  # (F, T)
    parseval = (2 * spec.sum(0) - spec[0] - spec[-1]) / audio.n_fft
    assert np.allclose(frame_energies(clean, config), parseval.numpy(), rtol=1e-9, atol=1e-12)
    energy = parseval.numpy()
    assert torch.equal(gd[0].node_targets["audio"]["vad"], torch.from_numpy(energy > 0.01 * energy.max()).long())
    # targets come from the clean clip: a noisier copy of a sample (same id) keeps them
    wave = samples[0].audio.waveform
    noisy_wave = np.clip(wave + np.random.default_rng(0).normal(0.0, 0.3, wave.shape), -1, 1).astype(np.float32)
    noisy = MultimodalSample(image=samples[0].image, audio=noisy_wave, sample_rate=8000, id=samples[0].id)
    gd_noisy = GraphDataset.from_samples([noisy], config, node_targets=dataset.node_targets)
    assert torch.equal(gd_noisy.node_targets["audio"]["vad"], gd[0].node_targets["audio"]["vad"])
    # fewer frames kept by the featurizer, or no audio at all
    short = GraphDataset.from_samples(samples[:2], config.replace(audio={"max_frames": 20}),
                                      node_targets=dataset.node_targets)
    assert short.node_targets["audio"]["vad"].shape == (40,)
    mixed = GraphDataset.from_samples([samples[0].without("audio"), samples[1]], config,
                                      node_targets=dataset.node_targets)
    assert mixed.node_targets["audio"]["vad"].shape == (int(counts[1]),)


def test_hann_window_is_scipy_get_window_bit_for_bit():
    from scipy.signal import get_window

    for length in (1, 2, 3, 64, 200, 255, 256, 400):
        window = _hann(length)
        assert window.dtype == np.float64 and not window.flags.writeable
        assert np.array_equal(window, get_window("hann", length, fftbins=True)), length
        assert window.tobytes() == get_window("hann", length, fftbins=True).tobytes()


@pytest.mark.parametrize("framing", [(256, 200, 80), (512, 400, 160), (64, 64, 16), (32, 20, 7)])
def test_frame_energies_are_the_windowed_frames_squared_and_summed(framing):
    """The strided framing gives the very bits of the plain one: pad, slide, every hop-th window."""
    from numpy.lib.stride_tricks import sliding_window_view

    n_fft, win, hop = framing
    config = GraphConfig(modalities=("audio",), audio={"n_fft": n_fft, "win_length": win, "hop_length": hop,
                                                       "sample_rate": 8000, "max_frames": None})
    rng = np.random.default_rng(0)
    for length in (1, win - 1, n_fft, 3951, 4000):
        wave = rng.uniform(-1, 1, length).astype(np.float32)
        padded = np.pad(wave.astype(np.float64), n_fft // 2)
        frames = sliding_window_view(padded[(n_fft - win) // 2:], win)[::hop][: 1 + length // hop]
        expected = np.square(frames * _hann(win)).sum(axis=1)
        assert frame_energies(wave, config).tobytes() == expected.tobytes(), (framing, length)


@pytest.mark.data
@needs_data
def test_vad_targets_travel_without_the_splits(dataset):
    """What a conversion worker receives: the rows, clip indices and clips, not the images and noise."""
    targets = dataset.node_targets
    sent = pickle.dumps(targets, protocol=pickle.HIGHEST_PROTOCOL)
    splits = pickle.dumps(dataset.splits, protocol=pickle.HIGHEST_PROTOCOL)
    assert len(sent) < 0.4 * len(splits)  # the clip bank and two int64 columns per split
    received = pickle.loads(sent)
    assert repr(received) == repr(targets)
    for sample_id in ("avmnist-train-00000", "avmnist-val-04999", "avmnist-test-00123"):
        assert np.array_equal(received.clean_clip(sample_id), targets.clean_clip(sample_id))
    split = dataset.splits["test"]
    assert np.array_equal(targets.clean_clip("avmnist-test-00123"), split.clean_audio(123))
    with pytest.raises(ValueError, match="names a row outside"):
        received.clean_clip("avmnist-val-05000")


@pytest.mark.data
@needs_data
def test_featurize_round_trip_batches_every_target(dataset):
    config = dataset.fit_graph_config()
    gd = GraphDataset.from_samples(dataset.splits["test"][:8], config, node_targets=dataset.node_targets)
    batch = gd.collate_indices([3, 0, 5])
    assert batch.id == ["avmnist-test-00003", "avmnist-test-00000", "avmnist-test-00005"]
    assert batch.y.tolist() == [int(dataset.splits["test"].labels[i]) for i in (3, 0, 5)]
    assert batch["audio"].vad.shape[0] == batch["audio"].x.shape[0]
    assert batch["image"].x.shape == (3 * 49, 16)
    assert torch.isfinite(batch.snr_db).all() and set(batch.speaker.tolist()) <= set(range(6))
    tasks = dataset.tasks
    assert tasks["digit"].num_classes == 10 and tasks["snr_db"].kind == "regression"
    assert tasks["speaker"].target == "speaker" and tasks["speaker"].num_classes == 6
    assert tasks["vad"].kind == "node_classification" and tasks["vad"].node_type == "audio"


def test_registered_and_root_errors(tmp_path, monkeypatch):
    assert {"avmnist", "emoji"} <= set(DATASETS.list())
    monkeypatch.delenv("MMGRAPH_DATA", raising=False)
    with pytest.raises(ValueError, match=r"MMGRAPH_DATA"):
        load_avmnist_dataset()
    with pytest.raises(ValueError, match=r"lacks mnist/, fsdd/, esc50_8k/"):
        load_avmnist_dataset(root=tmp_path)


def test_verify_files_names_bad_files_and_rehashes_changed_ones(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"hello")
    good = hashlib.sha256(b"hello").hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{good}  a.bin\n{'0' * 64}  b.bin\n")
    verify_files(tmp_path, ["a.bin"])
    verify_files(tmp_path, ["a.bin"])  # cached
    with pytest.raises(ValueError, match=r"b\.bin \(missing\)"):
        verify_files(tmp_path, ["b.bin"])
    with pytest.raises(ValueError, match=r"c\.bin \(not listed"):
        verify_files(tmp_path, ["c.bin"])
    (tmp_path / "a.bin").write_bytes(b"hellO!")  # new size: hashed again
    with pytest.raises(ValueError, match=r"a\.bin \(sha256 differs\)"):
        verify_files(tmp_path, ["a.bin"])


@pytest.mark.data
@needs_data
def test_nuisance_redraw_keeps_digit_image_and_clip_and_redraws_the_noise(dataset):
    rows = np.arange(0, 2000, 7)
    first = dataset.resample_nuisance("train", rows, np.random.default_rng(1))
    second = dataset.resample_nuisance("train", rows, np.random.default_rng(2))
    again = dataset.resample_nuisance("train", rows, np.random.default_rng(1))
    split = dataset.splits["train"]
    own = split[rows]
    redrawn = split[rows].redraw_nuisance(np.random.default_rng(1))
    assert dataset.nuisance_modalities == ("audio",)
    # what the labels depend on is the sample's own: digit, image, clean clip (hence speaker)
    assert np.array_equal(redrawn.labels, own.labels) and np.array_equal(redrawn.images, own.images)
    assert np.array_equal(redrawn.pairing.clip_index, own.pairing.clip_index)
    # the nuisance is drawn afresh, from the recipe's distributions
    p = redrawn.pairing
    assert (p.noise_index != own.pairing.noise_index).mean() > 0.9
    assert p.snr_db.min() >= SNR_DB_RANGE[0] and p.snr_db.max() <= SNR_DB_RANGE[1]
    lengths = np.array([split.banks.noises[j].shape[0] for j in p.noise_index])
    assert (p.noise_offset >= 0).all() and (p.noise_offset < lengths).all()
    for a, b, c, o in zip(first[:20], second[:20], again[:20], own[:20]):
        assert a.y == b.y == o.y and np.array_equal(a.image, o.image)
        assert a.audio.waveform.shape == o.audio.waveform.shape
        assert not np.array_equal(a.audio.waveform, b.audio.waveform)
        assert np.array_equal(a.audio.waveform, c.audio.waveform)  # the same generator draws the same


@pytest.mark.data
@needs_data
def test_held_out_speaker_and_noise_shift_splits(dataset):
    shifted = load_avmnist_dataset(root=DATA_ROOT, verify=False, holdout_speakers=("theo",),
                                   holdout_noise=("human non-speech", "rain"))
    banks = shifted.splits["train"].banks
    theo = banks.speakers.index("theo")
    files = banks.noise_files
    with open(DATA_ROOT / "esc50_8k" / "index.csv") as f:
        import csv

        rows = {r["filename"]: r for r in csv.DictReader(f)}
    held = {i for i, name in enumerate(files)
            if int(rows[name]["esc50_target"]) // 10 == 2 or rows[name]["category"] == "rain"}
    assert len(held) == shifted.info["held_out_noise_clips"] > 0
    for name in ("train", "val", "test"):  # nothing held out is drawn in any split that trains or selects
        p = shifted.splits[name].pairing
        assert theo not in set(banks.clip_speakers[p.clip_index].tolist())
        assert not held & set(p.noise_index.tolist())
    test, speaker, noise = (shifted.splits[s] for s in ("test", "test_speaker", "test_noise"))
    assert len(speaker) == len(noise) == len(test) == 10_000
    assert (banks.clip_speakers[speaker.pairing.clip_index] == theo).all()
    assert (banks.clip_digits[speaker.pairing.clip_index] == test.labels).all()
    assert np.array_equal(speaker.pairing.snr_db, test.pairing.snr_db)  # only the voice changes
    assert np.array_equal(speaker.pairing.noise_index, test.pairing.noise_index)
    assert set(noise.pairing.noise_index.tolist()) <= held  # only the noise changes
    # the pretraining re-draw of the nuisance keeps the held-out noises out too
    redrawn = shifted.resample_nuisance("train", np.arange(3000), np.random.default_rng(0))
    assert not held & set(redrawn.pairing.noise_index.tolist())
    with pytest.raises(ValueError, match="re-drawn for the splits"):
        shifted.resample_nuisance("test_noise", np.arange(3), np.random.default_rng(0))
    assert np.array_equal(noise.pairing.clip_index, test.pairing.clip_index)
    assert np.array_equal(noise.images, test.images)
    sample = noise[7]
    assert sample.id == "avmnist-test_noise-00007" and sample.y == int(test.labels[7])
    assert shifted.node_targets.clean_clip(speaker[3].id).shape == speaker.clean_audio(3).shape
    # without holdouts the recipe is untouched: same draws as the reference dataset
    assert "test_speaker" not in dataset.splits
    with pytest.raises(ValueError, match="not FSDD speakers"):
        load_avmnist_dataset(root=DATA_ROOT, verify=False, holdout_speakers=("nobody",))
    with pytest.raises(ValueError, match="unknown ESC-50 categories or groups"):
        load_avmnist_dataset(root=DATA_ROOT, verify=False, holdout_noise=("kazoo",))
