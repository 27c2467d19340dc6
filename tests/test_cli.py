import subprocess
import sys

import mmgraph
from mmgraph.cli import main


def test_version_and_help(capsys):
    try:
        main(["--version"])
    except SystemExit as e:
        assert e.code == 0
    assert mmgraph.__version__ in capsys.readouterr().out
    assert main([]) == 0
    assert "COMMAND" in capsys.readouterr().out


def test_info_digits(capsys):
    assert main(["info", "digits", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "digits: 1,797 samples" in out and "nodes image" in out and "majority rate" in out


def test_user_error_is_one_line_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "mmgraph", "info", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("mmgraph info: error: unknown dataset 'nope'; valid names: ")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_pretrain_rejects_bad_mask_ratio(capsys):
    assert main(["pretrain", "--data", "digits", "--out", "unused", "--mask-ratio", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "mmgraph pretrain: error: --mask-ratio must be in (0, 1] (got 0.0)"


def test_graph_file_overrides_the_recommended_config_in_train(tmp_path, capsys):
    import json

    (tmp_path / "g.toml").write_text('[graph]\nmax_nodes = 300\n[graph.image]\npatch_size = 2\n'
                                     '[graph.edges]\n"audio-text" = "aligned:0.2"\n')
    (tmp_path / "small.toml").write_text('[model]\nhidden = 16\nlayers = 1\n')
    assert main(["train", "--data", "digits", "--out", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "256",
                 "--model", str(tmp_path / "small.toml"), "--graph", str(tmp_path / "g.toml"), "--no-progress"]) == 0
    graph = json.loads((tmp_path / "run" / "run.json").read_text())["graph_config"]
    assert graph["image"] == {"patch_size": 2, "channels": 1, "size": None, "max_grid": 14}  # digits' grey kept
    assert graph["text"]["max_tokens"] == 8 and graph["audio"]["sample_rate"] == 8000  # digits' settings kept
    assert graph["edges"]["audio-text"] == "aligned:0.2" and graph["edges"]["text"] == "window:1"
    assert graph["max_nodes"] == 300
    capsys.readouterr()
    # a resumed run keeps its stored config: --graph with --resume is refused, in one line
    assert main(["train", "--data", "digits", "--out", str(tmp_path / "run"), "--resume",
                 "--graph", str(tmp_path / "g.toml")]) == 2
    assert "a resumed run keeps the graph config in its run.json; drop --graph" in capsys.readouterr().err
