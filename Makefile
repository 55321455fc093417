# Two commands for a fresh machine: `make run` (the main job) and `make test`.
# Each makes the local virtual environment .venv the first time.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: run test notebooks lab bench bench-sparse format clean

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; found " + sys.version.split()[0] + ". Run make PYTHON=python3.12 (or another 3.11+ interpreter).")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(RUN_STAMP): $(PY) requirements.txt pyproject.toml
	$(PY) -m pip install --quiet -r requirements.txt -e .
	@touch $@

$(DEV_STAMP): $(RUN_STAMP) requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

# The main job: train on the 5,000 built-in MNIST images with the defaults.
# Pass options through ARGS, e.g. make run ARGS="--data path/to/train-images-idx3-ubyte.gz".
run: $(RUN_STAMP)
	$(PY) -m helpers train $(ARGS)

# Lint and format check, unit tests with doctests, every notebook under nbval.
test: $(DEV_STAMP)
	$(PY) -m ruff check helpers tests notebooks benchmarks
	$(PY) -m ruff format --check helpers tests notebooks benchmarks
	$(PY) -m pytest helpers tests notebooks $(NBVAL) $(PYTEST_ARGS)

# nbval in strict mode: every stored output must match a fresh run.
NBVAL := --nbval --nbval-current-env --nbval-cell-timeout=300

# One BLAS thread for tests and notebooks: float32 sums then come out the same
# whatever the number of cores, so stored notebook outputs match on other
# machines, and a busy machine does not slow spinning BLAS threads 10-fold.
test notebooks: export OPENBLAS_NUM_THREADS = 1

# The notebooks' figures from a test run go to runs/, so the committed ones
# in figures/ (written by make notebooks) stay as they are.
test: export FUN_WITH_THEANO_FIGURES = $(CURDIR)/runs/test-figures

# Re-execute every notebook in place, top to bottom (after changing a helper).
notebooks: $(DEV_STAMP)
	cd notebooks && ../$(PY) -m jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.record_timing=False *.ipynb

# Every training path side by side: samples/s, ratios, compute bound, compile
# times, peak memory (about 9 minutes).
bench: $(DEV_STAMP)
	$(PY) benchmarks/training_step.py

# Training throughput on sparse CSR minibatches against dense ones, at
# densities from 0.5% to 30%, and where the sparse path stops paying off
# (a few minutes). Pass options through ARGS, e.g. ARGS="--hidden 500".
bench-sparse: $(RUN_STAMP)
	$(PY) benchmarks/sparse_vs_dense.py $(ARGS)

# Open the notebooks in JupyterLab.
lab: $(DEV_STAMP)
	$(VENV)/bin/jupyter lab notebooks

format: $(DEV_STAMP)
	$(PY) -m ruff check --fix helpers tests notebooks benchmarks
	$(PY) -m ruff format helpers tests notebooks benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
