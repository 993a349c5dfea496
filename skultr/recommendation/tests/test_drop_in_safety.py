"""Issue 11: no silent wrong answer on everyday recommendation input.

Each test reproduces a path that gave a silently wrong model, score or memory blow-up before
(DataFrame columns by position, ids used as array indices, cold users, estimators that could
not be composed, constant ratings, a propensity catalogue overwritten, dense recommend()).
"""

import time
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV, KFold

from skultr.datasets import make_mnar_implicit_feedback, make_mnar_ratings
from skultr.propensity import KernelBalancingPropensity, LogisticPropensity, PopularityPropensity
from skultr.recommendation import DebiasedMFRecommender, RelMFRecommender

CPU = {"device": "cpu", "random_state": 0}
SMALL_KB = {"n_factors": 2, "max_epochs": 2, "batch_size": 64, **CPU}


@pytest.fixture(scope="module")
def clicks():
    return make_mnar_implicit_feedback(n_users=60, n_items=40, random_state=0).X


@pytest.fixture(scope="module")
def ratings():
    d = make_mnar_ratings(60, 50, density=0.15, random_state=0)
    return d.X, (d.y >= 4).astype(float)


def test_dataframe_columns_are_read_by_name(clicks):
    frame = pd.DataFrame({"user": clicks[:, 0], "item": clicks[:, 1]})
    a = RelMFRecommender(n_factors=4, **CPU).fit(frame)
    b = RelMFRecommender(n_factors=4, **CPU).fit(frame[["item", "user"]])
    np.testing.assert_allclose(b.user_factors_, a.user_factors_)
    np.testing.assert_allclose(b.predict(frame[["item", "user"]]), a.predict(clicks))
    assert list(b.feature_names_in_) == ["item", "user"]
    renamed = frame.rename(columns={"user": "uid"})[["item", "uid"]]
    with pytest.raises(ValueError, match="name the two columns 'user' and 'item'"):
        RelMFRecommender(**CPU).fit(renamed)
    popularity = PopularityPropensity().fit(frame[["item", "user"]])
    np.testing.assert_allclose(
        popularity.predict(frame), PopularityPropensity().fit(clicks).predict(clicks)
    )


def test_raw_ids_of_any_size_and_type_are_mapped(clicks):
    compact = RelMFRecommender(n_factors=4, **CPU).fit(clicks)
    huge = clicks.astype(np.int64) * 10**12 + 7
    big = RelMFRecommender(n_factors=4, **CPU).fit(huge)
    np.testing.assert_allclose(big.predict(huge), compact.predict(clicks))
    assert big.n_users_ == compact.n_users_ and big.item_ids_[0] == 7
    # zero-padded strings sort like the integers: the same model
    strings = np.column_stack(
        [[f"u{u:03d}" for u in clicks[:, 0]], [f"i{i:03d}" for i in clicks[:, 1]]]
    ).astype(object)
    named = RelMFRecommender(n_factors=4, **CPU).fit(strings)
    np.testing.assert_allclose(named.predict(strings), compact.predict(clicks))
    top, scores = compact.recommend([0, 1], n=5)
    top_named, scores_named = named.recommend(["u000", "u001"], n=5)
    assert top_named.tolist() == [[f"i{i:03d}" for i in row] for row in top]
    np.testing.assert_allclose(scores_named, scores)


def test_one_large_id_costs_no_memory():
    log = np.array([[2_000_000_000, 1]] + [[i % 20, i % 7] for i in range(199)])
    start = time.perf_counter()
    model = RelMFRecommender(n_factors=2, max_epochs=2, **CPU).fit(log)
    assert time.perf_counter() - start < 5
    assert model.n_users_ == 21 and model.user_factors_.shape == (21, 2)
    PopularityPropensity().fit(log).predict(log)


def test_debiased_rejects_constant_ratings(ratings):
    X, _ = ratings
    for value in (0.0, 1.0):
        with pytest.raises(ValueError, match="both positive and negative ratings"):
            DebiasedMFRecommender(**SMALL_KB).fit(X, np.full(len(X), value))


def test_debiased_keeps_a_user_set_propensity_catalogue(ratings):
    X, y = ratings
    spec = LogisticPropensity(n_users=100, n_items=80)
    model = DebiasedMFRecommender(method="ips", balancing=None, propensity=spec, **SMALL_KB)
    model.fit(X, y)
    expected = LogisticPropensity(n_users=100, n_items=80).fit(X).predict(X)
    np.testing.assert_allclose(model.propensity_, expected)


def test_kernel_balancing_is_composable_as_propensity(ratings):
    X, y = ratings
    kb = KernelBalancingPropensity(**SMALL_KB)
    fitted = KernelBalancingPropensity(**SMALL_KB).fit(X, y)
    np.testing.assert_allclose(fitted.predict(X), fitted.propensity_, rtol=1e-4)
    debiased = DebiasedMFRecommender(method="ips", balancing=None, propensity=kb, **SMALL_KB)
    np.testing.assert_allclose(debiased.fit(X, y).propensity_, fitted.propensity_, rtol=1e-4)
    relmf = RelMFRecommender(n_factors=2, propensity=kb, **CPU).fit(X, y)
    assert isinstance(relmf.propensity_estimator_, KernelBalancingPropensity)
    assert np.isfinite(relmf.predict(X)).all()


def test_cold_users_follow_the_cold_start_policy(clicks):
    model = RelMFRecommender(n_factors=4, cold_start="error", **CPU).fit(clicks)
    with pytest.raises(ValueError, match="user id 999 .* is a cold user"):
        model.predict([[999, clicks[0, 1]]])
    with pytest.raises(ValueError, match="user id 'nobody' .* is a cold user"):
        model.recommend(["nobody"])
    model.set_params(cold_start="popularity")
    with pytest.warns(UserWarning, match="1 cold user"):
        top, _ = model.recommend([999], n=3)
    by_popularity = np.argsort(-model.item_popularity_, kind="stable")[:3]
    assert top[0].tolist() == model.item_ids_[by_popularity].tolist()
    with pytest.warns(UserWarning, match="2 cold user"):
        scores = model.predict([[998, 0], [999, 1], [0, 1]])
    assert scores[0] == model.item_popularity_[0] / model.warm_users_.sum()
    # a declared catalogue user without clicks is cold too (its factors are zero)
    declared = RelMFRecommender(n_users=100, n_factors=4, cold_start="error", **CPU)
    with pytest.raises(ValueError, match="user id 99 .* cold user"):
        declared.fit(clicks).recommend([99])
    # unknown items are always an error
    with pytest.raises(ValueError, match="item id 12345 .*not in the training catalogue"):
        model.predict([[0, 12345]])


def test_recommend_in_chunks_equals_one_block(clicks, monkeypatch):
    from skultr.metrics import _ips, make_ips_scorer
    from skultr.recommendation import _data

    model = RelMFRecommender(n_factors=4, **CPU).fit(clicks[::2])
    users = np.arange(60)
    scorer = make_ips_scorer("dcg", k=5, propensity=PopularityPropensity().fit(clicks))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # cold users of the half log
        full = model.recommend(users, n=7)
        score = scorer(model, clicks[1::2])
        monkeypatch.setattr(_data, "RECOMMEND_CHUNK_CELLS", 3 * model.n_items_)
        monkeypatch.setattr(_ips, "_SCORER_CHUNK_USERS", 4)
        chunked = model.recommend(users, n=7)
        assert scorer(model, clicks[1::2]) == score
    np.testing.assert_array_equal(chunked[0], full[0])
    # blocks of other sizes may round the float64 products one ulp apart
    np.testing.assert_allclose(chunked[1], full[1], rtol=1e-12, atol=1e-12)


def test_grid_search_without_scoring_uses_the_default_score(clicks, ratings):
    search = GridSearchCV(
        RelMFRecommender(n_users=60, n_items=40, **CPU),
        {"n_factors": [2, 4]},
        cv=KFold(3, shuffle=True, random_state=0),
    ).fit(clicks)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert 0 <= search.best_score_ <= 1
    X, y = ratings
    search = GridSearchCV(
        DebiasedMFRecommender(
            method="naive", n_users=60, n_items=50, n_factors=2, max_epochs=2, **CPU
        ),
        {"lr": [0.01, 0.05]},
        cv=KFold(3, shuffle=True, random_state=0),
    ).fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


@pytest.mark.parametrize("method", ["naive", "ips", "snips", "dr_jl"])
def test_debiased_sample_weight_is_a_relative_weight_per_pair(ratings, method):
    """Before: fit(X, y, sample_weight=w) was a TypeError, so set_fit_request failed."""
    X, y = ratings
    params = {"method": method, "max_epochs": 5, **CPU}
    if method != "naive":
        params["propensity"] = "popularity"
    plain = DebiasedMFRecommender(**params).fit(X, y)
    scaled = DebiasedMFRecommender(**params).fit(X, y, sample_weight=np.full(len(y), 3.0))
    np.testing.assert_array_equal(plain.predict(X), scaled.predict(X))  # only ratios matter
    # weighting the positive ratings 4x moves the predictions towards them
    w = np.where(y > 0, 4.0, 1.0)
    weighted = DebiasedMFRecommender(**params).fit(X, y, sample_weight=w)
    assert weighted.predict(X).mean() > plain.predict(X).mean() + 0.02
    with pytest.raises(ValueError, match="sample_weight"):
        DebiasedMFRecommender(**params).fit(X, y, sample_weight=-w)


def test_debiased_sample_weight_is_routed_in_cross_validation(ratings):
    import sklearn
    from sklearn.model_selection import cross_validate

    X, y = ratings
    w = np.where(y > 0, 4.0, 1.0)
    cv = KFold(2, shuffle=True, random_state=0)
    params = {"method": "ips", "propensity": "popularity", "max_epochs": 3, **CPU}
    params |= {"n_users": int(X[:, 0].max()) + 1, "n_items": int(X[:, 1].max()) + 1}
    with sklearn.config_context(enable_metadata_routing=True):
        est = DebiasedMFRecommender(**params).set_fit_request(sample_weight=True)
        result = cross_validate(est, X, y, cv=cv, params={"sample_weight": w})
    for fold, (train, test) in enumerate(cv.split(X)):
        model = DebiasedMFRecommender(**params).fit(X[train], y[train], sample_weight=w[train])
        assert result["test_score"][fold] == pytest.approx(model.score(X[test], y[test]))
