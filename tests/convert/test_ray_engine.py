"""The Ray engine: the same bytes as the local engine, resumable, and retried when a worker dies.

Runs on a local Ray instance of 2 CPUs (started once for the module); skipped when the ``ray``
extra is not installed.
"""

import os
import sys
from dataclasses import replace

import pytest

from mmgraph.cli import main
from mmgraph.convert import convert, verify
from mmgraph.datasets import load_dataset
from tests.convert.test_api import CHUNK, make_manifest, tree

pytestmark = pytest.mark.slow  # a Ray instance is several processes; CI runs the slow tests as a step of their own

ray = pytest.importorskip("ray", reason='the Ray engine needs the extra: pip install "mmgraph[ray]"')
pytest.importorskip("ray.data", reason='the Ray engine needs Ray Data: pip install "mmgraph[ray]"')


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    from ray import cloudpickle

    # this module's classes go to the workers by value: tests/ is not importable there
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    # one Ray instance for the module: starting one takes seconds; convert uses the connection it finds
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def small_digits():
    """60 digits samples in three splits: a dataset source small enough for a quick conversion."""
    dataset = load_dataset("digits")
    splits = {"train": dataset.splits["train"][:40], "val": dataset.splits["val"][:10],
              "test": dataset.splits["test"][:10]}
    return replace(dataset, splits=splits)


def test_dataset_source_same_bytes_as_local_engine(small_digits, tmp_path):
    local = convert(small_digits, tmp_path / "local", chunk_size=16, progress=False)
    on_ray = convert(small_digits, tmp_path / "ray", chunk_size=16, progress=False, engine="ray")
    assert (on_ray.chunks_written, on_ray.converted, on_ray.complete) == (4, 60, True)
    assert tree(tmp_path / "ray") == tree(tmp_path / "local")
    assert (local.converted, local.rejected) == (on_ray.converted, on_ray.rejected)
    a, b = verify(tmp_path / "local", content=True), verify(tmp_path / "ray", content=True)
    assert a.ok and b.ok and a.samples == 60 and a.content_sha256 == b.content_sha256


def test_manifest_with_rejections_same_bytes_and_resume(tmp_path):
    manifest, expected = make_manifest(tmp_path / "data")
    convert(manifest, tmp_path / "local", chunk_size=CHUNK, progress=False)
    out = tmp_path / "ray"
    report = convert(manifest, out, chunk_size=CHUNK, progress=False, engine="ray")
    assert (report.converted, report.rejected, report.chunks_written) == (22, 5, 7)
    # same shards, sidecars, meta.json and rejected.jsonl (same reasons, same order)
    assert tree(out) == tree(tmp_path / "local")
    # a killed driver leaves some shards done: a rerun converts only the others
    (out / "shards" / "shard-000006.pt").unlink()
    (out / "shards" / "shard-000002.json").unlink()
    (out / "shards" / ".shard-000004.pt.abc.tmp").write_bytes(b"what a killed task left")
    again = convert(manifest, out, chunk_size=CHUNK, progress=False, engine="ray")
    assert (again.chunks_skipped, again.chunks_written) == (5, 2)
    assert tree(out) == tree(tmp_path / "local")


class CrashOnce:
    """A node-target function whose first call kills its worker process (as an OOM kill or a lost node would)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __call__(self, raw, featurized, config):
        if not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(1)
        return {}


def test_a_killed_worker_is_retried(small_digits, tmp_path):
    marker = tmp_path / "crashed"
    dataset = replace(small_digits, node_targets=CrashOnce(str(marker)))
    report = convert(dataset, tmp_path / "ray", chunk_size=16, progress=False, engine="ray")
    assert marker.exists() and report.complete and report.converted == 60
    convert(dataset, tmp_path / "local", chunk_size=16, progress=False)
    assert tree(tmp_path / "ray") == tree(tmp_path / "local")


def test_cli_engine_ray_and_verify_content(small_digits, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["convert", "digits", str(out), "--engine", "ray", "--chunk-size", "512", "--no-progress"]) == 0
    assert "converted 1,797 records, rejected 0 (4 shard(s) written" in capsys.readouterr().out
    assert main(["convert", "--verify", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "4 shard(s) verified" in printed and "content sha256 of the 1,797 (id, graph) pairs: " in printed
    # an existing connection is used as it is: asking for another cluster or CPU count is an error
    for flags, message in [(["--address", "auto"], "already connected to Ray"),
                           (["--workers", "2"], "already connected to Ray")]:
        assert main(["convert", "digits", str(tmp_path / "x"), "--engine", "ray", *flags]) == 2
        assert message in capsys.readouterr().err
