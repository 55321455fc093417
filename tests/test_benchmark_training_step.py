"""benchmarks/training_step.py: its short run, its probes and its targets."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "training_step.py"


@pytest.fixture(scope="module")
def bench():
    """The benchmark script, imported as a module."""
    spec = importlib.util.spec_from_file_location("training_step", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*args, env=None):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """Output and JSON figures of ``--short``."""
    out = tmp_path_factory.mktemp("bench") / "short.json"
    stdout = _run("--short", "--json", str(out))
    return stdout, json.loads(out.read_text())


def test_the_default_path_is_the_scan_path_fit_takes(bench):
    jax_installed = importlib.util.find_spec("jax") is not None
    if not os.environ.get("FUN_WITH_THEANO_BACKEND"):
        assert bench.AUTO == ("jax" if jax_installed else "numba")
    assert bench.DEFAULT_PATH == f"pytensor scan, data held ({bench.AUTO})"
    paths = bench.available_paths()
    assert next(iter(paths)) == bench.DEFAULT_PATH
    held = [name for name in paths if name.startswith("pytensor scan, data held")]
    assert len(held) == len(set(held)) == len(bench.installed_backends())
    # Each backend's scan is also timed with W in the layout fit does not pick.
    for backend in bench.installed_backends():
        fits_choice = backend in bench.TRANSPOSED_CARRY_BACKENDS
        layout = "W as stored" if fits_choice else "W transposed"
        maker, named = paths[f"pytensor scan, {layout} ({backend})"]
        assert named == backend and maker.keywords == {
            "carry_transposed": not fits_choice
        }
    assert "numpy, analytic gradient" in paths


def test_short_run_agrees_in_float64_and_times_every_path(bench, short_run):
    stdout, figures = short_run
    assert f'backend "auto" picked {bench.AUTO}' in stdout
    others = figures["others_cpu"]
    assert 0 <= others <= 1
    assert f"CPU in use by other processes before the run: {others:.0%}" in stdout
    assert ("warning: other processes are using the CPU" in stdout) == (
        others > bench.BUSY_SHARE
    )
    assert "all paths agree to 1e-6: yes" in stdout
    assert figures["agree"] is True
    assert figures["default_path"] == bench.DEFAULT_PATH
    names = list(bench.available_paths())
    assert list(figures["agreement"]) == names
    assert all(d < 1e-6 for d in figures["agreement"].values())
    [table] = figures["tables"]
    assert (table["dtype"], table["batch"]) == ("float32", 20)
    assert list(table["rates"]) == names
    assert all(rate > 0 for rate in table["rates"].values())
    assert table["bound"] > 0 and set(table["gflops"]) >= {"numpy"}
    # The printed table: one line per path, the default at 1.00x.
    printed = stdout[stdout.index("batch 20: samples/s") :].splitlines()
    for name, rate in table["rates"].items():
        line = next(line for line in printed if line.strip().startswith(name))
        assert f"{rate:,.0f}" in line
        ratio = rate / table["rates"][bench.DEFAULT_PATH]
        assert f"{ratio:.2f}x" in line
        assert f"{rate / table['bound']:.0%}" in line
    assert f"{bench.DEFAULT_PATH:36s}" in stdout
    # Under it, the ceiling: the step's matrix products alone, per engine.
    engines = ["numpy"] + [m for m in ("jax", "torch") if bench.HAS[m]]
    assert list(table["products_alone"]) == engines
    for engine, rate in table["products_alone"].items():
        name = f"products alone ({engine})"
        line = next(line for line in printed if line.strip().startswith(name))
        assert rate > 0 and f"{rate:,.0f}" in line
        assert f"{rate / table['bound']:.0%}" in line
    assert "compiled code is cached between runs in:" in stdout
    assert "peak memory of this process:" in stdout
    assert figures["peak_mib"] > 0


def test_short_run_prints_targets_from_its_own_numbers(bench, short_run):
    stdout, figures = short_run
    found = figures["targets"]
    assert found == json.loads(json.dumps(bench.targets(figures["tables"])))
    block = stdout[stdout.index("targets (float32):") :].splitlines()[
        1 : len(found) + 1
    ]
    for target, line in zip(found, block, strict=True):
        verdict = {True: "met", False: "not met", None: "-"}[target["met"]]
        assert line.strip().startswith(target["name"])
        rest = line.strip()[len(target["name"]) :].strip()
        assert rest.split("(")[0].strip() == verdict, line
    skipped = [t["name"] for t in found if t["met"] is None]
    assert len(skipped) == 3  # batch 256, compile time and memory: not in --short


def _table(dtype, batch, rates, bound=1000.0):
    return {"dtype": dtype, "batch": batch, "bound": bound, "rates": rates}


def test_targets_compare_the_default_path_with_the_goals(bench):
    default = bench.DEFAULT_PATH
    numpy_path = "numpy, analytic gradient"
    tables = [
        _table("float32", 20, {default: 800.0, numpy_path: 500.0, "other": 900.0}),
        _table("float32", 256, {default: 900.0, numpy_path: 800.0}),
        _table("float64", 20, {default: 1.0, numpy_path: 1.0}),
    ]
    found = {t["name"]: t for t in bench.targets(tables, warm=0.5, per_byte=2.1)}
    ahead = found["batch 20: default ahead of every other path"]
    assert ahead["met"] is False and ahead["value"] == ["other"]
    assert found["batch 20: default / numpy >= 1.5x"]["met"] is True  # 1.6x
    assert found["batch 20: default >= 70% of the bound"]["met"] is True  # 80%
    assert found["batch 256: default >= 85% of the bound"]["met"] is True  # 90%
    assert found["warm compile of the default path < 1 s"]["met"] is True
    assert found["60,000 rows: one copy of the data"]["met"] is False  # two

    tables[0]["rates"] = {default: 600.0, numpy_path: 500.0}
    found = {t["name"]: t for t in bench.targets(tables[:1], warm=1.5)}
    assert found["batch 20: default ahead of every other path"]["met"] is True
    assert found["batch 20: default / numpy >= 1.5x"]["met"] is False  # 1.2x
    assert found["batch 20: default >= 70% of the bound"]["met"] is False  # 60%
    assert found["batch 256: default >= 85% of the bound"]["met"] is None
    assert found["warm compile of the default path < 1 s"]["met"] is False
    assert found["60,000 rows: one copy of the data"]["met"] is None


def test_bound_targets_show_the_ceiling_of_the_products_alone(bench):
    default = bench.DEFAULT_PATH
    rates = {default: 600.0, "numpy, analytic gradient": 300.0}
    alone = {"numpy": 650.0, "jax": 720.0}
    table = {**_table("float32", 20, rates), "products_alone": alone}
    found = {t["name"]: t for t in bench.targets([table])}
    bound = found["batch 20: default >= 70% of the bound"]
    assert bound["met"] is False and bound["value"] == pytest.approx(0.6)
    assert bound["shown"] == "60%; the products alone: 72%"  # the faster engine


@pytest.mark.parametrize("engine", ["numpy", "jax", "torch"])
def test_products_alone_trains_every_full_minibatch(bench, engine):
    if engine != "numpy" and not bench.HAS[engine]:
        pytest.skip(f"{engine} is not installed")
    X = bench.load_rows(50, "float32")
    epoch = bench.products_alone(X, 20, engine)
    assert epoch() == 40  # two full minibatches; the last 10 rows are left out
    with pytest.raises(ValueError, match="unknown engine 'cupy'"):
        bench.products_alone(X, 20, "cupy")


def test_products_alone_in_either_layout_are_the_same_products(bench):
    rng = np.random.default_rng(0)
    W, x = rng.random((7, 4)), rng.random((3, 7))
    as_stored = bench._products(W, x, transposed=False)
    flipped = bench._products(np.ascontiguousarray(W.T), x, transposed=True)
    assert as_stored.shape == (7, 4) and flipped.shape == (4, 7)
    np.testing.assert_allclose(flipped.T, as_stored, rtol=1e-12)
    h = x @ W  # the tied weight's gradient, both halves
    np.testing.assert_allclose(as_stored, x.T @ (h @ W.T @ W) + (h @ W.T).T @ h)
    X = bench.load_rows(50, "float32")
    assert bench.products_alone(X, 20, "numpy", transposed=True)() == 40


def test_a_busy_machine_is_noticed_and_named(bench, capsys):
    if os.cpu_count() * bench.BUSY_SHARE >= 0.8:
        pytest.skip("one busy core is below the busy threshold on this many cores")
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # let it start spinning
        share = bench.others_cpu_use(1.0)
    finally:
        spinner.kill()
        spinner.wait()
    # One spinning process keeps a whole core busy: 1 / cores of the machine.
    assert share >= 0.8 / os.cpu_count()
    out = capsys.readouterr().out
    assert f"CPU in use by other processes before the run: {share:.0%}" in out
    assert "warning: other processes are using the CPU" in out


def test_memory_probe_reports_the_data_and_the_peak():
    figures = json.loads(_run("--probe-memory", "2000").splitlines()[-1])
    assert figures["rows"] == 2000
    assert figures["data_mib"] == pytest.approx(2000 * 784 * 4 / 2**20)
    assert figures["peak_mib"] >= figures["before_mib"] > 0
    assert figures["seconds"] > 0


def test_compile_probe_fills_the_cache_it_is_given(bench, tmp_path):
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={tmp_path}"}
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "numba-own")
    figures = json.loads(
        _run("--probe-compile", "default", "float32", env=env).splitlines()[-1]
    )
    assert figures["kind"] == "default" and figures["backend"] == bench.AUTO
    assert figures["seconds"] > 0
    [compiledir] = tmp_path.glob("compiledir_*")
    if bench.AUTO == "jax":
        assert any((compiledir / "jax").iterdir())  # XLA's cache, inside
