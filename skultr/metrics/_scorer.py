"""Scorers for the grouped ranking metrics that receive ``qid`` through metadata routing."""

import inspect
from collections.abc import Callable
from functools import partial
from numbers import Real

from sklearn.metrics import make_scorer

from skultr.utils._click_log import split_frame_columns
from skultr.utils._sklearn_compat import _cached_call, _Scorer, validate_params
from skultr.utils._validation import check_int

from ._ranking import (
    _GAINS,
    _NO_RELEVANT,
    _check_option,
    average_precision_score,
    dcg_score,
    err_score,
    ndcg_score,
)

_METRICS = {
    "ndcg": ndcg_score,
    "dcg": dcg_score,
    "err": err_score,
    "map": average_precision_score,
}

_MISSING_QID = (
    "The ranking scorer {scorer} needs the query id of each row, but no qid was passed. "
    "Enable metadata routing and pass qid where you fit, for example:\n"
    "    sklearn.set_config(enable_metadata_routing=True)\n"
    "    GridSearchCV(est, grid, cv=GroupKFold(5), scoring=scorer).fit(X, y, qid=qid, "
    "groups=qid)\n"
    "or give X as a pandas DataFrame with a 'qid' column, or call the scorer directly as "
    "scorer(estimator, X, y, qid=qid). To score all rows as one list, pass "
    "qid=np.zeros(len(y))."
)


class _RankingScorer(_Scorer):
    """A sklearn scorer whose ``score`` always requests ``qid``, with or without routing enabled.

    ``set_score_request`` only works while routing is enabled, so the request is added when the
    routing information is read instead: a user-set alias for ``qid`` is kept, an unset ``qid`` is
    requested under its own name.
    """

    def _get_metadata_request(self):
        requests = super()._get_metadata_request()
        if requests.score.requests.get("qid") is None:
            requests.score.add_request(param="qid", alias=True)
        return requests

    def __call__(self, estimator, X, y_true, *, qid=None, **kwargs):
        """Score ``estimator.predict(X)`` against ``y_true`` per query given by ``qid``.

        Unlike plain sklearn scorers, ``qid`` may be passed directly even when metadata routing
        is disabled.
        """
        if kwargs:
            raise ValueError(
                f"{self!r} accepts only qid as metadata; got {sorted(kwargs)}. Ranking metrics "
                "are averaged over queries and take no sample_weight."
            )
        return self._score(partial(_cached_call, None), estimator, X, y_true, qid=qid)

    def _score(self, method_caller, estimator, X, y_true, **kwargs):
        # The routed path (GridSearchCV, cross_validate, multi-metric scoring) calls _score
        # directly, so the check for a missing qid lives here. The convention of the click
        # scorers: an explicit (routed) qid, else the qid column of a DataFrame X (the two
        # must agree when both are given). X goes to the estimator unchanged.
        _, kwargs["qid"], _ = split_frame_columns(X, kwargs.get("qid"), None)
        if kwargs["qid"] is None:
            raise ValueError(_MISSING_QID.format(scorer=repr(self)))
        return super()._score(method_caller, estimator, X, y_true, **kwargs)


def _resolve_metric(metric):
    """The metric function named by ``metric`` (a short name or a callable taking ``qid``)."""
    if isinstance(metric, str):
        if metric not in _METRICS:
            options = ", ".join(repr(name) for name in _METRICS)
            raise ValueError(f"metric must be one of {options} or a callable; got {metric!r}.")
        return _METRICS[metric]
    # a callable (validate_params admits nothing else)
    try:
        parameters = inspect.signature(metric).parameters
    except (TypeError, ValueError):
        parameters = {}
    if "qid" not in parameters:
        raise ValueError(
            f"metric {metric!r} must accept a qid keyword argument, like "
            "skultr.metrics.ndcg_score."
        )
    return metric


def _check_metric_kwargs(score_func, kwargs):
    """Reject keyword arguments the metric does not take, and bad option values, early."""
    reserved = {"y_true", "y_score", "qid"} & set(kwargs)
    if reserved:
        raise ValueError(
            f"{sorted(reserved)} cannot be fixed in make_ranking_scorer: y_true and y_score come "
            "from the data and the estimator, qid is routed as metadata at scoring time."
        )
    parameters = inspect.signature(score_func).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown = set(kwargs) - set(parameters)
    if unknown and not accepts_any:
        valid = sorted(set(parameters) - {"y_true", "y_score", "qid", "k"})
        raise ValueError(
            f"{score_func.__name__} got unknown parameter(s) {sorted(unknown)}; "
            f"valid ones are {valid}."
        )
    if "gain" in kwargs:
        _check_option("gain", kwargs["gain"], _GAINS)
    if "no_relevant" in kwargs:
        allowed = ("zero", "skip") if score_func is dcg_score else _NO_RELEVANT
        _check_option("no_relevant", kwargs["no_relevant"], allowed)


@validate_params(
    {"metric": [str, callable], "k": [Real, None]},
    prefer_skip_nested_validation=True,
)
def make_ranking_scorer(metric: str | Callable, *, k: int | None = 10, **kwargs) -> _Scorer:
    """Build a scikit-learn scorer for a grouped ranking metric that requests ``qid``.

    Parameters
    ----------
    metric : {"ndcg", "dcg", "err", "map"} or callable
        The metric: :func:`ndcg_score`, :func:`dcg_score`, :func:`err_score` or
        :func:`average_precision_score`, by name or as the function itself. Any other callable
        ``metric(y_true, y_score, *, qid, k, ...)`` is accepted too.
    k : int or None, default=10
        Cut-off passed to the metric; ``None`` scores the whole list. Note that ``"map"`` then
        means MAP@10 unless ``k=None`` is given.
    **kwargs
        Further keyword arguments of the metric, for example ``gain="linear"``,
        ``no_relevant="zero"`` or ``max_grade=4``.

    Returns
    -------
    scorer : callable
        A scorer ``scorer(estimator, X, y_true, qid=qid)`` (greater is better) that scores
        ``estimator.predict(X)``. Its ``score`` metadata request includes ``qid`` from the start,
        so no ``set_score_request`` call is needed.

    Notes
    -----
    The scorer is built with :func:`sklearn.metrics.make_scorer`. A ranking metric needs the
    query id of each test row, which model-selection tools only pass to a scorer through
    metadata routing:

    1. ``sklearn.set_config(enable_metadata_routing=True)`` (or ``sklearn.config_context``);
    2. split by query, e.g. ``cv=GroupKFold(n_splits)`` with ``groups=qid``;
    3. pass ``qid`` to ``fit``: ``GridSearchCV(...).fit(X, y, qid=qid, groups=qid)`` or
       ``cross_validate(..., params={"qid": qid, "groups": qid})``.

    Without routing, the ``qid`` column of a pandas DataFrame ``X`` is used (as by
    :func:`skultr.ranking.make_click_scorer`; ``X`` still goes to the estimator whole, so
    the estimator must accept or drop that column, as skultr's rankers do). An explicit or
    routed ``qid`` and a ``qid`` column must agree. Without either the scorer raises a
    ValueError that says so: it never scores a whole fold as one list. To score all rows as
    one list, pass ``qid=np.zeros(len(y))``. Called directly, it accepts ``qid`` whether or
    not routing is enabled. Use ``set_score_request(qid=
    "name")`` (routing enabled) to read the query ids from metadata passed under another name.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from skultr.metrics import make_ranking_scorer
    >>> X = np.array([[0.0], [1.0], [2.0], [0.0], [1.0], [2.0]])
    >>> y = np.array([0, 1, 2, 0, 2, 1])
    >>> qid = np.array([1, 1, 1, 2, 2, 2])
    >>> model = LinearRegression().fit(X, y)
    >>> scorer = make_ranking_scorer("ndcg", k=2)
    >>> round(scorer(model, X, y, qid=qid), 4)
    0.8984
    """
    score_func = _resolve_metric(metric)
    k = check_int(k, "k", allow_none=True)
    _check_metric_kwargs(score_func, kwargs)
    base = make_scorer(
        score_func, response_method="predict", greater_is_better=True, k=k, **kwargs
    )
    return _RankingScorer(
        score_func=base._score_func,
        sign=base._sign,
        kwargs=base._kwargs,
        response_method=base._response_method,
    )
