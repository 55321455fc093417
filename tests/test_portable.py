"""Tests of :mod:`helpers.portable`: the JSON model format, written and read.

Covers the exact round trip of float32 and float64 values, the refusal of
non-finite parameters, atomic writing, every validation rule (one fixture
file per fault under ``fixtures/models``), a fuzz test of the reader, the
NumPy-only reader and ``python -m helpers encode`` in processes where PyTensor
cannot be imported, and the format document's example and JSON Schema.
"""

from __future__ import annotations

import errno
import inspect
import json
import math
import os
import re
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from helpers import portable
from helpers.portable import (
    InputError,
    ModelFileError,
    load_model,
    parse_model,
    save_model,
)

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "models"
FAULTS: dict[str, str] = json.loads((FIXTURES / "faults.json").read_text())
VALID = sorted(p.name for p in FIXTURES.glob("valid_*.json"))
FORMAT_DOC = REPO / "helpers" / "model-format.md"
SCHEMA = REPO / "helpers" / "model-format.schema.json"

# Run first in a child interpreter: any import of pytensor (or a submodule)
# then fails, and the attempts are reported on stderr when it exits.
BLOCK_PYTENSOR = """
import atexit, sys
class _NoPyTensor:
    attempts = []
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "pytensor":
            self.attempts.append(name)
            raise ImportError("pytensor is blocked in this test")
_blocker = _NoPyTensor()
sys.meta_path.insert(0, _blocker)
atexit.register(lambda: print("blocked imports:", _blocker.attempts, file=sys.stderr))
"""


def tiny_values(dtype="float32", n_visible=4, n_hidden=3, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "W": rng.normal(size=(n_visible, n_hidden)).astype(dtype),
        "b_h": rng.normal(size=n_hidden).astype(dtype),
        "b_v": rng.normal(size=n_visible).astype(dtype),
    }


def run_python(code: str, *args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_PYTENSOR + code, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def data_tokens(text: str) -> list[str]:
    """The number tokens of every parameter's data array, as written."""
    blocks = re.findall(r'"data": \[(.*?)\]', text, flags=re.S)
    return [t.strip() for block in blocks for t in block.split(",")]


def significant_digits(token: str) -> int:
    mantissa = token.lstrip("-").lower().split("e")[0].replace(".", "")
    return max(len(mantissa.strip("0")), 1)


def shortest_by_rounding(value: np.floating) -> int:
    """Fewest digits whose correctly rounded decimal reads back to ``value``."""
    dtype = type(value)
    for k in range(1, 18):
        with np.errstate(over="ignore"):  # near the largest float32
            back = dtype(float(f"{float(value):.{k - 1}e}"))
        if back.tobytes() == value.tobytes():
            return k
    raise AssertionError(value)  # pragma: no cover


def bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


# ---------------------------------------------------------------------------
# Exact round trip, shortest text


def finite_floats(dtype):
    width = 32 if dtype == "float32" else 64
    return st.floats(allow_nan=False, allow_infinity=False, width=width)


@st.composite
def parameter_sets(draw):
    dtype = draw(st.sampled_from(["float32", "float64"]))
    n_visible = draw(st.integers(1, 5))
    n_hidden = draw(st.integers(1, 4))
    elements = finite_floats(dtype)
    return {
        "W": draw(hnp.arrays(dtype, (n_visible, n_hidden), elements=elements)),
        "b_h": draw(hnp.arrays(dtype, (n_hidden,), elements=elements)),
        "b_v": draw(hnp.arrays(dtype, (n_visible,), elements=elements)),
    }


@settings(max_examples=300)
@given(values=parameter_sets())
def test_round_trip_is_bit_exact_and_each_value_is_shortest(tmp_path_factory, values):
    path = save_model(tmp_path_factory.mktemp("rt") / "m.json", values)
    loaded = load_model(path)
    for name, a in values.items():
        assert loaded.params[name].dtype == a.dtype
        assert loaded.params[name].shape == a.shape
        assert np.array_equal(bits(loaded.params[name]), bits(a)), name
    flat = np.concatenate([values[k].ravel() for k in ("W", "b_h", "b_v")])
    tokens = data_tokens(path.read_text())
    assert len(tokens) == flat.size
    limit = 9 if flat.dtype == np.float32 else 17
    for token, value in zip(tokens, flat, strict=True):
        assert significant_digits(token) <= min(shortest_by_rounding(value), limit)


EXTREMES = {
    "float32": [
        0.0,
        -0.0,
        1e-45,  # smallest subnormal
        -1.1754942e-38,  # largest subnormal
        1.1754944e-38,  # smallest normal
        3.4028235e38,  # largest finite
        -3.4028235e38,
        0.1,
        1.0 / 3.0,
        16777217.0,  # not a float32: rounds to 2**24
    ],
    "float64": [
        0.0,
        -0.0,
        5e-324,
        -2.225073858507201e-308,
        2.2250738585072014e-308,
        1.7976931348623157e308,
        -1.7976931348623157e308,
        0.1,
        1.0 / 3.0,
        2.0**53 + 1,
    ],
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_extreme_values_round_trip(tmp_path, dtype):
    column = np.array(EXTREMES[dtype], dtype=dtype)
    values = {
        "W": column[:, None],
        "b_h": column[:1],
        "b_v": column[::-1].copy(),
    }
    loaded = load_model(save_model(tmp_path / "m.json", values))
    for name, a in values.items():
        assert np.array_equal(bits(loaded.params[name]), bits(a)), name
    assert np.signbit(loaded.params["W"][1, 0])  # -0.0 kept its sign


def test_legacy_print_options_do_not_change_the_text(tmp_path):
    values = tiny_values()
    first = save_model(tmp_path / "a.json", values, training={"date": "d"})
    with np.printoptions(legacy="1.13", precision=3):
        second = save_model(tmp_path / "b.json", values, training={"date": "d"})
    assert first.read_bytes() == second.read_bytes()


# ---------------------------------------------------------------------------
# Refusing non-finite parameters, atomic writes


@pytest.mark.parametrize("name", ["W", "b_h", "b_v"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("earlier", [False, True])
def test_non_finite_parameters_are_refused_and_nothing_is_written(
    tmp_path, name, bad, earlier
):
    path = tmp_path / "model.json"
    if earlier:
        save_model(path, tiny_values(seed=1))
    before = path.read_bytes() if earlier else None
    values = tiny_values()
    values[name].flat[-1] = bad
    with pytest.raises(ModelFileError, match=rf"parameter {name} holds 1 NaN or inf"):
        save_model(path, values)
    assert (path.read_bytes() if earlier else None) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == (
        ["model.json"] if earlier else []
    )


def _folder_after_failed_write(tmp_path, monkeypatch, patch) -> tuple[bytes, list]:
    path = tmp_path / "model.json"
    save_model(path, tiny_values(seed=1, n_visible=50, n_hidden=20))
    before = path.read_bytes()
    patch(monkeypatch, tmp_path)
    with pytest.raises((OSError, RuntimeError, KeyboardInterrupt)):
        save_model(path, tiny_values(seed=2, n_visible=50, n_hidden=20))
    assert path.read_bytes() == before
    return before, sorted(p.name for p in tmp_path.iterdir())


def test_failed_flush_to_disk_leaves_the_old_file(tmp_path, monkeypatch):
    def patch(mp, folder):
        def no_space(fd):
            raise OSError(errno.ENOSPC, "No space left on device")

        mp.setattr(portable.os, "fsync", no_space)

    _, names = _folder_after_failed_write(tmp_path, monkeypatch, patch)
    assert names == ["model.json"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_write_failing_part_way_leaves_the_old_file(tmp_path, monkeypatch, error):
    """A crash after some rows were written: the old file stays, no temp file."""
    seen = {}

    def patch(mp, folder):
        original = portable._format_values
        calls = []

        def failing(values):
            calls.append(1)
            if len(calls) == 10:  # ten rows of W are in the temporary file
                temps = [p for p in folder.iterdir() if p.name.endswith(".tmp")]
                seen["temps"] = [p.name for p in temps]
                raise error("simulated crash in the middle of the export")
            return original(values)

        mp.setattr(portable, "_format_values", failing)

    _, names = _folder_after_failed_write(tmp_path, monkeypatch, patch)
    assert len(seen["temps"]) == 1 and seen["temps"][0].startswith(".model.json.")
    assert names == ["model.json"]


def test_failed_rename_leaves_no_temporary_file(tmp_path, monkeypatch):
    def patch(mp, folder):
        def refuse(src, dst):
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        mp.setattr(portable.os, "replace", refuse)

    _, names = _folder_after_failed_write(tmp_path, monkeypatch, patch)
    assert names == ["model.json"]


def test_new_file_gets_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = save_model(tmp_path / "m.json", tiny_values())
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_missing_folder_is_named_and_nothing_is_written(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        save_model(tmp_path / "no" / "m.json", tiny_values())
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# save_model's arguments and metadata


def test_save_model_signature_is_what_the_train_command_calls():
    params = inspect.signature(save_model).parameters
    assert list(params) == [
        "path",
        "values",
        "cost",
        "convention",
        "input_spec",
        "training",
    ]
    keyword_only = inspect.Parameter.KEYWORD_ONLY
    assert all(params[k].kind == keyword_only for k in list(params)[2:])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda v: v.pop("b_v"), "parameter b_v is missing"),
        (lambda v: v.update(b_h=v["b_h"].astype("float64")), "all float32 or all"),
        (lambda v: v.update(W=v["W"].astype("int32")), "all float32 or all"),
        (lambda v: v.update(W=v["W"].astype("float16")), "all float32 or all"),
        (lambda v: v.update(b_h=v["b_h"][:2]), "parameter shapes disagree"),
        (lambda v: v.update(W=v["W"].ravel()), "parameter shapes disagree"),
    ],
)
def test_bad_parameters_are_refused(tmp_path, change, message):
    values = tiny_values()
    change(values)
    with pytest.raises(ModelFileError, match=message):
        save_model(tmp_path / "m.json", values)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"training": {"final_train_cost": math.nan}}, "training.final_train_cost is"),
        ({"training": {"epochs": "ten"}}, "training.epochs must be an integer"),
        ({"training": {"tags": {1, 2}}}, "not plain JSON"),
        ({"input_spec": {"binarize": True}}, "input.threshold must be a number"),
        ({"input_spec": {"image_shape": (3, 3)}}, "input.image_shape must be"),
        ({"cost": "hinge"}, "model.cost must be"),
        ({"convention": "sum"}, "model.cost_convention must be"),
    ],
)
def test_metadata_breaking_the_rules_is_refused(tmp_path, kwargs, message):
    with pytest.raises(ModelFileError, match=re.escape(message)):
        save_model(tmp_path / "m.json", tiny_values(), **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_numpy_scalars_in_metadata_become_plain_numbers(tmp_path):
    training = {
        "epochs": np.int64(3),
        "final_train_cost": np.float32(61.25),
        "seed": np.int32(0),
    }
    spec = {"scale": np.float64(255), "binarize": True, "threshold": 0.5}
    spec["image_shape"] = (2, 2)
    model = load_model(
        save_model(
            tmp_path / "m.json", tiny_values(), input_spec=spec, training=training
        )
    )
    assert model.training["epochs"] == 3 and type(model.training["epochs"]) is int
    assert model.training["final_train_cost"] == 61.25
    assert model.input == {
        "scale": 255.0,
        "binarize": True,
        "threshold": 0.5,
        "image_shape": [2, 2],
    }


def test_versions_and_date_are_added_unless_given(tmp_path):
    added = load_model(save_model(tmp_path / "a.json", tiny_values())).training
    assert added["versions"]["numpy"] == np.__version__
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", added["date"])
    given_meta = {"versions": {"numpy": "x"}, "date": "then"}
    kept = load_model(
        save_model(tmp_path / "b.json", tiny_values(), training=given_meta)
    ).training
    assert kept == given_meta


def test_default_input_section_means_no_preparation(tmp_path):
    model = load_model(save_model(tmp_path / "m.json", tiny_values()))
    assert model.input == {
        "scale": None,
        "binarize": False,
        "threshold": None,
        "image_shape": None,
    }
    x = np.array([[0.0, 0.25, 0.5, 1.0]])
    np.testing.assert_array_equal(model.prepare(x), x)


# ---------------------------------------------------------------------------
# Using a model: prepare, encode, reconstruct


def test_encode_and_reconstruct_follow_the_equations(tmp_path, reference):
    values = tiny_values("float32", n_visible=12, n_hidden=5)
    model = load_model(save_model(tmp_path / "m.json", values))
    x = (np.random.default_rng(3).random((9, 12)) < 0.4).astype(np.float64)
    _, H, Z = reference.forward(values, x)
    np.testing.assert_allclose(model.encode(x), H, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.reconstruct(x), reference.sigmoid(Z), atol=1e-12)
    assert model.encode(x).dtype == np.float64
    np.testing.assert_array_equal(model.encode(x[0]), model.encode(x[:1]))


def test_sigmoid_is_finite_and_exact_at_the_extremes():
    a = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    s = portable._sigmoid(a)
    assert np.isfinite(s).all()
    assert s[0] == 0.0 and s[2] == 0.5 and s[4] == 1.0
    np.testing.assert_allclose(s[1], math.exp(-40.0), rtol=1e-15)


def test_numpy_reader_agrees_with_the_pytensor_model(tmp_path, binary_rows):
    import pytensor

    from helpers.model import AutoEncoder

    ae = AutoEncoder(12, 5, seed=4)
    x = ae.input()
    reconstruct = pytensor.function([x], ae.reconstruct(x))
    model = load_model(save_model(tmp_path / "m.json", ae.get_values()))
    rows = binary_rows.astype("float32")
    np.testing.assert_allclose(model.reconstruct(rows), reconstruct(rows), atol=1e-6)


def test_prepare_matches_the_training_preparation(tmp_path, mnist5k):
    from helpers.data import prepare

    spec = {"scale": 255.0, "binarize": True, "threshold": 0.5, "image_shape": [28, 28]}
    values = tiny_values(n_visible=784, n_hidden=2)
    model = load_model(save_model(tmp_path / "m.json", values, input_spec=spec))
    raw = mnist5k.X[:300]
    np.testing.assert_array_equal(model.prepare(raw), prepare(mnist5k)[:300])
    images = raw.reshape(-1, 28, 28)
    np.testing.assert_array_equal(model.prepare(images), model.prepare(raw))


def test_prepare_without_binarizing_scales_only(tmp_path):
    spec = {"scale": 255.0, "binarize": False, "image_shape": None}
    model = load_model(save_model(tmp_path / "m.json", tiny_values(), input_spec=spec))
    raw = np.array([[0, 51, 255, 128]], dtype=np.uint8)
    np.testing.assert_allclose(model.prepare(raw), raw / 255.0)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (np.zeros((2, 5)), r"shape \(2, 5\); this model .* takes rows of 4 values"),
        (np.zeros((2, 2, 2, 1)), "takes rows of 4 values"),
        (np.array([[0.0, np.nan, 0.0, 0.0]]), "NaN or infinite"),
        (np.array([["a", "b", "c", "d"]]), "expected numbers"),
    ],
)
def test_rows_that_do_not_fit_are_refused(tmp_path, rows, message):
    model = load_model(save_model(tmp_path / "m.json", tiny_values()))
    with pytest.raises(InputError, match=message):
        model.encode(rows)


def test_prepare_refuses_values_outside_the_unit_range(tmp_path):
    model = load_model(FIXTURES / "valid_tiny_float32.json")
    with pytest.raises(InputError, match=r"range from -3 to 0.*after scaling"):
        model.prepare(np.array([[-765.0, 0, 0, 0]]))
    no_scale = load_model(save_model(tmp_path / "m.json", tiny_values()))
    with pytest.raises(InputError, match="takes values in"):
        no_scale.prepare(np.array([[0, 255, 0, 0]], dtype=np.uint8))


def test_repr_is_short():
    model = load_model(FIXTURES / "valid_tiny_float32.json")
    assert repr(model).endswith("valid_tiny_float32.json', 4-3 float32)")


# ---------------------------------------------------------------------------
# Fixture files: valid ones load, each faulty one names its fault


def test_fixture_table_matches_the_folder():
    on_disk = {p.name for p in FIXTURES.glob("*.json")} - {"faults.json"}
    assert on_disk == set(FAULTS) | set(VALID)
    assert not set(FAULTS) & set(VALID)


@pytest.mark.parametrize("name", VALID)
def test_valid_fixtures_load(name):
    model = load_model(FIXTURES / name)
    assert (model.n_visible, model.n_hidden) == (4, 3)
    assert np.isfinite(model.reconstruct(np.ones((2, 4)))).all()


def test_the_example_holds_the_values_its_text_says():
    model = load_model(FIXTURES / "valid_tiny_float32.json")
    assert model.dtype == "float32"
    expected = np.array(
        [[1.5, -0.75, 0.1], [-1.0, 2.0, 0.5], [0.3, -0.5, 1.7], [0.0, 1.25, -2.5]],
        dtype=np.float32,
    )
    np.testing.assert_array_equal(model.params["W"], expected)
    # 0.1 has no exact binary form: the reader rounds it to the nearest float32.
    assert float(model.params["W"][0, 2]) == 0.10000000149011612


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_each_faulty_fixture_is_refused_naming_file_and_fault(name):
    path = FIXTURES / name
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert FAULTS[name] in message
    assert info.value.__cause__ is None


def test_missing_and_folder_paths_are_model_file_errors(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model(tmp_path / "absent.json")
    with pytest.raises(ModelFileError, match="is a folder"):
        load_model(tmp_path)


def test_a_huge_declared_shape_allocates_nothing():
    path = FIXTURES / "huge_declared_shape.json"
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="needs 3000000000 values"):
            load_model(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20


def test_huge_integer_literals_are_not_finite(tmp_path):
    text = (FIXTURES / "valid_tiny_float64.json").read_text()
    huge = "1" + "0" * 400
    with pytest.raises(ModelFileError, match=r"W: data\[0\] is not a finite float64"):
        parse_model(text.replace("-1.738266398496882", huge), "x.json")
    with pytest.raises(ModelFileError, match="the number at training.epochs"):
        parse_model(text.replace('"epochs": 0', f'"epochs": {huge}'), "x.json")


def test_text_input_and_bom_are_accepted():
    text = (FIXTURES / "valid_tiny_float32.json").read_text()
    assert parse_model("\ufeff" + text).n_hidden == 3
    with pytest.raises(ModelFileError, match="the file is empty"):
        parse_model("")


# ---------------------------------------------------------------------------
# Fuzzing the reader: anything either loads or is a ModelFileError

VALID_BYTES = (FIXTURES / "valid_tiny_float32.json").read_bytes()
VALID_DOC = json.loads(VALID_BYTES)


def _load_or_refuse(raw) -> None:
    try:
        model = parse_model(raw, "fuzzed.json")
    except ModelFileError as exc:
        assert str(exc).startswith("fuzzed.json: ")
        return
    out = model.reconstruct(np.ones((1, model.n_visible)))
    assert np.isfinite(out).all()


@st.composite
def byte_mutations(draw):
    raw = bytearray(VALID_BYTES)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(raw)))
        kind = draw(st.sampled_from(["cut", "delete", "insert", "replace"]))
        if kind == "cut":
            del raw[at:]
        elif kind == "delete":
            del raw[at : at + draw(st.integers(1, 8))]
        elif kind == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=6))
        elif at < len(raw):
            raw[at] = draw(st.integers(0, 255))
    return bytes(raw)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**400), 10**400)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0, 1, 3, 4, -1, 0.5, 1.5, "float32", "float64", "W"])
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def structural_mutations(draw):
    doc = json.loads(VALID_BYTES)
    node, path = doc, []
    while isinstance(node, dict | list) and node and draw(st.booleans()):
        key = draw(
            st.sampled_from(
                sorted(node) if isinstance(node, dict) else range(len(node))
            )
        )
        if not isinstance(node[key], dict | list):
            break
        node, path = node[key], [*path, key]
    if not isinstance(node, dict | list) or not node:
        return json.dumps(draw(json_values))
    key = draw(
        st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node)))
    )
    if isinstance(node, dict) and draw(st.booleans()):
        del node[key]
    else:
        node[key] = draw(json_values)
    return json.dumps(doc)


@settings(max_examples=600)
@given(raw=byte_mutations())
def test_fuzzed_bytes_load_or_raise_model_file_error(raw):
    _load_or_refuse(raw)


@settings(max_examples=400)
@given(text=structural_mutations())
def test_fuzzed_structure_loads_or_raises_model_file_error(text):
    _load_or_refuse(text.encode())


# ---------------------------------------------------------------------------
# Only NumPy: the reader and the encode command without PyTensor

READ_WITHOUT_PYTENSOR = """
import numpy as np
from helpers.portable import load_model
model = load_model(sys.argv[1])
x = np.load(sys.argv[2])
np.save(sys.argv[3], model.encode(x))
np.save(sys.argv[4], model.reconstruct(model.prepare(x)))
print(sorted(m for m in sys.modules if m.split(".")[0] in ("pytensor", "numba")))
"""


def test_numpy_reader_runs_where_pytensor_cannot_be_imported(tmp_path):
    values = tiny_values(n_visible=4, n_hidden=3, seed=5)
    path = save_model(tmp_path / "m.json", values)
    x = (np.random.default_rng(6).random((10, 4)) < 0.5).astype(np.float64)
    np.save(tmp_path / "x.npy", x)
    h_out, r_out = tmp_path / "h.npy", tmp_path / "r.npy"
    done = run_python(
        READ_WITHOUT_PYTENSOR, path, tmp_path / "x.npy", h_out, r_out, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert "blocked imports: []" in done.stderr
    model = load_model(path)
    np.testing.assert_allclose(np.load(h_out), model.encode(x), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.load(r_out), model.reconstruct(x), rtol=0, atol=1e-12)


def test_the_blocker_really_blocks_pytensor(tmp_path):
    done = run_python("import pytensor", cwd=tmp_path)
    assert done.returncode != 0
    assert "pytensor is blocked" in done.stderr


RUN_CLI = """
from helpers.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture
def image_model(tmp_path):
    """A 4-3 model for 2x2 grey images (scale 255, binarized at 0.5)."""
    spec = {"scale": 255.0, "binarize": True, "threshold": 0.5, "image_shape": [2, 2]}
    return save_model(tmp_path / "model.json", tiny_values(seed=7), input_spec=spec)


@pytest.mark.parametrize("reconstruct", [False, True])
def test_encode_command_on_idx_without_pytensor(
    tmp_path, idx, image_model, reconstruct
):
    images = np.random.default_rng(8).integers(0, 256, (25, 2, 2), dtype=np.uint8)
    data = idx.write(tmp_path / "images-idx3-ubyte.gz", images, compress=True)
    out = tmp_path / "out.npy"
    flag = ["--reconstruct"] if reconstruct else []
    done = run_python(
        RUN_CLI, "encode", image_model, data, "--out", out, *flag, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "blocked imports: []" in done.stderr
    model = load_model(image_model)
    x = model.prepare(images)
    expected = model.reconstruct(x) if reconstruct else model.encode(x)
    result = np.load(out)
    assert result.dtype == np.float32 and result.shape == expected.shape
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-7)
    assert str(out) in done.stdout


def test_encode_command_reads_npy_and_npz(tmp_path, image_model, capsys):
    from helpers.cli import main

    grey = np.random.default_rng(9).integers(0, 256, (6, 4), dtype=np.uint8)
    unit = np.random.default_rng(9).random((6, 4))  # already in [0, 1]
    np.save(tmp_path / "grey.npy", grey)
    np.savez(tmp_path / "both.npz", unit=unit, grey=grey)
    model = load_model(image_model)
    cases = [
        (["grey.npy"], model.prepare(grey)),
        (["both.npz", "--npz-key", "unit"], (unit > 0.5).astype(float)),
        (["both.npz", "--npz-key", "grey"], model.prepare(grey)),
    ]
    for args, x in cases:
        out = tmp_path / "h.npy"
        assert (
            main(
                [
                    "encode",
                    str(image_model),
                    *[str(tmp_path / args[0]), *args[1:]],
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        np.testing.assert_allclose(np.load(out), model.encode(x), atol=1e-7)
    assert (
        "hidden codes of 6 examples, 3 values each (float32)" in capsys.readouterr().out
    )


def test_encode_command_on_mnist(tmp_path, mnist5k):
    from helpers.cli import main

    spec = {"scale": 255.0, "binarize": True, "threshold": 0.5, "image_shape": [28, 28]}
    path = save_model(
        tmp_path / "m.json", tiny_values("float64", 784, 6), input_spec=spec
    )
    out = tmp_path / "r.npy"
    assert (
        main(["encode", str(path), "mnist5k", "--out", str(out), "--reconstruct"]) == 0
    )
    model = load_model(path)
    result = np.load(out)
    assert result.shape == (5000, 784) and result.dtype == np.float64
    # Matrix products differ in the last bits with the number of rows.
    expected = model.reconstruct(model.prepare(mnist5k.X[:50]))
    np.testing.assert_allclose(result[:50], expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("bad_model", "truncated.json: not valid JSON"),
        ("wide_data", "examples have 5 values, but the model"),
        ("no_folder", "does not exist; create it"),
        ("no_data", "no such file"),
    ],
)
def test_encode_command_errors_name_the_file(
    tmp_path, image_model, capsys, setup, message
):
    from helpers.cli import main

    np.save(tmp_path / "wide.npy", np.zeros((3, 5)))
    np.save(tmp_path / "ok.npy", np.zeros((3, 4)))
    model, data, out = (
        str(image_model),
        str(tmp_path / "ok.npy"),
        str(tmp_path / "o.npy"),
    )
    if setup == "bad_model":
        model = str(FIXTURES / "truncated.json")
    elif setup == "wide_data":
        data = str(tmp_path / "wide.npy")
    elif setup == "no_folder":
        out = str(tmp_path / "missing" / "o.npy")
    else:
        data = str(tmp_path / "absent.npy")
    assert main(["encode", model, data, "--out", out]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.npy").exists()


# ---------------------------------------------------------------------------
# The format document and the JSON Schema


def _doc_text() -> str:
    return FORMAT_DOC.read_text(encoding="utf-8")


def test_the_documents_example_is_the_valid_fixture():
    blocks = re.findall(r"```json\n(.*?)```", _doc_text(), flags=re.S)
    assert blocks, "the format document has no ```json example"
    example = blocks[0]
    assert json.loads(example) == VALID_DOC
    model = parse_model(example.encode(), "example.json")
    assert model.n_visible == 4


def test_the_documents_worked_example_matches_the_reader():
    text = _doc_text()
    model = load_model(FIXTURES / "valid_tiny_float32.json")

    def row(label):
        found = re.search(rf"^{label}\s+\[([^\]]*)\]", text, flags=re.M)
        assert found, f"no line '{label} [...]' in the format document"
        return np.array([float(v) for v in found.group(1).split(",")])

    raw = row("raw")
    x = model.prepare(raw)
    np.testing.assert_array_equal(x[0], row("x"))
    np.testing.assert_allclose(model.encode(x)[0], row("h"), rtol=0, atol=5e-10)
    np.testing.assert_allclose(
        model.reconstruct(x)[0], row("x_hat"), rtol=0, atol=5e-10
    )


def _json_or_none(path):
    try:
        text = path.read_bytes().decode("utf-8-sig")
        return json.loads(text, parse_constant=portable._refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


# Faults a JSON Schema cannot see: cross-field rules, non-finite numbers
# (Python's json reads 1e999 as inf, which is still a "number") and depth.
SCHEMA_BLIND = {
    "deeply_nested.json",
    "overflow_literal_in_data.json",
    "overflow_literal_in_metadata.json",
    "overflow_float32.json",
    "image_shape_disagrees.json",
    "mixed_dtypes.json",
    "shape_disagrees_with_model.json",
    "bias_shape_disagrees.json",
    "data_too_short.json",
    "huge_declared_shape.json",
}


def _schema_validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_schema_accepts_the_valid_files(tmp_path):
    validator = _schema_validator()
    for name in VALID:
        errors = list(validator.iter_errors(_json_or_none(FIXTURES / name)))
        assert not errors, (name, errors[:1])
    saved = save_model(
        tmp_path / "m.json", tiny_values("float64"), training={"seed": None}
    )
    assert validator.is_valid(json.loads(saved.read_text()))


# The schema applies to parsed documents: files that are not JSON are left out.
PARSED_FAULTS = sorted(n for n in FAULTS if _json_or_none(FIXTURES / n) is not None)


@pytest.mark.parametrize("name", PARSED_FAULTS)
def test_schema_refuses_what_it_can_express(name):
    validator = _schema_validator()
    doc = _json_or_none(FIXTURES / name)
    assert validator.is_valid(doc) == (name in SCHEMA_BLIND)


def test_schema_constants_match_the_reader():
    schema = json.loads(SCHEMA.read_text())
    props = schema["properties"]
    assert props["format"]["const"] == portable.FORMAT_NAME
    assert props["format_version"]["const"] == portable.FORMAT_VERSION
    text = SCHEMA.read_text()
    for word in (*portable.COSTS, *portable.CONVENTIONS, *portable.DTYPES):
        assert f'"{word}"' in text
