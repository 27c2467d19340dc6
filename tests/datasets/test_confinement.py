"""No file outside the manifest's folder is ever read, whatever form its path takes.

The check is on the resolved path (``realpath`` under the folder's own real path): symbolic links
to files or folders outside, chains of links, ``link/..`` tricks and sibling folders are refused;
links that stay inside are followed. Non-regular files (FIFO, device) are refused without being
opened. The one manifest reader does the check, so ``convert``, ``load_dataset`` (what ``train
--data``, ``predict``, ``evaluate`` and ``explain`` read manifests with) and every file modality
get it.
"""

from __future__ import annotations

import json
import os
import signal
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmgraph.cli import main
from mmgraph.convert import convert
from mmgraph.datasets import load_dataset
from mmgraph.datasets.manifest import ManifestDataset, Rejection, is_inside
from mmgraph.datasets.on_disk import load_converted
from mmgraph.modality import MODALITIES, register_modality

pytestmark = pytest.mark.skipif(os.name != "posix", reason="symbolic links, FIFOs and devices as POSIX has them")


def png(path: Path, value: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, np.uint8)).save(path)
    return path


@pytest.fixture
def folders(tmp_path) -> tuple[Path, Path]:
    """``m``: the manifest folder with one good image; ``outside``: a secret image and a folder beside it."""
    m, outside = tmp_path / "m", tmp_path / "outside"
    png(m / "inside.png", 10)
    png(outside / "secret.png", 200)
    png(outside / "deep" / "secret.png", 201)
    (outside / "deep" / "dir").mkdir()
    return m, outside


def records_of(m: Path, paths: dict[str, str], *, allow_outside: bool = False) -> dict[str, object]:
    """Write a manifest of one image record per ``id: path`` and read it: id → sample or rejection."""
    lines = [json.dumps({"id": rid, "image": path, "text": "a picture"}) for rid, path in paths.items()]
    (m / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return {item.id: item for item in ManifestDataset(m / "manifest.jsonl", allow_outside=allow_outside)}


def refused(item, *pieces: str) -> None:
    assert isinstance(item, Rejection), f"read: {item}"
    for piece in pieces:
        assert piece in item.reason, item.reason
    assert item.reason.startswith("image: ")


@contextmanager
def must_not_hang(seconds: int = 20):
    def fail(*_):
        raise AssertionError(f"blocked for {seconds} s (a FIFO opened?)")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_symbolic_links_leaving_the_folder_are_refused(folders):
    m, outside = folders
    (m / "to-file.png").symlink_to(outside / "secret.png")
    (m / "to-dir").symlink_to(outside)
    (m / "c1.png").symlink_to(m / "c2.png")  # a chain: c1 → c2 → c3 → outside
    (m / "c2.png").symlink_to("c3.png")
    (m / "c3.png").symlink_to(outside / "secret.png")
    (m / "relative.png").symlink_to(Path("..") / "outside" / "secret.png")
    (m / "dirlink").symlink_to(outside / "deep" / "dir")
    items = records_of(m, {
        "file": "to-file.png", "dir": "to-dir/secret.png", "chain": "c1.png", "relative": "relative.png",
        # as written, "dirlink/../secret.png" is m/secret.png (inside); the system resolves the link
        # first, to outside/deep/secret.png: inside only before resolution
        "dotdot": "dirlink/../secret.png",
        "absolute": str(m / "to-file.png"),
    })
    for rid in ("file", "dir", "chain", "relative", "absolute", "dotdot"):
        refused(items[rid], "resolves through a symbolic link to", str(outside), "outside the manifest folder")
    assert str(outside / "deep" / "secret.png") in items["dotdot"].reason


def test_links_that_stay_inside_are_followed(folders):
    m, _ = folders
    png(m / "data" / "blob-1.png", 77)
    (m / "a.png").symlink_to("b.png")  # a chain that stays inside
    (m / "b.png").symlink_to(m / "data" / "blob-1.png")
    (m / "images").symlink_to("data")  # a linked folder inside
    (m / "sub").mkdir()
    (m / "sub" / "up.png").symlink_to(Path("..") / "inside.png")  # out of sub/, still inside m/
    items = records_of(m, {"chain": "a.png", "folder": "images/blob-1.png", "up": "sub/up.png",
                           "dotdot": "sub/../inside.png"})
    assert int(items["chain"].image[0, 0]) == 77 and int(items["folder"].image[0, 0]) == 77
    assert int(items["up"].image[0, 0]) == 10 and int(items["dotdot"].image[0, 0]) == 10


def test_the_folder_itself_reached_through_a_link(folders, tmp_path):
    """Paths resolve under the folder's real path: a manifest read through a linked folder still works."""
    m, outside = folders
    (tmp_path / "alias").symlink_to(m)
    (m / "manifest.jsonl").write_text(json.dumps({"id": "x", "image": "inside.png"}) + "\n"
                                      + json.dumps({"id": "y", "image": str(m / "inside.png")}) + "\n"
                                      + json.dumps({"id": "z", "image": "../outside/secret.png"}) + "\n")
    items = {i.id: i for i in ManifestDataset(tmp_path / "alias" / "manifest.jsonl")}
    assert int(items["x"].image[0, 0]) == 10 and int(items["y"].image[0, 0]) == 10
    refused(items["z"], "leaves the manifest folder")


def test_a_sibling_folder_with_the_same_prefix_is_outside(tmp_path):
    """Folder ``m`` does not contain ``m2/x.png``: the comparison ends at a path separator."""
    m = tmp_path / "m"
    png(m / "ok.png", 1)
    png(tmp_path / "m2" / "x.png", 2)
    png(tmp_path / "m.png", 3)
    items = records_of(m, {"sibling": "../m2/x.png", "absolute": str(tmp_path / "m2" / "x.png"),
                           "beside": "../m.png", "ok": "ok.png"})
    for rid in ("sibling", "absolute", "beside"):
        refused(items[rid], "leaves the manifest folder")
    assert int(items["ok"].image[0, 0]) == 1
    assert is_inside("/data/m/x.png", "/data/m/") and not is_inside("/data/m2/x.png", "/data/m/")


def test_a_hard_link_is_the_file_itself_and_is_read(folders):
    """Policy: a hard link in the folder is a file of the folder (a second name of the same inode),
    so it is read; making one needs write access to the folder, which could copy the file as well."""
    m, outside = folders
    try:
        os.link(outside / "secret.png", m / "hard.png")
    except OSError as exc:
        pytest.skip(f"no hard links here: {exc}")
    item = records_of(m, {"hard": "hard.png"})["hard"]
    assert int(item.image[0, 0]) == 200


def test_fifos_devices_and_folders_named_as_images_are_refused_unopened(folders):
    m, _ = folders
    os.mkfifo(m / "fifo.png")  # opening it would block until a writer comes
    (m / "folder.png").mkdir()
    (m / "zero.png").symlink_to("/dev/zero")
    with must_not_hang():
        items = records_of(m, {"fifo": "fifo.png", "folder": "folder.png", "zero": "zero.png"})
        refused(items["fifo"], "image: not a regular file: fifo.png (a FIFO)")
        refused(items["folder"], "image: not a regular file: folder.png (a folder)")
        refused(items["zero"], "resolves through a symbolic link to /dev/zero")
        lifted = records_of(m, {"zero": "zero.png", "dev": "/dev/null"}, allow_outside=True)
        refused(lifted["zero"], "image: not a regular file: zero.png (a character device)")
        refused(lifted["dev"], "image: not a regular file: /dev/null (a character device)")


def test_a_file_swapped_after_the_check_is_refused_at_decoding(folders):
    """``convert`` reads records in one process and decodes them in another, minutes later."""
    m, outside = folders
    png(m / "later-link.png", 5)
    png(m / "later-fifo.png", 6)
    (m / "manifest.jsonl").write_text(json.dumps({"id": "l", "image": "later-link.png"}) + "\n"
                                      + json.dumps({"id": "f", "image": "later-fifo.png"}) + "\n")
    records = {r.id: r for r in ManifestDataset(m / "manifest.jsonl").records()}
    assert all(r.ok and r.confined for r in records.values())
    (m / "later-link.png").unlink()
    (m / "later-link.png").symlink_to(outside / "secret.png")
    (m / "later-fifo.png").unlink()
    os.mkfifo(m / "later-fifo.png")
    with must_not_hang():
        link, fifo = records["l"].load(), records["f"].load()
    assert isinstance(link, Rejection) and "changed since the manifest was read" in link.reason
    assert "symbolic link" in link.reason
    assert isinstance(fifo, Rejection) and fifo.reason.startswith("image: not a regular file (a FIFO): later-fifo.png")


def test_registered_file_modalities_are_confined_too(folders):
    m, outside = folders
    np.save(outside / "secret.npy", np.arange(3.0))
    np.save(m / "mine.npy", np.arange(4.0))
    (m / "link.npy").symlink_to(outside / "secret.npy")
    register_modality("series", layout="sequence", validate=lambda v: np.asarray(v, np.float32), record="file",
                      from_record=np.load)
    try:
        (m / "manifest.jsonl").write_text(json.dumps({"id": "in", "series": "mine.npy"}) + "\n"
                                          + json.dumps({"id": "out", "series": "link.npy"}) + "\n")
        items = {i.id: i for i in ManifestDataset(m / "manifest.jsonl")}
    finally:
        MODALITIES.unregister("series")
    assert items["in"].extra["series"].tolist() == [0, 1, 2, 3]
    assert isinstance(items["out"], Rejection) and items["out"].reason.startswith("series: path 'link.npy' resolves")


def test_every_entry_point_reads_through_the_same_check(folders, tmp_path, capsys):
    """convert, load_dataset (train --data, predict, evaluate, explain) and the CLI never see the outside file."""
    m, outside = folders
    for i in range(6):
        png(m / f"g{i}.png", 30 * i)
    (m / "leak.png").symlink_to(outside / "secret.png")
    lines = [json.dumps({"id": f"g{i}", "image": f"g{i}.png", "label": i % 2}) for i in range(6)]
    lines.append(json.dumps({"id": "leak", "image": "leak.png", "label": 1}))
    manifest = m / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n")

    out = tmp_path / "converted"
    report = convert(manifest, out, progress=False)
    assert (report.converted, report.rejected) == (6, 1)
    assert "leak" not in load_converted(out).splits["train"].ids
    assert "resolves through a symbolic link" in (out / "rejected.jsonl").read_text()
    assert load_dataset(str(manifest)).info["rejected"] == 1
    assert "leak" not in [s.id for s in load_dataset(str(manifest)).splits["train"]]

    run = tmp_path / "run"
    assert main(["train", "--data", str(manifest), "--out", str(run), "--epochs", "1", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["explain", "--run", str(run), "--data", str(manifest), "--ids", "leak", "--split", "train",
                 "--out", str(tmp_path / "explained")]) == 2
    assert "ids not in the train split" in capsys.readouterr().err
    # --allow-outside is the explicit opt-out
    lifted = convert(manifest, tmp_path / "lifted", allow_outside=True, progress=False)
    assert (lifted.converted, lifted.rejected) == (7, 0)
