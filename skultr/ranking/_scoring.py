"""Click-only model selection: scores computed from held-out clicks, without relevance labels.

A user with a click log and no editorial labels cannot score a ranker with nDCG. These
scorers use the held-out clicks instead:

- :func:`click_log_likelihood`: how well ranker × propensity predict *which* displayed
  documents were clicked;
- :func:`ips_dcg_score`: the DCG of the clicked documents under the ranker's order, each
  click weighted by its inverse examination propensity: an unbiased estimate of the DCG of
  binary relevance under the position-based model (Joachims et al., WSDM 2017).

:func:`make_click_scorer` wraps them for ``GridSearchCV`` / ``cross_validate``.
"""

import warnings
from functools import partial
from numbers import Real

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning

from skultr.metrics import ope_ranking_metric
from skultr.utils._click_log import (
    check_clicks,
    check_position_propensity,
    check_positions,
    list_codes,
    split_frame_columns,
)
from skultr.utils._sklearn_compat import _BaseScorer, _cached_call, validate_params


def _check_click_inputs(y_true, y_score, qid, position, propensity):
    """Validated clicks, scores, list codes, positions and the propensity vector."""
    y_score = np.asarray(y_score, dtype=np.float64).reshape(-1)
    n = len(y_score)
    clicks = check_clicks(y_true, n, "y_true").astype(np.float64)
    if not np.isfinite(y_score).all():
        i = int(np.flatnonzero(~np.isfinite(y_score))[0])
        raise ValueError(f"y_score must be finite; got {y_score[i]} at row {i}.")
    for name, value in (("qid", qid), ("position", position)):
        if value is None:
            raise ValueError(
                f"{name} is required to score clicks: pass the list id and the displayed "
                "position of each held-out row (with metadata routing in model selection, "
                "see make_click_scorer)."
            )
    codes, n_lists = list_codes(qid, n)
    position = check_positions(position, codes, n_lists)
    propensity = check_position_propensity(propensity, np.unique(position), reference=False)
    return clicks, y_score, codes, n_lists, position, propensity


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "qid": ["array-like", None],
        "position": ["array-like", None],
        "propensity": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def click_log_likelihood(y_true, y_score, *, qid, position, propensity):
    """Mean log-probability of the clicked documents under ranker × propensity.

    Within each list, the model ranker × propensity gives document ``i`` the probability
    ``π_i = r̂_i ô_i / Σ_j r̂_j ô_j = softmax(s_j + log p_{pos_j})_i`` of being the clicked
    one (the product of DLA's two softmax models). The score is the average of ``log π_i``
    over all clicks; higher is better, 0 is the maximum.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Held-out clicks, 0 or 1.
    y_score : array-like of shape (n_samples,)
        Ranker scores (on the softmax scale the rankers are trained on).
    qid, position : array-like of shape (n_samples,)
        List and 1-based displayed position of each row.
    propensity : array-like of shape (n_positions,)
        Examination propensity of positions 1.. (any scale). Rows displayed lower are left
        out.

    Returns
    -------
    score : float
        ``nan`` (with an UndefinedMetricWarning) when there is no click.

    Examples
    --------
    >>> from skultr.ranking import click_log_likelihood
    >>> clicks, qid, position = [1, 0, 0, 1], [1, 1, 2, 2], [1, 2, 1, 2]
    >>> round(click_log_likelihood(clicks, [0.0, 0.0, 0.0, 0.0], qid=qid, position=position,
    ...                            propensity=[1.0, 1.0]), 4)
    -0.6931
    """
    clicks, scores, codes, _, position, propensity = _check_click_inputs(
        y_true, y_score, qid, position, propensity
    )
    keep = position <= len(propensity)
    clicks, scores, codes, position = clicks[keep], scores[keep], codes[keep], position[keep]
    if clicks.sum() == 0:
        warnings.warn(
            "no click to score: the click log-likelihood is undefined.",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        return float("nan")
    logit = scores + np.log(propensity[position - 1])
    _, codes = np.unique(codes, return_inverse=True)
    n_lists = int(codes.max()) + 1
    top = np.full(n_lists, -np.inf)
    np.maximum.at(top, codes, logit)
    log_norm = (
        np.log(np.bincount(codes, weights=np.exp(logit - top[codes]), minlength=n_lists)) + top
    )
    return float(np.sum(clicks * (logit - log_norm[codes])) / clicks.sum())


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "qid": ["array-like", None],
        "position": ["array-like", None],
        "propensity": ["array-like", None],
        "k": [Real, None],
        "max_weight": [Real, None],
    },
    prefer_skip_nested_validation=True,
)
def ips_dcg_score(y_true, y_score, *, qid, position, propensity, k=10, max_weight=None):
    """Inverse-propensity-weighted DCG@k of the clicks: DCG estimated from clicks alone.

    Each list is re-ranked by ``y_score``; each click contributes
    ``(p_1 / p_{pos}) / log2(1 + rank)`` where ``pos`` is the position it was *displayed* at
    in the log and ``rank`` its rank under the scores (up to ``k``). Under the
    position-based model this is an unbiased estimate of the DCG@k of binary relevance
    (up to the scale ``p_1``) when ``propensity`` is the true examination curve. Averaged
    over lists, including lists without clicks (0).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Held-out clicks, 0 or 1.
    y_score : array-like of shape (n_samples,)
        Scores of the ranker; each list is re-ranked by them, higher first.
    qid : array-like of shape (n_samples,)
        List (session) of each row.
    position : array-like of int of shape (n_samples,)
        1-based position each row was displayed at in the log.
    propensity : array-like of shape (n_positions,)
        Examination propensity of positions 1.. (relative or absolute). Clicks displayed
        lower are not counted (their documents are still ranked).
    k : int or None, default=10
        Only the top ``k`` ranks of each list count. ``None`` uses the whole list.
    max_weight : float or None, default=None
        Clip the inverse propensity weights (less variance, some bias).

    Returns
    -------
    score : float

    Examples
    --------
    >>> from skultr.ranking import ips_dcg_score
    >>> clicks, qid, position = [0, 1, 0, 1], [1, 1, 2, 2], [1, 2, 1, 2]
    >>> round(ips_dcg_score(clicks, [0.0, 1.0, 1.0, 0.0], qid=qid, position=position,
    ...                     propensity=[1.0, 0.5]), 4)
    1.6309
    """
    clicks, scores, codes, _, position, propensity = _check_click_inputs(
        y_true, y_score, qid, position, propensity
    )
    # The estimate of ope_ranking_metric (IPS) with the weights p_1 / p_pos: the curve, of any
    # scale, is divided by its largest value s on the displayed positions so that the
    # exposures p_pos / s lie in (0, 1], and the estimate is scaled back by p_1 / s. Rows
    # displayed below the curve are not counted (click 0, exposure 1) but still ranked.
    known = position <= len(propensity)
    scale = max(propensity[0], float(np.max(propensity[position[known] - 1], initial=0.0)))
    exposure = np.ones(len(clicks))
    exposure[known] = propensity[position[known] - 1] / scale
    result = ope_ranking_metric(
        clicks * known,
        scores,
        qid=codes,
        position=position,
        propensity=np.ones(int(position.max())),
        logging_exposure=exposure,
        k=k,
        max_weight=None if max_weight is None else max_weight * scale / propensity[0],
    )
    return float(result.estimate * propensity[0] / scale)


_KINDS = {"loglik": click_log_likelihood, "ips_dcg": ips_dcg_score}


class _ClickScorer(_BaseScorer):
    """A scorer of held-out clicks that requests ``qid`` and ``position``.

    The propensity comes from the scorer (``propensity=``) or, when not given, from the
    fitted estimator's ``propensity_``.
    """

    def __init__(self, score_func, kind, propensity, kwargs):
        super().__init__(score_func=score_func, sign=1, kwargs=kwargs, response_method="predict")
        self._kind = kind
        self._propensity = propensity

    def __repr__(self):
        extra = "".join(f", {k}={v!r}" for k, v in self._kwargs.items())
        given = "" if self._propensity is None else ", propensity=[...]"
        return f"make_click_scorer({self._kind!r}{given}{extra})"

    def _get_metadata_request(self):
        requests = super()._get_metadata_request()
        for name in ("qid", "position"):
            if requests.score.requests.get(name) is None:
                requests.score.add_request(param=name, alias=True)
        return requests

    def __call__(self, estimator, X, y_true, *, qid=None, position=None):
        """Score ``estimator`` on held-out clicks ``y_true``; ``qid`` and ``position`` may
        be passed directly (or as DataFrame columns of ``X``) with or without routing."""
        return self._score(
            partial(_cached_call, None), estimator, X, y_true, qid=qid, position=position
        )

    def _propensity_of(self, estimator):
        if self._propensity is not None:
            return self._propensity
        propensity = getattr(estimator, "propensity_", None)
        if propensity is not None:
            return propensity
        if self._kind == "loglik":
            return np.ones(getattr(estimator, "max_position", 1))  # no position bias assumed
        raise ValueError(
            f"{type(estimator).__name__} has no propensity_; pass the propensities to "
            "make_click_scorer('ips_dcg', propensity=...) (true, or estimated on a "
            "randomised log)."
        )

    def _score(self, method_caller, estimator, X, y_true, qid=None, position=None, **kwargs):
        if kwargs:
            raise ValueError(
                f"{self!r} accepts only qid and position as metadata; got {sorted(kwargs)}."
            )
        _, qid, position = split_frame_columns(X, qid, position)
        y_pred = method_caller(estimator, "predict", X)
        propensity = self._propensity_of(estimator)
        propensity = np.asarray(propensity, dtype=np.float64)
        finite = np.isfinite(propensity)
        if finite[0] and not finite.all():
            # Positions never trained on have no learned propensity (NaN): the rows
            # displayed there are left out, like rows beyond max_position.
            propensity = propensity[: np.argmin(finite)]
        return self._score_func(
            y_true, y_pred, qid=qid, position=position, propensity=propensity, **self._kwargs
        )


@validate_params(
    {
        "kind": [str],
        "propensity": ["array-like", None],
        "k": [Real, None],
        "max_weight": [Real, None],
    },
    prefer_skip_nested_validation=True,
)
def make_click_scorer(kind="loglik", *, propensity=None, k=10, max_weight=None):
    """A scorer for ``GridSearchCV`` that judges rankers on held-out clicks only.

    Parameters
    ----------
    kind : {"loglik", "ips_dcg"}, default="loglik"
        ``"loglik"``: :func:`click_log_likelihood`, the mean log-probability of the clicked
        documents under the estimator's scores × propensity. ``"ips_dcg"``:
        :func:`ips_dcg_score`, the inverse-propensity-weighted DCG@k of the clicks.
    propensity : array-like, optional
        Examination propensities of positions 1..; by default the fitted estimator's
        ``propensity_`` (for ``"loglik"``, an estimator without one is scored as if there
        were no position bias). For ``"ips_dcg"`` a fixed curve estimated independently of
        the candidates (for example by :class:`skultr.propensity.RandomizationPropensity`)
        makes the candidates comparable; each candidate's own curve lets it grade itself.
    k : int or None, default=10
        Cut-off of ``"ips_dcg"``.
    max_weight : float, optional
        Clip of the inverse propensity weights of ``"ips_dcg"``.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, clicks, qid=..., position=...)``, greater is better. It
        requests ``qid`` and ``position`` through metadata routing from the start.

    Notes
    -----
    In model selection, split by list and route the metadata::

        sklearn.set_config(enable_metadata_routing=True)
        ranker = DLARanker().set_fit_request(qid=True, position=True)
        search = GridSearchCV(ranker, grid, cv=GroupKFold(5),
                              scoring=make_click_scorer("loglik"))
        search.fit(X, clicks, qid=qid, position=position, groups=qid)

    Examples
    --------
    >>> from skultr.ranking import make_click_scorer
    >>> make_click_scorer("ips_dcg", propensity=[1.0, 0.5])
    make_click_scorer('ips_dcg', propensity=[...], k=10)
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {sorted(_KINDS)}; got {kind!r}.")
    if propensity is not None:
        propensity = np.asarray(propensity, dtype=np.float64)
    kwargs = {"k": k, **({"max_weight": max_weight} if max_weight is not None else {})}
    kwargs = kwargs if kind == "ips_dcg" else {}
    return _ClickScorer(_KINDS[kind], kind, propensity, kwargs)
