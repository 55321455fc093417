"""Which compiler runs the training step, and the memory it reads the data from.

PyTensor turns one symbolic graph into code for several backends. The
project's training loop uses the fastest one installed:

``jax``
    XLA, through PyTensor's JAX linker. With the data held on the library
    side and many minibatch steps per call (``scan``), it was the fastest
    PyTensor path in ``make bench`` on a 2-core CPU (README, Speed). It needs
    no BLAS library of the system's.
``numba``
    PyTensor's default backend; matrix products go through SciPy's OpenBLAS.
``c``
    PyTensor's C backend (Theano's original). pip-installed PyTensor links
    it to no BLAS library unless told where one is (README, Speed).

``pick_backend("auto")`` returns ``"jax"`` when JAX imports and ``"numba"``
otherwise; the name can also be set with the environment variable
``FUN_WITH_THEANO_BACKEND``. Compiled code is cached on disk between runs:
PyTensor's own cache in ``pytensor.config.compiledir``, and XLA's in the
``jax`` folder beside it (see :func:`cache_dirs`).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

__all__ = [
    "BACKENDS",
    "ENV_VAR",
    "aligned_empty",
    "as_aligned",
    "backend_of_mode",
    "cache_dirs",
    "compile_mode",
    "pick_backend",
    "prepare_mode",
]

BACKENDS = ("jax", "numba", "c")
#: Environment variable that overrides the ``"auto"`` choice.
ENV_VAR = "FUN_WITH_THEANO_BACKEND"
_MODES = {"jax": "JAX", "numba": "NUMBA", "c": "CVM"}
# XLA reads input arrays in place (no copy per call) when they start on a
# 64-byte boundary.
_ALIGNMENT = 64


def pick_backend(name: str | None = "auto") -> str:
    """The backend to compile with: ``name``, or the fastest installed one.

    Parameters
    ----------
    name : {"auto", "jax", "numba", "c"} or None
        ``"auto"`` (or None) reads ``FUN_WITH_THEANO_BACKEND`` when it is set,
        else picks ``"jax"`` if JAX is installed and ``"numba"`` if not.

    Returns
    -------
    str
        One of :data:`BACKENDS`.

    Raises
    ------
    ValueError
        For an unknown name, or ``"jax"`` when JAX is not installed.

    Examples
    --------
    >>> pick_backend("numba")
    'numba'
    >>> pick_backend("gpu")
    Traceback (most recent call last):
    ...
    ValueError: unknown backend 'gpu': choose one of auto, jax, numba, c
    """
    name = "auto" if name is None else str(name).strip().lower()
    from_env = name == "auto" and bool(os.environ.get(ENV_VAR, "").strip())
    if from_env:
        name = os.environ[ENV_VAR].strip().lower()
    if name == "auto":
        return "jax" if _has_jax() else "numba"
    if name not in BACKENDS:
        choices = f"auto, {', '.join(BACKENDS)}"
        if from_env:
            raise ValueError(
                f"{ENV_VAR} is set to {os.environ[ENV_VAR]!r}, which is not a "
                f"backend: set it to one of {choices}, or unset it"
            )
        raise ValueError(f"unknown backend {name!r}: choose one of {choices}")
    if name == "jax" and not _has_jax():
        raise ValueError(
            "backend 'jax' needs JAX, which is not installed: run "
            "`pip install -r requirements.txt`, or choose numba"
        )
    return name


def _has_jax() -> bool:
    return importlib.util.find_spec("jax") is not None


def compile_mode(backend: str):
    """The PyTensor compile mode for a backend name (see :func:`pick_backend`).

    For ``"jax"`` this also switches on XLA's compilation cache on disk and
    registers the sum fix described in :func:`_register_jax_reduce_fix`.

    Examples
    --------
    >>> compile_mode("numba")
    'NUMBA'
    """
    if backend == "jax":
        _prepare_jax()
    return _MODES[backend]


def backend_of_mode(mode) -> str:
    """The backend a PyTensor compile mode compiles with.

    Parameters
    ----------
    mode : str or Mode
        A mode name (``"JAX"``, ``"NUMBA"``, ``"CVM"``, ``"FAST_COMPILE"``...)
        or a ``Mode`` object.

    Returns
    -------
    str
        One of :data:`BACKENDS` for the modes that use them; ``"python"`` for
        PyTensor's Python-only virtual machine (``FAST_COMPILE``); otherwise
        the linker's name in lower case, without "linker".

    Raises
    ------
    ValueError
        When PyTensor has no mode of that name.

    Examples
    --------
    >>> backend_of_mode("JAX"), backend_of_mode("CVM"), backend_of_mode("FAST_COMPILE")
    ('jax', 'c', 'python')
    >>> backend_of_mode("FAST_RUN")   # PyTensor's default mode runs on Numba
    'numba'
    """
    from pytensor.compile.mode import get_mode

    linker = get_mode(mode).linker
    name = type(linker).__name__
    known = {"JAXLinker": "jax", "NumbaLinker": "numba", "CLinker": "c"}
    if name in known:
        return known[name]
    if name == "VMLinker":
        return "c" if linker.c_thunks else "python"
    return name.lower().removesuffix("linker").strip("_") or name.lower()


def cache_dirs() -> dict[str, Path]:
    """Where compiled code is kept between runs, by backend.

    ``c``: PyTensor's compiled C modules; ``numba``: PyTensor's Numba cache;
    ``jax``: XLA's compilation cache (switched on by :func:`compile_mode`).
    All three sit under ``pytensor.config.base_compiledir``, so the flag
    ``PYTENSOR_FLAGS=base_compiledir=DIR`` moves them together.

    Examples
    --------
    >>> sorted(cache_dirs())
    ['c', 'jax', 'numba']
    """
    import pytensor

    compiledir = Path(pytensor.config.compiledir)
    return {
        "c": compiledir,
        "numba": Path(pytensor.config.base_compiledir) / "numba",
        "jax": compiledir / "jax",
    }


def prepare_mode(mode):
    """Ready the backend behind a compile mode given by name or object.

    A JAX mode gets what :func:`compile_mode` sets up for ``"jax"`` (the sum
    fix, XLA's cache), so a mode passed straight through (``--mode JAX``,
    ``fit(mode="JAX")``) compiles the same way; other modes are left alone.

    Examples
    --------
    >>> prepare_mode("NUMBA")
    'NUMBA'
    """
    if backend_of_mode(mode) == "jax":
        _prepare_jax()
    return mode


_jax_ready = False


def _prepare_jax() -> None:
    global _jax_ready
    if _jax_ready:
        return
    import jax

    # Cache every compiled XLA program, however quick to compile, so a second
    # run of the same training step starts without compiling.
    jax.config.update("jax_compilation_cache_dir", str(cache_dirs()["jax"]))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _register_jax_reduce_fix()
    _jax_ready = True


def _register_jax_reduce_fix() -> None:
    """Make PyTensor's JAX sums return the dtype the graph says.

    PyTensor 3.0.7 translates a float32 sum that accumulates in float64
    (``Sum{acc=float64}``, which ``grad`` produces for bias gradients) into a
    JAX sum that *returns* float64. A float32 parameter then turns float64
    after its first update, and a ``scan`` over training steps fails
    ("carry input and carry output must have equal types"). This wraps the
    translation so the result is cast to the output's dtype, as the other
    backends do.
    """
    from pytensor.link.jax.dispatch.basic import jax_funcify
    from pytensor.tensor.elemwise import CAReduce

    original = jax_funcify.dispatch(CAReduce)
    if getattr(original, "casts_to_output_dtype", False):
        return

    def careduce(op, node=None, **kwargs):
        reduce = original(op, node=node, **kwargs)
        if node is None:
            return reduce
        out_dtype = node.outputs[0].type.dtype

        def cast_reduce(x):
            return reduce(x).astype(out_dtype)

        return cast_reduce

    careduce.casts_to_output_dtype = True
    jax_funcify.register(CAReduce)(careduce)


def aligned_empty(shape, dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose data start on a 64-byte boundary.

    XLA takes such an array as a function argument without copying it, so a
    data set held in a shared variable is not copied on every call.

    Examples
    --------
    >>> a = aligned_empty((3, 5), "float32")
    >>> a.ctypes.data % 64, a.shape, a.flags.c_contiguous
    (0, (3, 5), True)
    """
    dtype = np.dtype(dtype)
    n_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(n_bytes + _ALIGNMENT, dtype=np.uint8)
    start = -raw.ctypes.data % _ALIGNMENT
    return raw[start : start + n_bytes].view(dtype).reshape(shape)


def as_aligned(X, dtype=None) -> np.ndarray:
    """``X`` as a C-contiguous, 64-byte-aligned array of ``dtype``.

    Copies only when ``X`` is not one already.

    Examples
    --------
    >>> X = aligned_empty((2, 3), "float32")
    >>> as_aligned(X) is X
    True
    >>> as_aligned(np.ones((2, 3), dtype=np.uint8), "float32").dtype
    dtype('float32')
    """
    X = np.asarray(X)
    dtype = X.dtype if dtype is None else np.dtype(dtype)
    if X.dtype == dtype and X.flags.c_contiguous and X.ctypes.data % _ALIGNMENT == 0:
        return X
    out = aligned_empty(X.shape, dtype)
    np.copyto(out, X, casting="unsafe")
    return out
