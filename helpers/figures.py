"""Figures: loss curves, learned filters as a tile image, reconstructions.

Each ``plot_*`` function draws on a new Matplotlib figure and returns it;
pass ``path`` to also save it as PNG. The backend is Matplotlib's choice
(the command-line tools pick the non-interactive ``Agg``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["plot_filters", "plot_loss", "plot_reconstructions", "tile_images"]


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def _finish(fig, path: str | os.PathLike | None, *, bottom: float = 0.0):
    fig.tight_layout(rect=(0.0, bottom, 1.0, 1.0))
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
    return fig


def tile_images(
    images: np.ndarray,
    image_shape: tuple[int, int],
    n_cols: int | None = None,
    *,
    spacing: int = 1,
    scale_each: bool = True,
) -> np.ndarray:
    """Arrange flattened images in a grid, one tile per row of ``images``.

    Parameters
    ----------
    images : numpy.ndarray, shape (n_images, rows * cols)
    image_shape : (rows, cols)
    n_cols : int, optional
        Tiles per grid row; defaults to a near-square grid.
    spacing : int
        Pixels of background between tiles.
    scale_each : bool
        Stretch each tile to [0, 1] on its own (right for filters, whose
        ranges differ); otherwise values are only clipped to [0, 1].

    Returns
    -------
    numpy.ndarray, 2-D, float64 in [0, 1]
        Background between tiles is 0.

    Examples
    --------
    >>> tile_images(np.arange(8.0).reshape(2, 4), (2, 2), n_cols=2).shape
    (2, 5)
    """
    images = np.asarray(images, dtype=np.float64)
    rows, cols = image_shape
    if images.ndim != 2 or images.shape[1] != rows * cols:
        raise ValueError(
            f"images of shape {images.shape} are not rows of {rows}x{cols} pixels"
        )
    n = images.shape[0]
    n_cols = n_cols or int(np.ceil(np.sqrt(n)))
    n_rows = int(np.ceil(n / n_cols))
    out = np.zeros(
        (n_rows * (rows + spacing) - spacing, n_cols * (cols + spacing) - spacing)
    )
    for i, img in enumerate(images):
        if scale_each:
            low, high = img.min(), img.max()
            img = (img - low) / (high - low) if high > low else np.zeros_like(img)
        else:
            img = np.clip(img, 0.0, 1.0)
        r, c = divmod(i, n_cols)
        top, left = r * (rows + spacing), c * (cols + spacing)
        out[top : top + rows, left : left + cols] = img.reshape(rows, cols)
    return out


def plot_loss(history, path=None, *, title: str | None = None):
    """Training (and validation) cost per epoch from a ``History``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = np.arange(1, history.n_epochs + 1)
    ax.plot(epochs, history.train_cost, marker="o", label="training")
    if history.valid_cost:
        ax.plot(epochs, history.valid_cost, marker="s", label="validation")
    ax.set_xlabel("epoch")
    # "cross-entropy per example (summed over ...)": the axis gets the name,
    # the caption below the plot the rest.
    name, _, detail = (history.cost_label or "cost").partition(" (")
    ax.set_ylabel(name)
    if detail:
        fig.text(0.5, 0.01, f"({detail}", ha="center", fontsize=8)
    ax.legend()
    ax.grid(alpha=0.3)
    ax.set_title(title or "Learning curve")
    return _finish(fig, path, bottom=0.04 if detail else 0.0)


def plot_filters(
    W: np.ndarray,
    image_shape: tuple[int, int],
    path=None,
    *,
    n_filters: int = 100,
    title: str | None = None,
):
    """The first ``n_filters`` columns of ``W`` as images, one tile each.

    Parameters
    ----------
    W : numpy.ndarray, shape (n_visible, n_hidden)
        ``n_visible`` must equal ``rows * cols`` of ``image_shape``.
    """
    plt = _pyplot()
    tiles = tile_images(np.asarray(W).T[:n_filters], image_shape)
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(tiles, cmap="gray", interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title or f"First {min(n_filters, W.shape[1])} filters (columns of W)")
    return _finish(fig, path)


def plot_reconstructions(
    X: np.ndarray,
    X_hat: np.ndarray,
    image_shape: tuple[int, int],
    path=None,
    *,
    n: int = 10,
    title: str | None = None,
):
    """Originals (top row) above their reconstructions (bottom row)."""
    plt = _pyplot()
    n = min(n, len(X))
    fig, axes = plt.subplots(2, n, figsize=(1.2 * n, 2.8), squeeze=False)
    for i in range(n):
        for row, images in enumerate((X, X_hat)):
            ax = axes[row, i]
            ax.imshow(
                np.asarray(images[i]).reshape(image_shape),
                cmap="gray",
                vmin=0,
                vmax=1,
                interpolation="nearest",
            )
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("input")
    axes[1, 0].set_ylabel("output")
    fig.suptitle(title or "Originals and reconstructions")
    return _finish(fig, path)
