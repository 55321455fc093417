"""Tests of :mod:`helpers.cli`: the parser, and ``python -m helpers train``.

The end-to-end run trains for one epoch on the built-in MNIST images in a
subprocess, as a user would; it is shared by the tests that inspect its
output. Failing runs are cheap: they stop before any compiling.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import cli
from helpers.model import AutoEncoder
from helpers.training import DivergenceError, fit

ROOT = Path(__file__).resolve().parent.parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FIGURES = ("loss.png", "filters.png", "reconstructions.png")
EPOCH_LINE = re.compile(
    r"^epoch\s+(\d+)/(\d+)\s+train\s+(\S+)\s+valid\s+(\S+)\s+\(.*s\)$", re.M
)

# The classic denoising auto-encoder tutorial's settings.
TUTORIAL = {"hidden": 500, "lr": 0.1, "batch_size": 20, "epochs": 15}


def run_cli(*args, cwd):
    """``python -m helpers ...`` in a subprocess; returns the CompletedProcess."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), env.get("PYTHONPATH")])
    )
    return subprocess.run(
        [sys.executable, "-m", "helpers", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _train_parser():
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    return sub.choices["train"]


# --- the parser -------------------------------------------------------------------


def test_parser_defaults_are_the_classic_tutorial():
    args = cli.build_parser().parse_args(["train"])
    assert args.hidden == TUTORIAL["hidden"]
    assert args.lr == TUTORIAL["lr"]
    assert args.batch_size == TUTORIAL["batch_size"]
    assert args.epochs == TUTORIAL["epochs"]
    assert args.dtype == "float32"
    assert args.seed == 0
    assert args.data == "mnist5k"
    assert args.cost == "cross_entropy"
    assert args.convention == "per_example"
    assert args.binarize is True
    assert args.progress is None


def test_parser_defaults_agree_with_the_library():
    args = cli.build_parser().parse_args(["train"])
    fit_defaults = inspect.signature(fit).parameters
    assert args.lr == fit_defaults["learning_rate"].default
    assert args.batch_size == fit_defaults["batch_size"].default
    assert args.epochs == fit_defaults["n_epochs"].default
    assert args.convention == fit_defaults["convention"].default
    model = AutoEncoder()
    assert (args.hidden, args.dtype) == (model.n_hidden, model.dtype)


@pytest.mark.parametrize(
    "bad",
    [
        ["--hidden", "0"],
        ["--epochs", "-1"],
        ["--batch-size", "0"],
        ["--lr", "0"],
        ["--lr", "-0.1"],
        ["--lr", "nan"],
        ["--lr", "inf"],
        ["--lr", "fast"],
        ["--dtype", "float16"],
    ],
)
def test_parser_refuses_bad_values(bad, capsys):
    with pytest.raises(SystemExit) as info:
        cli.build_parser().parse_args(["train", *bad])
    assert info.value.code == 2
    assert bad[0] in capsys.readouterr().err


def test_every_option_has_help():
    for action in _train_parser()._actions:
        assert action.help, action.option_strings


def test_help_documents_every_option(tmp_path):
    result = run_cli("train", "--help", cwd=tmp_path)
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # undo argparse's line wrapping
    options = ["--data", "--hidden", "--epochs", "--lr", "--batch-size"]
    for option in [*options, "--seed", "--out", "--dtype", "--progress"]:
        assert option in text
    for default in ("500", "15", "0.1", "20", "float32", "mnist5k"):
        assert f"(default: {default})" in text
    # Flags and options without a default show none.
    assert "(default: None)" not in text and "(default: True)" not in text
    assert "(default: False)" not in text


def test_a_second_ctrl_c_says_what_it_left(tmp_path):
    from helpers.cli import _interrupted_message, _remember
    from helpers.training import LoopState

    path, record = tmp_path / "a b" / "checkpoint.json", {}
    assert "before this run wrote a checkpoint" in _interrupted_message(record)
    _remember(record, path, LoopState(1, 0, 0.0, {}), 3, 3)
    text = _interrupted_message(record)
    assert f"written after epoch 1, {path}, is intact" in text
    assert text.endswith(f"--resume '{path}'")  # quoted: the path has a space
    _remember(record, path, LoopState(1, 4, 1.0, {}), 3, 3)
    assert "after minibatch 4 of epoch 2" in _interrupted_message(record)
    # Resumed with a larger --epochs: the hint keeps it.
    _remember(record, path, LoopState(3, 0, 0.0, {}), 3, 5)
    assert _interrupted_message(record).endswith(f"--resume '{path}' --epochs 5")
    _remember(record, path, LoopState(3, 0, 0.0, {}), 3, 3)
    text = _interrupted_message(record)
    assert "training had finished" in text and "--resume" not in text
    assert "itself a portable model file" in text


# --- one real run, end to end ---------------------------------------------------------


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    """One epoch on the built-in MNIST set, 20 hidden units, in a subprocess."""
    work = tmp_path_factory.mktemp("cli")
    out = work / "run"
    result = run_cli(
        "train", "--epochs", 1, "--hidden", 20, "--out", out, "--no-progress", cwd=work
    )
    return result, out


def test_run_exits_cleanly(e2e):
    result, _ = e2e
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "batch/s" not in result.stderr  # --no-progress: no bar


def test_run_prints_one_line_per_epoch_with_both_costs(e2e):
    result, out = e2e
    lines = EPOCH_LINE.findall(result.stdout)
    assert len(lines) == 1
    epoch, of, train_cost, valid_cost = lines[0]
    assert (epoch, of) == ("1", "1")
    history = json.loads((out / "history.json").read_text())
    assert len(history["train_cost"]) == len(history["valid_cost"]) == 1
    assert float(train_cost) == pytest.approx(history["train_cost"][0], abs=1e-4)
    assert float(valid_cost) == pytest.approx(history["valid_cost"][0], abs=1e-4)
    assert all(math.isfinite(float(c)) for c in (train_cost, valid_cost))


def test_run_says_what_the_numbers_are(e2e):
    result, out = e2e
    stdout = result.stdout
    assert "data: mnist5k, 5000 examples of 784 inputs" in stdout
    assert "4500 for training, 500 for validation" in stdout
    assert "784-20 tied sigmoid auto-encoder" in stdout
    label = "cross-entropy per example (summed over 784 inputs, mean over examples)"
    assert f"costs are {label}" in stdout
    assert json.loads((out / "history.json").read_text())["cost_label"] == label


def test_run_writes_model_history_and_figures(e2e):
    result, out = e2e
    model = json.loads((out / "model.json").read_text())
    assert isinstance(model, dict) and model
    for name in FIGURES:
        assert (out / name).read_bytes()[:8] == PNG_MAGIC, name
        assert str(out / name) in result.stdout  # listed as written


# --- runs that fail ------------------------------------------------------------------


def _one_line_error(result, *fragments):
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert not EPOCH_LINE.search(result.stdout)


def test_missing_data_file_exits_2_with_one_line(tmp_path):
    missing = tmp_path / "train-images-idx3-ubyte.gz"
    result = run_cli("train", "--data", missing, "--out", tmp_path / "o", cwd=tmp_path)
    assert result.returncode == 2
    _one_line_error(result, str(missing), "no such file")


def test_unwritable_out_is_reported_before_training(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    out = blocker / "run"
    result = run_cli("train", "--out", out, "--no-progress", cwd=tmp_path)
    assert result.returncode == 2
    _one_line_error(result, str(out), "cannot write the results there")
    assert "data:" not in result.stdout  # refused before even loading data


@pytest.fixture
def earlier_run(e2e, tmp_path):
    """A copy of the end-to-end run's folder, and the bytes of its files."""
    _, out = e2e
    folder = tmp_path / "earlier"
    shutil.copytree(out, folder)
    names = ("model.json", "history.json", *FIGURES)
    return folder, {name: (folder / name).read_bytes() for name in names}


def _unchanged(folder, saved):
    for name, content in saved.items():
        assert (folder / name).read_bytes() == content, name


def test_failed_runs_leave_earlier_results_intact(earlier_run, tmp_path):
    folder, saved = earlier_run
    bad = tmp_path / "grey.npy"
    np.save(bad, np.full((30, 16), 7.0))
    for data, fragment in [(tmp_path / "absent.npy", "no such file"), (bad, "0, 1")]:
        result = run_cli("train", "--data", data, "--out", folder, cwd=tmp_path)
        assert result.returncode == 2
        _one_line_error(result, str(data), fragment)
        _unchanged(folder, saved)


def test_divergence_exits_3_and_leaves_earlier_results_intact(
    earlier_run, tmp_path, monkeypatch, capfd
):
    folder, saved = earlier_run
    data = tmp_path / "rows.npy"
    np.save(data, np.random.default_rng(0).random((30, 16)) < 0.5)

    def diverge(*args, **kwargs):
        raise DivergenceError(1, 2, math.inf)

    monkeypatch.setattr("helpers.training.fit", diverge)
    code = cli.main(["train", "--data", str(data), "--out", str(folder)])
    assert code == 3
    err = capfd.readouterr().err
    assert err.startswith("error: the cost became inf in epoch 1, minibatch 2")
    assert len(err.strip().splitlines()) == 1
    _unchanged(folder, saved)


def test_no_validation_set_when_fraction_is_zero(tmp_path, capfd):
    data = tmp_path / "rows.npy"
    np.save(data, np.random.default_rng(0).random((30, 16)) < 0.5)
    out = tmp_path / "out"
    argv = ["train", "--data", str(data), "--out", str(out), "--epochs", "1"]
    code = cli.main([*argv, "--hidden", "5", "--valid-fraction", "0", "--no-progress"])
    stdout = capfd.readouterr().out
    assert code == 0
    assert "30 for training, 0 for validation" in stdout
    assert re.search(r"^epoch\s+1/1\s+train\s+\S+\s+\(", stdout, re.M)
    assert json.loads((out / "history.json").read_text())["valid_cost"] == []


def test_a_second_ctrl_c_during_a_checkpoint_write_waits_for_it(tmp_path):
    import signal

    stop, target = cli._StopRequest(), tmp_path / "checkpoint.json"
    with pytest.raises(KeyboardInterrupt), stop:
        os.kill(os.getpid(), signal.SIGINT)  # the first: a request to stop
        assert stop()
        with stop.writing():
            os.kill(os.getpid(), signal.SIGINT)  # the second waits for the write
            target.write_text("written")
        pytest.fail("the second Ctrl-C should stop once the write is done")
    assert target.read_text() == "written"
    # Outside a write, a second Ctrl-C stops at once.
    with pytest.raises(KeyboardInterrupt), cli._StopRequest() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        pytest.fail("not reached")


def test_hints_name_a_python_that_has_the_project(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: sys.executable)
    assert cli._python() == "python"
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/python")
    assert cli._python() == sys.executable or " " in sys.executable
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert cli._python().strip("'") == sys.executable


def test_figures_go_where_the_environment_says(tmp_path):
    code = (
        "from helpers.notebook import figure_path\nprint(figure_path('07_backends'))\n"
    )
    env = {**os.environ, "FUN_WITH_THEANO_FIGURES": str(tmp_path / "figs")}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "figs" / "07_backends.png")
    assert (tmp_path / "figs").is_dir()
