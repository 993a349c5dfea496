"""``partial_fit`` of the implicit-feedback factor models: one epoch per shard of the log."""

import re

import numpy as np
import pytest

from skultr.datasets import make_mnar_implicit_feedback
from skultr.recommendation import (
    BPRRecommender,
    ImplicitMFRecommender,
    RelMFRecommender,
    WMFRecommender,
)

SMALL = {"n_factors": 4, "device": "cpu", "random_state": 0}
MODELS = [
    pytest.param(RelMFRecommender, {"solver": "als", "tol": 0.0}, id="relmf-als"),
    pytest.param(WMFRecommender, {"tol": 0.0}, id="wmf-als"),
    pytest.param(ImplicitMFRecommender, {"solver": "als", "tol": 0.0}, id="mf-als"),
    pytest.param(RelMFRecommender, {"solver": "stochastic", "loss": "logistic"}, id="relmf-sgd"),
    pytest.param(ImplicitMFRecommender, {"solver": "stochastic"}, id="mf-sgd"),
    pytest.param(BPRRecommender, {}, id="bpr"),
]


@pytest.fixture(scope="module")
def log():
    return make_mnar_implicit_feedback(n_users=60, n_items=40, random_state=0).X


@pytest.mark.parametrize("cls, params", MODELS)
def test_partial_fit_on_the_whole_log_is_fit(cls, params, log):
    # Each call is one epoch: K calls on the whole log are one fit of K epochs (ALS sweeps
    # are exact; the stochastic epochs draw from the same ("sample", epoch) streams).
    n_calls = 3
    fitted = cls(max_epochs=n_calls, **SMALL, **params).fit(log)
    streamed = cls(max_epochs=100, **SMALL, **params)
    for _ in range(n_calls):
        assert streamed.partial_fit(log) is streamed
    assert streamed.n_iter_ == n_calls == len(streamed.history_)
    np.testing.assert_allclose(streamed.user_factors_, fitted.user_factors_, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(streamed.item_factors_, fitted.item_factors_, rtol=1e-6, atol=1e-7)
    assert streamed.n_clicks_ == fitted.n_clicks_
    # the same pairs three times: every row after the first pass is a repeat
    assert streamed.n_duplicates_ == 2 * log.shape[0] + fitted.n_duplicates_


@pytest.mark.parametrize("cls, params", MODELS)
def test_new_ids_extend_the_catalogue(cls, params, log):
    # String ids, so that the ids of the second shard sort between those of the first.
    ids = np.array([f"u{u:03d}" for u in log[:, 0]], dtype=object)
    items = np.array([f"i{i:03d}" for i in log[:, 1]], dtype=object)
    X = np.column_stack([ids, items])
    first = log[:, 0] % 2 == 0
    model = cls(**SMALL, **params).partial_fit(X[first])
    n_users, n_items = model.n_users_, model.n_items_
    model.partial_fit(X[~first])
    whole = cls(**SMALL, **params).fit(X)
    assert model.n_users_ > n_users and model.n_items_ >= n_items
    assert model.user_factors_.shape == (model.n_users_, 4)
    assert model.item_factors_.shape == (model.n_items_, 4)
    np.testing.assert_array_equal(model.user_ids_, whole.user_ids_)
    np.testing.assert_array_equal(model.item_ids_, whole.item_ids_)
    # The statistics are those of the union of the shards, as fit on the whole log.
    assert (model.seen_ != whole.seen_).nnz == 0
    np.testing.assert_array_equal(model.item_popularity_, whole.item_popularity_)
    np.testing.assert_array_equal(model.warm_users_, whole.warm_users_)
    assert (model.n_clicks_, model.n_duplicates_) == (whole.n_clicks_, whole.n_duplicates_)
    if cls is RelMFRecommender:  # the popularity propensity is re-estimated over all shards
        np.testing.assert_allclose(model.propensity_, whole.propensity_)
    scores = model.predict(X[~first][:5])  # ids first seen in the second shard
    assert scores.shape == (5,) and np.isfinite(scores).all()
    top, _ = model.recommend(X[~first][:2, 0], n=3)
    assert top.shape == (2, 3)


def test_grown_rows_keep_their_factors_and_optimizer_moments(log):
    # BPR draws negative items only: the users of the first shard are not touched by the
    # second, so their rows and their lazy-Adam moments only move to their new places.
    users = log[:, 0] * 2
    first = users < 60
    X = np.column_stack([users, log[:, 1]])
    model = BPRRecommender(**SMALL).partial_fit(X[first])
    old_ids = model.user_ids_.copy()
    old_factors = model.user_factors_.copy()
    table = model.module_.user_factors.weight
    old_moments = {k: v.clone() for k, v in model.optimizer_.state[table].items() if k != "step"}
    model.partial_fit(np.column_stack([X[~first, 0] + 1, X[~first, 1]]))  # odd ids in between
    rows = np.searchsorted(model.user_ids_, old_ids)
    np.testing.assert_array_equal(model.user_ids_[rows], old_ids)
    np.testing.assert_array_equal(model.user_factors_[rows], old_factors)
    state = model.optimizer_.state[model.module_.user_factors.weight]
    for key, value in old_moments.items():
        np.testing.assert_array_equal(state[key][rows].numpy(), value.numpy())
    new = np.setdiff1d(np.arange(model.n_users_), rows)
    assert np.abs(model.user_factors_[new]).sum() > 0  # drawn from the init stream


def test_partial_fit_is_deterministic(log):
    shards = np.array_split(log, 3)
    models = [RelMFRecommender(solver="stochastic", **SMALL) for _ in range(2)]
    for model in models:
        for shard in shards:
            model.partial_fit(shard)
    np.testing.assert_array_equal(models[0].user_factors_, models[1].user_factors_)


@pytest.mark.parametrize("side", ["user", "item"])
def test_declared_catalogue_rejects_a_new_id(side, log):
    n_users, n_items = int(log[:, 0].max()) + 1, int(log[:, 1].max()) + 1
    model = BPRRecommender(n_users=n_users, n_items=n_items, **SMALL).partial_fit(log)
    before = model.user_factors_.copy()
    shard = log[:4].copy()
    column, declared = (0, n_users) if side == "user" else (1, n_items)
    shard[2, column] = declared + 7
    with pytest.raises(ValueError, match=rf"{side} id {declared + 7} .*n_{side}s={declared}"):
        model.partial_fit(shard)
    # nothing changed
    assert model.n_iter_ == 1 and model.n_users_ == n_users
    np.testing.assert_array_equal(model.user_factors_, before)


def test_a_shard_without_clicks_is_rejected_before_any_change(log):
    model = ImplicitMFRecommender(solver="stochastic", **SMALL).partial_fit(log[:100])
    n_users = model.n_users_
    shard = np.array([[1000, 1], [1001, 2]])
    with pytest.raises(ValueError, match=re.escape("needs at least one click")):
        model.partial_fit(shard, np.zeros(2))
    assert model.n_users_ == n_users and model.n_iter_ == 1


def test_partial_fit_checks_the_model_parameters(log):
    model = ImplicitMFRecommender(solver="stochastic", **SMALL).partial_fit(log)
    model.set_params(n_factors=8)
    with pytest.raises(ValueError, match="n_factors=4"):
        model.partial_fit(log)
