"""Tests of make_ranking_scorer: routing of qid, GridSearchCV/cross_validate, validation."""

import pickle

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_validate

from skultr.metrics import (
    average_precision_score,
    dcg_score,
    err_score,
    make_ranking_scorer,
    ndcg_score,
)

METRICS = {"ndcg": ndcg_score, "dcg": dcg_score, "err": err_score, "map": average_precision_score}


@pytest.fixture(scope="module")
def ranking_data():
    """30 queries of 8 documents, graded 0-4 from a noisy linear utility, rows shuffled."""
    rng = np.random.default_rng(0)
    n_queries, n_docs = 30, 8
    X = rng.normal(size=(n_queries * n_docs, 4))
    utility = X @ np.array([1.5, -1.0, 0.5, 0.0]) + rng.normal(scale=0.5, size=len(X))
    y = np.digitize(utility, [-1.5, -0.5, 0.5, 1.5]).astype(float)
    qid = np.repeat(np.arange(100, 100 + n_queries), n_docs)
    order = rng.permutation(len(X))
    return X[order], y[order], qid[order]


@pytest.mark.parametrize("name", sorted(METRICS))
@pytest.mark.parametrize("routing", [False, True])
def test_direct_call_matches_metric(ranking_data, name, routing):
    X, y, qid = ranking_data
    model = Ridge().fit(X, y)
    with sklearn.config_context(enable_metadata_routing=routing):
        scorer = make_ranking_scorer(name, k=5)
        expected = METRICS[name](y, model.predict(X), qid=qid, k=5)
        assert scorer(model, X, y, qid=qid) == pytest.approx(expected, rel=1e-12)
        # The function itself works as well as its name.
        assert make_ranking_scorer(METRICS[name], k=5)(model, X, y, qid=qid) == pytest.approx(
            expected, rel=1e-12
        )


def test_metric_kwargs_are_forwarded(ranking_data):
    X, y, qid = ranking_data
    model = Ridge().fit(X, y)
    scorer = make_ranking_scorer("ndcg", k=None, gain="linear", no_relevant="zero")
    expected = ndcg_score(y, model.predict(X), qid=qid, k=None, gain="linear", no_relevant="zero")
    assert scorer(model, X, y, qid=qid) == pytest.approx(expected, rel=1e-12)
    assert "gain=linear" in repr(scorer)
    assert scorer._sign == 1  # greater is better


@pytest.mark.parametrize("routing_at_construction", [False, True])
def test_qid_is_requested_without_set_score_request(routing_at_construction):
    with sklearn.config_context(enable_metadata_routing=routing_at_construction):
        scorer = make_ranking_scorer("err")
    with sklearn.config_context(enable_metadata_routing=True):
        requests = scorer.get_metadata_routing().score.requests
    assert requests["qid"] is True


def test_set_score_request_alias_is_kept(ranking_data):
    X, y, qid = ranking_data
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = make_ranking_scorer("ndcg", k=3).set_score_request(qid="query_id")
        assert scorer.get_metadata_routing().score.requests["qid"] == "query_id"
        result = cross_validate(
            Ridge(),
            X,
            y,
            cv=GroupKFold(3),
            scoring=scorer,
            params={"query_id": qid, "groups": qid},
        )
    assert np.all(np.isfinite(result["test_score"]))


def test_missing_qid_tells_how_to_route(ranking_data):
    X, y, qid = ranking_data
    model = Ridge().fit(X, y)
    scorer = make_ranking_scorer("ndcg")
    with pytest.raises(ValueError, match=r"(?s)no qid was passed.*enable_metadata_routing=True"):
        scorer(model, X, y)
    # Without routing, cross_validate gives the scorer no qid: the same message surfaces.
    with pytest.raises(ValueError, match=r"no qid was passed"):
        cross_validate(
            Ridge(), X, y, groups=qid, cv=GroupKFold(3), scoring=scorer, error_score="raise"
        )


def test_other_metadata_is_rejected(ranking_data):
    X, y, qid = ranking_data
    model = Ridge().fit(X, y)
    with pytest.raises(ValueError, match=r"accepts only qid as metadata; got \['sample_weight'\]"):
        make_ranking_scorer("ndcg")(model, X, y, qid=qid, sample_weight=np.ones(len(y)))


def _manual_cv_scores(X, y, qid, alpha, k):
    scores = []
    for train, test in GroupKFold(3).split(X, y, groups=qid):
        model = Ridge(alpha=alpha).fit(X[train], y[train])
        scores.append(ndcg_score(y[test], model.predict(X[test]), qid=qid[test], k=k))
    return np.array(scores)


def test_grid_search_recipe(ranking_data):
    X, y, qid = ranking_data
    alphas = [0.1, 1e5]
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            Ridge(),
            {"alpha": alphas},
            cv=GroupKFold(3),
            scoring=make_ranking_scorer("ndcg", k=5),
            error_score="raise",
        ).fit(X, y, qid=qid, groups=qid)
    manual = {alpha: _manual_cv_scores(X, y, qid, alpha, 5) for alpha in alphas}
    for i, alpha in enumerate(alphas):
        for split in range(3):
            assert search.cv_results_[f"split{split}_test_score"][i] == pytest.approx(
                manual[alpha][split], rel=1e-12
            )
    # The lightly regularised model learns the utility; the heavily shrunk one barely ranks.
    assert search.best_params_ == {"alpha": 0.1}
    assert search.best_score_ == pytest.approx(manual[0.1].mean(), rel=1e-12)
    assert 0.7 < search.best_score_ <= 1.0


def test_cross_validate_with_several_ranking_scorers(ranking_data):
    X, y, qid = ranking_data
    scoring = {
        "ndcg@5": make_ranking_scorer("ndcg", k=5),
        "err": make_ranking_scorer("err", max_grade=4),
        "map": make_ranking_scorer("map", k=None),
    }
    with sklearn.config_context(enable_metadata_routing=True):
        result = cross_validate(
            Ridge(),
            X,
            y,
            cv=GroupKFold(3),
            scoring=scoring,
            params={"qid": qid, "groups": qid},
            error_score="raise",
        )
    splits = list(GroupKFold(3).split(X, y, groups=qid))
    for split, (train, test) in enumerate(splits):
        pred = Ridge().fit(X[train], y[train]).predict(X[test])
        expected = {
            "ndcg@5": ndcg_score(y[test], pred, qid=qid[test], k=5),
            "err": err_score(y[test], pred, qid=qid[test], max_grade=4),
            "map": average_precision_score(y[test], pred, qid=qid[test], k=None),
        }
        for name, value in expected.items():
            assert result[f"test_{name}"][split] == pytest.approx(value, rel=1e-12)


def test_scorer_pickles(ranking_data):
    X, y, qid = ranking_data
    model = Ridge().fit(X, y)
    scorer = make_ranking_scorer("map", k=3)
    clone = pickle.loads(pickle.dumps(scorer))
    assert clone(model, X, y, qid=qid) == scorer(model, X, y, qid=qid)


@pytest.mark.parametrize(
    ("metric", "kwargs", "match"),
    [
        ("auc", {}, r"metric must be one of 'ndcg', 'dcg', 'err', 'map' or a callable; got 'auc'"),
        (3, {}, r"'metric' parameter of make_ranking_scorer must be .*str.* or a callable"),
        (lambda y_true, y_score: 0.0, {}, r"must accept a qid keyword argument"),
        ("ndcg", {"k": 0}, r"k must be a positive integer or None; got 0"),
        ("ndcg", {"k": 2.5}, r"k must be a positive integer or None"),
        ("ndcg", {"gain": "log"}, r"gain must be one of 'exponential', 'linear'; got 'log'"),
        ("err", {"no_relevant": "nan"}, r"no_relevant must be one of 'skip', 'zero', 'one'"),
        (
            "dcg",
            {"max_grade": 4},
            r"dcg_score got unknown parameter\(s\) \['max_grade'\]",
        ),
        ("ndcg", {"qid": [0, 1]}, r"\['qid'\] cannot be fixed in make_ranking_scorer"),
    ],
)
def test_bad_scorer_arguments(metric, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_ranking_scorer(metric, **kwargs)
