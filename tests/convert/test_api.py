import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import wavfile

from mmgraph.cli import main
from mmgraph.convert import convert, merge, parse_shard, verify
from mmgraph.convert.layout import CorruptShardError, read_meta
from mmgraph.datasets import GraphDataset, load_dataset
from mmgraph.datasets.manifest import ManifestDataset
from mmgraph.datasets.on_disk import ConvertedDataset, load_converted
from mmgraph.graph.config import GraphConfig

REPO = Path(__file__).resolve().parents[2]
CHUNK = 4


def make_manifest(root: Path, n: int = 22) -> tuple[Path, dict[str, str]]:
    """n good records (three splits, some modalities missing) with bad ones planted between them.

    Returns the manifest and the expected rejection reason (substring) per rejected id or line.
    """
    rng = np.random.default_rng(0)
    (root / "imgs").mkdir(parents=True)
    (root / "wav").mkdir()
    lines = []
    for i in range(n):
        size = (8, 8) if i % 5 else (12, 8)  # a few images of another size: other patch grids
        Image.fromarray((rng.random(size) * 255).astype(np.uint8)).save(root / "imgs" / f"{i}.png")
        length = 800 if i % 2 else 1200
        wavfile.write(root / "wav" / f"{i}.wav", 8000, (rng.standard_normal(length) * 3000).astype(np.int16))
        rec = {"id": f"s{i}", "image": f"imgs/{i}.png", "text": f"word{i % 4} hello {'extra ' * (i % 3)}",
               "audio": f"wav/{i}.wav", "label": i % 3, "targets": {"snr_db": i / 2},
               "split": ["train", "train", "val", "test"][i % 4]}
        if i % 6 == 5:
            del rec["audio"]
        if i % 7 == 6:
            del rec["targets"], rec["label"]
        lines.append(json.dumps(rec))
    (root / "imgs" / "broken.png").write_bytes(b"not a png")
    bad = {
        3: ("{oops", "line:4", "not valid JSON"),
        8: (json.dumps({"id": "s1", "text": "dup"}), "s1", "duplicate id 's1'"),
        11: (json.dumps({"id": "esc", "image": "../../etc/passwd"}), "esc", "leaves the manifest folder"),
        15: (json.dumps({"id": "broken", "image": "imgs/broken.png"}), "broken", "not a readable image file"),
        20: (json.dumps({"id": "strlabel", "text": "x", "label": "2"}), "strlabel", "label: '2' is a class name"),
    }
    expected = {}
    for at in sorted(bad):
        text, key, reason = bad[at]
        lines.insert(at, text)
        expected[key] = reason
    path = root / "manifest.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path, expected


def tree(out: Path) -> dict[str, bytes]:
    """Every file under ``out`` (hidden temp files included) → its bytes."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture
def manifest(tmp_path) -> tuple[Path, dict[str, str]]:
    return make_manifest(tmp_path / "data")


@pytest.fixture
def reference(manifest, tmp_path) -> Path:
    """An uninterrupted single-process conversion to compare against."""
    out = tmp_path / "reference"
    convert(manifest[0], out, chunk_size=CHUNK, progress=False)
    return out


def test_convert_manifest_matches_direct_featurization(manifest, reference):
    path, expected = manifest
    meta = read_meta(reference)
    assert meta["complete"] and meta["num_records"] == 27 and meta["num_chunks"] == 7
    assert meta["counts"] == {"records": 27, "converted": 22, "rejected": 5}
    assert meta["splits"] == {"test": 5, "train": 12, "val": 5}
    assert meta["tasks"]["label"] == {"name": "label", "kind": "classification", "target": "y", "num_classes": 3}
    assert meta["tasks"]["snr_db"]["kind"] == "regression"
    assert meta["schema"]["features"]["image"] == {"layout": "grid", "x_shape": [48], "x_dtype": "float32",
                                                   "pos_dim": 2}
    assert [s["records"] for s in meta["shards"]][:2] == [[0, 4], [4, 8]]
    rejected = [json.loads(line) for line in (reference / "rejected.jsonl").read_text().splitlines()]
    assert len(rejected) == len(expected)
    for r in rejected:
        key = r["id"] if r["id"] is not None else f"line:{r['line']}"
        assert expected[key] in r["reason"], r
    assert [r["record"] for r in rejected] == sorted(r["record"] for r in rejected)

    config = GraphConfig.from_dict(meta["graph_config"])
    assert "hello" in config.settings["text"].tokenizer.vocab and "dup" not in config.settings["text"].tokenizer.vocab
    loaded = load_converted(reference)
    assert isinstance(loaded, ConvertedDataset) and list(loaded.splits) == ["train", "val", "test"]
    manifest_ds = ManifestDataset(path)
    for split, graphs in loaded.splits.items():
        direct = GraphDataset.from_samples(list(manifest_ds.samples(split)), config)
        assert graphs.ids == direct.ids
        for m in config.modalities:
            a, b = graphs.columns[m], direct.columns[m]
            # featurizing a whole split at once batches the STFTs differently (and threaded): float noise only
            torch.testing.assert_close(a.x, b.x, rtol=1e-5, atol=1e-5)
            assert torch.equal(a.pos, b.pos) and torch.equal(a.counts, b.counts)
            assert a.shapes == b.shapes
        assert torch.equal(graphs.y, direct.y)
        torch.testing.assert_close(graphs.targets["snr_db"], direct.targets["snr_db"], rtol=0, atol=0, equal_nan=True)
        batch = graphs.collate_indices(list(range(len(graphs))))
        reference_batch = direct.collate_indices(list(range(len(direct))))
        assert batch.num_graphs == len(direct)
        for key, value in reference_batch.collect("x").items():
            torch.testing.assert_close(batch[key].x, value, rtol=1e-5, atol=1e-5)
        for edge_type in reference_batch.edge_types:
            if "edge_index" in reference_batch[edge_type]:
                assert torch.equal(batch[edge_type].edge_index, reference_batch[edge_type].edge_index)


def test_load_dataset_dispatches_to_converted_folder(reference, tmp_path):
    ds = load_dataset(str(reference))
    assert isinstance(ds, ConvertedDataset) and ds.tasks["label"].num_classes == 3
    config = ds.fit_graph_config()
    assert ds.featurize("val", config) is ds.splits["val"]
    with pytest.raises(ValueError, match="another graph config"):
        ds.featurize("val", config.replace(image={"patch_size": 2}))
    (tmp_path / "plain").mkdir()
    with pytest.raises(ValueError, match="without meta.json"):
        load_dataset(str(tmp_path / "plain"))


def test_workers_2_equals_workers_1(manifest, reference, tmp_path):
    out = tmp_path / "parallel"
    report = convert(manifest[0], out, workers=2, chunk_size=CHUNK, progress=False)
    assert report.chunks_written == 7 and report.complete
    assert tree(out) == tree(reference)


KILLER = """
import os, signal, sys
from pathlib import Path
import mmgraph.convert.layout as layout
from mmgraph.convert import convert

real = layout.write_atomic

def write_then_die(path, data):
    path = Path(path)
    if path.name == "shard-000003.pt":
        # what a kill in the middle of writing leaves: a partial temp file, no shard
        (path.parent / f".{path.name}.killed.tmp").write_bytes(data[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    real(path, data)

layout.write_atomic = write_then_die
convert(sys.argv[1], sys.argv[2], chunk_size=int(sys.argv[3]), progress=False)
"""


def test_sigkill_then_resume_gives_same_bytes(manifest, reference, tmp_path):
    out = tmp_path / "killed"
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, str(script), str(manifest[0]), str(out), str(CHUNK)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    shards = sorted(p.name for p in (out / "shards").iterdir())
    assert ".shard-000003.pt.killed.tmp" in shards and "shard-000002.json" in shards
    assert "shard-000003.pt" not in shards
    assert not read_meta(out)["complete"]
    report = convert(manifest[0], out, chunk_size=CHUNK, progress=False)
    assert (report.chunks_skipped, report.chunks_written) == (3, 4)
    assert tree(out) == tree(reference)


def test_resume_redoes_missing_and_corrupt_shards_only(manifest, reference, tmp_path):
    out = tmp_path / "damaged"
    out.mkdir()
    for name, data in tree(reference).items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    (out / "shards" / "shard-000006.pt").unlink()  # the last shard lost
    corrupt = out / "shards" / "shard-000002.pt"
    data = bytearray(corrupt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    (out / "shards" / ".shard-000006.pt.x1y2.tmp").write_bytes(b"partial")  # a stale temp file
    report = convert(manifest[0], out, chunk_size=CHUNK, progress=False)
    assert (report.chunks_skipped, report.chunks_written) == (5, 2)
    assert tree(out) == tree(reference)
    again = convert(manifest[0], out, chunk_size=CHUNK, progress=False)
    assert (again.chunks_skipped, again.chunks_written) == (7, 0)


def test_shard_parts_merge_to_the_single_run(manifest, reference, tmp_path):
    parts = [tmp_path / "part0", tmp_path / "part1"]
    for i, part in enumerate(parts):
        report = convert(manifest[0], part, shard=(i, 2), chunk_size=CHUNK, progress=False)
        assert not report.complete and report.chunks_written == (4 if i == 0 else 3)
    assert not verify(parts[0]).ok and "shard-000001.pt (not converted)" in verify(parts[0]).missing[0]
    with pytest.raises(ValueError, match="incomplete"):
        load_converted(parts[0])
    merged = merge(parts, tmp_path / "merged")
    assert merged.complete and merged.converted == 22
    assert tree(tmp_path / "merged") == tree(reference)
    # or all machines write into one shared folder
    shared = tmp_path / "shared"
    convert(manifest[0], shared, shard=(1, 2), chunk_size=CHUNK, progress=False)
    assert convert(manifest[0], shared, shard=(0, 2), chunk_size=CHUNK, progress=False).complete
    assert tree(shared) == tree(reference)


def test_verify_reports_corrupt_and_missing_shards(reference):
    assert verify(reference).ok and verify(reference).checked == 7
    shard = reference / "shards" / "shard-000001.pt"
    data = bytearray(shard.read_bytes())
    data[100] ^= 0x01
    shard.write_bytes(bytes(data))
    (reference / "shards" / "shard-000004.pt").unlink()
    report = verify(reference)
    assert not report.ok
    assert report.corrupt == ["shards/shard-000001.pt"] and report.missing == ["shards/shard-000004.pt"]
    with pytest.raises(CorruptShardError, match="shard-000001.pt does not match its checksum"):
        load_converted(reference)


def test_other_settings_or_foreign_folder_refused(manifest, reference, tmp_path):
    with pytest.raises(ValueError, match="other settings .*chunk_size"):
        convert(manifest[0], reference, chunk_size=CHUNK + 1, progress=False)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty and holds no conversion"):
        convert(manifest[0], foreign, chunk_size=CHUNK, progress=False)
    other = tmp_path / "other"
    convert(manifest[0], other, chunk_size=CHUNK + 1, progress=False)
    with pytest.raises(ValueError, match="not parts of one conversion"):
        merge([reference, other], tmp_path / "m")


def test_convert_builtin_digits(tmp_path):
    out = tmp_path / "digits"
    report = convert("digits", out, chunk_size=700, progress=False)
    assert report.complete and report.converted == 1797 and report.rejected == 0
    dataset = load_dataset("digits")
    loaded = load_converted(out)
    assert {s: len(g) for s, g in loaded.splits.items()} == {s: len(v) for s, v in dataset.splits.items()}
    assert loaded.tasks == dataset.tasks
    config = dataset.fit_graph_config()
    assert loaded.graph_config == config
    direct = GraphDataset.from_samples(dataset.splits["val"][:6], config)
    a, b = loaded.splits["val"].collate_indices(range(6)), direct.collate_indices(range(6))
    for m in config.modalities:
        assert torch.equal(a[m].x, b[m].x)
    assert torch.equal(a.y, b.y) and torch.equal(a.snr_db, b.snr_db) and a.id == b.id


def test_parse_shard():
    assert parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "-1/2", "1", "a/b"):
        with pytest.raises(ValueError, match="--shard must be I/N"):
            parse_shard(bad)


def test_cli_convert_verify_merge_and_exit_codes(manifest, tmp_path, capsys):
    path = str(manifest[0])
    out = tmp_path / "cli"
    toml = tmp_path / "graph.toml"
    toml.write_text('[graph]\nmodalities = ["audio", "image", "text"]\n[graph.image]\npatch_size = 2\n')
    assert main(["convert", path, str(out), "--chunk-size", "4", "--graph", str(toml), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "converted 22 records, rejected 5" in printed and "records/s" in printed and "rejected.jsonl" in printed
    assert read_meta(out)["graph_config"]["image"]["patch_size"] == 2
    assert main(["convert", "--verify", str(out)]) == 0
    assert "7 shard(s) verified" in capsys.readouterr().out
    parts = [str(tmp_path / f"p{i}") for i in range(2)]
    for i, part in enumerate(parts):
        assert main(["convert", path, part, "--shard", f"{i}/2", "--chunk-size", "4", "--no-progress",
                     "--graph", str(toml)]) == 0
    assert main(["convert", "--merge", *parts, str(tmp_path / "merged")]) == 0
    assert tree(tmp_path / "merged") == tree(out)
    (out / "shards" / "shard-000000.pt").write_bytes(b"broken")
    capsys.readouterr()
    assert main(["convert", "--verify", str(out)]) == 1
    assert "1 corrupt (shards/shard-000000.pt)" in capsys.readouterr().out
    for argv, message in [
        (["convert", path, str(tmp_path / "x"), "--shard", "2/2"], "--shard must be I/N"),
        (["convert", str(tmp_path / "nope.jsonl"), str(tmp_path / "x")], "manifest not found"),
        (["convert", "no-such-dataset", str(tmp_path / "x")], "unknown dataset 'no-such-dataset'"),
        (["convert", path], "expected SOURCE OUT"),
        (["convert", "--verify", str(tmp_path)], "not a converted folder"),
        (["convert", path, str(tmp_path / "x"), "--workers", "0"], "'workers' must be a positive int"),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("mmgraph convert: error: ") and message in err, err
        assert len(err.splitlines()) == 1


def test_converted_files_get_the_umask_permissions(manifest, tmp_path):
    import stat

    path, _ = manifest
    old = os.umask(0o022)
    try:
        convert(path, tmp_path / "out", chunk_size=CHUNK, progress=False)
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert {"meta.json", "rejected.jsonl"} <= {p.name for p in files} and any(p.suffix == ".pt" for p in files)
    modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in files}
    assert set(modes.values()) == {0o644}, modes  # as open() gives under umask 022, not mkstemp's 0o600
