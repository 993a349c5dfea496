"""The off-policy evaluation scorer: :func:`make_ope_scorer`, for ``GridSearchCV`` and
``cross_validate`` on held-out clicks (the estimators are in :mod:`._ope`)."""

from functools import partial
from numbers import Integral, Real

import numpy as np

from skultr.utils._click_log import split_frame_columns
from skultr.utils._sklearn_compat import (
    HasMethods,
    Interval,
    StrOptions,
    _BaseScorer,
    _cached_call,
    validate_params,
)

from ._ope import _ESTIMATORS, _METRICS, ope_ranking_metric, ope_recommendation_metric

_KIND_METADATA = {
    "ranking": ("qid", "position", "logging_exposure"),
    "recommendation": ("qid", "propensity", "exposure"),
}


class _OPEScorer(_BaseScorer):
    """``scorer(estimator, X, clicks, **metadata)``: the OPE estimate of ``estimator.predict``.

    Requests its metadata (``qid`` and the family's side arrays) through routing from the
    start; they may also be passed directly, and ``qid`` / ``position`` as DataFrame columns.
    """

    def __init__(self, kind, propensity, reward_model, kwargs):
        super().__init__(score_func=None, sign=1, kwargs=kwargs, response_method="predict")
        self._kind = kind
        self._propensity = propensity
        self._reward_model = reward_model

    def __repr__(self):
        extra = "".join(f", {k}={v!r}" for k, v in self._kwargs.items())
        return f"make_ope_scorer({self._kind!r}{extra})"

    def _get_metadata_request(self):
        requests = super()._get_metadata_request()
        for name in _KIND_METADATA[self._kind]:
            if requests.score.requests.get(name) is None:
                requests.score.add_request(param=name, alias=True)
        return requests

    def __call__(self, estimator, X, y_true, **metadata):
        """Score ``estimator`` on the logged clicks ``y_true`` of ``X``."""
        return self._score(partial(_cached_call, None), estimator, X, y_true, **metadata)

    def _score(self, method_caller, estimator, X, y_true, **metadata):
        unknown = sorted(set(metadata) - set(_KIND_METADATA[self._kind]))
        if unknown:
            raise ValueError(
                f"{self!r} accepts only {list(_KIND_METADATA[self._kind])} as metadata; got "
                f"{unknown}."
            )
        if self._kind == "ranking":
            X, metadata["qid"], metadata["position"] = split_frame_columns(
                X, metadata.get("qid"), metadata.get("position")
            )
        y_pred = method_caller(estimator, "predict", X)
        reward = None if self._reward_model is None else self._reward_model.predict(X)
        if self._kind == "ranking":
            propensity = self._propensity
            if propensity is None:
                propensity = getattr(estimator, "propensity_", None)
            if propensity is None:
                raise ValueError(
                    f"{type(estimator).__name__} has no propensity_; pass the examination "
                    "probabilities to make_ope_scorer('ranking', propensity=...)."
                )
            result = ope_ranking_metric(
                y_true,
                y_pred,
                propensity=propensity,
                reward=reward,
                **metadata,
                **self._kwargs,
            )
        else:
            if metadata.get("propensity") is None:
                if self._propensity is None:
                    raise ValueError(
                        "the recommendation scorer needs the exposure propensity of each row: "
                        "route propensity= as metadata, or give make_ope_scorer a fitted "
                        "propensity model (predict(X))."
                    )
                metadata["propensity"] = self._propensity.predict(X)
            result = ope_recommendation_metric(
                y_true, y_pred, reward=reward, **metadata, **self._kwargs
            )
        return result.estimate


@validate_params(
    {
        "kind": [StrOptions({"ranking", "recommendation"})],
        "estimator": [StrOptions(set(_ESTIMATORS))],
        "metric": [StrOptions(set(_METRICS))],
        "k": [Interval(Integral, 1, None, closed="left"), None],
        "propensity": ["array-like", HasMethods(["predict"]), None],
        "reward_model": [HasMethods(["predict"]), None],
        "max_weight": [Interval(Real, 1, None, closed="left"), None],
    },
    prefer_skip_nested_validation=True,
)
def make_ope_scorer(
    kind="ranking",
    *,
    estimator="ips",
    metric="dcg",
    k=10,
    propensity=None,
    reward_model=None,
    max_weight=None,
):
    """A scorer for ``GridSearchCV`` that selects on an off-policy estimate from clicks.

    Parameters
    ----------
    kind : {"ranking", "recommendation"}, default="ranking"
        :func:`ope_ranking_metric` (metadata ``qid``, ``position``, optional
        ``logging_exposure``) or :func:`ope_recommendation_metric` (metadata ``qid``,
        ``propensity``, optional ``exposure``).
    estimator : {"ips", "snips", "dr"}, default="ips"
        The estimator.
    metric : {"dcg", "recall"}, default="dcg"
        The metric estimated.
    k : int or None, default=10
        Cut-off.
    propensity : array-like or object with ``predict``, optional
        Ranking: the examination curve ``θ_p`` (default: the fitted estimator's
        ``propensity_``). Recommendation: a fitted propensity model whose ``predict(X)``
        gives ``θ_ui``, used when ``propensity`` is not routed as metadata.
    reward_model : object with ``predict``, optional
        Fitted reward (imputation) model for ``estimator="dr"``: ``predict(X)`` gives ``r̂``.
    max_weight : float >= 1 or None, default=None
        Cap on the inverse propensity weights.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, clicks, **metadata)`` returning the estimate; greater is
        better. It requests its metadata through routing from the start.

    Examples
    --------
    >>> from skultr.metrics import make_ope_scorer
    >>> make_ope_scorer("ranking", propensity=[1.0, 0.5], k=5)
    make_ope_scorer('ranking', estimator='ips', metric='dcg', k=5)
    """
    if propensity is not None and not hasattr(propensity, "predict"):
        propensity = np.asarray(propensity, dtype=np.float64)
    if estimator == "dr" and reward_model is None:
        raise ValueError("estimator='dr' needs reward_model, a fitted model with predict(X).")
    kwargs = {"estimator": estimator, "metric": metric, "k": k}
    if max_weight is not None:
        kwargs["max_weight"] = max_weight
    return _OPEScorer(kind, propensity, reward_model, kwargs)
