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
