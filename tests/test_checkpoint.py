"""Training that never loses work: checkpoints, resume, signals, divergence.

Most tests run the real command line in a real process on the real data,
send it real signals and inspect the real files it leaves.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers.backends import pick_backend
from helpers.checkpoint import check_free_space, load_checkpoint
from helpers.model import AutoEncoder
from helpers.portable import ModelFileError, load_model
from helpers.training import (
    LoopState,
    TrainingInterrupted,
    compile_train_step,
    train,
)

ROOT = Path(__file__).resolve().parent.parent
# Small enough to train in about a second, on the real 5,000 images.
SMALL = ["--hidden", "40", "--epochs", "6", "--no-progress"]


def run_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "helpers", "train", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


def bits(path: Path) -> dict[str, bytes]:
    """The parameters of a model file as raw bytes, for exact comparison."""
    return {k: v.tobytes() for k, v in load_model(path).params.items()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted run of the small configuration."""
    out = tmp_path_factory.mktemp("reference")
    result = run_cli(*SMALL, "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_same_seed_gives_the_same_parameters_run_after_run(reference, tmp_path):
    result = run_cli(*SMALL, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert bits(tmp_path / "model.json") == bits(reference / "model.json")


def test_checkpoint_after_every_epoch_is_a_model_file(reference):
    ckpt = load_checkpoint(reference / "checkpoint.json")
    assert ckpt.state.epochs_done == 6 and ckpt.state.batches_done == 0
    assert len(ckpt.history.train_cost) == 6
    assert ckpt.settings["hidden"] == 40
    assert ckpt.settings["backend"] == pick_backend("auto")  # resolved, not "auto"
    # The final checkpoint holds the same parameters as the final model.
    assert bits(reference / "checkpoint.json") == bits(reference / "model.json")


def _start_and_signal(
    out: Path,
    signum: int,
    again_after: float | None = None,
    trigger: str = "epoch   1/",
) -> subprocess.CompletedProcess:
    """Start training, send ``signum`` once a line starts with ``trigger``.

    By default that is the first epoch's line. With ``again_after``, send a
    second SIGINT that many seconds later.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "helpers", "train", *SMALL, "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith(trigger):
            proc.send_signal(signum)
            if again_after is not None:
                time.sleep(again_after)
                proc.send_signal(signal.SIGINT)
            break
    stdout, stderr = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, "".join(lines) + stdout, stderr
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_writes_a_checkpoint_and_resume_matches_an_uninterrupted_run(
    signum, reference, tmp_path
):
    result = _start_and_signal(tmp_path, signum)
    assert result.returncode == 128 + signum, result.stderr
    checkpoint = tmp_path / "checkpoint.json"
    assert str(checkpoint) in result.stderr
    assert f"--resume {checkpoint}" in result.stderr
    assert not (tmp_path / "model.json").exists()
    stopped = load_checkpoint(checkpoint).state
    assert 1 <= stopped.epochs_done < 6

    resumed = run_cli("--resume", str(checkpoint))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stdout
    assert bits(tmp_path / "model.json") == bits(reference / "model.json")
    history = json.loads((tmp_path / "history.json").read_text())
    expected = json.loads((reference / "history.json").read_text())
    assert history["train_cost"] == expected["train_cost"]
    assert history["valid_cost"] == expected["valid_cost"]


@pytest.mark.parametrize("gap", [0.01, 0.05])
def test_a_second_ctrl_c_while_compiling_stops_cleanly(gap, tmp_path):
    # The second signal lands while JAX starts up or compiles: the process
    # must report and exit, not crash inside a C extension.
    result = _start_and_signal(
        tmp_path, signal.SIGINT, again_after=gap, trigger="compiling"
    )
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr and "terminate" not in result.stderr
    assert "interrupted" in result.stderr or "stopped" in result.stderr
    assert not list(tmp_path.glob("*.tmp*"))


@pytest.mark.parametrize("gap", [0.0, 0.01, 0.1])
def test_a_second_ctrl_c_keeps_the_checkpoint_and_names_it(gap, tmp_path):
    # Whether the second signal lands during the checkpoint write, during
    # the message or at shutdown, the checkpoint of epoch 1 survives, the
    # message names it, and no traceback is printed.
    result = _start_and_signal(tmp_path, signal.SIGINT, again_after=gap)
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr
    checkpoint = tmp_path / "checkpoint.json"
    assert f"--resume {checkpoint}" in result.stderr
    assert load_checkpoint(checkpoint).state.epochs_done >= 1


def test_interrupted_mid_epoch_resume_is_bit_identical_in_process():
    rng = np.random.default_rng(3)
    X = (rng.random((23, 12)) < 0.3).astype("float32")

    def run(stop_after: int | None):
        ae = AutoEncoder(12, 5, seed=1)
        x = ae.input()
        step = compile_train_step([x], ae.cost(x), ae.params, 0.5)
        calls = {"n": 0}

        def should_stop():
            calls["n"] += 1
            return stop_after is not None and calls["n"] == stop_after

        kwargs = dict(n_epochs=4, batch_size=5, seed=7, progress=False)
        try:
            return ae, train(step, X, should_stop=should_stop, **kwargs)
        except TrainingInterrupted as exc:
            state = exc.state
        saved = ae.get_values()
        # A fresh model from the saved values, as a resumed process would have.
        ae2 = AutoEncoder(values=saved)
        x2 = ae2.input()
        step2 = compile_train_step([x2], ae2.cost(x2), ae2.params, 0.5)
        state = LoopState.from_json(json.loads(json.dumps(state.to_json())))
        return ae2, train(step2, X, resume=state, **kwargs)

    ref_model, ref_history = run(None)
    for stop_after in (2, 5, 7, 13):  # mid-epoch and at epoch ends (5 batches each)
        model, history = run(stop_after)
        for name, value in ref_model.get_values().items():
            assert model.get_values()[name].tobytes() == value.tobytes(), stop_after
        assert history.train_cost[-1] == ref_history.train_cost[-1]


def test_divergence_stops_and_keeps_the_last_good_files(reference, tmp_path):
    for name in ("model.json", "checkpoint.json"):
        (tmp_path / name).write_bytes((reference / name).read_bytes())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    # A rate this large overflows float32 on the first steps.
    result = run_cli(*SMALL, "--lr", "1e38", "--out", str(tmp_path))
    assert result.returncode == 3
    assert "epoch 1, minibatch" in result.stderr
    assert "Lower the learning rate" in result.stderr
    # It diverged before its first checkpoint, so it points at none; the
    # earlier run's checkpoint is not mistaken for this run's.
    assert "this run had written no checkpoint yet" in result.stderr
    assert "Traceback" not in result.stderr
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before


def test_unwritable_output_is_reported_before_training(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli(*SMALL, "--out", str(blocker / "out"))
    assert result.returncode == 2
    assert str(blocker / "out") in result.stderr
    assert "--out" in result.stderr
    assert "epoch" not in result.stdout
    assert blocker.read_text() == "not a folder"


# The command line under a 300 KiB file-size limit, which stands in for a full
# disk: writes past it fail with EFBIG, as they would with ENOSPC. The limit
# is set by the child itself (no preexec_fn: forking this process, which has
# JAX's threads, could deadlock).
LIMITED_CLI = """
import resource, sys
resource.setrlimit(resource.RLIMIT_FSIZE, (300 * 1024, 300 * 1024))
from helpers.cli import main
sys.exit(main(["train", *sys.argv[1:]]))
"""


def test_failed_checkpoint_write_keeps_the_earlier_checkpoint(reference, tmp_path):
    good = (reference / "checkpoint.json").read_bytes()
    (tmp_path / "checkpoint.json").write_bytes(good)
    result = subprocess.run(
        [sys.executable, "-c", LIMITED_CLI, *SMALL, "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert "checkpoint.json: could not write the checkpoint" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "checkpoint.json").read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.json"]


def test_free_space_check_names_the_folder(tmp_path):
    with pytest.raises(ModelFileError, match=str(tmp_path)) as info:
        check_free_space(tmp_path, 2**62)
    assert "MiB free" in str(info.value)
    check_free_space(tmp_path, 1)


def test_resume_refuses_a_final_model_a_conflict_and_a_finished_run(reference):
    cases = [
        (["--resume", str(reference / "model.json")], "not a checkpoint"),
        (
            ["--resume", str(reference / "checkpoint.json"), "--hidden", "30"],
            "--hidden 30 conflicts",
        ),
        (
            ["--resume", str(reference / "checkpoint.json")],
            "already holds all 6 epochs",
        ),
    ]
    for args, message in cases:
        result = run_cli(*args)
        assert result.returncode == 2, args
        assert message in result.stderr
        assert "Traceback" not in result.stderr


def test_a_new_run_does_not_overwrite_an_unfinished_one(reference, tmp_path):
    interrupted = _start_and_signal(tmp_path, signal.SIGINT)
    assert interrupted.returncode == 130
    saved = (tmp_path / "checkpoint.json").read_bytes()
    result = run_cli(*SMALL, "--out", str(tmp_path))
    assert result.returncode == 2
    assert "unfinished run" in result.stderr and "--resume" in result.stderr
    assert (tmp_path / "checkpoint.json").read_bytes() == saved


def test_resume_refuses_other_data_and_edited_settings(reference, tmp_path):
    other = tmp_path / "other.npy"
    np.save(other, np.zeros((50, 784), dtype=np.uint8))
    result = run_cli(
        "--resume", str(reference / "checkpoint.json"), "--data", str(other)
    )
    assert result.returncode == 2
    assert "conflicts" in result.stderr  # --data differs from the recorded one
    doc = json.loads((reference / "checkpoint.json").read_text())
    doc["training"]["resume"]["settings"]["batch_size"] = 0
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    result = run_cli("--resume", str(edited), "--epochs", "7")
    assert result.returncode == 2
    assert "recorded batch_size" in result.stderr and "Traceback" not in result.stderr


def test_resume_can_extend_a_finished_run(reference, tmp_path):
    good = (reference / "checkpoint.json").read_bytes()
    (tmp_path / "checkpoint.json").write_bytes(good)
    result = run_cli("--resume", str(tmp_path / "checkpoint.json"), "--epochs", "7")
    assert result.returncode == 0, result.stderr
    assert "epoch   7/7" in result.stdout and "epoch   6/" not in result.stdout
    history = json.loads((tmp_path / "history.json").read_text())
    assert len(history["train_cost"]) == 7


def test_resume_keeps_the_recorded_backend(reference, tmp_path):
    doc = json.loads((reference / "checkpoint.json").read_text())
    recorded = doc["training"]["resume"]["settings"]["backend"]
    other = "numba" if recorded != "numba" else "c"
    result = run_cli("--resume", str(reference / "checkpoint.json"), "--backend", other)
    assert result.returncode == 2
    assert f"--backend {other} conflicts with the checkpoint's {recorded!r}" in (
        result.stderr
    )
    doc["training"]["resume"]["settings"]["backend"] = "tpu"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    result = run_cli("--resume", str(edited), "--epochs", "7")
    assert result.returncode == 2
    assert "recorded backend 'tpu'" in result.stderr and "Traceback" not in (
        result.stderr
    )


def test_a_checkpoint_from_before_backends_were_recorded_resumes_on_numba(
    reference, tmp_path
):
    doc = json.loads((reference / "checkpoint.json").read_text())
    del doc["training"]["resume"]["settings"]["backend"]
    older = tmp_path / "checkpoint.json"
    older.write_text(json.dumps(doc))
    assert load_checkpoint(older).settings["backend"] == "numba"
    assert load_checkpoint(older).settings["mode"] is None


def test_a_run_with_a_mode_records_it_and_resumes_with_it(tmp_path):
    small = [*SMALL[:2], "--no-progress", "--mode", "NUMBA"]
    straight, stepped = tmp_path / "straight", tmp_path / "stepped"
    result = run_cli(*small, "--epochs", "3", "--out", str(straight))
    assert result.returncode == 0, result.stderr
    assert "with PyTensor's NUMBA mode, on the numba backend" in result.stdout
    first = run_cli(*small, "--epochs", "2", "--out", str(stepped))
    assert first.returncode == 0, first.stderr
    checkpoint = stepped / "checkpoint.json"
    settings = load_checkpoint(checkpoint).settings
    assert (settings["mode"], settings["backend"]) == ("NUMBA", "numba")

    # Another mode, or a backend the mode does not compile with: refused.
    for option in (["--mode", "FAST_COMPILE"], ["--backend", "c"]):
        refused = run_cli("--resume", str(checkpoint), "--epochs", "3", *option)
        assert refused.returncode == 2
        assert f"{' '.join(option)} conflicts with the checkpoint's" in refused.stderr
    assert load_checkpoint(checkpoint).state.epochs_done == 2  # untouched

    # Without options the resume takes the recorded mode: the same bits.
    resumed = run_cli("--resume", str(checkpoint), "--epochs", "3")
    assert resumed.returncode == 0, resumed.stderr
    assert "PyTensor's NUMBA mode" in resumed.stdout
    assert bits(stepped / "model.json") == bits(straight / "model.json")


def test_resume_refuses_a_mode_the_run_did_not_have(reference):
    result = run_cli("--resume", str(reference / "checkpoint.json"), "--mode", "CVM")
    assert result.returncode == 2
    assert "--mode CVM conflicts with the checkpoint, whose run had no --mode" in (
        result.stderr
    )


def test_a_mode_and_another_backend_on_one_command_are_refused(tmp_path):
    result = run_cli(
        *SMALL, "--mode", "CVM", "--backend", "numba", "--out", str(tmp_path)
    )
    assert result.returncode == 2
    assert (
        "--mode CVM compiles with the c backend, not --backend numba; give only one"
        in result.stderr
    )
    assert not any(tmp_path.iterdir())


def test_an_unknown_mode_is_refused_before_anything_is_written(tmp_path):
    result = run_cli(*SMALL, "--mode", "TURBO", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "--mode TURBO: PyTensor has no such mode; use JAX" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_recorded_mode_must_match_the_recorded_backend(reference, tmp_path):
    doc = json.loads((reference / "checkpoint.json").read_text())
    doc["training"]["resume"]["settings"]["mode"] = "CVM"  # backend stays
    edited = tmp_path / "checkpoint.json"
    edited.write_text(json.dumps(doc))
    result = run_cli("--resume", str(edited), "--epochs", "7")
    assert result.returncode == 2
    assert "is not the one its mode 'CVM' compiles with ('c')" in result.stderr
    doc["training"]["resume"]["settings"]["mode"] = "TURBO"
    edited.write_text(json.dumps(doc))
    result = run_cli("--resume", str(edited), "--epochs", "7")
    assert result.returncode == 2
    assert "its recorded mode 'TURBO' is not a PyTensor mode" in result.stderr


def test_divergence_on_resume_names_the_checkpoint_it_resumed_from(reference, tmp_path):
    doc = json.loads((reference / "checkpoint.json").read_text())
    doc["training"]["resume"]["settings"]["lr"] = 1e38  # overflows at once
    source = tmp_path / "source" / "checkpoint.json"
    source.parent.mkdir()
    source.write_text(json.dumps(doc))
    other = tmp_path / "elsewhere"
    result = run_cli("--resume", str(source), "--epochs", "7", "--out", str(other))
    assert result.returncode == 3, result.stderr
    assert f"the checkpoint it resumed from, {source}, is unchanged" in result.stderr
    assert json.loads(source.read_text()) == doc
