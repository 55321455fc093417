"""Portable model files: the learned parameters as JSON, usable without PyTensor.

This module imports only the standard library and NumPy, so a model trained
here can be used where PyTensor is not installed; it can also be copied on
its own into another project. One JSON document holds one model:

.. code-block:: text

    {
      "format": "fun-with-theano-autoencoder",
      "format_version": 1,
      "model": {"kind": "tied_autoencoder", "activation": "sigmoid",
                "tied_weights": true, "cost": "cross_entropy",
                "cost_convention": "per_example",
                "n_visible": 784, "n_hidden": 500},
      "input": {"scale": 255.0, "binarize": true, "threshold": 0.5,
                "image_shape": [28, 28]},
      "training": {"data": "mnist5k", "epochs": 15, ...},
      "parameters": {
        "W":   {"dtype": "float32", "shape": [784, 500], "data": [...]},
        "b_h": {"dtype": "float32", "shape": [500], "data": [...]},
        "b_v": {"dtype": "float32", "shape": [784], "data": [...]}
      }
    }

``data`` holds the array's values flattened in row-major (C) order, each
written as the shortest decimal that reads back to the same float32 or
float64 value, so a round trip is exact. ``helpers/model-format.md`` is the
full specification (fields, input preparation, equations, validation rules);
``helpers/read_model.mjs`` is a JavaScript reader that follows the same rules.

Nothing in a model file is ever executed or unpickled: it is parsed as JSON
and every field is checked before any array is built.
"""

from __future__ import annotations

import codecs
import contextlib
import datetime
import json
import math
import os
import platform
import secrets
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

__all__ = [
    "CONVENTIONS",
    "COSTS",
    "DTYPES",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAX_DEPTH",
    "PARAMETER_NAMES",
    "InputError",
    "ModelFileError",
    "PortableModel",
    "load_model",
    "parse_model",
    "save_model",
    "write_file_atomically",
]

FORMAT_NAME = "fun-with-theano-autoencoder"
FORMAT_VERSION = 1
PARAMETER_NAMES = ("W", "b_h", "b_v")
DTYPES = ("float32", "float64")
COSTS = ("cross_entropy", "squared_error")
CONVENTIONS = ("per_example", "per_element")
#: Deepest nesting of arrays and objects a model file may use.
MAX_DEPTH = 64
_SECTIONS = ("model", "input", "training", "parameters")
_DEFAULT_INPUT = {
    "scale": None,
    "binarize": False,
    "threshold": None,
    "image_shape": None,
}
_FLOAT_MAX = sys.float_info.max


class ModelFileError(ValueError):
    """A model file that cannot be written or read, naming the file and the fault."""


class InputError(ValueError):
    """Input rows that do not fit a model (wrong width, not finite, out of range)."""


# ---------------------------------------------------------------------------
# Small JSON helpers shared by the writer and the reader


def _fail(source: str, message: str) -> NoReturn:
    # The message says all; a chained KeyError or JSONDecodeError would not help.
    raise ModelFileError(f"{source}: {message}") from None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _show(value: Any) -> str:
    """A short JSON rendering of ``value`` for error messages."""
    text = _json_text(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_text(value: Any) -> str:
    # Numbers as JavaScript prints them, so both readers' messages match.
    if isinstance(value, list):
        return "[" + ", ".join(map(_json_text, value)) + "]"
    if isinstance(value, dict):
        items = (f"{json.dumps(k)}: {_json_text(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if _is_number(value):
        return _num(value)
    return json.dumps(value)


def _num(value: int | float) -> str:
    """A JSON number as JavaScript's ``String(number)`` writes it."""
    if not _is_finite(value):
        return "Infinity" if value > 0 else "-Infinity"
    number = float(value)
    if number.is_integer() and abs(number) < 1e21:
        return str(int(number))
    return repr(number).replace("e-0", "e-").replace("e+0", "e+")


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def _is_integer(value: Any) -> bool:
    """A JSON number without a fractional part (``784`` and ``784.0`` both count)."""
    return type(value) is int or (type(value) is float and value.is_integer())


def _is_finite(value: Any) -> bool:
    if type(value) is float:
        return math.isfinite(value)
    return abs(value) <= _FLOAT_MAX  # an int literal beyond the largest double


# ---------------------------------------------------------------------------
# Validation: the rules of helpers/model-format.md, in its order


def _check_tree(doc: Any, source: str) -> None:
    """Rule 3: nesting depth, and every number finite (parameter data aside)."""
    stack: list[tuple[Any, tuple, int]] = [(doc, (), 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                _fail(source, f"the JSON is nested more than {MAX_DEPTH} levels deep")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            children = [
                (child, (*path, key), depth + 1)
                for key, child in items
                if not (_is_parameter_data((*path, key)) and _flat_numbers(child))
            ]
            stack.extend(reversed(children))
        elif _is_number(value) and not _is_finite(value):
            _fail(
                source,
                f"the number at {_path_text(path)} is not finite (an overflowing "
                "literal such as 1e999?)",
            )


def _path_text(path: tuple) -> str:
    """``("training", "costs", 3)`` as ``training.costs[3]``."""
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else key)
    return text or "the top level"


def _is_parameter_data(path: tuple) -> bool:
    # Parameter arrays of plain numbers are checked when they are built.
    return len(path) == 3 and path[0] == "parameters" and path[2] == "data"


def _flat_numbers(value: Any) -> bool:
    return isinstance(value, list) and set(map(type, value)) <= {int, float}


def _check_head(doc: Any, source: str) -> dict[str, Any]:
    """Rules 4 to 9: everything but the parameter arrays. Returns the sections."""
    if not isinstance(doc, dict):
        _fail(source, f"the top level must be a JSON object, not {_json_type(doc)}")
    if doc.get("format") != FORMAT_NAME:
        found = _show(doc["format"]) if "format" in doc else "missing"
        _fail(source, f"not a {FORMAT_NAME} model file (format is {found})")
    if "format_version" not in doc:
        _fail(source, "format_version is missing")
    version = doc["format_version"]
    if not _is_integer(version):
        _fail(source, f"format_version must be an integer, got {_show(version)}")
    if version > FORMAT_VERSION:
        _fail(
            source,
            f"format version {_num(version)} is newer than this reader understands "
            f"({FORMAT_VERSION}); use a newer reader",
        )
    if version < 1:
        _fail(
            source,
            f"unknown format version {_num(version)} (this reader understands "
            f"{FORMAT_VERSION})",
        )
    for key in _SECTIONS:
        if key not in doc:
            _fail(source, f'section "{key}" is missing')
        if not isinstance(doc[key], dict):
            _fail(
                source,
                f'section "{key}" must be a JSON object, not {_json_type(doc[key])}',
            )
    n_visible, n_hidden = _check_model(doc["model"], source)
    _check_input(doc["input"], n_visible, source)
    _check_training(doc["training"], source)
    return doc


def _required(section: dict, name: str, key: str, source: str) -> Any:
    if key not in section:
        _fail(source, f"{name}.{key} is missing")
    return section[key]


def _check_model(model: dict, source: str) -> tuple[int, int]:
    fixed = {"kind": "tied_autoencoder", "activation": "sigmoid"}
    for key, wanted in fixed.items():
        value = _required(model, "model", key, source)
        if value != wanted:
            _fail(source, f'model.{key} must be "{wanted}", got {_show(value)}')
    tied = _required(model, "model", "tied_weights", source)
    if tied is not True:
        _fail(
            source,
            "model.tied_weights must be true (one W serves the encoder and, "
            f"transposed, the decoder), got {_show(tied)}",
        )
    for key, allowed in (("cost", COSTS), ("cost_convention", CONVENTIONS)):
        value = _required(model, "model", key, source)
        if value not in allowed:
            choices = " or ".join(f'"{a}"' for a in allowed)
            _fail(source, f"model.{key} must be {choices}, got {_show(value)}")
    sizes = []
    for key in ("n_visible", "n_hidden"):
        value = _required(model, "model", key, source)
        if not _is_integer(value) or value < 1:
            _fail(source, f"model.{key} must be a positive integer, got {_show(value)}")
        sizes.append(int(value))
    return sizes[0], sizes[1]


def _check_input(spec: dict, n_visible: int, source: str) -> None:
    scale = _required(spec, "input", "scale", source)
    if scale is not None and (not _is_number(scale) or scale <= 0):
        _fail(source, f"input.scale must be a number > 0 or null, got {_show(scale)}")
    binarize = _required(spec, "input", "binarize", source)
    if not isinstance(binarize, bool):
        _fail(source, f"input.binarize must be true or false, got {_show(binarize)}")
    threshold = _required(spec, "input", "threshold", source)
    ok = _is_number(threshold) and 0 <= threshold < 1
    if not ok and (binarize or threshold is not None):
        when = "" if binarize else " or null"
        _fail(
            source,
            f"input.threshold must be a number in [0, 1){when}, got {_show(threshold)}",
        )
    shape = _required(spec, "input", "image_shape", source)
    if shape is None:
        return
    if not (
        isinstance(shape, list)
        and len(shape) == 2
        and all(_is_integer(n) and n >= 1 for n in shape)
        and int(shape[0]) * int(shape[1]) == n_visible
    ):
        _fail(
            source,
            "input.image_shape must be null or [rows, cols] with rows * cols = "
            f"model.n_visible ({n_visible}), got {_show(shape)}",
        )


#: Known keys of the ``training`` section and the JSON values each may hold.
_TRAINING_KEYS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "data": ("a string", lambda v: isinstance(v, str)),
    "n_train": ("an integer >= 0", lambda v: _is_integer(v) and v >= 0),
    "n_valid": ("an integer >= 0", lambda v: _is_integer(v) and v >= 0),
    "epochs": ("an integer >= 0", lambda v: _is_integer(v) and v >= 0),
    "batch_size": ("an integer >= 1", lambda v: _is_integer(v) and v >= 1),
    "learning_rate": ("a number > 0", lambda v: _is_number(v) and v > 0),
    "seed": ("an integer or null", lambda v: v is None or _is_integer(v)),
    "cost_label": ("a string", lambda v: isinstance(v, str)),
    "final_train_cost": ("a number or null", lambda v: v is None or _is_number(v)),
    "final_valid_cost": ("a number or null", lambda v: v is None or _is_number(v)),
    "seconds": ("a number >= 0", lambda v: _is_number(v) and v >= 0),
    "versions": (
        "an object of strings",
        lambda v: isinstance(v, dict) and all(isinstance(s, str) for s in v.values()),
    ),
    "date": ("a string", lambda v: isinstance(v, str)),
    "resume": ("an object", lambda v: isinstance(v, dict)),
}


def _check_training(training: dict, source: str) -> None:
    for key, (what, ok) in _TRAINING_KEYS.items():
        if key in training and not ok(training[key]):
            _fail(source, f"training.{key} must be {what}, got {_show(training[key])}")


def _expected_shapes(model: dict) -> dict[str, list[int]]:
    n_visible, n_hidden = int(model["n_visible"]), int(model["n_hidden"])
    return {"W": [n_visible, n_hidden], "b_h": [n_hidden], "b_v": [n_visible]}


def _check_parameters(doc: dict, source: str) -> dict[str, np.ndarray]:
    """Rule 10: the three arrays, each checked before anything is allocated."""
    params = doc["parameters"]
    for name in PARAMETER_NAMES:
        if name not in params:
            _fail(source, f"parameter {name} is missing")
    for name in params:
        if name not in PARAMETER_NAMES:
            _fail(
                source,
                f"unexpected parameter {_show(name)} (the tied auto-encoder has "
                "exactly W, b_h and b_v)",
            )
    expected = _expected_shapes(doc["model"])
    arrays: dict[str, np.ndarray] = {}
    dtype = None
    for name in PARAMETER_NAMES:
        entry = params[name]
        if not isinstance(entry, dict):
            _fail(
                source,
                f"parameter {name} must be a JSON object, not {_json_type(entry)}",
            )
        for key in ("dtype", "shape", "data"):
            if key not in entry:
                _fail(source, f"parameter {name}: {key} is missing")
        if entry["dtype"] not in DTYPES:
            _fail(
                source,
                f'parameter {name}: dtype must be "float32" or "float64", got '
                f"{_show(entry['dtype'])}",
            )
        if dtype is None:
            dtype = entry["dtype"]
        elif entry["dtype"] != dtype:
            _fail(
                source,
                f"parameter {name}: dtype {entry['dtype']} differs from W's {dtype}; "
                "all parameters share one dtype",
            )
        shape = entry["shape"]
        if not isinstance(shape, list) or not all(
            _is_integer(n) and n >= 1 for n in shape
        ):
            _fail(
                source,
                f"parameter {name}: shape must be a list of positive integers, got "
                f"{_show(shape)}",
            )
        if [int(n) for n in shape] != expected[name]:
            _fail(
                source,
                f"parameter {name}: shape {_show(shape)} disagrees with the model "
                f"section (n_visible {expected['b_v'][0]}, n_hidden "
                f"{expected['b_h'][0]}), which needs {expected[name]}",
            )
        shape = expected[name]
        arrays[name] = _read_data(source, name, entry["data"], shape, dtype)
    return arrays


def _read_data(source: str, name: str, data: Any, shape: list[int], dtype: str):
    if not isinstance(data, list):
        _fail(
            source, f"parameter {name}: data must be an array, not {_json_type(data)}"
        )
    needed = math.prod(shape)
    if len(data) != needed:
        _fail(
            source,
            f"parameter {name}: shape {shape} needs {needed} values but data has "
            f"{len(data)}",
        )
    if not _flat_numbers(data):
        index = next(i for i, v in enumerate(data) if not _is_number(v))
        _fail(
            source,
            f"parameter {name}: data[{index}] is not a number, got "
            f"{_show(data[index])}",
        )
    try:
        wide = np.array(data, dtype=np.float64)
    except OverflowError:  # an integer literal beyond the largest double
        wide = np.array([v if _is_finite(v) else math.inf for v in data], np.float64)
    with np.errstate(over="ignore"):
        array = wide.astype(dtype)
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        _fail(
            source,
            f"parameter {name}: data[{bad[0]}] is not a finite {dtype} number",
        )
    return array.reshape(shape)


# ---------------------------------------------------------------------------
# Reading


def _sigmoid(a: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-a))`` without overflow: exp only of non-positive numbers."""
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@dataclass(repr=False, eq=False)
class PortableModel:
    """A model read from a portable file, usable with NumPy alone.

    ``encode`` and ``reconstruct`` compute in float64 whatever the stored
    dtype (every float32 value is exact in float64), as the format document
    prescribes, so every reader gets the same numbers to about 1e-12.

    Attributes
    ----------
    params : dict of str to numpy.ndarray
        ``W``, ``b_h``, ``b_v`` exactly as saved (float32 or float64).
    model, input, training : dict
        The file's sections of the same names.
    path : str
        Where the model was read from.
    """

    params: dict[str, np.ndarray]
    model: dict
    input: dict
    training: dict
    path: str
    _wide: dict[str, np.ndarray] = field(init=False, repr=False)

    def __post_init__(self):
        self._wide = {k: v.astype(np.float64) for k, v in self.params.items()}

    def __repr__(self) -> str:
        return (
            f"PortableModel({self.path!r}, {self.n_visible}-{self.n_hidden} "
            f"{self.dtype})"
        )

    @property
    def n_visible(self) -> int:
        return self.params["W"].shape[0]

    @property
    def n_hidden(self) -> int:
        return self.params["W"].shape[1]

    @property
    def dtype(self) -> str:
        return str(self.params["W"].dtype)

    def prepare(self, raw) -> np.ndarray:
        """Raw rows to model input, by the file's ``input`` section.

        Images of ``image_shape`` are flattened row-major; values are divided
        by ``scale`` (when not null), must then be finite and within [0, 1],
        and become 1.0 where above ``threshold``, else 0.0, when ``binarize``
        is true.

        Parameters
        ----------
        raw : array-like, shape (n, n_visible), (n_visible,) or (n, rows, cols)

        Returns
        -------
        numpy.ndarray, shape (n, n_visible), float64

        Raises
        ------
        InputError
            On the wrong shape, non-numbers, or values outside [0, 1].
        """
        raw = np.asarray(raw)
        shape = self.input.get("image_shape")
        if shape is not None and raw.ndim == 3 and list(raw.shape[1:]) == shape:
            raw = raw.reshape(raw.shape[0], self.n_visible)
        x = self._rows(raw, "raw input").astype(np.float64)
        if self.input["scale"] is not None:
            x = x / float(self.input["scale"])
        low, high = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
        if low < 0 or high > 1:
            raise InputError(
                f"input values range from {low:g} to {high:g} after scaling; this "
                f"model ({self.path}) takes values in [0, 1] (scale "
                f"{self.input['scale']})"
            )
        if self.input["binarize"]:
            x = (x > float(self.input["threshold"])).astype(np.float64)
        return x

    def _rows(self, x, what: str = "input") -> np.ndarray:
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise InputError(f"{what} holds {x.dtype} values; expected numbers")
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.n_visible:
            raise InputError(
                f"{what} has shape {x.shape}; this model ({self.path}) takes rows "
                f"of {self.n_visible} values"
            )
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            raise InputError(f"{what} holds NaN or infinite values")
        return x

    def encode(self, x) -> np.ndarray:
        """Hidden codes ``h = sigmoid(x W + b_h)``, shape (n, n_hidden), float64.

        ``x`` is prepared input (see :meth:`prepare`), one row per example.
        """
        x = self._rows(x).astype(np.float64)
        return _sigmoid(x @ self._wide["W"] + self._wide["b_h"])

    def reconstruct(self, x) -> np.ndarray:
        """Reconstructions ``x_hat = sigmoid(h W^T + b_v)``, shape (n, n_visible)."""
        h = self.encode(x)
        return _sigmoid(h @ self._wide["W"].T + self._wide["b_v"])


def load_model(path: str | os.PathLike) -> PortableModel:
    """Read and validate a portable model file with NumPy only.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    PortableModel

    Raises
    ------
    ModelFileError
        Naming the file and the fault: unreadable, not UTF-8, invalid or
        truncated JSON, another format or a newer version, a missing or
        mistyped field, shapes that disagree with each other or with the
        data, or numbers that are not finite. Nothing is allocated for the
        arrays until their declared sizes match the data actually present.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        _fail(str(path), "no such model file")
    except IsADirectoryError:
        _fail(str(path), "is a folder, not a model file")
    except OSError as exc:
        _fail(str(path), f"cannot be read ({exc.strerror or exc})")
    return parse_model(raw, str(path))


class _NotJSON(ValueError):
    pass


def _refuse_constant(name: str) -> NoReturn:
    raise _NotJSON(f"{name} is not a JSON number")


def parse_model(raw: bytes | str, source: str = "<model>") -> PortableModel:
    """Validate the text of a model file and build its arrays.

    Parameters
    ----------
    raw : bytes or str
        The file's content (UTF-8 bytes, a leading byte order mark allowed).
    source : str
        Names the file in error messages.

    Returns
    -------
    PortableModel

    Raises
    ------
    ModelFileError
        As for :func:`load_model`.
    """
    if not raw:
        _fail(source, "the file is empty")
    if isinstance(raw, bytes):
        bom = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
        try:
            text = raw[bom:].decode("utf-8")
        except UnicodeDecodeError as exc:
            _fail(source, f"not UTF-8 text (byte {bom + exc.start} is invalid)")
    else:
        text = raw.removeprefix("\ufeff")
    try:
        doc = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        _fail(
            source,
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}; "
            "the file may be truncated or damaged",
        )
    except _NotJSON as exc:
        _fail(source, f"not valid JSON: {exc}; the file may be truncated or damaged")
    except RecursionError:
        _fail(source, f"the JSON is nested more than {MAX_DEPTH} levels deep")
    except ValueError as exc:  # e.g. an integer literal of thousands of digits
        _fail(source, f"not valid JSON: {exc}")
    _check_tree(doc, source)
    _check_head(doc, source)
    arrays = _check_parameters(doc, source)
    return PortableModel(
        params=arrays,
        model=doc["model"],
        input=doc["input"],
        training=doc["training"],
        path=source,
    )


# ---------------------------------------------------------------------------
# Writing


def _plain(value: Any) -> Any:
    """``json.dumps`` fallback: NumPy scalars and arrays as plain Python values."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON")


def _format_values(values: np.ndarray) -> str:
    """Shortest round-trip text of each value, comma-separated.

    ``str`` of a NumPy float32 is its shortest round-trip decimal (NumPy's
    Dragon4 in "unique" mode) unless legacy printing is switched on, hence
    the ``printoptions``; ``repr`` of a Python float is the same for float64.
    """
    if values.dtype == np.float32:
        with np.printoptions(legacy=False):
            return ",".join(map(str, values))
    return ",".join(map(repr, values.tolist()))


def _parameter_chunks(arrays: dict[str, np.ndarray]) -> Iterator[str]:
    """The ``parameters`` section, one line per row of each array."""
    yield '  "parameters": {\n'
    for i, (name, a) in enumerate(arrays.items()):
        rows = a.reshape(-1, a.shape[-1])
        yield (
            f'    "{name}": {{\n      "dtype": "{a.dtype}",\n'
            f'      "shape": {json.dumps(list(a.shape))},\n      "data": [\n'
        )
        for r, row in enumerate(rows):
            end = ",\n" if r < len(rows) - 1 else "\n"
            yield "        " + _format_values(row) + end
        yield "      ]\n    }" + (",\n" if i < len(arrays) - 1 else "\n")
    yield "  }\n}\n"


def _arrays_for_export(values: Mapping[str, Any], source: str):
    for name in PARAMETER_NAMES:
        if name not in values:
            _fail(source, f"parameter {name} is missing")
    arrays = {name: np.asarray(values[name]) for name in PARAMETER_NAMES}
    dtypes = {str(a.dtype) for a in arrays.values()}
    if len(dtypes) != 1 or not dtypes <= set(DTYPES):
        _fail(
            source,
            "parameters must be all float32 or all float64, got "
            + ", ".join(f"{k} {a.dtype}" for k, a in arrays.items()),
        )
    W, b_h, b_v = (arrays[name] for name in PARAMETER_NAMES)
    if (
        W.ndim != 2
        or 0 in W.shape
        or b_h.shape != (W.shape[1],)
        or b_v.shape != (W.shape[0],)
    ):
        _fail(
            source,
            f"parameter shapes disagree: W {list(W.shape)}, b_h {list(b_h.shape)}, "
            f"b_v {list(b_v.shape)}; expected [n_visible, n_hidden], [n_hidden], "
            "[n_visible] with both sizes at least 1",
        )
    for name, a in arrays.items():
        bad = np.count_nonzero(~np.isfinite(a))
        if bad:
            _fail(
                source,
                f"parameter {name} holds {bad} NaN or infinite values; the model "
                "diverged, so keep the last good model instead",
            )
    return {k: np.ascontiguousarray(a) for k, a in arrays.items()}


def save_model(
    path: str | os.PathLike,
    values: Mapping[str, np.ndarray],
    *,
    cost: str = "cross_entropy",
    convention: str = "per_example",
    input_spec: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
) -> Path:
    """Write the auto-encoder's parameters to a portable JSON model file.

    The file is first written completely under a temporary name beside
    ``path`` and then renamed over it, so an interrupted export never leaves
    a half-written file where a good one was.

    Parameters
    ----------
    path : str or path-like
        Destination; its folder must exist.
    values : mapping of str to numpy.ndarray
        ``W`` (n_visible, n_hidden), ``b_h`` (n_hidden,), ``b_v``
        (n_visible,), all float32 or all float64.
    cost, convention : str
        The training cost and how it was reduced, recorded for readers.
    input_spec : mapping, optional
        How raw input must be prepared: ``scale`` (divide by this, or
        ``None``), ``binarize``, ``threshold``, ``image_shape``. Keys left out
        mean no scaling, no binarization, no image shape.
    training : mapping, optional
        Metadata (data set, epochs, final costs, seed, ...); see the format
        document for the known keys. ``versions`` (Python, NumPy) and
        ``date`` (UTC, ISO 8601) are added when absent. NumPy scalars are
        accepted; anything else must be plain JSON.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ModelFileError
        If a parameter is missing, has the wrong shape or dtype, or holds
        NaN or infinite values (named in the message), or the metadata break
        the format's rules; nothing is written then.
    OSError
        If writing fails (full disk, no permission); an earlier file at
        ``path`` is left as it was and no temporary file remains.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> v = {"W": np.ones((3, 2), "float32"), "b_h": np.zeros(2, "float32"),
    ...      "b_v": np.zeros(3, "float32")}
    >>> p = save_model(pathlib.Path(tempfile.mkdtemp()) / "m.json", v)
    >>> np.array_equal(load_model(p).params["W"], v["W"])
    True
    """
    path = Path(path)
    source = f"{path} (not written)"
    arrays = _arrays_for_export(values, source)
    n_visible, n_hidden = arrays["W"].shape
    meta = dict(training or {})
    meta.setdefault(
        "versions", {"python": platform.python_version(), "numpy": np.__version__}
    )
    meta.setdefault(
        "date", datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    )
    head = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model": {
            "kind": "tied_autoencoder",
            "activation": "sigmoid",
            "tied_weights": True,
            "cost": cost,
            "cost_convention": convention,
            "n_visible": int(n_visible),
            "n_hidden": int(n_hidden),
        },
        "input": {**_DEFAULT_INPUT, **dict(input_spec or {})},
        "training": meta,
    }
    try:
        # Through text and back: NumPy scalars become plain numbers, and the
        # head is checked exactly as a reader will see it.
        head = json.loads(json.dumps(head, default=_plain))
    except (TypeError, ValueError) as exc:
        _fail(source, f"the metadata is not plain JSON ({exc})")
    _check_tree(head, source)
    _check_head({**head, "parameters": {}}, source)  # arrays were checked above
    if not path.parent.is_dir():
        _fail(source, f"the folder {path.parent} does not exist")
    head_text = _pretty(head)
    # Reopen the head's closing brace to append the parameters section.
    chunks = _chain([head_text[: head_text.rindex("}")].rstrip() + ",\n"], arrays)
    write_file_atomically(path, (chunk.encode("utf-8") for chunk in chunks))
    return path


def _pretty(value: Any, level: int = 0) -> str:
    """JSON with two-space indents, but lists of plain values on one line."""
    pad, end = "  " * (level + 1), "\n" + "  " * level
    if isinstance(value, dict) and value:
        items = [
            f"{pad}{json.dumps(k)}: {_pretty(v, level + 1)}" for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + end + "}"
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        items = [pad + _pretty(v, level + 1) for v in value]
        return "[\n" + ",\n".join(items) + end + "]"
    return json.dumps(value, separators=(", ", ": "), allow_nan=False)


def _chain(first: list[str], arrays: dict[str, np.ndarray]) -> Iterator[str]:
    yield from first
    yield from _parameter_chunks(arrays)


def write_file_atomically(path: str | os.PathLike, chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to a temporary file beside ``path``, then rename it.

    The temporary file is created with the usual permissions (``0o666``
    less the umask), flushed to disk, and renamed over ``path`` in one step.
    If anything fails, including an exception raised while ``chunks`` is
    being produced or a ``KeyboardInterrupt``, the temporary file is removed
    and ``path`` keeps its earlier content.

    Raises
    ------
    OSError
        If the file cannot be created or written.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename durable where the system allows it (POSIX)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
