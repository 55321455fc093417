"""Benchmark: one SGD epoch of the 784-500 tied auto-encoder, every path side by side.

Every path trains the same model (cross-entropy per example, SGD, learning
rate 0.1) from the same initial parameters over the same rows of real
binarized MNIST in the same order, so the numbers compare like with like:

* the project's PyTensor paths: minibatch arrays passed on every call (the
  classic recipe), row numbers passed and the rows gathered inside the
  compiled function, and several steps per call in a ``scan`` loop; on the
  default (Numba) backend, plus the C backend and JAX mode when available;
* hand-written NumPy with the analytic gradient;
* PyTorch (eager) and JAX (``jit`` of one step; many steps in one
  ``lax.scan`` call), when installed.

It first checks in float64 that every path reaches the same epoch cost as
NumPy (to 1e-6, relative), then times each path (median of ``--repeats``
epochs) in float32 and float64 at batch sizes 20 and 256, and prints samples
per second, the ratio to the project's default path and the fraction of the
compute bound measured in the same run: one step costs 5 matrix products of
2*B*784*500 flops (3.92 MFLOP per sample), and a large matrix product's
GFLOP/s divided by that is the fastest any path could go. It also prints
the cold and warm compile time of the default path (in fresh processes with
an empty and a filled cache) and the peak memory of this process.

    python benchmarks/training_step.py            # about 5 minutes
    python benchmarks/training_step.py --short    # float32, batch 20, 300 rows
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N_VISIBLE, N_HIDDEN, LR = 784, 500, 0.1
FLOP_PER_SAMPLE = 5 * 2 * N_VISIBLE * N_HIDDEN  # 3.92 MFLOP
SCAN_STEPS = 25
# The path helpers.training.fit takes.
DEFAULT_PATH = "pytensor arrays per call (numba)"


def load_rows(n: int, dtype: str) -> np.ndarray:
    """``n`` rows of binarized real MNIST (repeated past 5,000), seeded order."""
    from helpers import data

    X = data.prepare(data.load_mnist5k(), dtype=dtype)
    X = np.concatenate([X] * (n // len(X) + 1))[:n]
    return np.ascontiguousarray(X[np.random.default_rng(0).permutation(n)])


def batches(n: int, batch: int) -> list[slice]:
    return [slice(i, min(i + batch, n)) for i in range(0, n, batch)]


# ----------------------------------------------------------------- paths
# Each maker returns ``epoch(X) -> mean cost over the rows``, training the
# parameters it was given in place, in the order of the rows.


def _sliced_epoch(step, n_rows: int, batch: int, take):
    """An epoch calling ``step(take(X, s))`` on consecutive minibatch slices."""
    slices = batches(n_rows, batch)

    def epoch(X):
        total = 0.0
        for s in slices:
            total += float(step(take(X, s))) * (s.stop - s.start)
        return total / n_rows

    return epoch


def pytensor_arrays(params, X, batch, mode=None):
    from helpers.model import AutoEncoder
    from helpers.training import compile_train_step

    ae = AutoEncoder(values=params, dtype=X.dtype)
    x = ae.input()
    step = compile_train_step([x], ae.cost(x), ae.params, LR, mode=mode)
    step.trust_input = True
    return _sliced_epoch(step, len(X), batch, lambda X, s: X[s])


def pytensor_indexed(params, X, batch, mode=None):
    import pytensor

    from helpers.model import AutoEncoder
    from helpers.steps import compile_indexed_step

    ae = AutoEncoder(values=params, dtype=X.dtype)
    X_shared = pytensor.shared(X, borrow=True)
    step = compile_indexed_step(ae.cost, ae.params, X_shared, LR, mode=mode)
    rows = np.arange(len(X), dtype=np.int64)
    return _sliced_epoch(step, len(X), batch, lambda X, s: rows[s])


def pytensor_scan(params, X, batch, mode=None):
    import pytensor

    from helpers.model import AutoEncoder
    from helpers.steps import compile_indexed_step, compile_scan_steps

    ae = AutoEncoder(values=params, dtype=X.dtype)
    X_shared = pytensor.shared(X, borrow=True)
    many = compile_scan_steps(ae.cost, ae.params, X_shared, LR, mode=mode)
    one = compile_indexed_step(ae.cost, ae.params, X_shared, LR, mode=mode)
    n_full = len(X) // batch
    n_chunks = n_full // SCAN_STEPS
    chunk = SCAN_STEPS * batch
    rows = np.arange(len(X), dtype=np.int64)
    chunks = [
        rows[i * chunk : (i + 1) * chunk].reshape(SCAN_STEPS, batch)
        for i in range(n_chunks)
    ]
    rest = batches(len(X) - n_chunks * chunk, batch)
    offset = n_chunks * chunk

    def epoch(X):
        total = 0.0
        for idx in chunks:
            total += float(np.sum(many(idx))) * batch
        for s in rest:
            total += float(one(rows[offset + s.start : offset + s.stop])) * (
                s.stop - s.start
            )
        return total / len(X)

    return epoch


def _sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def numpy_analytic(params, X, batch, mode=None):
    p = {k: params[k].copy() for k in ("W", "b_h", "b_v")}
    lr = X.dtype.type(LR)
    slices = batches(len(X), batch)

    def epoch(X):
        W, b_h, b_v = p["W"], p["b_h"], p["b_v"]  # updated in place below
        total = 0.0
        for s in slices:
            x = X[s]
            h = _sigmoid(x @ W + b_h)
            z = h @ W.T + b_v
            total += float(np.sum(np.logaddexp(0, z) - x * z))
            dz = (_sigmoid(z) - x) / len(x)
            dh = (dz @ W) * h * (1 - h)
            W -= lr * (x.T @ dh + dz.T @ h)
            b_h -= lr * dh.sum(axis=0)
            b_v -= lr * dz.sum(axis=0)
        return total / len(X)

    return epoch


def torch_eager(params, X, batch, mode=None):
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    W, b_h, b_v = (
        torch.tensor(params[k], requires_grad=True) for k in ("W", "b_h", "b_v")
    )
    Xt = torch.from_numpy(X)
    slices = batches(len(X), batch)

    def epoch(_X):
        total = 0.0
        for s in slices:
            x = Xt[s]
            z = torch.sigmoid(x @ W + b_h) @ W.T + b_v
            cost = (torch.nn.functional.softplus(z) - x * z).sum(dim=1).mean()
            cost.backward()
            with torch.no_grad():
                for p in (W, b_h, b_v):
                    p -= LR * p.grad
                    p.grad = None
            total += float(cost) * (s.stop - s.start)
        return total / len(X)

    return epoch


def _jax_cost():
    import jax
    import jax.numpy as jnp

    def cost(p, x):
        z = jax.nn.sigmoid(x @ p[0] + p[1]) @ p[0].T + p[2]
        return jnp.mean(jnp.sum(jax.nn.softplus(z) - x * z, axis=1))

    def step(p, x):
        c, g = jax.value_and_grad(cost)(p, x)
        return tuple(pi - LR * gi for pi, gi in zip(p, g, strict=True)), c

    return step


def jax_jit(params, X, batch, mode=None):
    import jax

    step = jax.jit(_jax_cost())
    state = {"p": tuple(jax.numpy.asarray(params[k]) for k in ("W", "b_h", "b_v"))}
    Xj = jax.numpy.asarray(X)
    slices = batches(len(X), batch)

    def epoch(_X):
        total = 0.0
        for s in slices:
            state["p"], c = step(state["p"], Xj[s])
            total += float(c) * (s.stop - s.start)
        return total / len(X)

    return epoch


def jax_scan(params, X, batch, mode=None):
    import jax

    step = _jax_cost()
    many = jax.jit(lambda p, xs: jax.lax.scan(step, p, xs))
    one = jax.jit(step)
    state = {"p": tuple(jax.numpy.asarray(params[k]) for k in ("W", "b_h", "b_v"))}
    n_full = len(X) // batch
    Xj = jax.numpy.asarray(X[: n_full * batch].reshape(n_full, batch, -1))
    rest = jax.numpy.asarray(X[n_full * batch :])

    def epoch(_X):
        state["p"], costs = many(state["p"], Xj)
        total = float(costs.sum()) * batch
        if len(rest):
            state["p"], c = one(state["p"], rest)
            total += float(c) * len(rest)
        return total / len(X)

    return epoch


def available_paths() -> dict:
    """Path name -> (maker, mode); the first is the project's default path."""
    import importlib.util

    project = {
        "pytensor scan (numba)": (pytensor_scan, "NUMBA"),
        "pytensor rows indexed (numba)": (pytensor_indexed, "NUMBA"),
        "pytensor arrays per call (numba)": (pytensor_arrays, "NUMBA"),
        "pytensor arrays per call (C)": (pytensor_arrays, "CVM"),
    }
    paths = {DEFAULT_PATH: project.pop(DEFAULT_PATH), **project}  # default first
    has = {m: importlib.util.find_spec(m) is not None for m in ("jax", "torch")}
    if has["jax"]:
        paths["pytensor arrays per call (JAX)"] = (pytensor_arrays, "JAX")
    paths["numpy, analytic gradient"] = (numpy_analytic, None)
    if has["torch"]:
        paths["pytorch eager"] = (torch_eager, None)
    if has["jax"]:
        paths["jax jit, one step per call"] = (jax_jit, None)
        paths["jax lax.scan, many steps per call"] = (jax_scan, None)
    return paths


# ------------------------------------------------------------ measuring


def matmul_gflops(dtype: str, n: int = 2000, repeats: int = 5) -> float:
    rng = np.random.default_rng(0)
    a, b = (rng.random((n, n)).astype(dtype) for _ in range(2))
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / np.median(times) / 1e9


def initial_params(dtype: str, n_hidden: int) -> dict:
    from helpers.params import init_params

    return init_params(N_VISIBLE, n_hidden, seed=0, dtype=dtype)


def check_agreement(paths: dict, n_rows: int, n_hidden: int, batch: int) -> bool:
    """Every path's first-epoch cost in float64 against NumPy's, to 1e-6."""
    X = load_rows(n_rows, "float64")
    params = initial_params("float64", n_hidden)
    reference = numpy_analytic(params, X, batch)(X)
    print(f"float64 agreement, one epoch of {n_rows} rows, batch {batch}:")
    ok = True
    for name, (maker, mode) in paths.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # C backend's missing-BLAS notice
            cost = maker(params, X, batch, mode)(X)
        rel = abs(cost - reference) / abs(reference)
        ok &= rel < 1e-6
        print(f"  {name:36s} cost {cost:.10f}  rel. diff {rel:.1e}")
    print(f"  all paths agree to 1e-6: {'yes' if ok else 'NO'}")
    return ok


def time_paths(paths, dtype, batch, n_rows, n_hidden, repeats) -> list[tuple]:
    X = load_rows(n_rows, dtype)
    params = initial_params(dtype, n_hidden)
    rows = []
    for name, (maker, mode) in paths.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # C backend's missing-BLAS notice
            epoch = maker(params, X, batch, mode)
            epoch(X)  # compile and warm up
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                epoch(X)
                times.append(time.perf_counter() - start)
        rows.append((name, n_rows / np.median(times)))
    return rows


COMPILE_SNIPPET = """
import time, numpy as np, pytensor
from helpers.model import AutoEncoder
from helpers.training import compile_train_step
start = time.perf_counter()
ae = AutoEncoder(784, {n_hidden}, dtype="{dtype}")
x = ae.input()
step = compile_train_step([x], ae.cost(x), ae.params, 0.1)
step(np.zeros((20, 784), dtype="{dtype}"))
print(time.perf_counter() - start)
"""


def compile_times(dtype: str, n_hidden: int) -> tuple[float, float]:
    """Cold (empty cache) and warm compile time of the default path, in seconds."""
    code = COMPILE_SNIPPET.format(dtype=dtype, n_hidden=n_hidden)
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={cache}"}
        times = [
            float(
                subprocess.run(
                    [sys.executable, "-c", code],
                    env=env,
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.split()[-1]
            )
            for _ in range(2)
        ]
    return times[0], times[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="a seconds-long run")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    n_rows, n_hidden, repeats = args.rows, N_HIDDEN, args.repeats
    dtypes, batch_sizes = ("float32", "float64"), (20, 256)
    if args.short:
        n_rows, repeats, dtypes, batch_sizes = 300, 1, ("float32",), (20,)

    import platform

    import pytensor

    print(
        f"python {platform.python_version()}, numpy {np.__version__}, pytensor "
        f"{pytensor.__version__}, {os.cpu_count()} cores; "
        f"{n_rows} rows, 784-{n_hidden}, lr {LR}"
    )
    paths = available_paths()
    ok = check_agreement(paths, min(n_rows, 1000), n_hidden, 20)
    results = {"agree": ok, "tables": []}
    for dtype in dtypes:
        gflops = matmul_gflops(dtype)
        bound = gflops * 1e9 / FLOP_PER_SAMPLE
        print(
            f"\n{dtype}: 2000x2000 matrix product {gflops:.0f} GFLOP/s -> compute "
            f"bound {bound:,.0f} samples/s"
        )
        cold = warm = None
        if not args.short:
            cold, warm = compile_times(dtype, n_hidden)
            print(
                f"  default path: compiled in {cold:.1f} s with an empty cache, "
                f"{warm:.1f} s with a filled one"
            )
        for batch in batch_sizes:
            rows = time_paths(paths, dtype, batch, n_rows, n_hidden, repeats)
            base = rows[0][1]
            print(f"  batch {batch}: samples/s   vs default   of bound")
            for name, rate in rows:
                print(
                    f"    {name:36s} {rate:9,.0f}   {rate / base:6.2f}x   "
                    f"{rate / bound:6.0%}"
                )
            results["tables"].append(
                {
                    "dtype": dtype,
                    "batch": batch,
                    "bound": bound,
                    "cold_compile": cold,
                    "warm_compile": warm,
                    "rates": dict(rows),
                }
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory of this process: {peak:,.0f} MiB")
    results["peak_mib"] = peak
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
