"""Top-k recommendation metrics against brute-force per-user loops, and the scorer."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.base import BaseEstimator

from skultr.metrics import (
    f1_at_k_score,
    make_recommendation_scorer,
    ndcg_score,
    precision_at_k_score,
    recall_at_k_score,
)


def _brute_force(y_true, y_score, users, k):
    """Per-user (precision, recall, has_positive) with pessimistic tie-breaking (the
    tie-averaged values are checked against every tie ordering in test_ranking.py)."""
    out = []
    for user in np.unique(users):
        rows = users == user
        rel, score = y_true[rows] > 0, y_score[rows]
        order = np.lexsort((rel, -score))  # score descending, non-relevant first on ties
        hits = rel[order][:k].sum()
        n_rel = rel.sum()
        out.append((hits / k, hits / n_rel if n_rel else 0.0, n_rel > 0))
    return np.array(out, dtype=float)


@given(
    data=st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 1), st.integers(0, 5)), min_size=1, max_size=60
    ),
    k=st.integers(1, 6),
)
def test_pessimistic_precision_recall_f1_match_brute_force(data, k):
    users, y_true, y_score = (np.array(col) for col in zip(*data, strict=True))
    per_user = _brute_force(y_true, y_score.astype(float), users, k)
    has = per_user[:, 2].astype(bool)
    for no_relevant, keep in (("zero", np.ones_like(has)), ("skip", has)):
        if not keep.any():
            continue
        p, r = per_user[keep, 0].mean(), per_user[keep, 1].mean()
        kw = {"qid": users, "k": k, "no_relevant": no_relevant}
        kw["ties"] = "pessimistic"
        assert precision_at_k_score(y_true, y_score, **kw) == pytest.approx(p)
        assert recall_at_k_score(y_true, y_score, **kw) == pytest.approx(r)
        expected_f1 = 0.0 if p + r == 0 else 2 * p * r / (p + r)
        assert f1_at_k_score(y_true, y_score, **kw) == pytest.approx(expected_f1)


def test_users_without_positive_are_skipped_by_default():
    y_true = [0, 0, 1, 0]
    y_score = [0.9, 0.1, 0.2, 0.8]
    users = [0, 0, 1, 1]
    assert recall_at_k_score(y_true, y_score, qid=users, k=1) == 0.0
    assert recall_at_k_score(y_true, y_score, qid=users, k=2) == 1.0
    assert recall_at_k_score(y_true, y_score, qid=users, k=2, no_relevant="zero") == 0.5
    with pytest.warns(UserWarning, match="undefined"):
        assert np.isnan(recall_at_k_score([0, 0], [1, 2], qid=[0, 0], k=1))


class _ItemScore(BaseEstimator):
    def __init__(self, item_scores=None):
        self.item_scores = item_scores

    def fit(self, X, y=None):
        return self

    def predict(self, X):
        return np.asarray(self.item_scores)[np.asarray(X)[:, 1]]


def test_recommendation_scorer_groups_by_user_column():
    X = np.array([[0, 0], [0, 1], [0, 2], [1, 0], [1, 2]])
    y = np.array([0, 1, 0, 1, 0])
    model = _ItemScore([0.5, 0.9, 0.1])
    scorer = make_recommendation_scorer("ndcg", k=2, gain="linear")
    assert scorer(model, X, y) == pytest.approx(
        ndcg_score(y, model.predict(X), qid=X[:, 0], k=2, gain="linear")
    )
    # positives score 0.9 and 0.5; negatives 0.5, 0.1, 0.1: AUC = (3 + 2.5) / 6
    assert make_recommendation_scorer("auc")(model, X, y) == pytest.approx(5.5 / 6)
    assert make_recommendation_scorer("precision", k=1)(model, X, y) == pytest.approx(1.0)
    custom = make_recommendation_scorer(lambda t, s, *, qid, k: float(len(np.unique(qid)) + k))
    assert custom(model, X, y) == 12.0
    with pytest.raises(ValueError, match="metric must be one of"):
        make_recommendation_scorer("rmse")


def test_dcg_skips_users_without_a_positive_by_default():
    from skultr.metrics import dcg_score

    y_true, y_score, users = [1, 0, 0, 0], [0.9, 0.1, 0.5, 0.4], [0, 0, 1, 1]
    assert dcg_score(y_true, y_score, qid=users, k=2, gain="linear") == 1.0
    assert dcg_score(y_true, y_score, qid=users, k=2, gain="linear", no_relevant="zero") == 0.5
    scorer = make_recommendation_scorer("dcg", k=2, gain="linear", no_relevant="skip")
    model = _ItemScore([0.9, 0.1, 0.5, 0.4])
    assert scorer(model, np.array([[0, 0], [0, 1], [1, 2], [1, 3]]), y_true) == 1.0
    with pytest.raises(ValueError, match="no_relevant must be one of"):
        dcg_score(y_true, y_score, qid=users, no_relevant="one")
