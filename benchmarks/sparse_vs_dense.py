"""Benchmark: training on sparse CSR minibatches against dense ones, by density.

Both paths train the same tied auto-encoder (cross-entropy per example, SGD)
from the same initial parameters on the same rows in the same order:

* sparse: :class:`helpers.sparse.SparseAutoEncoder`, the rows a SciPy CSR
  matrix, the compiled step's input a PyTensor sparse variable;
* dense: :class:`helpers.model.AutoEncoder`, the same rows as a NumPy array.

The data has the shape of the MovieLens ratings (users x movies). One line
is the real data at its own density; the others are synthetic 0/1 matrices
of that shape with uniformly placed ones, from 0.5% to 30% ones. For each
density the script times one training epoch per path (median of
``--repeats``, the two paths taking turns) and prints rows per second, the
speed-up of the sparse path, and the largest parameter difference between
the two paths after one step from the same start (float32 rounding only:
they compute the same thing; over a whole epoch SGD can magnify rounding
differences, so the check uses one step). It ends with a ``crossover:``
line saying up to which density the sparse path is faster on this machine.

Only the encoder gains from sparsity: ``x W`` and its gradient cost
nnz(x) * n_hidden instead of n_rows * n_visible * n_hidden. The decoder's
logits ``h W^T + b_v`` are dense either way.

    python benchmarks/sparse_vs_dense.py            # a few minutes
    python benchmarks/sparse_vs_dense.py --short    # a smoke test
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DENSITIES = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3)
SHORT_DENSITIES = (0.01, 0.3)
LR = 0.01


def synthetic(n_rows: int, n_cols: int, density: float, seed: int = 0):
    """A CSR 0/1 matrix with ``density`` of its entries set, uniformly."""
    import numpy as np
    import scipy.sparse

    rng = np.random.default_rng(seed)
    X = scipy.sparse.random(
        n_rows, n_cols, density=density, format="csr", rng=rng, dtype="float32"
    )
    X.data[:] = 1
    return X


def compile_steps(init: dict, dtype: str = "float32"):
    """Both models, from copies of ``init``, and their compiled SGD steps."""
    from helpers.model import AutoEncoder
    from helpers.sparse import SparseAutoEncoder
    from helpers.training import compile_train_step

    sparse_ae = SparseAutoEncoder(values=init, dtype=dtype)
    dense_ae = AutoEncoder(values=init, dtype=dtype)
    x_s, x_d = sparse_ae.input(), dense_ae.input()
    sparse_step = compile_train_step([x_s], sparse_ae.cost(x_s), sparse_ae.params, LR)
    dense_step = compile_train_step([x_d], dense_ae.cost(x_d), dense_ae.params, LR)
    return {"sparse": (sparse_ae, sparse_step), "dense": (dense_ae, dense_step)}


def one_step_difference(paths, data, init, batch_size: int) -> float:
    """Largest parameter difference after one step of each path from ``init``."""
    import numpy as np

    after = []
    for name, (model, step) in paths.items():
        model.set_values(init)
        step(data[name][:batch_size])
        after.append(model.get_values())
    return max(float(np.abs(after[0][k] - after[1][k]).max()) for k in after[0])


def measure(paths, X, init, batch_size: int, repeats: int) -> dict:
    """Median rows/s of each path over ``repeats`` epochs on the rows of ``X``.

    Each epoch starts both models from ``init`` and goes through the rows in
    a shuffled order, minibatch by minibatch, the two paths taking turns
    (which one goes first alternates), so that both meet the same machine
    load. A path's time per minibatch includes gathering its rows.
    """
    import numpy as np

    from helpers.training import minibatch_slices

    data = {"sparse": X, "dense": X.toarray()}  # dense copy: this density only
    diff = one_step_difference(paths, data, init, batch_size)
    n = X.shape[0]
    rates = {name: [] for name in paths}
    for repeat in range(repeats):
        order = np.random.default_rng(repeat).permutation(n)
        spent = dict.fromkeys(paths, 0.0)
        for model, _ in paths.values():
            model.set_values(init)
        for i, s in enumerate(minibatch_slices(n, batch_size)):
            for name in sorted(paths, reverse=bool(i % 2)):
                step = paths[name][1]
                start = time.perf_counter()
                step(data[name][order[s]])
                spent[name] += time.perf_counter() - start
        for name in paths:
            rates[name].append(n / spent[name])
    return {name: float(np.median(r)) for name, r in rates.items()} | {"diff": diff}


def crossover(rows: list[tuple[float, dict]]) -> str:
    """One line: up to which density the sparse path was the faster one."""
    wins = [(d, r["sparse"] > r["dense"]) for d, r in sorted(rows)]
    low, high = f"{wins[0][0]:.1%}", f"{wins[-1][0]:.1%}"
    if all(w for _, w in wins):
        return f"crossover: the sparse path is faster at every density, {low} to {high}"
    if not any(w for _, w in wins):
        return (
            f"crossover: none; the sparse path is slower at every density, "
            f"{low} to {high}"
        )
    n_lead = next(i for i, (_, w) in enumerate(wins) if not w)
    if n_lead and not any(w for _, w in wins[n_lead:]):
        return (
            f"crossover: the sparse path is faster up to {wins[n_lead - 1][0]:.1%} "
            f"ones and slower from {wins[n_lead][0]:.1%} on"
        )
    faster = ", ".join(f"{d:.1%}" for d, w in wins if w)
    return f"crossover: no single one; the sparse path is faster only at {faster}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="a tiny run, for tests")
    parser.add_argument("--repeats", type=int, default=None, help="epochs timed")
    parser.add_argument("--hidden", type=int, default=100, help="hidden units")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="threads for the dense matrix products (0: the library's default)",
    )
    args = parser.parse_args(argv)
    repeats = args.repeats or (2 if args.short else 5)
    if args.blas_threads > 0:  # read by OpenBLAS when NumPy is first imported
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(args.blas_threads)
    blas = args.blas_threads or os.environ.get("OPENBLAS_NUM_THREADS", "default")

    from helpers.data import load_movielens
    from helpers.params import init_params

    real = load_movielens().X
    n_rows, n_cols = real.shape
    densities = SHORT_DENSITIES if args.short else DENSITIES
    if args.short:  # fewer users; every movie, so the graphs are the real ones
        n_rows, real = 64, real[:64]
    init = init_params(n_cols, args.hidden, seed=0)

    start = time.perf_counter()
    paths = compile_steps(init)
    compile_s = time.perf_counter() - start
    measure(paths, real[:64], init, args.batch_size, 1)  # first calls: warm-up
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{n_rows} rows x {n_cols} columns, {args.hidden} hidden units, batch "
        f"{args.batch_size}, float32; median of {repeats} epochs per path"
    )
    print(
        f"{os.cpu_count()} cores, BLAS threads: {blas}, load average {load:.1f} "
        f"at the start; compiling both steps took {compile_s:.1f} s"
    )
    header = (
        f"{'data':>9} {'density':>8} {'sparse rows/s':>14} {'dense rows/s':>13} "
        f"{'sparse/dense':>13} {'1-step max |diff|':>18}"
    )
    print(header)
    print("-" * len(header))
    sweep = []
    cases = [("real", real)] + [
        ("synthetic", synthetic(n_rows, n_cols, d, seed=i))
        for i, d in enumerate(densities)
    ]
    for kind, X in cases:
        density = X.nnz / (n_rows * n_cols)
        r = measure(paths, X, init, args.batch_size, repeats)
        print(
            f"{kind:>9} {density:>8.2%} {r['sparse']:>14.0f} {r['dense']:>13.0f} "
            f"{r['sparse'] / r['dense']:>13.2f} {r['diff']:>18.1e}",
            flush=True,
        )
        if kind == "synthetic":
            sweep.append((density, r))
    print(crossover(sweep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
