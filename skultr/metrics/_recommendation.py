"""Top-k metrics of recommendation on a test set, per user, and the recommendation scorer.

A recommendation test set (for example the missing-at-random ratings of Coat or Yahoo! R3) is a
set of (user, item) rows with a relevance label. Each user's test items form one list, ranked by
the predicted score; the metrics below are computed per user and averaged. They share the
grouped machinery of :mod:`skultr.metrics._ranking` (``qid`` is the user id), so
:func:`~skultr.metrics.dcg_score`, :func:`~skultr.metrics.ndcg_score` and
:func:`~skultr.metrics.average_precision_score` (MAP@k) apply to recommendation as they are,
and they follow the same conventions for ties and for users without a relevant test item
(stated in the docstring of :mod:`skultr.metrics`).
"""

from collections.abc import Callable
from numbers import Real

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import roc_auc_score

from skultr.utils._interactions import check_interactions
from skultr.utils._sklearn_compat import _Scorer, validate_params
from skultr.utils._validation import check_int

from ._ranking import (
    _NO_RELEVANT,
    _TIES,
    _check_option,
    _check_ranking_inputs,
    _expected_top_k_sum,
    _mean_over_queries,
    _sort_queries,
    _tie_blocks,
    average_precision_score,
    dcg_score,
    ndcg_score,
)


def _hits_at_k(y_true, y_score, qid, k, ties):
    """Per-user expected hits in the top ``k`` (ties as ``ties`` says), relevant counts and
    cut-offs. A tie block straddling the cut-off contributes its relevant count times the share
    of its items inside the top ``k`` (a fractional, exact expectation)."""
    k = check_int(k, "k", allow_none=True)
    _check_option("ties", ties, _TIES)
    y_true, y_score, group, n_queries = _check_ranking_inputs(y_true, y_score, qid)
    sq = _sort_queries(y_true, y_score, group, n_queries)
    relevant = (sq.relevance > 0).astype(np.float64)
    hits = _expected_top_k_sum(sq, _tie_blocks(sq, ties), relevant, k)
    n_relevant = np.bincount(sq.query, weights=relevant, minlength=n_queries)
    cutoff = sq.sizes if k is None else np.full(n_queries, k)
    return hits, n_relevant, cutoff


def _per_user_precision_recall(y_true, y_score, qid, k, ties):
    hits, n_relevant, cutoff = _hits_at_k(y_true, y_score, qid, k, ties)
    has_relevant = n_relevant > 0
    recall = np.divide(hits, n_relevant, out=np.zeros_like(hits), where=has_relevant)
    precision = hits / cutoff
    return precision, recall, has_relevant


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "qid": ["array-like"],
        "k": [Real, None],
        "no_relevant": [str],
        "ties": [str],
    },
    prefer_skip_nested_validation=True,
)
def recall_at_k_score(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    qid: ArrayLike,
    k: int | None = 10,
    no_relevant: str = "skip",
    ties: str = "average",
) -> float:
    """Recall@k: the share of each user's relevant test items ranked in the top ``k``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Non-negative label of each test (user, item) row; every value above 0 is relevant.
    y_score : array-like of shape (n_samples,)
        Predicted score of each row; higher means recommended earlier. Must be finite.
    qid : array-like of shape (n_samples,)
        The user of each row (any order; a user's rows need not be contiguous).
    k : int or None, default=10
        Cut-off. ``None`` uses each user's whole test list (recall is then 1).
    no_relevant : {"skip", "zero", "one"}, default="skip"
        Users without a relevant test item have recall 0 / 0: ``"skip"`` leaves them out of
        the mean, ``"zero"`` / ``"one"`` score them 0 / 1.
    ties : {"average", "pessimistic"}, default="average"
        How items with equal scores are ordered (the convention of every
        :mod:`skultr.metrics` ranking metric, see its docstring): ``"average"`` gives the exact
        mean over every ordering of tied items; ``"pessimistic"`` puts the non-relevant items
        first, the worst ordering the scores allow.

    Returns
    -------
    score : float
        Mean over users of ``hits@k / n_relevant``, in [0, 1].

    Notes
    -----
    With ``rel_r`` the 0/1 relevance of the item a user's ranking puts at rank ``r``,
    ``Recall@k = sum_{r <= k} rel_r / n_rel``. By default tied scores are averaged over their
    orderings: a block of ``n`` tied items holding ``a`` relevant ones, with ``s`` of its
    ranks inside the top ``k``, adds ``a * s / n`` expected hits. A constant scorer gets the
    expected recall of a random ranking, ``min(k, n_items) / n_items``.

    Examples
    --------
    >>> from skultr.metrics import recall_at_k_score
    >>> y_true = [1, 0, 1, 0, 1, 0]
    >>> y_score = [0.9, 0.8, 0.1, 0.2, 0.7, 0.3]
    >>> users = [0, 0, 0, 1, 1, 1]
    >>> recall_at_k_score(y_true, y_score, qid=users, k=1)
    0.75
    """
    _check_option("no_relevant", no_relevant, _NO_RELEVANT)
    _, recall, has_relevant = _per_user_precision_recall(y_true, y_score, qid, k, ties)
    return _mean_over_queries(recall, has_relevant, no_relevant, "Recall@k")


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "qid": ["array-like"],
        "k": [Real, None],
        "no_relevant": [str],
        "ties": [str],
    },
    prefer_skip_nested_validation=True,
)
def precision_at_k_score(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    qid: ArrayLike,
    k: int | None = 10,
    no_relevant: str = "skip",
    ties: str = "average",
) -> float:
    """Precision@k: the share of relevant items among each user's top ``k``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Non-negative label of each test (user, item) row; every value above 0 is relevant.
    y_score : array-like of shape (n_samples,)
        Predicted score of each row; higher means recommended earlier. Must be finite.
    qid : array-like of shape (n_samples,)
        The user of each row.
    k : int or None, default=10
        Cut-off. The divisor is ``k`` even when a user has fewer than ``k`` test items (the
        usual convention; it caps such users below 1). ``None`` divides by the list length.
    no_relevant : {"skip", "zero", "one"}, default="skip"
        Users without a relevant test item score 0 whatever the ranking: ``"skip"`` leaves
        them out of the mean, ``"zero"`` keeps them (at 0), ``"one"`` scores them 1.
    ties : {"average", "pessimistic"}, default="average"
        How items with equal scores are ordered (the convention of every
        :mod:`skultr.metrics` ranking metric, see its docstring): ``"average"`` gives the exact
        mean over every ordering of tied items; ``"pessimistic"`` puts the non-relevant items
        first, the worst ordering the scores allow.

    Returns
    -------
    score : float
        Mean over users of ``hits@k / k``, with ``hits@k`` the expected number of relevant
        items in the top ``k`` over the orderings of tied scores (``ties="average"``).

    Examples
    --------
    >>> from skultr.metrics import precision_at_k_score
    >>> precision_at_k_score([1, 0, 1, 0], [0.9, 0.8, 0.1, 0.2], qid=[0, 0, 0, 0], k=2)
    0.5
    """
    _check_option("no_relevant", no_relevant, _NO_RELEVANT)
    precision, _, has_relevant = _per_user_precision_recall(y_true, y_score, qid, k, ties)
    return _mean_over_queries(precision, has_relevant, no_relevant, "Precision@k")


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "qid": ["array-like"],
        "k": [Real, None],
        "no_relevant": [str],
        "ties": [str],
    },
    prefer_skip_nested_validation=True,
)
def f1_at_k_score(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    qid: ArrayLike,
    k: int | None = 10,
    no_relevant: str = "skip",
    ties: str = "average",
) -> float:
    """F1@k: harmonic mean of the mean Precision@k and the mean Recall@k over users.

    Parameters
    ----------
    y_true, y_score, qid, k, no_relevant, ties
        As in :func:`precision_at_k_score` and :func:`recall_at_k_score`.

    Returns
    -------
    score : float
        ``2 P R / (P + R)`` with ``P``, ``R`` the averages over users (0 when both are 0).

    Notes
    -----
    This is the definition used by the debiased collaborative filtering literature that reports
    F1@5 on Coat and Yahoo! R3 (the harmonic mean of the averages, not the average of per-user
    harmonic means). Both averages use the same users, chosen by ``no_relevant``, and the
    same tie convention (with ``ties="average"``, the expected precision and recall over the
    orderings of tied scores).

    Examples
    --------
    >>> from skultr.metrics import f1_at_k_score
    >>> y_true = [1, 0, 1, 0, 1, 0]
    >>> y_score = [0.9, 0.8, 0.1, 0.2, 0.7, 0.3]
    >>> users = [0, 0, 0, 1, 1, 1]
    >>> round(f1_at_k_score(y_true, y_score, qid=users, k=1), 4)
    0.8571
    """
    _check_option("no_relevant", no_relevant, _NO_RELEVANT)
    precision, recall, has_relevant = _per_user_precision_recall(y_true, y_score, qid, k, ties)
    p = _mean_over_queries(precision, has_relevant, no_relevant, "F1@k")
    r = _mean_over_queries(recall, has_relevant, no_relevant, "F1@k")
    if np.isnan(p) or np.isnan(r):
        return float("nan")
    return 0.0 if p + r == 0 else float(2 * p * r / (p + r))


def _auc(y_true, y_score, *, qid=None, k=None):
    """ROC AUC over all test pairs (``qid`` and ``k`` are ignored); a tied pair counts 1/2,
    the average over its two orders, as the tie convention of the other metrics."""
    return float(roc_auc_score(np.asarray(y_true) > 0, y_score))


_RECOMMENDATION_METRICS: dict[str, Callable] = {
    "dcg": dcg_score,
    "ndcg": ndcg_score,
    "map": average_precision_score,
    "recall": recall_at_k_score,
    "precision": precision_at_k_score,
    "f1": f1_at_k_score,
    "auc": _auc,
}


class _RecommendationScorer(_Scorer):
    """Scores ``estimator.predict(X)`` with a metric grouped by the user column of ``X``."""

    def _score(self, method_caller, estimator, X, y_true, **kwargs):
        y_score = method_caller(estimator, "predict", X)
        # the user column as the estimator reads it (a DataFrame's by name, see id_columns)
        read = getattr(estimator, "_raw_pairs", check_interactions)
        users, _, _ = read(X)
        return self._sign * self._score_func(y_true, y_score, qid=users, **self._kwargs)


@validate_params(
    {"metric": [str, callable], "k": [Real, None]},
    prefer_skip_nested_validation=True,
)
def make_recommendation_scorer(metric: str | Callable, *, k: int | None = 10, **kwargs):
    """Build a scorer for recommenders, for GridSearchCV, cross_validate and friends.

    The scorer calls ``estimator.predict(X)`` on the test pairs ``X`` (shape ``(n, 2)``:
    user id, item id), groups the rows by user (the first column) and returns the metric.

    Parameters
    ----------
    metric : {"dcg", "ndcg", "map", "recall", "precision", "f1", "auc"} or callable
        The metric: :func:`dcg_score`, :func:`ndcg_score`, :func:`average_precision_score`
        (MAP@k), :func:`recall_at_k_score`, :func:`precision_at_k_score`,
        :func:`f1_at_k_score`, or the ROC AUC over all test pairs (``k`` ignored). A callable
        is called as ``metric(y_true, y_score, qid=users, k=k, **kwargs)``.
    k : int or None, default=10
        Cut-off passed to the metric.
    **kwargs
        Further keyword arguments of the metric (``gain``, ``no_relevant``...).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)``, greater is better.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator
    >>> from skultr.metrics import make_recommendation_scorer
    >>> class Popularity(BaseEstimator):
    ...     def predict(self, X):
    ...         return -np.asarray(X)[:, 1]  # lower item id = more popular
    >>> X_test = np.array([[0, 0], [0, 1], [1, 0], [1, 2]])
    >>> scorer = make_recommendation_scorer("recall", k=1)
    >>> scorer(Popularity(), X_test, [1, 0, 0, 1])
    0.5
    """
    if isinstance(metric, str):
        if metric not in _RECOMMENDATION_METRICS:
            options = ", ".join(repr(m) for m in _RECOMMENDATION_METRICS)
            raise ValueError(f"metric must be one of {options} or a callable; got {metric!r}.")
        score_func = _RECOMMENDATION_METRICS[metric]
    else:  # a callable (validate_params admits nothing else)
        score_func = metric
    if score_func is not _auc:
        kwargs = {"k": k, **kwargs}
    return _RecommendationScorer(score_func, sign=1, kwargs=kwargs, response_method="predict")
