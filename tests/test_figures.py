"""Tests of :mod:`helpers.figures`: the tile image and the three PNG figures."""

from __future__ import annotations

import math

import matplotlib
import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers.figures import plot_filters, plot_loss, plot_reconstructions, tile_images
from helpers.model import describe_cost
from helpers.training import History

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _assert_png_with_content(path):
    assert path.read_bytes()[:8] == PNG_MAGIC
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3
    assert pixels.shape[0] > 50 and pixels.shape[1] > 50
    assert pixels[..., :3].std() > 0  # not a blank canvas


def test_backend_is_agg():
    assert matplotlib.get_backend().lower() == "agg"


# --- tile_images -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "image_shape", "n_cols", "spacing"),
    [(2, (2, 2), 2, 1), (10, (3, 4), None, 1), (7, (5, 5), 3, 2), (1, (4, 2), None, 0)],
)
def test_tile_grid_shape(n, image_shape, n_cols, spacing):
    rows, cols = image_shape
    images = np.random.default_rng(0).random((n, rows * cols))
    tiled = tile_images(images, image_shape, n_cols, spacing=spacing)
    grid_cols = n_cols or math.ceil(math.sqrt(n))
    grid_rows = math.ceil(n / grid_cols)
    assert tiled.shape == (
        grid_rows * rows + (grid_rows - 1) * spacing,
        grid_cols * cols + (grid_cols - 1) * spacing,
    )
    assert tiled.dtype == np.float64


def test_tiles_are_placed_row_major_and_scaled_each():
    rows, cols, n = 2, 3, 5
    # Tile i: one bright pixel at position i, on a range of its own.
    images = np.stack([np.eye(rows * cols)[i] * (i + 1) - 3 * i for i in range(n)])
    tiled = tile_images(images, (rows, cols), n_cols=2, spacing=1)
    assert tiled.shape == (3 * 2 + 2, 2 * 3 + 1)
    for i in range(n):
        r, c = divmod(i, 2)  # row-major: left to right, then down
        tile = tiled[r * 3 : r * 3 + rows, c * 4 : c * 4 + cols]
        np.testing.assert_array_equal(tile, np.eye(rows * cols)[i].reshape(2, 3))
    # Background: the spacing rows and columns, and the empty sixth slot.
    np.testing.assert_array_equal(tiled[[2, 5], :], 0.0)
    np.testing.assert_array_equal(tiled[:, 3], 0.0)
    np.testing.assert_array_equal(tiled[6:8, 4:7], 0.0)


def test_tiles_clipped_without_scaling():
    images = np.array([[-1.0, 0.3, 2.0, 1.0]])
    tiled = tile_images(images, (2, 2), scale_each=False)
    np.testing.assert_allclose(tiled, [[0.0, 0.3], [1.0, 1.0]])


def test_constant_tile_becomes_background():
    tiled = tile_images(np.full((1, 4), 7.0), (2, 2))
    np.testing.assert_array_equal(tiled, 0.0)


@pytest.mark.parametrize("images", [np.zeros((3, 5)), np.zeros(4), np.zeros((2, 2, 2))])
def test_tile_refuses_the_wrong_width(images):
    with pytest.raises(ValueError, match="not rows of 2x2 pixels"):
        tile_images(images, (2, 2))


# --- the PNG figures ----------------------------------------------------------------


@pytest.mark.parametrize("with_valid", [True, False])
def test_plot_loss_writes_png(tmp_path, with_valid):
    history = History(
        train_cost=[90.0, 80.0, 75.0],
        valid_cost=[88.0, 81.0, 79.0] if with_valid else [],
        cost_label=describe_cost("cross_entropy", "per_example", 784),
    )
    path = tmp_path / "nested" / "loss.png"
    fig = plot_loss(history, path)
    _assert_png_with_content(path)
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == (["training", "validation"] if with_valid else ["training"])
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), history.train_cost)
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [1, 2, 3])
    # The axis names the cost; a caption under the plot says how it is reduced.
    assert ax.get_ylabel() == "cross-entropy per example"
    captions = [text.get_text() for text in fig.texts]
    assert "(summed over 784 inputs, mean over examples)" in captions


def test_plot_loss_label_without_detail():
    fig = plot_loss(History(train_cost=[1.0, 0.5]))
    assert fig.axes[0].get_ylabel() == "cost"
    assert fig.texts == []


def test_plot_loss_without_a_path_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fig = plot_loss(History(train_cost=[1.0]), title="t")
    assert fig.axes[0].get_title() == "t"
    assert list(tmp_path.iterdir()) == []


def test_plot_filters_writes_png(tmp_path):
    W = np.random.default_rng(1).normal(size=(36, 20))
    path = tmp_path / "filters.png"
    fig = plot_filters(W, (6, 6), path, n_filters=9)
    _assert_png_with_content(path)
    shown = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(shown, tile_images(W.T[:9], (6, 6)))
    assert "9 filters" in fig.axes[0].get_title()
    fig = plot_filters(W, (6, 6), n_filters=100)
    assert "20 filters" in fig.axes[0].get_title()


def test_plot_reconstructions_writes_png(tmp_path):
    rng = np.random.default_rng(2)
    X, X_hat = rng.random((4, 16)) < 0.5, rng.random((4, 16))
    path = tmp_path / "recon.png"
    fig = plot_reconstructions(X, X_hat, (4, 4), path, n=10)
    _assert_png_with_content(path)
    image_axes = [ax for ax in fig.axes if ax.images]
    assert len(image_axes) == 2 * 4  # n is capped by the rows given
    np.testing.assert_allclose(
        image_axes[4 + 1].images[0].get_array(), X_hat[1].reshape(4, 4)
    )
