"""Click-only scorers and model selection with GridSearchCV on click logs."""

import numpy as np
import pytest
import sklearn
from sklearn.metrics import make_scorer
from sklearn.model_selection import GridSearchCV, GroupKFold

from skultr.datasets import make_click_log, make_ranking_dataset
from skultr.metrics import dcg_score, ndcg_score
from skultr.ranking import (
    DLARanker,
    NaiveRanker,
    PositionBasedModel,
    click_log_likelihood,
    ips_dcg_score,
    make_click_scorer,
)
from skultr.ranking.tests import single_torch_thread  # noqa: F401 (autouse fixture)


@pytest.fixture(scope="module")
def log():
    X, y, qid = make_ranking_dataset(300, random_state=0)
    return make_click_log(X, y, qid, n_sessions=3000, score_noise=0.7, random_state=0)


def _tiny(**params):
    defaults = {
        "hidden_layer_sizes": (16,),
        "max_epochs": 5,
        "lr": 0.1,
        "device": "cpu",
        "random_state": 0,
    }
    return DLARanker(**{**defaults, **params})


# -- the metrics -----------------------------------------------------------------------------
def test_click_log_likelihood_matches_the_definition():
    clicks = [1, 0, 0, 0, 1]
    scores = [0.5, 0.0, -1.0, 2.0, 0.0]
    qid = [1, 1, 1, 2, 2]
    position = [1, 2, 3, 1, 2]
    propensity = [1.0, 0.5, 0.25]
    logit = np.array(scores) + np.log([1.0, 0.5, 0.25, 1.0, 0.5])
    first = logit[0] - np.log(np.exp(logit[:3]).sum())
    second = logit[4] - np.log(np.exp(logit[3:]).sum())
    value = click_log_likelihood(clicks, scores, qid=qid, position=position, propensity=propensity)
    assert value == pytest.approx((first + second) / 2)


def test_click_log_likelihood_without_clicks_is_undefined():
    from sklearn.exceptions import UndefinedMetricWarning

    with pytest.warns(UndefinedMetricWarning):
        value = click_log_likelihood(
            [0, 0], [1.0, 2.0], qid=[1, 1], position=[1, 2], propensity=[1, 1]
        )
    assert np.isnan(value)


def test_ips_dcg_is_unbiased_for_the_dcg_of_attraction():
    """Under the position-based model, E[click / θ] = attraction, so IPS-DCG of the clicks
    estimates the DCG whose gains are the attraction probabilities (times θ_1 with relative
    propensities)."""
    X, y, qid = make_ranking_dataset(100, random_state=1)
    big = make_click_log(X, y, qid, n_sessions=100_000, random_state=1)
    scores = X[big.row, 0]  # any fixed ranking of the logged lists
    attraction = 0.1 + 0.9 * (2.0**big.relevance - 1) / 15
    expected = PositionBasedModel().examination(1)[0] * dcg_score(
        attraction, scores, qid=big.qid, k=10, gain="linear"
    )
    estimate = ips_dcg_score(
        big.clicks, scores, qid=big.qid, position=big.position, propensity=big.propensity
    )
    assert estimate == pytest.approx(expected, rel=0.02)
    naive = ips_dcg_score(
        big.clicks, scores, qid=big.qid, position=big.position, propensity=np.ones(10)
    )
    assert naive < 0.8 * expected  # without the weights the clicks underestimate low documents


def test_ips_dcg_clips_weights_and_ignores_clicks_below_the_curve():
    kwargs = {"qid": [1, 1, 1], "position": [1, 2, 3], "k": None}
    base = ips_dcg_score([0, 1, 1], [3.0, 2.0, 1.0], propensity=[1.0, 0.1], **kwargs)
    assert base == pytest.approx(10 / np.log2(3))  # position 3 has no propensity: not counted
    clipped = ips_dcg_score(
        [0, 1, 1], [3.0, 2.0, 1.0], propensity=[1.0, 0.1], max_weight=4, **kwargs
    )
    assert clipped == pytest.approx(4 / np.log2(3))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"qid": None}, "qid is required"),
        ({"position": None}, "position is required"),
        ({"propensity": [1.0, np.nan]}, r"propensity must be positive and finite.*position 2"),
        ({"position": [1, 1]}, "must not repeat"),
    ],
)
def test_click_metric_errors(kwargs, message):
    args = {"qid": [1, 1], "position": [1, 2], "propensity": [1.0, 0.5], **kwargs}
    with pytest.raises(ValueError, match=message):
        click_log_likelihood([1, 0], [0.0, 1.0], **args)


# -- the scorers -----------------------------------------------------------------------------
def test_scorers_called_directly(log):
    est = _tiny().fit(log.X, log.clicks, qid=log.qid, position=log.position)
    loglik = make_click_scorer("loglik")(
        est, log.X, log.clicks, qid=log.qid, position=log.position
    )
    expected = click_log_likelihood(
        log.clicks,
        est.predict(log.X),
        qid=log.qid,
        position=log.position,
        propensity=est.propensity_,
    )
    assert loglik == pytest.approx(expected) and loglik < 0
    ips = make_click_scorer("ips_dcg", propensity=log.propensity)
    assert ips(est, log.X, log.clicks, qid=log.qid, position=log.position) > 0


def test_scorer_errors(log):
    naive = NaiveRanker(hidden_layer_sizes=(4,), max_epochs=1, device="cpu").fit(
        log.X, log.clicks, qid=log.qid, position=log.position
    )
    with pytest.raises(ValueError, match="has no propensity_"):
        make_click_scorer("ips_dcg")(naive, log.X, log.clicks, qid=log.qid, position=log.position)
    # the log-likelihood of a model without propensities assumes no position bias
    assert np.isfinite(
        make_click_scorer()(naive, log.X, log.clicks, qid=log.qid, position=log.position)
    )
    with pytest.raises(ValueError, match="qid is required"):
        make_click_scorer()(naive, log.X, log.clicks)
    with pytest.raises(ValueError, match="kind must be one of"):
        make_click_scorer("auc")


def test_grid_search_with_true_labels_and_with_clicks_only(log):
    """The routing recipe: split by session, route qid/position to fit and to the scorer.

    Fitting always uses clicks. The true-label search scores nDCG@10 on the held-out
    sessions' relevance grades (routed as metadata, possible only in simulation); the
    click-only searches use the held-out clicks alone. A learning rate too small to learn
    anything in 5 epochs must lose under every scorer.
    """
    grid = {"lr": [1e-4, 0.1]}
    cv = GroupKFold(n_splits=3)
    with sklearn.config_context(enable_metadata_routing=True):
        ranker = _tiny().set_fit_request(qid=True, position=True)

        def ndcg_of_relevance(y_true, y_pred, *, qid, relevance):
            return ndcg_score(relevance, y_pred, qid=qid, k=10)

        true_scorer = make_scorer(ndcg_of_relevance).set_score_request(qid=True, relevance=True)
        params = {"qid": log.qid, "position": log.position, "groups": log.qid}
        by_labels = GridSearchCV(ranker, grid, cv=cv, scoring=true_scorer)
        by_labels.fit(log.X, log.clicks, relevance=log.relevance, **params)
        by_clicks = GridSearchCV(ranker, grid, cv=cv, scoring=make_click_scorer("loglik"))
        by_clicks.fit(log.X, log.clicks, **params)
        ips = make_click_scorer("ips_dcg", propensity=log.propensity)
        by_ips = GridSearchCV(ranker, grid, cv=cv, scoring=ips).fit(log.X, log.clicks, **params)
    for search in (by_labels, by_clicks, by_ips):
        assert search.best_params_ == {"lr": 0.1}
        assert search.best_estimator_.n_lists_ == 3000  # refit on every session
    scores = by_clicks.cv_results_["mean_test_score"]
    assert scores[1] > scores[0]
