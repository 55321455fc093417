"""Portable model files: the learned parameters as JSON, readable without PyTensor.

This module imports only the standard library and NumPy, so a model trained
here can be used where PyTensor is not installed. It writes and reads one
JSON document per model:

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
      "parameters": {
        "W":   {"dtype": "float32", "shape": [784, 500], "data": [...]},
        "b_h": {"dtype": "float32", "shape": [500], "data": [...]},
        "b_v": {"dtype": "float32", "shape": [784], "data": [...]}
      },
      "training": {...}
    }

``data`` holds the array's values flattened in row-major (C) order, each
written as the shortest decimal that reads back to the same float32 or
float64 value, so a round trip is exact.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ModelFileError",
    "PortableModel",
    "load_model",
    "save_model",
]

FORMAT_NAME = "fun-with-theano-autoencoder"
FORMAT_VERSION = 1
PARAMETER_NAMES = ("W", "b_h", "b_v")
_DTYPES = ("float32", "float64")


class ModelFileError(ValueError):
    """A model file that cannot be written or read, naming the file and the fault."""


def _format_values(values: np.ndarray) -> str:
    """Shortest round-trip text of each value, comma-separated."""
    flat = values.ravel(order="C")
    if flat.dtype == np.float32:
        return ",".join(map(str, flat))
    return ",".join(map(repr, flat.tolist()))


def _atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it in place."""
    directory = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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

    Parameters
    ----------
    path : str or path-like
        Destination; its folder must exist. An existing file there is only
        replaced once the new one is completely written.
    values : mapping of str to numpy.ndarray
        ``W`` (n_visible, n_hidden), ``b_h`` (n_hidden,), ``b_v``
        (n_visible,), all float32 or all float64.
    cost, convention : str
        The training cost and how it was reduced, recorded for readers.
    input_spec : mapping, optional
        How raw input must be prepared: ``scale`` (divide by this, or
        ``None``), ``binarize``, ``threshold``, ``image_shape``.
    training : mapping, optional
        Free-form metadata (data set, epochs, final costs, seed, versions).
        Must be JSON-serialisable.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ModelFileError
        If a parameter is missing, has the wrong shape or dtype, or holds
        NaN or infinite values (named in the message); nothing is written.

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
    arrays = _check_parameters(
        {name: np.asarray(values[name]) for name in PARAMETER_NAMES if name in values},
        source=f"{path} (not written)",
    )
    n_visible, n_hidden = arrays["W"].shape
    params_text = ",\n    ".join(
        f'"{name}": {{"dtype": "{a.dtype}", "shape": {json.dumps(list(a.shape))}, '
        f'"data": [{_format_values(a)}]}}'
        for name, a in arrays.items()
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
        "input": dict(input_spec or {"scale": None, "binarize": False}),
        "training": dict(training or {}),
    }
    try:
        head_text = json.dumps(head, indent=2, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(
            f"{path} (not written): metadata is not plain JSON ({exc})"
        ) from exc
    text = head_text[:-2] + ',\n  "parameters": {\n    ' + params_text + "\n  }\n}\n"
    if not path.parent.is_dir():
        raise ModelFileError(
            f"{path} (not written): the folder {path.parent} does not exist"
        )
    _atomic_write_text(path, text)
    return path


def _check_parameters(arrays: dict[str, np.ndarray], source: str) -> dict:
    missing = [name for name in PARAMETER_NAMES if name not in arrays]
    if missing:
        raise ModelFileError(f"{source}: parameters {missing} are missing")
    dtypes = {str(a.dtype) for a in arrays.values()}
    if len(dtypes) != 1 or dtypes - set(_DTYPES):
        raise ModelFileError(
            f"{source}: parameters must all be float32 or all float64, got "
            + ", ".join(f"{k} {a.dtype}" for k, a in arrays.items())
        )
    W, b_h, b_v = (arrays[name] for name in PARAMETER_NAMES)
    if W.ndim != 2 or b_h.shape != (W.shape[1],) or b_v.shape != (W.shape[0],):
        raise ModelFileError(
            f"{source}: parameter shapes disagree: W {list(W.shape)}, b_h "
            f"{list(b_h.shape)}, b_v {list(b_v.shape)}; expected "
            "[n_visible, n_hidden], [n_hidden], [n_visible]"
        )
    for name, a in arrays.items():
        bad = np.count_nonzero(~np.isfinite(a))
        if bad:
            raise ModelFileError(
                f"{source}: parameter {name} holds {bad} NaN or infinite values; "
                "the model diverged, so keep the last good model instead"
            )
    return {name: arrays[name] for name in PARAMETER_NAMES}


def _sigmoid(a: np.ndarray) -> np.ndarray:
    # exp of a negative number never overflows: split by sign.
    out = np.empty_like(a)
    pos = a >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-a[pos]))
    e = np.exp(a[~pos])
    out[~pos] = e / (1.0 + e)
    return out


@dataclass
class PortableModel:
    """A model read from a portable file, usable with NumPy alone.

    Attributes
    ----------
    params : dict of str to numpy.ndarray
        ``W``, ``b_h``, ``b_v`` exactly as saved.
    model, input, training : dict
        The file's sections of the same names.
    path : str
    """

    params: dict[str, np.ndarray]
    model: dict
    input: dict
    training: dict
    path: str

    def _as_input(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=self.params["W"].dtype)
        if X.ndim == 1:
            X = X[None, :]
        n_visible = self.params["W"].shape[0]
        if X.ndim != 2 or X.shape[1] != n_visible:
            raise ModelFileError(
                f"{self.path}: the model takes rows of {n_visible} values, but the "
                f"data has shape {X.shape}"
            )
        return X

    def encode(self, X) -> np.ndarray:
        """Hidden codes ``sigmoid(X W + b_h)``, shape (n_examples, n_hidden)."""
        X = self._as_input(X)
        return _sigmoid(X @ self.params["W"] + self.params["b_h"])

    def reconstruct(self, X) -> np.ndarray:
        """Reconstructions ``sigmoid(h W^T + b_v)``, shape of ``X``."""
        h = self.encode(X)
        return _sigmoid(h @ self.params["W"].T + self.params["b_v"])


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
        Naming the file and the fault: unreadable or invalid JSON, another
        format or a newer version, a missing or mistyped field, shapes that
        disagree, a data length that does not match its shape, or values that
        are not finite numbers.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: cannot be read as text ({exc})") from exc
    try:
        doc = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ModelFileError(
            f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno} "
            f"({exc.msg}); the file may be truncated"
        ) from exc
    except ValueError as exc:
        raise ModelFileError(f"{path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise ModelFileError(f"{path}: the top level must be a JSON object")
    if doc.get("format") != FORMAT_NAME:
        raise ModelFileError(
            f"{path}: not a {FORMAT_NAME} file (format is {doc.get('format')!r})"
        )
    version = doc.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelFileError(f"{path}: format_version must be an integer")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: format version {version} is newer than this reader "
            f"understands ({FORMAT_VERSION}); update fun-with-theano"
        )
    if version < 1:
        raise ModelFileError(f"{path}: unknown format version {version}")
    sections = {}
    for key in ("model", "input", "training", "parameters"):
        value = doc.get(key, {} if key == "training" else None)
        if not isinstance(value, dict):
            raise ModelFileError(f"{path}: field {key!r} is missing or not an object")
        sections[key] = value
    arrays = {
        name: _read_array(path, name, sections["parameters"].get(name))
        for name in PARAMETER_NAMES
    }
    arrays = _check_parameters(arrays, source=str(path))
    return PortableModel(
        params=arrays,
        model=sections["model"],
        input=sections["input"],
        training=sections["training"],
        path=str(path),
    )


def _refuse_constant(name: str):
    raise ValueError(f"the value {name} is not allowed in a model file")


def _read_array(path: Path, name: str, entry) -> np.ndarray:
    where = f"{path}: parameter {name}"
    if not isinstance(entry, dict):
        raise ModelFileError(f"{where} is missing or not an object")
    dtype, shape, data = entry.get("dtype"), entry.get("shape"), entry.get("data")
    if dtype not in _DTYPES:
        raise ModelFileError(f"{where}: dtype must be one of {_DTYPES}, got {dtype!r}")
    if (
        not isinstance(shape, list)
        or not shape
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in shape)
        or any(n < 0 for n in shape)
    ):
        raise ModelFileError(
            f"{where}: shape must be a list of non-negative integers, got {shape!r}"
        )
    if not isinstance(data, list):
        raise ModelFileError(f"{where}: data must be a list of numbers")
    expected = math.prod(shape)
    if len(data) != expected:
        raise ModelFileError(
            f"{where}: shape {shape} needs {expected} values but data has {len(data)}"
        )
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in data):
        raise ModelFileError(f"{where}: data must hold only numbers")
    with np.errstate(over="ignore"):
        array = np.array(data, dtype=dtype)
    if not np.all(np.isfinite(array)):
        raise ModelFileError(
            f"{where}: holds values that are not finite {dtype} numbers"
        )
    return array.reshape(shape)
