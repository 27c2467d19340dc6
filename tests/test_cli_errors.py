"""Every subcommand's user errors: a non-zero exit and one line naming what is wrong, no traceback."""

from __future__ import annotations

import json

import pytest

from mmgraph.cli import main


@pytest.fixture
def run(tmp_path):
    """A finished tiny training run (on a 16-record text manifest) and its manifest."""
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"id": str(i), "text": f"word{i % 3} more", "label": i % 2}) + "\n"
                                for i in range(16)))
    out = tmp_path / "run"
    assert main(["train", "--data", str(manifest), "--out", str(out), "--epochs", "1", "--no-progress"]) == 0
    return out, manifest


def cases(tmp_path, run_dir, manifest):
    missing = str(tmp_path / "absent.jsonl")
    suite = tmp_path / "bad.toml"
    suite.write_text('dataset = "digits"\n[[models]]\nname = "mmgnn"\nhiden = 3\n')
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"id": "x", "text": "y"}) + "\n")
    return [
        (["train", "--data", missing, "--out", str(tmp_path / "a")], "manifest not found"),
        (["train", "--data", "digits", "--model", "no_such_model", "--out", str(tmp_path / "b")],
         "unknown 'no_such_model'"),
        (["train", "--data", "digits", "--model", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "b")],
         "model config not found"),
        (["train", "--data", str(manifest), "--out", str(run_dir)], "already holds a run; pass --resume"),
        (["train", "--data", str(manifest), "--out", str(tmp_path / "fresh"), "--resume"], "holds no run"),
        (["train", "--data", str(manifest), "--out", str(tmp_path / "c"), "--init", str(tmp_path / "no-run")],
         "not found"),
        (["train", "--data", "digits", "--out", str(tmp_path / "d"), "--batch-size", "0"], "batch_size"),
        (["bench", "--suite", "no_such_suite"], "unknown suite 'no_such_suite'"),
        (["bench", "--suite", str(suite), "--out", str(tmp_path / "e")], "unknown ModelConfig fields"),
        (["explain", "--run", str(tmp_path / "no-run"), "--data", str(manifest), "--ids", "1",
          "--out", str(tmp_path / "f")], "not a run folder"),
        (["explain", "--run", str(run_dir), "--data", str(manifest), "--ids", " , ", "--out", str(tmp_path / "f")],
         "--ids needs at least one sample id"),
        (["explain", "--run", str(run_dir), "--data", str(manifest), "--ids", "1", "--split", "nope",
          "--out", str(tmp_path / "f")], "has no split 'nope'"),
        (["info", "no_such_dataset"], "unknown dataset 'no_such_dataset'"),
        (["convert", str(manifest), str(tmp_path / "g"), "--chunk-size", "0"], "'chunk_size' must be a positive int"),
        (["convert", "--merge", str(tmp_path / "nothing"), str(tmp_path / "h")], "not a converted folder"),
        (["pretrain", "--data", missing, "--out", str(tmp_path / "p")], "manifest not found"),
    ]


def test_user_errors_are_one_line_and_non_zero(run, tmp_path, capsys):
    run_dir, manifest = run
    capsys.readouterr()
    for argv, message in cases(tmp_path, run_dir, manifest):
        if argv[0] in ("train", "pretrain", "bench", "convert"):
            argv = [*argv, "--no-progress"]
        code = main(argv)
        err = capsys.readouterr().err.strip()
        assert code != 0, argv
        assert len(err.splitlines()) == 1 and "Traceback" not in err, (argv, err)
        assert err.startswith(f"mmgraph {argv[0]}: error: ") and message in err, (argv, err)


def test_argument_errors_exit_2_in_one_line_naming_help(capsys):
    for argv in (["train"], ["convert"], ["bench", "--seeds", "two"], ["explain", "--method", "magic"], ["nope"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "error: " in err and err.endswith("--help)"), (argv, err)
