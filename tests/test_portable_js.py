"""Tests of ``helpers/read_model.mjs``, the JavaScript model reader, under Node.js.

The JavaScript reader must accept and refuse the same files as the NumPy
reader, with the same messages, and compute the same hidden codes and
reconstructions, both for files written by ``save_model`` and for the model
the real ``train`` command exports. Skipped, saying why, where Node.js is
missing or too old.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers.portable import ModelFileError, load_model, parse_model, save_model

REPO = Path(__file__).resolve().parent.parent
READER = REPO / "helpers" / "read_model.mjs"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "models"
FAULTS: dict[str, str] = json.loads((FIXTURES / "faults.json").read_text())
VALID = sorted(p.name for p in FIXTURES.glob("valid_*.json"))
# Parsers word syntax errors their own way; every other message is identical.
PARSER_WORDED = {
    "invalid_json_trailing_comma.json",
    "truncated.json",
    "nan_literal.json",
    "infinity_literal.json",
}


def _node_problem() -> str | None:
    node = shutil.which("node")
    if node is None:
        return "Node.js (the `node` command) is not installed"
    version = subprocess.run([node, "--version"], capture_output=True, text=True)
    major = int(version.stdout.strip().lstrip("v").split(".")[0] or 0)
    if major < 18:
        return f"Node.js {version.stdout.strip()} is too old; the reader needs 18+"
    return None


NODE_PROBLEM = _node_problem()
pytestmark = pytest.mark.skipif(NODE_PROBLEM is not None, reason=str(NODE_PROBLEM))


def node(*args, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["node", str(READER), *map(str, args)],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=300,
    )


def js_rows(model_path, rows, *flags, tmp_path) -> np.ndarray:
    """Run the JavaScript reader on ``rows``; return its output array."""
    data = tmp_path / "rows.json"
    data.write_text(json.dumps(np.asarray(rows).tolist()))
    done = node(model_path, data, *flags)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    array = np.array(result["data"], dtype=np.float64)
    assert list(array.shape) == result["shape"]
    return array


def js_check(paths) -> dict[str, dict]:
    done = node("--check", *paths)
    assert done.returncode in (0, 2), done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == len(paths)
    return {line["file"]: line for line in lines}


def random_values(dtype, n_visible, n_hidden, seed):
    rng = np.random.default_rng(seed)
    return {
        "W": rng.uniform(-2, 2, (n_visible, n_hidden)).astype(dtype),
        "b_h": rng.normal(size=n_hidden).astype(dtype),
        "b_v": rng.normal(size=n_visible).astype(dtype),
    }


# ---------------------------------------------------------------------------
# Same numbers as NumPy


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_js_matches_numpy_on_a_saved_model(tmp_path, dtype):
    path = save_model(tmp_path / "m.json", random_values(dtype, 30, 7, seed=1))
    model = load_model(path)
    x = (np.random.default_rng(2).random((12, 30)) < 0.3).astype(np.float64)
    h = js_rows(path, x, "--encode", tmp_path=tmp_path)
    x_hat = js_rows(path, x, tmp_path=tmp_path)
    assert np.abs(h - model.encode(x)).max() < 1e-6
    assert np.abs(x_hat - model.reconstruct(x)).max() < 1e-6
    # Both compute in float64: they differ only in the order of their sums.
    assert np.abs(x_hat - model.reconstruct(x)).max() < 1e-12


def test_js_prepares_raw_rows_like_numpy(tmp_path):
    spec = {"scale": 255.0, "binarize": True, "threshold": 0.5, "image_shape": [4, 5]}
    path = save_model(
        tmp_path / "m.json", random_values("float32", 20, 4, seed=3), input_spec=spec
    )
    raw = np.random.default_rng(4).integers(0, 256, (9, 20))
    raw[0, :3] = [127, 128, 255]
    model = load_model(path)
    expected = model.reconstruct(model.prepare(raw))
    got = js_rows(path, raw, "--prepare", tmp_path=tmp_path)
    assert np.abs(got - expected).max() < 1e-6


def test_js_reads_rows_from_standard_input(tmp_path):
    path = FIXTURES / "valid_tiny_float32.json"
    done = node(path, "-", "--prepare", "--encode", stdin="[[0, 200, 255, 90]]")
    assert done.returncode == 0, done.stderr
    h = np.array(json.loads(done.stdout)["data"])
    model = load_model(path)
    expected = model.encode(model.prepare([[0, 200, 255, 90]]))
    assert np.abs(h - expected).max() < 1e-12


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory) -> Path:
    """model.json written by the real train command: 16 hidden units, 1 epoch."""
    out = tmp_path_factory.mktemp("train")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "helpers",
            "train",
            "--hidden",
            "16",
            "--epochs",
            "1",
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        cwd=out,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return out / "model.json"


def test_js_matches_numpy_on_the_train_commands_model(trained_model, mnist5k, tmp_path):
    model = load_model(trained_model)
    assert (model.n_visible, model.n_hidden, model.dtype) == (784, 16, "float32")
    assert model.training["epochs"] == 1 and model.training["data"] == "mnist5k"
    raw = mnist5k.X[::100]  # 50 images of every digit, as raw grey levels
    expected = model.reconstruct(model.prepare(raw))
    got = js_rows(trained_model, raw, "--prepare", tmp_path=tmp_path)
    assert np.abs(got - expected).max() < 1e-6
    h = js_rows(trained_model, model.prepare(raw), "--encode", tmp_path=tmp_path)
    assert np.abs(h - model.encode(model.prepare(raw))).max() < 1e-6


def test_encode_command_and_js_agree_on_the_train_commands_model(
    trained_model, tmp_path, mnist5k
):
    out = tmp_path / "x_hat.npy"
    done = subprocess.run(
        [sys.executable, "-m", "helpers", "encode", str(trained_model), "mnist5k"]
        + ["--out", str(out), "--reconstruct"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    from_cli = np.load(out)[::100]  # float32, the model's dtype
    got = js_rows(trained_model, mnist5k.X[::100], "--prepare", tmp_path=tmp_path)
    assert np.abs(got - from_cli).max() < 1e-6


def test_summary_of_a_model(trained_model):
    done = node(trained_model)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["n_visible"] == 784 and summary["n_hidden"] == 16
    assert summary["dtype"] == "float32"
    assert summary["input"] == load_model(trained_model).input


# ---------------------------------------------------------------------------
# Same rules as NumPy


@pytest.fixture(scope="module")
def fixture_results():
    paths = [str(FIXTURES / name) for name in [*VALID, *sorted(FAULTS)]]
    return js_check(paths)


@pytest.mark.parametrize("name", VALID)
def test_js_loads_the_valid_fixtures(fixture_results, name):
    assert fixture_results[str(FIXTURES / name)] == {
        "file": str(FIXTURES / name),
        "ok": True,
    }


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_js_refuses_each_faulty_fixture_like_numpy(fixture_results, name):
    path = str(FIXTURES / name)
    result = fixture_results[path]
    assert result["ok"] is False
    assert result["error"].startswith(f"{path}: ")
    assert FAULTS[name] in result["error"]
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    if name in PARSER_WORDED:
        assert str(info.value).startswith(f"{path}: not valid JSON: ")
        assert result["error"].startswith(f"{path}: not valid JSON: ")
    else:
        assert result["error"] == str(info.value)


def _mutations(valid: bytes, n: int, seed: int) -> list[bytes]:
    """Deterministic byte and structure mutations of a valid file."""
    rng = random.Random(seed)
    doc = json.loads(valid)
    replacements = [None, True, 0, -1, 1.5, 3, 4, 1e308, "", "W", [], {}, [1, 2]]
    out = []
    for k in range(n):
        if k % 2:
            raw = bytearray(valid)
            for _ in range(rng.randint(1, 3)):
                at = rng.randrange(len(raw) + 1)
                kind = rng.choice(["cut", "delete", "insert", "replace"])
                if kind == "cut":
                    del raw[at:]
                elif kind == "delete":
                    del raw[at : at + rng.randint(1, 6)]
                elif kind == "insert":
                    raw[at:at] = rng.choice([b",", b"]", b"{", b"1e999", b"\xff", b"-"])
                elif at < len(raw):
                    raw[at] = rng.randrange(256)
            out.append(bytes(raw))
            continue
        mutated = json.loads(json.dumps(doc))
        node_, key = mutated, None
        while True:
            keys = list(node_) if isinstance(node_, dict) else list(range(len(node_)))
            key = rng.choice(keys)
            if (
                isinstance(node_[key], dict | list)
                and node_[key]
                and rng.random() < 0.6
            ):
                node_ = node_[key]
                continue
            break
        if isinstance(node_, dict) and rng.random() < 0.3:
            del node_[key]
        else:
            node_[key] = rng.choice(replacements)
        out.append(json.dumps(mutated).encode())
    return out


def test_js_and_numpy_refuse_the_same_mutated_files_alike(tmp_path):
    valid = (FIXTURES / "valid_tiny_float32.json").read_bytes()
    paths = []
    for i, raw in enumerate(_mutations(valid, 400, seed=2024)):
        path = tmp_path / f"mutant_{i:03d}.json"
        path.write_bytes(raw)
        paths.append(str(path))
    results = js_check(paths)
    accepted = 0
    for path in paths:
        try:
            parse_model(Path(path).read_bytes(), path)
            python_error = None
        except ModelFileError as exc:
            python_error = str(exc)
        js_error = results[path].get("error")
        assert (js_error is None) == (python_error is None), (js_error, python_error)
        if python_error is None:
            accepted += 1
        elif not python_error.startswith(f"{path}: not valid JSON: "):
            assert js_error == python_error
    assert 0 < accepted < len(paths)  # the mutations exercise both outcomes


# ---------------------------------------------------------------------------
# Command-line errors


def test_missing_model_file_is_named(tmp_path):
    done = node(tmp_path / "absent.json")
    assert done.returncode == 2
    assert done.stderr == f"error: {tmp_path / 'absent.json'}: no such model file\n"


def test_rows_of_the_wrong_width_are_refused(tmp_path):
    rows = tmp_path / "rows.json"
    rows.write_text("[[0, 1, 0]]")
    done = node(FIXTURES / "valid_tiny_float32.json", rows)
    assert done.returncode == 2
    assert "row 0 has 3 values; this model" in done.stderr
    assert "takes rows of 4 values" in done.stderr


def test_raw_rows_out_of_range_are_refused():
    path = FIXTURES / "valid_tiny_float32.json"
    done = node(path, "-", "--prepare", stdin="[[0, 300, 0, 0]]")
    assert done.returncode == 2
    assert "takes values in [0, 1] (scale 255)" in done.stderr


def test_invalid_model_file_is_refused_on_use():
    done = node(FIXTURES / "truncated.json", "-", stdin="[[0, 0, 0, 0]]")
    assert done.returncode == 2
    assert "truncated.json: not valid JSON" in done.stderr


def test_usage_errors():
    assert node().returncode == 1
    done = node("--frobnicate", "x.json")
    assert done.returncode == 1 and "unknown option --frobnicate" in done.stderr
