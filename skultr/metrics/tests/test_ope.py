"""Off-policy evaluation: intervals that cover the truth, the estimators' identities, errors."""

import numpy as np
import pytest
import sklearn
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline

from skultr.datasets import make_click_log, make_mnar_implicit_feedback, make_ranking_dataset
from skultr.metrics import (
    dcg_score,
    ips_dcg_at_k_score,
    ips_recall_at_k_score,
    make_ope_scorer,
    ope_ranking_metric,
    ope_recommendation_metric,
)
from skultr.ranking import PositionBasedModel, ips_dcg_score

THETA = PositionBasedModel().examination(10)


@pytest.fixture(scope="module")
def ranking_world():
    """60 queries of 10 documents; RandTop logging, so every document has exposure
    ρ = mean(θ); a target ranker; a reward model r̂ = γ shrunk halfway to its mean (any
    fixed r̂ keeps DR unbiased)."""
    X, y, qid = make_ranking_dataset(60, n_documents=10, random_state=0)
    gamma = 0.1 + 0.9 * (2.0**y - 1.0) / 15.0
    target = X[:, 0] + 0.5 * np.random.RandomState(1).normal(size=len(y))
    truth = dcg_score(gamma, target, qid=qid, k=10, gain="linear", no_relevant="zero")
    reward = 0.5 * gamma + 0.5 * gamma.mean()
    return X, y, qid, gamma, target, truth, reward


def _ranking_log(world, seed, n_sessions=300):
    X, y, qid, *_ = world
    return make_click_log(
        X, y, qid, n_sessions=n_sessions, intervention="shuffle", random_state=seed
    )


def test_ranking_intervals_cover_the_true_dcg(ranking_world):
    """200 replicate logs: the 95 % normal intervals of IPS and DR cover the true DCG@10 in
    at least 88 % of them (binomial s.e. at 0.95 is 0.015: 88 % is 4.6 s.e. below), the
    IPS mean is within 4 Monte Carlo standard errors of the truth, and DR's intervals are
    narrower on average."""
    *_, target, truth, reward = ranking_world
    rho = float(THETA.mean())
    found = {"ips": [], "dr": []}
    for seed in range(200):
        log = _ranking_log(ranking_world, seed)
        for method in found:
            r = ope_ranking_metric(
                log.clicks,
                target[log.row],
                qid=log.qid,
                position=log.position,
                propensity=THETA,
                logging_exposure=np.full(len(log.qid), rho),
                reward=reward[log.row] if method == "dr" else None,
                estimator=method,
            )
            found[method].append((r.estimate, r.ci_low, r.ci_high))
    ips, dr = np.array(found["ips"]), np.array(found["dr"])
    for est in (ips, dr):
        assert np.mean((est[:, 1] <= truth) & (truth <= est[:, 2])) >= 0.88
        assert abs(est[:, 0].mean() - truth) < 4 * est[:, 0].std() / np.sqrt(len(est))
    assert np.mean(dr[:, 2] - dr[:, 1]) < np.mean(ips[:, 2] - ips[:, 1])


def test_recommendation_intervals_cover_the_true_dcg():
    """MNAR clicks with logged impressions, 200 replicates: IPS and DR cover, DR narrower."""
    data = make_mnar_implicit_feedback(n_users=120, n_items=40, random_state=0)
    gamma, theta = data.relevance, data.exposure
    rng = np.random.RandomState(0)
    target = gamma + 0.1 * rng.normal(size=gamma.shape)
    users = np.repeat(np.arange(120), 40)
    truth = dcg_score(
        gamma.ravel(), target.ravel(), qid=users, k=5, gain="linear", no_relevant="zero"
    )
    reward = 0.5 * gamma + 0.5 * gamma.mean()
    found = {"ips": [], "dr": []}
    for _ in range(200):
        exposed = rng.random_sample(gamma.shape) < theta
        clicks = exposed & (rng.random_sample(gamma.shape) < gamma)
        for method in found:
            r = ope_recommendation_metric(
                clicks.ravel().astype(float),
                target.ravel(),
                qid=users,
                propensity=theta.ravel(),
                exposure=exposed.ravel().astype(float),
                reward=reward.ravel() if method == "dr" else None,
                estimator=method,
                k=5,
            )
            found[method].append((r.estimate, r.ci_low, r.ci_high))
    ips, dr = np.array(found["ips"]), np.array(found["dr"])
    for est in (ips, dr):
        assert np.mean((est[:, 1] <= truth) & (truth <= est[:, 2])) >= 0.88
        assert abs(est[:, 0].mean() - truth) < 4 * est[:, 0].std() / np.sqrt(len(est))
    assert np.mean(dr[:, 2] - dr[:, 1]) < 0.95 * np.mean(ips[:, 2] - ips[:, 1])


def test_bootstrap_and_normal_intervals_agree(ranking_world):
    *_, target, _, _ = ranking_world
    log = _ranking_log(ranking_world, 0, n_sessions=2000)
    kwargs = {"qid": log.qid, "position": log.position, "propensity": THETA}
    normal = ope_ranking_metric(log.clicks, target[log.row], **kwargs)
    boot = ope_ranking_metric(
        log.clicks,
        target[log.row],
        interval="bootstrap",
        n_bootstrap=400,
        random_state=0,
        **kwargs,
    )
    assert boot.estimate == normal.estimate
    assert boot.std_error == pytest.approx(normal.std_error, rel=0.15)
    assert boot.ci_low == pytest.approx(normal.ci_low, abs=0.5 * normal.std_error)
    again = ope_ranking_metric(
        log.clicks,
        target[log.row],
        interval="bootstrap",
        n_bootstrap=400,
        random_state=0,
        **kwargs,
    )
    assert again == boot  # seeded


def test_estimator_identities(ranking_world):
    """Deterministic logger: SNIPS = IPS and DR = IPS on displayed rows; the thin wrappers
    give the OPE estimate; clipping is counted."""
    *_, target, _, reward = ranking_world
    log = _ranking_log(ranking_world, 3)
    kwargs = {"qid": log.qid, "position": log.position, "propensity": THETA}
    ips = ope_ranking_metric(log.clicks, target[log.row], **kwargs)
    snips = ope_ranking_metric(log.clicks, target[log.row], estimator="snips", **kwargs)
    dr = ope_ranking_metric(
        log.clicks, target[log.row], estimator="dr", reward=reward[log.row], **kwargs
    )
    assert snips.estimate == pytest.approx(ips.estimate)
    assert dr.estimate == pytest.approx(ips.estimate)
    weights = log.clicks / THETA[log.position - 1]
    expected = dcg_score(weights, target[log.row], qid=log.qid, gain="linear", no_relevant="zero")
    assert ips.estimate == pytest.approx(expected)
    assert ips_dcg_at_k_score(
        log.clicks, target[log.row], qid=log.qid, propensity=THETA[log.position - 1]
    ) == pytest.approx(expected)
    relative = ips_dcg_score(
        log.clicks, target[log.row], qid=log.qid, position=log.position, propensity=THETA
    )
    assert relative == pytest.approx(THETA[0] * expected)
    clipped = ope_ranking_metric(log.clicks, target[log.row], max_weight=5.0, **kwargs)
    assert clipped.n_clipped == np.sum(log.position >= 7)  # 1/θ_p > 5 from position 7 on
    assert 0 < clipped.clipped_fraction < 1 and clipped.estimate < ips.estimate
    assert 0 < ips.ess <= len(log.qid)


def test_recall_matches_ips_recall():
    rng = np.random.RandomState(0)
    clicks = (rng.random_sample(60) < 0.3).astype(float)
    scores, users, theta = (
        rng.normal(size=60),
        np.repeat(np.arange(6), 10),
        rng.uniform(0.2, 1, 60),
    )
    r = ope_recommendation_metric(
        clicks, scores, qid=users, propensity=theta, metric="recall", k=3
    )
    assert r.estimate == pytest.approx(
        ips_recall_at_k_score(clicks, scores, qid=users, propensity=theta, k=3)
    )


def test_recall_interval_over_the_users_with_clicks_only():
    # Recall averages over the users with a click; users without one must not turn the
    # bootstrap interval into NaN (resamples without a clicked user) nor make the interval
    # of a single clicked user zero-width.
    rng = np.random.RandomState(0)
    users = np.repeat(np.arange(20), 5)
    clicks = np.zeros(100)
    clicks[[0, 7, 11, 13, 23]] = 1  # users 0, 1, 2, 4
    scores, theta = rng.normal(size=100), rng.uniform(0.2, 1, 100)
    kept = np.isin(users, [0, 1, 2, 4])
    for interval in ("normal", "bootstrap"):
        kwargs = {"metric": "recall", "k": 2, "interval": interval, "random_state": 0}
        r = ope_recommendation_metric(clicks, scores, qid=users, propensity=theta, **kwargs)
        only = ope_recommendation_metric(
            clicks[kept], scores[kept], qid=users[kept], propensity=theta[kept], **kwargs
        )
        assert np.isfinite([r.ci_low, r.ci_high, r.std_error]).all()
        assert (r.estimate, r.ci_low, r.ci_high) == pytest.approx(
            (only.estimate, only.ci_low, only.ci_high)
        )
        one = ope_recommendation_metric(
            np.r_[1.0, np.zeros(9)], scores[:10], qid=users[:10], propensity=theta[:10], **kwargs
        )
        assert np.isnan([one.ci_low, one.ci_high, one.std_error]).all()


def test_documents_the_log_never_showed_are_excluded_and_counted():
    clicks, score = [1, 0, 0, 0], [0.1, 0.9, 0.5, 0.3]
    kwargs = {"qid": [0, 0, 0, 0], "propensity": [1.0, 0.5]}
    r = ope_ranking_metric(clicks, score, position=[1, 2, 0, 0], k=None, **kwargs)
    assert r.n_excluded == 2
    assert r.estimate == pytest.approx(1 / np.log2(3))  # ranked among the shown rows only
    # with a stochastic logger that could show them, they count (click 0)
    r = ope_ranking_metric(
        clicks,
        score,
        position=[1, 2, 0, 0],
        k=None,
        logging_exposure=[1.0, 0.5, 0.25, 0.25],
        **kwargs,
    )
    assert r.n_excluded == 0 and r.estimate == pytest.approx(1 / np.log2(5))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"propensity": [1.0, 0.0]}, r"propensity .*\(0, 1\].*position 2"),
        ({"propensity": [1.0, 1.5]}, r"propensity .*position 2"),
        ({"propensity": [1.0, np.nan]}, r"propensity .*position 2"),
        ({"propensity": [1.0]}, r"no value for logged position 2"),
        ({"position": [1, 1]}, "position must not repeat"),
        ({"position": None}, "position is required"),
        ({"y_true": [2, 0]}, "clicks 0 or 1"),
        ({"y_true": [0, 1], "position": [1, 0]}, "did not display"),
        ({"logging_exposure": [0.5, 0.0]}, "logging_exposure is 0 at row 1"),
        ({"estimator": "dr"}, "needs reward"),
        ({"reward": [0.1, np.nan], "estimator": "dr"}, "reward"),
        ({"y_score": [0.1, np.inf]}, "y_score"),
    ],
)
def test_ranking_bad_input(change, message):
    args = {
        "y_true": [1, 0],
        "y_score": [0.2, 0.1],
        "qid": [0, 0],
        "position": [1, 2],
        "propensity": [1.0, 0.5],
        **change,
    }
    with pytest.raises(ValueError, match=message):
        ope_ranking_metric(args.pop("y_true"), args.pop("y_score"), **args)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"propensity": [0.5, 0.0]}, "propensity"),
        ({"propensity": [0.5, 1.2]}, "propensity"),
        ({"propensity": [0.5]}, "propensity"),
        ({"exposure": [0, 1]}, "exposure is 0"),
        ({"exposure": [1, 2]}, "exposure must hold 0 or 1"),
        ({"y_true": [1, 0.5]}, "y_true must hold 0 or 1"),
        ({"qid": None}, "qid is required"),
    ],
)
def test_recommendation_bad_input(change, message):
    args = {
        "y_true": [1, 0],
        "y_score": [0.2, 0.1],
        "qid": [0, 0],
        "propensity": [0.5, 0.5],
        **change,
    }
    with pytest.raises(ValueError, match=message):
        ope_recommendation_metric(args.pop("y_true"), args.pop("y_score"), **args)


def test_grid_search_selects_on_the_ope_scorer(ranking_world):
    """GridSearchCV with routing, fitted and scored on clicks only: a ridge with a small alpha
    beats a constant model (a random ranking) on the click-only estimate."""
    X, y, qid, *_ = ranking_world
    log = _ranking_log(ranking_world, 7, n_sessions=2000)
    scorer = make_ope_scorer("ranking", propensity=THETA)
    with sklearn.config_context(enable_metadata_routing=True):
        grid = {"model": [DummyRegressor(), Ridge()]}
        search = GridSearchCV(
            Pipeline([("model", Ridge())]), grid, cv=GroupKFold(3), scoring=scorer
        )
        search.fit(log.X, log.clicks, qid=log.qid, position=log.position, groups=log.qid)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and scores[1] > scores[0]
    assert isinstance(search.best_params_["model"], Ridge)
    direct = scorer(search.best_estimator_, log.X, log.clicks, qid=log.qid, position=log.position)
    assert direct == pytest.approx(
        ope_ranking_metric(
            log.clicks,
            search.best_estimator_.predict(log.X),
            qid=log.qid,
            position=log.position,
            propensity=THETA,
        ).estimate
    )
    with pytest.raises(ValueError, match="accepts only"):
        scorer(
            search.best_estimator_,
            log.X,
            log.clicks,
            qid=log.qid,
            position=log.position,
            sample_weight=np.ones(len(log.qid)),
        )
