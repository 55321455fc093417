"""Checkpoints: a portable model file plus what it takes to resume training.

A checkpoint is an ordinary model file (see :mod:`helpers.portable`), so any
reader can use it as a model; its ``training`` section carries one more
object, ``resume``, with the loop state (epochs and minibatches done, the
shuffling generator's state), the cost history so far and the settings of
the run. SGD keeps no optimizer state, so nothing else is needed to continue
bit for bit.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers.portable import ModelFileError, load_model, save_model
from helpers.training import History, LoopState

__all__ = [
    "Checkpoint",
    "check_free_space",
    "estimate_file_bytes",
    "load_checkpoint",
    "save_checkpoint",
]

#: Run settings recorded in a checkpoint; a resumed run uses them.
SETTINGS = (
    "data",
    "npz_key",
    "hidden",
    "epochs",
    "lr",
    "batch_size",
    "seed",
    "dtype",
    "cost",
    "convention",
    "binarize",
    "threshold",
    "valid_fraction",
    "backend",
    "mode",
)
#: Settings that checkpoints written before they existed may lack, with the
#: value that reproduces those runs.
_ADDED_SETTINGS = {"backend": "numba", "mode": None}


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns.

    Attributes
    ----------
    values : dict of str to numpy.ndarray
        ``W``, ``b_h``, ``b_v`` as saved.
    state : helpers.training.LoopState
    history : helpers.training.History
    settings : dict
        The run's settings, keyed as in :data:`SETTINGS`.
    path : pathlib.Path
    training : dict
        The file's whole ``training`` section.
    """

    values: dict[str, np.ndarray]
    state: LoopState
    history: History
    settings: dict
    path: Path
    training: dict


def save_checkpoint(
    path,
    values: dict[str, np.ndarray],
    state: LoopState,
    history: History,
    settings: dict,
    *,
    input_spec: dict,
    training: dict,
) -> Path:
    """Write a checkpoint atomically (the previous one stays until it is complete).

    Parameters
    ----------
    path : str or path-like
    values : dict of str to numpy.ndarray
        The parameters; NaN or infinite values are refused and nothing is
        written.
    state : LoopState
    history : History
    settings : dict
        At least the keys of :data:`SETTINGS`.
    input_spec, training : dict
        As for :func:`helpers.portable.save_model`; ``training`` gains the
        ``resume`` object.

    Returns
    -------
    pathlib.Path
    """
    resume = {
        "loop": state.to_json(),
        "history": {
            "train_cost": history.train_cost,
            "valid_cost": history.valid_cost,
            "seconds": history.seconds,
            "cost_label": history.cost_label,
        },
        "settings": {key: settings[key] for key in SETTINGS},
    }
    return save_model(
        path,
        values,
        cost=settings["cost"],
        convention=settings["convention"],
        input_spec=input_spec,
        training={**training, "resume": resume},
    )


def load_checkpoint(path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises
    ------
    ModelFileError
        If the file is not a valid model file, or is a model file without
        the ``resume`` object (a final model, not a checkpoint).
    """
    model = load_model(path)
    resume = model.training.get("resume")
    if not isinstance(resume, dict):
        raise ModelFileError(
            f"{path}: a model without a 'resume' object, not a checkpoint; resume "
            "from the checkpoint.json that training writes after every epoch"
        )
    try:
        state = LoopState.from_json(resume["loop"])
        h = resume["history"]
        history = History(
            train_cost=[float(v) for v in h["train_cost"]],
            valid_cost=[float(v) for v in h["valid_cost"]],
            seconds=[float(v) for v in h["seconds"]],
            cost_label=str(h["cost_label"]),
        )
        recorded = {**_ADDED_SETTINGS, **resume["settings"]}
        settings = {key: recorded[key] for key in SETTINGS}
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(
            f"{path}: the checkpoint's 'resume' object is incomplete or mistyped "
            f"({type(exc).__name__}: {exc}); resume from an intact checkpoint.json"
        ) from None
    return Checkpoint(
        values=model.params,
        state=state,
        history=history,
        settings=settings,
        path=Path(path),
        training=model.training,
    )


def estimate_file_bytes(n_visible: int, n_hidden: int, dtype: str) -> int:
    """Upper estimate of a model file's size, for the free-space check.

    Each value takes at most 16 characters in float32 and 25 in float64
    (sign, digits, exponent, comma); 64 KiB covers the metadata.

    Examples
    --------
    >>> estimate_file_bytes(784, 500, "float32") // 2**20
    6
    """
    n_values = n_visible * n_hidden + n_visible + n_hidden
    per_value = 16 if np.dtype(dtype) == np.float32 else 25
    return n_values * per_value + 65536


def check_free_space(folder, n_bytes: int) -> None:
    """Refuse to start when ``folder`` cannot hold ``n_bytes`` more.

    Raises
    ------
    ModelFileError
        Naming the folder, the space needed and the space free.
    """
    free = shutil.disk_usage(folder).free
    if free < n_bytes:
        raise ModelFileError(
            f"{folder}: only {free / 2**20:.1f} MiB free, but checkpoints and the "
            f"model need about {n_bytes / 2**20:.1f} MiB; free some space or "
            "choose another folder with --out"
        )
