"""Tests of :mod:`helpers.notebook`: figure paths, seeding, versions."""

from __future__ import annotations

import logging
import os
import platform
import random
from pathlib import Path

import numpy as np
import pytest

from helpers import notebook


@pytest.fixture
def restore_global_state():
    """Put back the generators and the logger level that ``setup`` changes."""
    py_state, np_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    logger = logging.getLogger("pytensor")
    level = logger.level
    yield
    random.setstate(py_state)
    np.random.set_state(np_state)  # noqa: NPY002
    logger.setLevel(level)


def test_figures_folder_is_beside_the_package_unless_moved():
    package = Path(notebook.__file__).resolve().parent
    assert notebook.PROJECT_DIR == package.parent
    moved = os.environ.get("FUN_WITH_THEANO_FIGURES")  # make test sets it
    expected = Path(moved) if moved else package.parent / "figures"
    assert notebook.FIGURES_DIR == expected


@pytest.mark.parametrize("name", ["05_filters", "01_loss-curve", "x"])
def test_figure_path_names(name, tmp_path, monkeypatch):
    folder = tmp_path / "figures"
    monkeypatch.setattr(notebook, "FIGURES_DIR", folder)
    path = notebook.figure_path(name)
    assert path == folder / f"{name}.png"
    assert path.name == f"{name}.png"
    assert folder.is_dir()  # created on first use
    assert not path.exists()  # only the folder; the notebook writes the file


def _draws(generator):
    return (random.random(), np.random.random(), generator.random(3))  # noqa: NPY002


def test_setup_seeds_every_generator_reproducibly(restore_global_state):
    first = _draws(notebook.setup(7))
    again = _draws(notebook.setup(7))
    other = _draws(notebook.setup(8))
    assert first[0] == again[0]
    assert first[1] == again[1]
    np.testing.assert_array_equal(first[2], again[2])
    assert first[0] != other[0]
    assert first[1] != other[1]
    assert not np.array_equal(first[2], other[2])
    np.testing.assert_array_equal(first[2], np.random.default_rng(7).random(3))


def test_setup_quiets_pytensor(restore_global_state):
    logging.getLogger("pytensor").setLevel(logging.DEBUG)
    generator = notebook.setup()
    assert isinstance(generator, np.random.Generator)
    assert logging.getLogger("pytensor").level == logging.ERROR


def test_versions_name_python_and_the_packages():
    found = notebook.versions()
    assert found["python"] == platform.python_version()
    for name in ("pytensor", "numpy", "numba", "mlxtend", "matplotlib"):
        assert found[name]
    assert found["numpy"] == np.__version__
