"""Benchmark: one SGD epoch of the 784-500 tied auto-encoder, every path side by side.

Every path trains the same model (cross-entropy per example, SGD, learning
rate 0.1) from the same initial parameters over the same rows of real
binarized MNIST in the same order, so the numbers compare like with like:

* the project's PyTensor paths: the data held by the library and many steps
  per call in a ``scan`` (:class:`helpers.steps.ScanSteps`, what ``fit``
  uses), on every installed backend; minibatch arrays passed on every call
  (the classic recipe) on Numba, C and JAX; row numbers passed and the rows
  gathered inside the compiled function;
* hand-written NumPy with the analytic gradient;
* PyTorch (eager) and JAX (``jit`` of one step; many steps in one
  ``lax.scan`` call), written the straightforward way, when installed.

It first checks in float64 that every path reaches the same epoch cost as
NumPy (to 1e-6, relative). Then, in float32 and float64 at batch sizes 20
and 256, it times each path (the fastest of ``--repeats`` epochs, the paths
taking turns) and the step's five matrix products alone, with no other work,
on NumPy, JAX and PyTorch: the ceiling of any path made of those products. It
prints samples per second, the ratio to the project's default path and the
fraction of the compute bound measured in the same run (the fastest large
matrix product's GFLOP/s over the 3.92 MFLOP one step costs per sample, see
:mod:`helpers.speed`). In fresh processes it then measures the default
path's compile time with an empty and with a filled cache (it prints where
the caches of normal runs live), and the memory of one epoch of ``fit`` on
60,000 rows; it ends with the peak memory of this process and whether the
project's targets are met. It warns when other processes were using the CPU
as it started.

    python benchmarks/training_step.py            # about 9 minutes
    python benchmarks/training_step.py --short    # float32, batch 20, 300 rows
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpers.backends import BACKENDS, pick_backend  # noqa: E402
from helpers.speed import (  # noqa: E402
    FLOP_PER_SAMPLE,
    compute_bound,
    numpy_sgd_step,
    peak_rss_mib,
)
from helpers.steps import TRANSPOSED_CARRY_BACKENDS  # noqa: E402

N_VISIBLE, N_HIDDEN, LR = 784, 500, 0.1
HAS = {m: importlib.util.find_spec(m) is not None for m in ("jax", "torch")}
#: Engines that time the step's matrix products alone (the ceiling): NumPy's
#: BLAS, and XLA and PyTorch's BLAS when installed. Which one is fastest
#: depends on the processor (on an Intel Xeon, PyTorch's MKL was).
CEILING_ENGINES = ("numpy", *(m for m in ("jax", "torch") if HAS[m]))
#: The backend ``fit`` picks, and the path it takes with it.
AUTO = pick_backend("auto")
DEFAULT_PATH = f"pytensor scan, data held ({AUTO})"
#: Rows of the full-size memory measurement (MNIST's training set).
MEMORY_ROWS = 60_000
# The project's speed targets, checked on the float32 tables.
TARGET_VS_NUMPY, TARGET_BOUND_20, TARGET_BOUND_256, TARGET_WARM = 1.5, 0.70, 0.85, 1.0
# One copy of the data: memory grows by about one byte per byte of data (two
# copies would make it two).
TARGET_BYTES_PER_BYTE = 1.5
#: Seconds between timed epochs, for the previous path's threads to go idle.
PAUSE = 0.3
#: Above this share of all cores in use by others, the machine counts as busy.
BUSY_SHARE = 0.1


def load_rows(n: int, dtype: str) -> np.ndarray:
    """``n`` rows of binarized real MNIST (repeated past 5,000), seeded order.

    64-byte aligned, as ``fit`` holds them.
    """
    from helpers import data
    from helpers.backends import as_aligned

    X = data.prepare(data.load_mnist5k(), dtype=dtype)
    X = np.concatenate([X] * (n // len(X) + 1))[:n]
    return as_aligned(X[np.random.default_rng(0).permutation(n)])


def initial_params(dtype: str) -> dict:
    from helpers.params import init_params

    return init_params(N_VISIBLE, N_HIDDEN, seed=0, dtype=dtype)


# ----------------------------------------------------------------- paths
# Each maker(params, X, batch, backend) returns ``epoch(X) -> mean cost over
# the rows``, training its own copy of the parameters in place, in the order
# of the rows. ``epoch`` returns only when the work is done: every path ends
# by turning a result into a Python float, which waits for JAX's
# asynchronous dispatch (its calls run in order, so the last one finishing
# means all did); the JAX paths also wait for their parameters.


def installed_backends() -> list[str]:
    """PyTensor backends that can run here, the one ``fit`` picks first."""
    usable = [b for b in BACKENDS if b != "jax" or HAS["jax"]]
    return [AUTO, *(b for b in usable if b != AUTO)]


def _sliced_epoch(step, n_rows: int, batch: int, take):
    """An epoch calling ``step(take(X, s))`` on consecutive minibatch slices."""
    slices = [slice(i, min(i + batch, n_rows)) for i in range(0, n_rows, batch)]

    def epoch(X):
        total = 0.0
        for s in slices:
            total += float(step(take(X, s))) * (s.stop - s.start)
        return total / n_rows

    return epoch


def _autoencoder(params, X):
    from helpers.model import AutoEncoder

    return AutoEncoder(values=params, dtype=X.dtype)


def pytensor_held(params, X, batch, backend, carry_transposed=None):
    """What ``fit`` runs: ScanSteps over the epoch as ``train`` cuts it.

    ``carry_transposed=None`` lets ScanSteps choose the layout of ``W`` in
    its loop, as ``fit`` does; the other layout is timed as its own path.
    """
    from helpers.steps import ScanSteps
    from helpers.training import call_plan

    ae = _autoencoder(params, X)
    steps = ScanSteps(
        ae.cost,
        ae.params,
        X,
        LR,
        batch_size=batch,
        backend=backend,
        carry_transposed=carry_transposed,
    )
    calls = [
        np.arange(rows.start, rows.stop).reshape(stop - first, -1)
        for first, stop, rows in call_plan(len(X), batch, steps.steps_per_call)
    ]

    def epoch(_X):
        # run() hands back NumPy arrays: it waits for the work to finish.
        total = sum(float(steps.run(idx).sum()) * idx.shape[1] for idx in calls)
        return total / len(X)

    return epoch


def pytensor_arrays(params, X, batch, backend):
    from helpers.backends import compile_mode
    from helpers.training import compile_train_step

    ae = _autoencoder(params, X)
    x = ae.input()
    mode = compile_mode(backend)
    step = compile_train_step([x], ae.cost(x), ae.params, LR, mode=mode)
    step.trust_input = True
    return _sliced_epoch(step, len(X), batch, lambda X, s: X[s])


def pytensor_indexed(params, X, batch, backend):
    import pytensor

    from helpers.backends import compile_mode
    from helpers.steps import compile_indexed_step

    ae = _autoencoder(params, X)
    X_shared = pytensor.shared(X, borrow=True)
    mode = compile_mode(backend)
    step = compile_indexed_step(ae.cost, ae.params, X_shared, LR, mode=mode)
    rows = np.arange(len(X), dtype=np.int64)
    return _sliced_epoch(step, len(X), batch, lambda X, s: rows[s])


def numpy_analytic(params, X, batch, backend=None):
    step = numpy_sgd_step({k: v.copy() for k, v in params.items()}, LR)
    return _sliced_epoch(step, len(X), batch, lambda X, s: X[s])


def torch_eager(params, X, batch, backend=None):
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    p = [torch.tensor(params[k], requires_grad=True) for k in ("W", "b_h", "b_v")]
    Xt = torch.from_numpy(X)

    def step(x):
        W, b_h, b_v = p
        z = torch.sigmoid(x @ W + b_h) @ W.T + b_v
        cost = (torch.nn.functional.softplus(z) - x * z).sum(dim=1).mean()
        cost.backward()
        with torch.no_grad():
            for q in p:
                q -= LR * q.grad
                q.grad = None
        return float(cost)

    return _sliced_epoch(step, len(X), batch, lambda X, s: Xt[s])


def _jax_step():
    """One SGD step as a pure function ``(params, x) -> (params, cost)``."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)  # float64 runs in float64

    def cost(p, x):
        z = jax.nn.sigmoid(x @ p[0] + p[1]) @ p[0].T + p[2]
        return jnp.mean(jnp.sum(jax.nn.softplus(z) - x * z, axis=1))

    def step(p, x):
        c, g = jax.value_and_grad(cost)(p, x)
        return tuple(pi - LR * gi for pi, gi in zip(p, g, strict=True)), c

    return step


def _jax_params(params):
    import jax.numpy as jnp

    return tuple(jnp.asarray(params[k]) for k in ("W", "b_h", "b_v"))


def jax_jit(params, X, batch, backend=None):
    import jax

    jitted, state = jax.jit(_jax_step()), [_jax_params(params)]
    Xj = jax.numpy.asarray(X)

    def step(x):
        state[0], c = jitted(state[0], x)
        return c

    per_step = _sliced_epoch(step, len(X), batch, lambda X, s: Xj[s])

    def epoch(X):
        cost = per_step(X)
        jax.block_until_ready(state[0])
        return cost

    return epoch


def jax_scan(params, X, batch, backend=None):
    import jax

    step = _jax_step()
    many = jax.jit(lambda p, xs: jax.lax.scan(step, p, xs))
    one = jax.jit(step)
    state = [_jax_params(params)]
    n_full = len(X) // batch
    Xj = jax.numpy.asarray(X[: n_full * batch].reshape(n_full, batch, -1))
    rest = jax.numpy.asarray(X[n_full * batch :])

    def epoch(_X):
        state[0], costs = many(state[0], Xj)
        total = float(costs.sum()) * batch
        if len(rest):
            state[0], c = one(state[0], rest)
            total += float(c) * len(rest)
        jax.block_until_ready(state[0])
        return total / len(X)

    return epoch


def available_paths() -> dict:
    """Path name -> (maker, backend); the first is the project's default path."""
    backends = installed_backends()
    paths = {f"pytensor scan, data held ({b})": (pytensor_held, b) for b in backends}
    for b in backends:  # the layout of W in the loop that fit does not choose
        flip = b not in TRANSPOSED_CARRY_BACKENDS
        layout = "W transposed" if flip else "W as stored"
        maker = functools.partial(pytensor_held, carry_transposed=flip)
        paths[f"pytensor scan, {layout} ({b})"] = (maker, b)
    paths.update(
        {f"pytensor arrays per call ({b})": (pytensor_arrays, b) for b in backends}
    )
    paths["pytensor rows indexed (numba)"] = (pytensor_indexed, "numba")
    paths["numpy, analytic gradient"] = (numpy_analytic, None)
    if HAS["torch"]:
        paths["pytorch eager"] = (torch_eager, None)
    if HAS["jax"]:
        paths["jax jit, one step per call"] = (jax_jit, None)
        paths["jax lax.scan, many steps per call"] = (jax_scan, None)
    assert next(iter(paths)) == DEFAULT_PATH
    return paths


# -------------------------------------------------------------- ceiling


def _products(W, x, transposed):
    """The five matrix products of a step, summed into ``W``'s gradient.

    ``W`` is (visible, hidden), or its transpose when ``transposed``; the
    gradient comes in the same layout. Works on NumPy, JAX and PyTorch arrays.
    """
    if transposed:
        h = x @ W.T
        r = h @ W
        return (r @ W.T).T @ x + h.T @ r
    h = x @ W
    r = h @ W.T
    return x.T @ (r @ W) + r.T @ h


def products_alone(X, batch, engine, transposed=False):
    """An epoch of only the matrix products of each SGD step, on ``engine``.

    Each step does the five products a real step does (``x W``, ``h W^T``,
    the error sent back through ``W`` and the two halves of ``W``'s
    gradient) and updates ``W`` with them, but skips every elementwise
    function, the biases, the cost and the row gathering. With
    ``transposed``, ``W`` is held as (hidden, visible), the layout the
    default path's loop may carry it in (:class:`helpers.steps.ScanSteps`).
    No path that does these products on the same engine in the same layout
    can train faster, so the fraction of the bound this reaches says how
    much of a target is within reach. Only full minibatches; returns
    ``epoch() -> rows trained``.
    """
    n_steps = len(X) // batch
    W0 = initial_params(X.dtype.name)["W"]
    W0 = np.ascontiguousarray(W0.T) if transposed else W0
    tiny = X.dtype.type(1e-9)  # keeps W's values where they started
    minibatches = np.split(X[: n_steps * batch], n_steps)

    if engine == "numpy":

        def epoch():
            W = W0.copy()
            for x in minibatches:
                W -= tiny * _products(W, x, transposed)
            return n_steps * batch

        return epoch
    if engine == "torch":
        import torch

        minibatches = [torch.from_numpy(m.copy()) for m in minibatches]

        def epoch():
            W = torch.from_numpy(W0.copy())
            with torch.no_grad():
                for x in minibatches:
                    W -= tiny * _products(W, x, transposed)
            return n_steps * batch

        return epoch
    if engine != "jax":
        raise ValueError(f"unknown engine {engine!r}: choose numpy, jax or torch")
    import jax

    def step(W, x):
        return W - tiny * _products(W, x, transposed), None

    many = jax.jit(lambda W, xs: jax.lax.scan(step, W, xs)[0])
    W, xs = jax.numpy.asarray(W0), jax.numpy.asarray(np.stack(minibatches))

    def epoch():
        jax.block_until_ready(many(W, xs))
        return n_steps * batch

    return epoch


# ------------------------------------------------------------ measuring


def check_agreement(paths: dict, n_rows: int, batch: int) -> dict[str, float]:
    """Every path's first-epoch cost in float64, relative to NumPy's."""
    X = load_rows(n_rows, "float64")
    params = initial_params("float64")
    reference = numpy_analytic(params, X, batch)(X)
    print(f"float64 agreement, one epoch of {n_rows} rows, batch {batch}:")
    differences = {}
    for name, (maker, backend) in paths.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the C backend's missing-BLAS notice
            cost = maker(params, X, batch, backend)(X)
        differences[name] = abs(cost - reference) / abs(reference)
        print(f"  {name:36s} cost {cost:.10f}  rel. diff {differences[name]:.1e}")
    ok = all(d < 1e-6 for d in differences.values())
    print(f"  all paths agree to 1e-6: {'yes' if ok else 'NO'}")
    return differences


def time_paths(paths, dtype, batch, n_rows, repeats) -> tuple[dict, dict]:
    """Samples per second of each path, and of the products alone per engine.

    Every path, and :func:`products_alone` on each engine in both layouts of
    ``W`` (the faster counts), is built and run once untimed (which
    compiles); then ``repeats`` rounds time one epoch of each in turn, and
    each keeps its fastest epoch. On a shared machine an epoch is only ever
    slowed by others' work, so the fastest is the best estimate of what the
    path costs; taking turns spreads a slow spell over all of them. Each
    timed epoch waits :data:`PAUSE` seconds first: a BLAS library's worker
    threads keep spinning for a while after a product, and took 10-20% from
    an XLA path timed right after NumPy.
    """
    X = load_rows(n_rows, dtype)
    params = initial_params(dtype)
    runs = {}  # name -> (run, rows it trains)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the C backend's missing-BLAS notice
        for name, (maker, backend) in paths.items():
            epoch = maker(params, X, batch, backend)
            epoch(X)
            runs[name] = (functools.partial(epoch, X), n_rows)
    for engine in CEILING_ENGINES:
        for transposed in (False, True):
            epoch = products_alone(X, batch, engine, transposed)
            runs[engine, transposed] = (epoch, epoch())
    seconds = {name: [] for name in runs}
    for _ in range(repeats):
        for name, (run, _) in runs.items():
            time.sleep(PAUSE)  # the last path's BLAS threads stop spinning
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
    rates = {name: rows / min(seconds[name]) for name, (_, rows) in runs.items()}
    return (
        {name: rates[name] for name in paths},
        {e: max(rates[e, False], rates[e, True]) for e in CEILING_ENGINES},
    )


def print_table(batch: int, rates: dict, bound: float, alone: dict) -> None:
    base = rates[DEFAULT_PATH]
    print(f"  batch {batch}: samples/s   vs default   of bound")
    for name, rate in rates.items():
        print(
            f"    {name:36s} {rate:9,.0f}   {rate / base:6.2f}x   {rate / bound:6.0%}"
        )
    print("    ceiling: the five matrix products of each step alone, no other work")
    for engine, rate in alone.items():
        name = f"  products alone ({engine})"
        print(
            f"    {name:36s} {rate:9,.0f}   {rate / base:6.2f}x   {rate / bound:6.0%}"
        )


# ------------------------------------------- measured in fresh processes


def _import_backend(backend: str) -> None:
    """Import what compiling for ``backend`` imports, to leave it out of a probe."""
    import importlib

    import pytensor  # noqa: F401

    if backend in ("jax", "numba"):
        importlib.import_module(f"pytensor.link.{backend}.dispatch")


def probe_compile(kind: str, dtype: str) -> dict:
    """Seconds to build a path and make its first call (imports excluded).

    ``kind`` ``"default"``: ScanSteps on the backend ``fit`` picks, and its
    first ``run``; ``"numba per call"``: the classic one-step function on
    Numba, and its first call.
    """
    from helpers.steps import ScanSteps
    from helpers.training import call_plan, compile_train_step

    backend = AUTO if kind == "default" else "numba"
    _import_backend(backend)
    X, batch = load_rows(2_000, dtype), 20
    ae = _autoencoder(initial_params(dtype), X)
    start = time.perf_counter()
    if kind == "default":
        steps = ScanSteps(ae.cost, ae.params, X, LR, batch_size=batch, backend=backend)
        first, stop, rows = call_plan(len(X), batch, steps.steps_per_call)[0]
        steps.run(np.arange(rows.start, rows.stop).reshape(stop - first, -1))
    else:
        x = ae.input()
        step = compile_train_step([x], ae.cost(x), ae.params, LR, mode="NUMBA")
        step(X[:batch])
    return {"kind": kind, "backend": backend, "seconds": time.perf_counter() - start}


def probe_memory(n_rows: int) -> dict:
    """One epoch of ``fit`` on ``n_rows`` float32 rows; the memory it took.

    The rows are the 5,000 built-in images repeated, written straight into
    64-byte-aligned memory, which ``fit`` and the compiled function then use
    without copying.
    """
    from helpers import data
    from helpers.backends import aligned_empty
    from helpers.model import AutoEncoder
    from helpers.training import fit

    _import_backend(AUTO)
    images = data.prepare(data.load_mnist5k(), dtype="float32")
    before = peak_rss_mib()
    X = aligned_empty((n_rows, N_VISIBLE), "float32")
    for start in range(0, n_rows, len(images)):
        part = images[: n_rows - start]
        X[start : start + len(part)] = part
    ae = AutoEncoder(N_VISIBLE, N_HIDDEN, seed=0)
    start = time.perf_counter()
    fit(ae, X, n_epochs=1, batch_size=20, progress=False)
    return {
        "rows": n_rows,
        "data_mib": X.nbytes / 2**20,
        "before_mib": before,
        "peak_mib": peak_rss_mib(),
        "seconds": time.perf_counter() - start,
    }


def _probe(args: list[str], env: dict | None = None) -> dict:
    """Run this script with ``args`` in a fresh process; its JSON result."""
    result = subprocess.run(
        [sys.executable, __file__, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.splitlines()[-1])


def compile_times(dtype: str) -> dict:
    """Cold (empty caches) and warm (filled) compile seconds, by path kind.

    Each measurement is a fresh process whose every cache lives in a new
    temporary folder: PyTensor's compiledir (with XLA's cache inside, see
    :func:`helpers.backends.cache_dirs`) through ``PYTENSOR_FLAGS``, and
    Numba's own through ``NUMBA_CACHE_DIR``.
    """
    times = {}
    for kind in ("default", "numba per call"):
        with tempfile.TemporaryDirectory() as cache:
            env = {
                **os.environ,
                "PYTENSOR_FLAGS": f"base_compiledir={cache}",
                "NUMBA_CACHE_DIR": str(Path(cache) / "numba-own"),
            }
            runs = [
                _probe(["--probe-compile", kind, dtype], env) for _ in ("cold", "warm")
            ]
        times[kind] = {
            "backend": runs[0]["backend"],
            "cold": runs[0]["seconds"],
            "warm": runs[1]["seconds"],
        }
    return times


def print_caches() -> dict:
    import pytensor

    from helpers.backends import cache_dirs

    where = {k: str(v) for k, v in cache_dirs().items()}
    # PyTensor's Numba backend keeps its compiled functions here.
    where["numba"] = str(Path(pytensor.config.base_compiledir) / "numba")
    print("compiled code is cached between runs in:")
    for name, path in where.items():
        print(f"  {name:9s} {path}")
    return where


def memory_report() -> dict:
    """Fresh-process memory of ``fit`` on 5,000 and on 60,000 rows."""
    small, full = (_probe(["--probe-memory", str(n)]) for n in (5_000, MEMORY_ROWS))
    grown = (full["peak_mib"] - full["before_mib"]) - (
        small["peak_mib"] - small["before_mib"]
    )
    per_byte = grown / (full["data_mib"] - small["data_mib"])
    print(
        f"\nmemory, one epoch of fit on {full['rows']:,} float32 rows "
        f"(fresh process, {full['seconds']:.1f} s):\n"
        f"  data {full['data_mib']:,.0f} MiB; peak before the data "
        f"{full['before_mib']:,.0f} MiB; peak {full['peak_mib']:,.0f} MiB; "
        f"peak - before {full['peak_mib'] - full['before_mib']:,.0f} MiB\n"
        f"  against {small['rows']:,} rows: memory grows by {per_byte:.2f} bytes "
        "per byte of data (1.00 = the one copy the library holds)"
    )
    return {"small": small, "full": full, "bytes_per_data_byte": per_byte}


# -------------------------------------------------------------- targets


def targets(
    tables: list[dict], warm: float | None = None, per_byte: float | None = None
) -> list[dict]:
    """The project's float32 targets, each met or not by the measured numbers.

    ``tables`` as ``main`` collects them; ``warm`` the default path's warm
    compile seconds; ``per_byte`` the memory growth per byte of data. A
    target whose numbers were not measured (``--short``) has ``met`` None.
    """

    def table(batch):
        found = [t for t in tables if t["dtype"] == "float32" and t["batch"] == batch]
        return found[0] if found else None

    out = []

    def add(name, value, met, shown):
        out.append({"name": name, "value": value, "met": met, "shown": shown})

    t20, t256 = table(20), table(256)
    if t20 is not None:
        rates, default = t20["rates"], t20["rates"][DEFAULT_PATH]
        level = [n for n, r in rates.items() if n != DEFAULT_PATH and r >= default]
        add(
            "batch 20: default ahead of every other path",
            level,
            not level,
            "not ahead of: " + ", ".join(level) if level else "it is",
        )
        numpy_ratio = default / rates["numpy, analytic gradient"]
        add(
            f"batch 20: default / numpy >= {TARGET_VS_NUMPY}x",
            numpy_ratio,
            numpy_ratio >= TARGET_VS_NUMPY,
            f"{numpy_ratio:.2f}x",
        )
    for batch, goal, t in ((20, TARGET_BOUND_20, t20), (256, TARGET_BOUND_256, t256)):
        name = f"batch {batch}: default >= {goal:.0%} of the bound"
        if t is None:
            add(name, None, None, "not measured")
        else:
            fraction = t["rates"][DEFAULT_PATH] / t["bound"]
            shown = f"{fraction:.0%}"
            if t.get("products_alone"):
                ceiling = max(t["products_alone"].values()) / t["bound"]
                shown += f"; the products alone: {ceiling:.0%}"
            add(name, fraction, fraction >= goal, shown)
    name = f"warm compile of the default path < {TARGET_WARM:g} s"
    if warm is None:
        add(name, None, None, "not measured")
    else:
        add(name, warm, warm < TARGET_WARM, f"{warm:.2f} s")
    name = f"{MEMORY_ROWS:,} rows: one copy of the data"
    if per_byte is None:
        add(name, None, None, "not measured")
    else:
        shown = f"{per_byte:.2f} bytes per byte of data"
        add(name, per_byte, per_byte < TARGET_BYTES_PER_BYTE, shown)
    return out


def print_targets(found: list[dict]) -> None:
    print("\ntargets (float32):")
    for t in found:
        verdict = {True: "met", False: "not met", None: "-"}[t["met"]]
        print(f"  {t['name']:48s} {verdict:8s} ({t['shown']})")


def others_cpu_use(seconds: float = 1.0) -> float | None:
    """The share of all cores busy while this script waits ``seconds``.

    Read from ``/proc/stat`` (Linux; None elsewhere) before any work starts,
    so what it counts is other processes. Prints it, and a warning when it is
    above :data:`BUSY_SHARE`: on a busy machine every path slows, unevenly
    (a BLAS library's threads that spin while waiting for a core can make
    NumPy and the Numba paths ten times slower), so ratios and verdicts
    mislead.
    """

    def times():
        with open("/proc/stat") as stat:
            # user nice system idle iowait irq softirq steal; guest time
            # (the fields after) is already counted in user and nice.
            fields = [int(v) for v in stat.readline().split()[1:9]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields)

    try:
        busy0, total0 = times()
        time.sleep(seconds)
        busy1, total1 = times()
    except (OSError, ValueError, IndexError):
        return None
    share = (busy1 - busy0) / max(1, total1 - total0)
    print(f"CPU in use by other processes before the run: {share:.0%} of all cores")
    if share > BUSY_SHARE:
        print(
            "  warning: other processes are using the CPU; this run's samples/s, "
            "ratios and targets are unreliable: run it again on an idle machine"
        )
    return share


# ------------------------------------------------------------------ main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="a seconds-long run")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="timed epochs per path; the fastest counts",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    probes = parser.add_mutually_exclusive_group()
    probes.add_argument("--probe-compile", nargs=2, help=argparse.SUPPRESS)
    probes.add_argument("--probe-memory", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe_compile:
        print(json.dumps(probe_compile(*args.probe_compile)))
        return 0
    if args.probe_memory:
        print(json.dumps(probe_memory(args.probe_memory)))
        return 0

    n_rows, repeats = args.rows, args.repeats
    dtypes, batch_sizes = ("float32", "float64"), (20, 256)
    if args.short:
        n_rows, repeats, dtypes, batch_sizes = 300, 1, ("float32",), (20,)

    import platform

    import pytensor

    print(
        f"python {platform.python_version()}, numpy {np.__version__}, pytensor "
        f"{pytensor.__version__}, {os.cpu_count()} cores; "
        f"{n_rows} rows, 784-{N_HIDDEN}, lr {LR}, "
        f"{FLOP_PER_SAMPLE / 1e6:.2f} MFLOP per sample"
    )
    print(f'backend "auto" picked {AUTO}; the default path (fit) is "{DEFAULT_PATH}"')
    results = {"default_path": DEFAULT_PATH, "backend": AUTO, "rows": n_rows}
    results["others_cpu"] = others = others_cpu_use()
    results["caches"] = print_caches()
    paths = available_paths()
    differences = check_agreement(paths, min(n_rows, 1000), 20)
    results["agreement"] = differences
    results["agree"] = ok = all(d < 1e-6 for d in differences.values())
    results["tables"] = tables = []
    results["compile"] = {}
    for dtype in dtypes:
        bound = compute_bound(dtype)
        engines = ", ".join(f"{e} {g:.0f}" for e, g in bound.gflops.items())
        print(
            f"\n{dtype}: 2000x2000 matrix product GFLOP/s: {engines} -> compute "
            f"bound {bound.samples_per_second:,.0f} samples/s"
        )
        for batch in batch_sizes:
            rates, alone = time_paths(paths, dtype, batch, n_rows, repeats)
            print_table(batch, rates, bound.samples_per_second, alone)
            tables.append(
                {
                    "dtype": dtype,
                    "batch": batch,
                    "bound": bound.samples_per_second,
                    "gflops": bound.gflops,
                    "rates": rates,
                    "products_alone": alone,
                }
            )
        if not args.short:
            times = results["compile"][dtype] = compile_times(dtype)
            print("  compile + first call, fresh process (empty cache / filled):")
            for kind, t in times.items():
                label = f"{kind} ({t['backend']})"
                print(f"    {label:28s} {t['cold']:6.1f} s / {t['warm']:5.2f} s")
    if not args.short:
        results["memory"] = memory_report()
    warm = results["compile"].get("float32", {}).get("default", {}).get("warm")
    per_byte = results.get("memory", {}).get("bytes_per_data_byte")
    results["targets"] = found = targets(tables, warm, per_byte)
    print_targets(found)
    if others is not None and others > BUSY_SHARE:
        print(f"  (measured while others used {others:.0%} of the CPU: see above)")
    results["peak_mib"] = peak = peak_rss_mib()
    print(f"\npeak memory of this process: {peak:,.0f} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
