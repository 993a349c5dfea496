"""The recommendation data contract: validation of pairs, feedback, propensities; recommend()."""

import pickle

import numpy as np
import pandas as pd
import pytest

from skultr.recommendation import (
    aggregate_duplicates,
    check_interactions,
    check_propensity,
    interaction_matrix,
)
from skultr.recommendation._data import BaseRecommender


class _Fixed(BaseRecommender):
    """A recommender whose scores are a fixed user x item matrix (for testing the base)."""

    def __init__(self, scores=None, cold_start="error"):
        self.scores = scores
        self.cold_start = cold_start

    def fit(self, X, y=None):
        n_users, n_items = self.scores.shape
        users, items, _ = self._fit_pairs(X, y, n_users=n_users, n_items=n_items)
        self._fit_catalogue(users, items)
        return self

    def _score_users(self, users):
        return self.scores[users]

    def _score_pairs(self, users, items):
        return self.scores[users, items]


def test_check_interactions_accepts_arrays_floats_and_dataframes():
    users, items, y = check_interactions(np.array([[0.0, 3.0], [2.0, 1.0]]), [1, 0])
    assert users.dtype == np.int64 and items.tolist() == [3, 1] and y.dtype == np.float64
    frame = pd.DataFrame({"user": [4, 5], "item": [0, 1]})
    users, items, y = check_interactions(frame)
    assert users.tolist() == [4, 5] and y is None


@pytest.mark.parametrize(
    ("X", "y", "kwargs", "match"),
    [
        ([[0, 1, 2]], None, {}, r"shape \(n_pairs, 2\)"),
        (np.zeros((0, 2)), None, {}, "empty"),
        ([[0, -1]], None, {}, r"X\[:, 1\].*entry 0 is -1"),
        ([[0.5, 1]], None, {}, r"X\[:, 0\].*entry 0 is 0.5"),
        ([[0, 1], [1, np.nan]], None, {}, r"entry 1 is nan"),
        (np.array([[True, False]]), None, {}, "dtype bool"),
        (np.array([["a", 1], [2, 1]], dtype=object), None, {}, "mixes id types"),
        ([[None, 1]], None, {}, r"entry 0 is None"),
        (np.array([["a", 1]], dtype=object), None, {"n_users": 3}, "not integers"),
        ([[0, 1], [3, 1]], None, {"n_users": 3}, r"user id 3 \(row 1\).*n_users=3"),
        ([[0, 5]], None, {"n_items": 5}, r"item id 5 .*n_items=5"),
        ([[0, 1], [1, 1]], [1.0, np.nan], {}, r"y must be finite; entry 1 is nan"),
        ([[0, 1]], [1.0, 0.0], {}, "y has 2 entries but X has 1"),
        ([[0, 1]], None, {"n_users": 0}, "n_users must be a positive integer"),
    ],
)
def test_check_interactions_rejects_bad_input(X, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_interactions(X, y, **kwargs)


def test_check_interactions_rejects_sparse_with_a_hint():
    import scipy.sparse as sp

    with pytest.raises(ValueError, match="nonzero"):
        check_interactions(sp.csr_matrix(np.eye(2)))


@pytest.mark.parametrize(("how", "expected"), [("max", [4.0, 5.0]), ("mean", [3.0, 5.0])])
def test_aggregate_duplicates(how, expected):
    users, items, y, n_dup = aggregate_duplicates(
        np.array([1, 0, 0]), np.array([0, 1, 1]), np.array([5.0, 2.0, 4.0]), how=how
    )
    assert users.tolist() == [0, 1] and items.tolist() == [1, 0]
    assert y.tolist() == expected and n_dup == 1
    _, _, y_sum, _ = aggregate_duplicates([1, 0, 0], [0, 1, 1], [5.0, 2.0, 4.0], how="sum")
    assert y_sum.tolist() == [6.0, 5.0]
    with pytest.raises(ValueError, match="how must be one of"):
        aggregate_duplicates([0], [0], how="median")


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, np.nan, np.inf])
def test_check_propensity_rejects_values_outside_unit_interval(bad):
    with pytest.raises(ValueError, match=r"theta must hold probabilities in \(0, 1\]; entry 1"):
        check_propensity([0.3, bad], name="theta")
    with pytest.raises(ValueError, match=r"entry \(1, 0\)"):
        check_propensity([[0.3, 1.0], [bad, 0.2]], name="theta")


def test_interaction_matrix_sums_repeats():
    matrix = interaction_matrix([0, 0, 1], [1, 1, 2], [1.0, 2.0, 4.0], shape=(2, 3))
    assert matrix.toarray().tolist() == [[0.0, 3.0, 0.0], [0.0, 0.0, 4.0]]


def test_recommend_orders_excludes_seen_and_pads():
    scores = np.array([[0.1, 0.9, 0.5, 0.3], [0.4, 0.2, 0.8, 0.6]])
    model = _Fixed(scores).fit([[0, 1], [1, 2], [1, 3]])
    items, top = model.recommend([0, 1], n=2)
    assert items.tolist() == [[2, 3], [0, 1]]
    np.testing.assert_allclose(top, [[0.5, 0.3], [0.4, 0.2]])
    items, _ = model.recommend([0], n=2, exclude_seen=False)
    assert items.tolist() == [[1, 2]]
    items, top = model.recommend([1], n=6)
    assert items.tolist() == [[0, 1, -1, -1, -1, -1]]
    assert np.isneginf(top[0, 2:]).all()
    restored = pickle.loads(pickle.dumps(model))
    assert restored.recommend([0], n=1)[0].tolist() == [[2]]


def test_recommend_and_predict_reject_unknown_ids():
    model = _Fixed(np.zeros((2, 3))).fit([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match=r"user id 5 \(entry 1 of users\) is a cold user"):
        model.recommend([0, 5])
    with pytest.raises(ValueError, match="n must be a positive integer"):
        model.recommend([0], n=0)
    with pytest.raises(ValueError, match="item id 3 .*not in the training catalogue"):
        model.predict([[0, 3]])
    assert model.predict([[1, 2]]).tolist() == [0.0]


@pytest.mark.parametrize("biases", [False, True])
@pytest.mark.parametrize("exclude_seen", [True, False])
def test_blocked_recommend_equals_one_block(monkeypatch, biases, exclude_seen):
    # recommend() in blocks of 3 users (on the model's device, torch) returns what one
    # block over all users returns, and what the numpy path of _score_users returns,
    # seen items excluded per block and cold users (popularity fallback) included.
    from skultr.recommendation import _data

    class _Factors(_Fixed):
        _factor_scores = True

    rng = np.random.default_rng(0)
    n_users, n_items = 17, 40
    model = _Factors(np.zeros((n_users, n_items)), cold_start="popularity")
    pairs = np.column_stack([rng.integers(0, n_users - 2, 200), rng.integers(0, n_items, 200)])
    model.fit(pairs)  # users 15 and 16 have no pair: cold
    model.user_factors_ = rng.standard_normal((n_users, 4))
    model.item_factors_ = rng.standard_normal((n_items, 4))
    model.biases = biases
    model.user_bias_ = rng.standard_normal(n_users)
    model.item_bias_ = rng.standard_normal(n_items)
    model.scores = model.user_factors_ @ model.item_factors_.T
    if biases:
        model.scores = model.scores + model.user_bias_[:, None] + model.item_bias_[None, :]
    users = np.r_[np.arange(n_users), [3, 16]]

    def run(cells, factor_scores):
        monkeypatch.setattr(_data, "RECOMMEND_CHUNK_CELLS", cells)
        model._factor_scores = factor_scores
        with pytest.warns(UserWarning, match="cold user"):
            return model.recommend(users, n=8, exclude_seen=exclude_seen)

    one_items, one_scores = run(10**9, False)
    for cells, factor_scores in ((3 * n_items, True), (3 * n_items, False), (10**9, True)):
        items, scores = run(cells, factor_scores)
        # the cold users' popularity scores tie (counts): their items may swap among ties
        warm = users < n_users - 2
        np.testing.assert_array_equal(items[warm], one_items[warm])
        np.testing.assert_allclose(scores, one_scores, rtol=1e-12)
    if exclude_seen:
        seen = model.seen_.toarray()
        assert not seen[users[:, None], one_items].any()
