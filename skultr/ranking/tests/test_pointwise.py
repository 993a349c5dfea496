"""PointwiseIPWRanker: unbiased relevance from clicks, bad propensities, estimator checks."""

import warnings

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils.estimator_checks import check_estimator

from skultr.datasets import make_click_log, make_ranking_dataset
from skultr.propensity import RandomizationPropensity
from skultr.ranking import PointwiseIPWRanker
from skultr.ranking.tests.test_estimator_checks import _as_clicks
from skultr.utils._test_common import (
    _CLICK_CHECKS,
    _SAMPLE_WEIGHT_CLICK_CHECKS,
    EXPECTED_FAILED_CHECKS,
    construct_instances,
)

THETA = np.array([1.0, 0.6, 0.35, 0.2, 0.1])


def _pbm_log(n_sessions=4000, seed=0):
    """20 documents (one-hot features) shown in random order, position-based clicks."""
    rng = np.random.RandomState(seed)
    relevance = np.linspace(0.05, 0.95, 20)
    docs = np.argsort(rng.rand(n_sessions, 20), axis=1)[:, : len(THETA)]
    qid = np.repeat(np.arange(n_sessions), len(THETA))
    position = np.tile(np.arange(1, len(THETA) + 1), n_sessions)
    doc = docs.ravel()
    # production bias: relevant documents are shown on top more often
    clicks = rng.rand(len(doc)) < THETA[position - 1] * relevance[doc]
    return np.eye(20)[doc], clicks.astype(int), qid, position, relevance


@pytest.mark.parametrize("estimator", [DecisionTreeRegressor(), DecisionTreeClassifier()])
def test_recovers_the_relevance_of_each_document(estimator):
    X, clicks, qid, position, relevance = _pbm_log(20_000)
    ranker = PointwiseIPWRanker(estimator, propensity=THETA, max_weight=None)
    ranker.fit(X, clicks, qid=qid, position=position)
    estimate = ranker.predict(np.eye(20))
    # 5000 impressions per document: the IPS estimate's sd is about 0.03 (variance of
    # c / θ about 4 r per impression), so 0.1 is over 3 sd for the worst of 20 documents
    assert np.abs(estimate - relevance).max() < 0.1
    raw = DecisionTreeRegressor().fit(X, clicks).predict(np.eye(20))
    assert np.abs(raw - relevance).max() > 0.3  # the click rate is biased by examination


def test_clipping_caps_the_targets():
    X, clicks, qid, position, _ = _pbm_log(1000)
    theta = np.array([1.0, 0.5, 0.2, 0.05, 0.01])
    ranker = PointwiseIPWRanker(DecisionTreeRegressor(), propensity=theta, max_weight=4)
    ranker.fit(X, clicks, qid=qid, position=position)
    assert ranker.predict(X).max() <= 4 + 1e-12
    np.testing.assert_allclose(ranker.propensity_[:5], theta)  # stored before clipping


@pytest.mark.parametrize(
    "theta, message",
    [
        ([1.0, 0.5, 1.2, 0.2, 0.1], "1.2 at position 3"),
        ([1.0, 0.5, 0.0, 0.2, 0.1], "0.0 at position 3"),
        ([1.0, 0.5, -0.3, 0.2, 0.1], "-0.3 at position 3"),
        ([1.0, 0.5, np.nan, 0.2, 0.1], "nan at position 3"),
        ([1.0, 0.5, 0.3], "nan at position 4"),  # missing for a logged position
    ],
)
def test_bad_propensity_names_the_position(theta, message):
    X, clicks, qid, position, _ = _pbm_log(200)
    with pytest.raises(ValueError, match=message):
        PointwiseIPWRanker(DecisionTreeRegressor(), propensity=theta).fit(
            X, clicks, qid=qid, position=position
        )


def test_an_unlogged_position_may_lack_a_propensity():
    X, clicks, qid, position, _ = _pbm_log(200)
    keep = position <= 3
    ranker = PointwiseIPWRanker(DecisionTreeRegressor(), propensity=[1.0, 0.5, 0.3])
    ranker.fit(X[keep], clicks[keep], qid=qid[keep], position=position[keep])
    assert np.isnan(ranker.propensity_[3:]).all()


def test_rows_beyond_max_position_are_left_out_and_counted():
    X, clicks, qid, position, _ = _pbm_log(200)
    ranker = PointwiseIPWRanker(DecisionTreeRegressor(), propensity=THETA, max_position=3)
    ranker.fit(X, clicks, qid=qid, position=position)
    assert ranker.n_rows_beyond_max_position_ == int((position > 3).sum())


def test_frozen_propensity_from_a_randomised_log_is_used_as_fitted():
    X, y, qid = make_ranking_dataset(100, random_state=0)
    randomised = make_click_log(X, y, qid, n_sessions=3000, intervention="shuffle", random_state=1)
    log = make_click_log(X, y, qid, n_sessions=1000, random_state=0)
    fitted = RandomizationPropensity().fit(
        randomised.X, randomised.clicks, qid=randomised.qid, position=randomised.position
    )
    ranker = PointwiseIPWRanker(
        DecisionTreeRegressor(max_depth=3), propensity=FrozenEstimator(fitted)
    )
    ranker.fit(log.X, log.clicks, qid=log.qid, position=log.position)
    expected = fitted.propensity_ / np.nanmax(fitted.propensity_)
    np.testing.assert_allclose(ranker.propensity_, expected)
    # the same estimator unfrozen would be refitted on the (not randomised) training log
    with pytest.warns(UserWarning, match="FrozenEstimator"):
        PointwiseIPWRanker(DecisionTreeRegressor(max_depth=3), propensity=fitted).fit(
            log.X, log.clicks, qid=log.qid, position=log.position
        )


def test_regression_em_propensity_is_estimated_on_the_log():
    X, y, qid = make_ranking_dataset(100, random_state=0)
    log = make_click_log(X, y, qid, n_sessions=3000, score_noise=1.0, random_state=0)
    ranker = PointwiseIPWRanker(DecisionTreeRegressor(max_depth=3))
    ranker.fit(log.X, log.clicks, qid=log.qid, position=log.position)
    assert type(ranker.propensity_estimator_).__name__ == "RegressionEMPropensity"
    assert np.nanmax(ranker.propensity_) == 1.0
    assert ranker.propensity_[-1] < 0.5  # the bottom is examined less than the top


def test_sample_weight_is_passed_on_and_checked():
    X, clicks, qid, position, _ = _pbm_log(200)
    weight = np.r_[np.zeros(500), np.ones(len(clicks) - 500)]
    ranker = PointwiseIPWRanker(DecisionTreeRegressor(random_state=0), propensity=THETA)
    ranker.fit(X, clicks, qid=qid, position=position, sample_weight=weight)
    rest = slice(500, None)
    alone = PointwiseIPWRanker(DecisionTreeRegressor(random_state=0), propensity=THETA).fit(
        X[rest], clicks[rest], qid=qid[rest], position=position[rest]
    )
    np.testing.assert_allclose(ranker.predict(np.eye(20)), alone.predict(np.eye(20)))
    with pytest.raises(TypeError, match="KNeighborsRegressor.fit takes no sample_weight"):
        PointwiseIPWRanker(KNeighborsRegressor(), propensity=THETA).fit(
            X, clicks, qid=qid, position=position, sample_weight=weight
        )
    with pytest.raises(ValueError, match="Negative"):
        ranker.fit(X, clicks, qid=qid, position=position, sample_weight=-weight)


def test_other_bad_inputs():
    X, clicks, qid, position, _ = _pbm_log(200)
    ranker = PointwiseIPWRanker(DecisionTreeRegressor(), propensity=THETA)
    with pytest.raises(ValueError, match="y must hold clicks 0 or 1"):
        ranker.fit(X, clicks * 2, qid=qid, position=position)
    with pytest.raises(ValueError, match="no click"):
        ranker.fit(X, clicks * 0, qid=qid, position=position)
    with pytest.raises(ValueError, match="got no qid"):
        ranker.fit(X, clicks, position=position)
    with pytest.raises(ValueError, match="requires y"):
        ranker.fit(X, None, qid=qid, position=position)


def test_dataframe_columns_and_classifier_odds():
    pd = pytest.importorskip("pandas")
    X, clicks, qid, position, _ = _pbm_log(500)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(20)]).assign(
        qid=qid, position=position
    )
    ranker = PointwiseIPWRanker(LogisticRegression(), propensity=THETA).fit(frame, clicks)
    assert list(ranker.feature_names_in_) == [f"f{i}" for i in range(20)]
    scores = ranker.predict(frame)
    q = ranker.estimator_.predict_proba(frame.drop(columns=["qid", "position"]).to_numpy())[:, 1]
    np.testing.assert_allclose(scores, q / (1 - q))


# scikit-learn's click checks (listed as expected failures in tests/test_common.py because
# they fit on targets other than 0/1), rerun on 0/1 clicks.
class PointwiseOnClicks(PointwiseIPWRanker):
    def fit(self, X, y, *, qid=None, position=None, sample_weight=None):
        return super().fit(
            X, _as_clicks(y), qid=qid, position=position, sample_weight=sample_weight
        )


def test_click_checks_pass_on_clicks():
    expected = set(EXPECTED_FAILED_CHECKS["PointwiseIPWRanker"]) & set(
        _CLICK_CHECKS + _SAMPLE_WEIGHT_CLICK_CHECKS
    )
    for estimator in construct_instances("PointwiseIPWRanker", PointwiseOnClicks):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = check_estimator(estimator, on_fail=None)
        failed = {
            r["check_name"]: str(r["exception"])
            for r in results
            if r["status"] == "failed" and r["check_name"] in expected
        }
        assert not failed, failed
