"""IPS offline metrics for MNAR implicit feedback: IPS DCG@k / Recall@k, the Rel-MF loss
estimate, and the held-out-click scorer."""

import numpy as np
import pytest
from sklearn.exceptions import UndefinedMetricWarning

from skultr.datasets import make_mnar_implicit_feedback
from skultr.metrics import (
    dcg_score,
    ips_dcg_at_k_score,
    ips_pointwise_loss,
    ips_recall_at_k_score,
    make_ips_scorer,
)
from skultr.propensity import PopularityPropensity


def test_ips_dcg_is_dcg_of_inverse_propensity_gains_over_all_users():
    clicks = np.array([1, 0, 0, 0, 1, 0, 0, 0])
    scores = np.array([0.9, 0.5, 0.1, 0.8, 0.7, 0.3, 0.4, 0.2])
    users = np.array([0, 0, 0, 1, 1, 1, 2, 2])  # user 2 has no click: contributes 0
    theta = np.array([0.5, 1, 1, 1, 0.25, 1, 1, 1])
    got = ips_dcg_at_k_score(clicks, scores, qid=users, propensity=theta, k=2)
    assert got == pytest.approx((2.0 + 4.0 / np.log2(3)) / 3)
    clipped = ips_dcg_at_k_score(clicks, scores, qid=users, propensity=theta, k=2, max_weight=2.0)
    assert clipped == pytest.approx((2.0 + 2.0 / np.log2(3)) / 3)
    assert got == pytest.approx(
        dcg_score(clicks / theta, scores, qid=users, k=2, gain="linear", no_relevant="zero")
    )


def test_ips_dcg_is_unbiased_for_the_relevance_dcg_of_a_fixed_ranking():
    """Average over 400 click draws Y ~ Bernoulli(θγ) vs the DCG@5 with gain γ."""
    data = make_mnar_implicit_feedback(n_users=100, n_items=60, random_state=0)
    rng = np.random.default_rng(0)
    scores = rng.normal(size=data.relevance.shape) + 2 * data.relevance
    users = np.repeat(np.arange(100), 60)
    truth = dcg_score(
        data.relevance.ravel(), scores.ravel(), qid=users, k=5, gain="linear", no_relevant="zero"
    )
    p_click = (data.exposure * data.relevance).ravel()
    estimates = np.array(
        [
            ips_dcg_at_k_score(
                rng.random(p_click.size) < p_click,
                scores.ravel(),
                qid=users,
                propensity=data.exposure.ravel(),
                k=5,
            )
            for _ in range(400)
        ]
    )
    se = estimates.std(ddof=1) / np.sqrt(len(estimates))
    assert abs(estimates.mean() - truth) < 3 * se, (estimates.mean(), truth, se)
    # the naive click DCG is biased towards exposure: far below the truth here
    naive = dcg_score(p_click, scores.ravel(), qid=users, k=5, gain="linear", no_relevant="zero")
    assert naive < truth - 20 * se


def test_ips_recall_is_self_normalised_and_skips_users_without_clicks():
    clicks = [1, 1, 0, 0, 0, 0]
    scores = [0.9, 0.1, 0.5, 0.8, 0.7, 0.3]
    theta = [1.0, 0.25, 1.0, 1.0, 1.0, 1.0]
    got = ips_recall_at_k_score(clicks, scores, qid=[0, 0, 0, 1, 1, 1], propensity=theta, k=1)
    assert got == pytest.approx(1 / 5)
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(ips_recall_at_k_score([0, 0], [1, 2], qid=[0, 0], propensity=1.0))


def test_pointwise_loss_is_the_ideal_loss_with_relevance_and_unit_propensity():
    gamma = np.array([0.2, 0.9, 0.5])
    s = np.array([-1.0, 2.0, 0.3])
    sigma = 1 / (1 + np.exp(-s))
    expected = {
        "logistic": np.mean(-gamma * np.log(sigma) - (1 - gamma) * np.log(1 - sigma)),
        "squared": np.mean(gamma * (1 - sigma) ** 2 + (1 - gamma) * sigma**2),
        "least_squares": np.mean(gamma * (1 - s) ** 2 + (1 - gamma) * s**2),
    }
    for loss, value in expected.items():
        assert ips_pointwise_loss(gamma, s, loss=loss) == pytest.approx(value)


def test_pointwise_loss_weights_and_clipping():
    # click with θ = 0.2, weight 1/0.2 = 5 capped at 2 on δ¹ and 1 - 2 = -1 on δ⁰
    got = ips_pointwise_loss([1, 0], [0.5, 0.0], propensity=[0.2, 1.0], max_weight=2.0)
    assert got == pytest.approx((2 * 0.25 - 1 * 0.25 + 0.0) / 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"propensity": [0.5, 1.2]}, r"propensity.*entry 1 is 1.2"),
        ({"propensity": [0.5]}, "one value per row"),
        ({"max_weight": 0.5}, "max_weight"),
        ({"loss": "hinge"}, "loss"),
    ],
)
def test_pointwise_loss_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ips_pointwise_loss([1, 0], [0.5, 0.0], **kwargs)


def test_ips_dcg_bad_input():
    with pytest.raises(ValueError, match=r"propensity.*entry 0 is 0.0"):
        ips_dcg_at_k_score([1], [0.5], qid=[0], propensity=[0.0])
    with pytest.raises(ValueError, match="non-negative"):
        ips_dcg_at_k_score([-1], [0.5], qid=[0], propensity=[0.5])


@pytest.fixture(scope="module")
def split():
    from skultr.recommendation import RelMFRecommender

    data = make_mnar_implicit_feedback(
        n_users=150, n_items=60, popularity_spread=0.5, random_state=4
    )
    rng = np.random.default_rng(0)
    held_out = rng.random(len(data.X)) < 0.2
    model = RelMFRecommender(
        n_factors=4, n_users=150, n_items=60, device="cpu", random_state=0
    ).fit(data.X[~held_out])
    # an item without a training click has zero factors too: keep the comparison free of ties
    assert np.all(np.abs(model.item_factors_).sum(axis=1) > 0)
    return data, held_out, model


def test_scorer_equals_the_row_metric_over_every_unseen_item(split):
    data, held_out, model = split
    X_val = data.X[held_out]
    # a user without training clicks has zero factors, hence all-tied scores, which recommend
    # orders arbitrarily and dcg_score averages: leave such users out of the comparison
    X_val = X_val[np.abs(model.user_factors_[X_val[:, 0]]).sum(axis=1) > 0]
    theta = PopularityPropensity(n_items=60).fit(data.X).propensity_
    scorer = make_ips_scorer("dcg", propensity=theta, k=5)
    users = np.unique(X_val[:, 0])
    # rows: every item each validation user did not train on, labelled by held-out clicks
    rows = np.array([(u, i) for u in users for i in range(60) if not model.seen_[u, i]])
    clicked = np.zeros((150, 60), dtype=bool)
    clicked[X_val[:, 0], X_val[:, 1]] = True
    expected = ips_dcg_at_k_score(
        clicked[rows[:, 0], rows[:, 1]],
        model.predict(rows),
        qid=rows[:, 0],
        propensity=theta[rows[:, 1]],
        k=5,
    )
    assert scorer(model, X_val) == pytest.approx(expected)
    # zero-feedback rows are ignored; propensity as a matrix or a fitted estimator agrees
    y = np.r_[np.ones(len(X_val)), 0]
    X_more = np.vstack([X_val, [[0, 0]]])
    assert scorer(model, X_more, y) == pytest.approx(expected)
    for spec in (np.tile(theta, (150, 1)), PopularityPropensity(n_items=60).fit(data.X)):
        assert make_ips_scorer("dcg", propensity=spec, k=5)(model, X_val) == pytest.approx(
            expected
        )
    recall = make_ips_scorer("recall", propensity=theta, k=5)(model, X_val)
    assert 0 < recall < 1


def test_scorer_bad_input(split):
    data, held_out, model = split
    with pytest.raises(ValueError, match="metric"):
        make_ips_scorer("auc", propensity=np.ones(60))
    with pytest.raises(ValueError, match="propensity is required"):
        make_ips_scorer("dcg", propensity=None)
    with pytest.raises(ValueError, match=r"propensity.*entry 3 is 0.0"):
        make_ips_scorer("dcg", propensity=np.r_[np.ones(3), 0.0])
    scorer = make_ips_scorer("dcg", propensity=np.ones(10))
    with pytest.raises(ValueError, match=r"shape \(10,\): one entry per item id, but item id"):
        scorer(model, data.X[held_out])
    with pytest.raises(ValueError, match=r"X\[:, 1\] \(item ids\).*entry 0 is 1.5"):
        scorer(model, [[0, 1.5]])


def test_ips_metrics_average_over_tied_scores_like_every_ranking_metric():
    """Before: IPS Recall@k ordered tied scores pessimistically while IPS DCG averaged."""
    from itertools import permutations

    from skultr.metrics import ips_dcg_at_k_score, ips_recall_at_k_score

    clicks = np.array([1, 0, 1, 0, 1])
    scores = np.array([0.5, 0.5, 0.5, 0.9, 0.1])  # three tied rows straddle k = 2
    theta = np.array([0.5, 1.0, 0.25, 1.0, 1.0])
    qid = np.zeros(5, dtype=int)
    for metric in (ips_recall_at_k_score, ips_dcg_at_k_score):
        # the expectation over every order of the tied rows, by brute force
        tied = np.flatnonzero(scores == 0.5)
        values = []
        for order in permutations(range(len(tied))):
            broken = scores.copy()
            broken[tied] = 0.5 + 1e-3 * np.asarray(order)
            values.append(metric(clicks, broken, qid=qid, propensity=theta, k=2))
        average = metric(clicks, scores, qid=qid, propensity=theta, k=2)
        assert average == pytest.approx(np.mean(values))
        worst = metric(clicks, scores, qid=qid, propensity=theta, k=2, ties="pessimistic")
        assert worst == pytest.approx(min(values))
        with pytest.raises(ValueError, match="ties"):
            metric(clicks, scores, qid=qid, propensity=theta, ties="random")
