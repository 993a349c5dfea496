"""Inverse-propensity-scored (IPS) offline metrics for missing-not-at-random implicit feedback.

A held-out click log is as biased as the training log: popular items were shown more, so they
collect more validation clicks whatever the model. Weighting each click by ``1 / θ_ui`` (its
exposure propensity) makes sums over clicks unbiased for the same sums over relevance
(``E[Y_ui / θ_ui] = γ_ui``), the unbiased offline evaluator of Yang et al. (RecSys 2018) that
Saito et al. (WSDM 2020) use for validation. Capping the weights at ``max_weight`` (the
propensities are then at least ``1 / max_weight``) lowers the variance at the price of some
bias, as in Rel-MF's loss.

- :func:`ips_dcg_at_k_score`, :func:`ips_recall_at_k_score`: row-level metrics for
  candidate lists with a propensity per row.
- :func:`ips_pointwise_loss`: the (capped) unbiased estimate of Rel-MF's ideal loss; with
  ``y_true = γ`` and ``propensity = 1`` it *is* the ideal loss.
- :func:`make_ips_scorer`: a scorer for ``GridSearchCV`` on held-out clicks only: each user's
  ranking covers the whole catalogue (minus the training pairs), through ``recommend``.
"""

from numbers import Real

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit, log_expit

from skultr.utils._deprecation import (
    CLIP_HINT,
    DEPRECATED,
    clip_to_max_weight,
    resolve_renamed_value,
)
from skultr.utils._interactions import (
    _as_id_array,
    check_interactions,
    check_propensity,
    index_ids,
    lookup_ids,
    resolve_propensity,
)
from skultr.utils._sklearn_compat import (
    HasMethods,
    Hidden,
    Interval,
    StrOptions,
    validate_params,
)
from skultr.utils._validation import check_1d_finite, check_int, check_probability

from ._ope import capped_inverse, ips_unit_dcg, ips_unit_recall
from ._ranking import _TIES, _check_option, _check_ranking_inputs, _mean_over_queries

_LOSSES = ("least_squares", "squared", "logistic")
_IPS_METRICS = ("dcg", "recall")
# Users whose top-k lists the IPS scorer asks recommend() for at once.
_SCORER_CHUNK_USERS = 4096


def _check_propensity_values(propensity, n, name="propensity"):
    """Finite propensities in (0, 1], broadcast to ``n`` rows."""
    values = np.asarray(propensity, dtype=np.float64)
    if values.ndim == 0:
        values = np.full(n, float(values))
    values = values.reshape(-1) if values.ndim == 1 else values
    if values.ndim != 1 or values.shape[0] != n:
        raise ValueError(
            f"{name} must be a scalar or hold one value per row ({n}); got shape "
            f"{np.shape(propensity)}."
        )
    return check_propensity(values, name=name)


def _max_weight(max_weight, clip, where):
    """``max_weight``, or the cap ``1 / clip`` of the deprecated propensity floor ``clip``."""
    return resolve_renamed_value(
        clip,
        max_weight,
        old="clip",
        new="max_weight",
        new_default=None,
        where=where,
        convert=lambda c: clip_to_max_weight(check_probability(c, "clip")),
        hint=CLIP_HINT,
        stacklevel=4,
    )


def _inverse_weights(y_true, propensity, max_weight):
    """``Y · min(1 / θ, max_weight)`` per row, with validated inputs."""
    y_true = check_1d_finite(y_true, "y_true")
    if (y_true < 0).any():
        i = int(np.flatnonzero(y_true < 0)[0])
        raise ValueError(f"y_true must hold non-negative clicks; entry {i} is {y_true[i]}.")
    theta = _check_propensity_values(propensity, y_true.shape[0])
    return y_true * capped_inverse(theta, max_weight)


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "qid": ["array-like"],
        "propensity": [Real, "array-like"],
        "k": [Real, None],
        "max_weight": [Interval(Real, 1, None, closed="left"), None],
        "clip": [Hidden(StrOptions({DEPRECATED})), Real],
        "ties": [str],
    },
    prefer_skip_nested_validation=True,
)
def ips_dcg_at_k_score(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    qid: ArrayLike,
    propensity: ArrayLike,
    k: int | None = 10,
    max_weight: float | None = None,
    ties: str = "average",
    clip: float | str = DEPRECATED,
) -> float:
    """IPS estimate of DCG@k from MNAR clicks: each click weighted by ``min(1/θ, max_weight)``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Held-out clicks (0 or 1) of each (user, item) candidate row.
    y_score : array-like of shape (n_samples,)
        Predicted score of each row; higher means recommended earlier.
    qid : array-like of shape (n_samples,)
        User of each row. Each user's candidates should be the items the estimate is about
        (usually every item the user did not interact with in training).
    propensity : float or array-like of shape (n_samples,)
        Exposure propensity ``θ_ui`` of each row, in (0, 1] (only clicked rows use it).
    k : int or None, default=10
        Only the top ``k`` ranks of each user count. ``None`` uses all of the user's rows.
    max_weight : float >= 1 or None, default=None
        Cap on each click's inverse propensity weight ``1/θ`` (the same as raising the
        propensities below ``1/max_weight`` to it): less variance for some bias. ``None``:
        no cap, the unbiased estimate.
    clip : float in [0, 1]
        The former propensity floor: ``clip=c`` is ``max_weight=1/c`` (``clip=0`` is
        ``max_weight=None``).

        .. deprecated:: 0.1
           ``clip`` was replaced by ``max_weight`` in 0.1 and will be removed in 0.3.
    ties : {"average", "pessimistic"}, default="average"
        Tied scores: the expectation over every order of the tied rows (the convention of
        every ranking metric, see :mod:`skultr.metrics`), or clicked rows last.

    Returns
    -------
    score : float
        Mean over all users in ``qid`` (users without a click contribute 0, which keeps the
        average unbiased) of ``Σ_{r ≤ k} Y_r min(1/θ_r, max_weight) / log2(r + 1)``.

    Notes
    -----
    Under ``Y = O·R`` with ``E[Y_ui] = θ_ui γ_ui``, each user's term is unbiased (for
    ``max_weight=None``) for the DCG@k with the relevance probability ``γ`` as gain,
    ``Σ_{r ≤ k} γ_r / log2(r + 1)``, of the same ranking. If the clicks are a random share
    ``p`` of all clicks (a validation split), the estimate is ``p`` times that: a constant that
    does not change which model is best. Tied scores are averaged over their orderings as in
    :func:`dcg_score`.

    References
    ----------
    .. [1] L. Yang, Y. Cui, Y. Xuan, C. Wang, S. Belongie and D. Estrin, "Unbiased Offline
       Recommender Evaluation for Missing-Not-At-Random Implicit Feedback", RecSys 2018.

    Examples
    --------
    >>> from skultr.metrics import ips_dcg_at_k_score
    >>> clicks = [1, 0, 0, 0, 1, 0]
    >>> scores = [0.9, 0.5, 0.1, 0.8, 0.7, 0.3]
    >>> users = [0, 0, 0, 1, 1, 1]
    >>> theta = [0.5, 1.0, 1.0, 1.0, 0.25, 1.0]
    >>> round(ips_dcg_at_k_score(clicks, scores, qid=users, propensity=theta, k=2), 4)
    2.2619
    """
    max_weight = _max_weight(max_weight, clip, "ips_dcg_at_k_score")
    weights = _inverse_weights(y_true, propensity, max_weight)
    k = check_int(k, "k", allow_none=True)
    _check_option("ties", ties, _TIES)
    weights, y_score, group, n_queries = _check_ranking_inputs(weights, y_score, qid)
    return float(np.mean(ips_unit_dcg(weights, y_score, group, n_queries, k=k, ties=ties)))


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "qid": ["array-like"],
        "propensity": [Real, "array-like"],
        "k": [Real, None],
        "max_weight": [Interval(Real, 1, None, closed="left"), None],
        "clip": [Hidden(StrOptions({DEPRECATED})), Real],
        "ties": [str],
    },
    prefer_skip_nested_validation=True,
)
def ips_recall_at_k_score(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    qid: ArrayLike,
    propensity: ArrayLike,
    k: int | None = 10,
    max_weight: float | None = None,
    ties: str = "average",
    clip: float | str = DEPRECATED,
) -> float:
    """Self-normalised IPS estimate of Recall@k from MNAR clicks.

    Per user, the weighted share of the clicks ranked in the top ``k``:
    ``Σ_{r ≤ k} w_r / Σ_r w_r`` with ``w = Y min(1/θ, max_weight)``, averaged over the users with
    at least one click (a ratio of two unbiased sums: consistent, not exactly unbiased).

    Parameters
    ----------
    y_true, y_score, qid, propensity, k, max_weight, ties
        As in :func:`ips_dcg_at_k_score`.
    clip : float in [0, 1]
        The former propensity floor: ``clip=c`` is ``max_weight=1/c``.

        .. deprecated:: 0.1
           ``clip`` was replaced by ``max_weight`` in 0.1 and will be removed in 0.3.

    Returns
    -------
    score : float
        In [0, 1]; ``nan`` with an UndefinedMetricWarning when no user has a click.

    Examples
    --------
    >>> from skultr.metrics import ips_recall_at_k_score
    >>> clicks = [1, 1, 0, 0, 1, 0]
    >>> scores = [0.9, 0.1, 0.5, 0.8, 0.7, 0.3]
    >>> theta = [1.0, 0.25, 1.0, 1.0, 1.0, 1.0]
    >>> ips_recall_at_k_score(clicks, scores, qid=[0, 0, 0, 1, 1, 1], propensity=theta, k=1)
    0.1
    """
    max_weight = _max_weight(max_weight, clip, "ips_recall_at_k_score")
    weights = _inverse_weights(y_true, propensity, max_weight)
    k = check_int(k, "k", allow_none=True)
    _check_option("ties", ties, _TIES)
    weights, y_score, group, n_queries = _check_ranking_inputs(weights, y_score, qid)
    hit_weight, total = ips_unit_recall(weights, y_score, group, n_queries, k=k, ties=ties)
    has_click = total > 0
    recall = np.divide(hit_weight, total, out=np.zeros(n_queries), where=has_click)
    return _mean_over_queries(recall, has_click, "skip", "IPS Recall@k")


def _local_losses(score, loss):
    if loss == "logistic":
        return -log_expit(score), -log_expit(-score)
    if loss == "squared":
        r = expit(score)
        return (1.0 - r) ** 2, r**2
    return (1.0 - score) ** 2, score**2


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "propensity": [Real, "array-like"],
        "loss": [str],
        "max_weight": [Interval(Real, 1, None, closed="left"), None],
        "clip": [Hidden(StrOptions({DEPRECATED})), Real],
    },
    prefer_skip_nested_validation=True,
)
def ips_pointwise_loss(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    propensity: ArrayLike = 1.0,
    loss: str = "least_squares",
    max_weight: float | None = None,
    clip: float | str = DEPRECATED,
) -> float:
    """The (capped) unbiased estimate of Rel-MF's ideal pointwise loss over the given rows.

    .. math:: \\hat{\\mathcal{L}} = \\frac{1}{n} \\sum_{rows} \\left[ w\\, δ^{1}(s)
              + (1 − w)\\, δ^{0}(s) \\right], \\qquad w = Y \\min(1/θ, M) .

    Pass every (user, item) pair of the catalogue (unclicked ones with ``y_true = 0``) for
    the loss over the catalogue. With the true relevance probabilities as ``y_true`` and
    ``propensity=1`` this is the ideal loss itself.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Clicks (0/1); values in [0, 1] are accepted (relevance probabilities).
    y_score : array-like of shape (n_samples,)
        Model scores ``s`` (logits for "squared" and "logistic", the prediction itself for
        "least_squares").
    propensity : float or array-like of shape (n_samples,), default=1.0
        Exposure propensity of each row, in (0, 1].
    loss : {"least_squares", "squared", "logistic"}, default="least_squares"
        Local loss ``(δ¹, δ⁰)``: ``((1 − s)², s²)``, ``((1 − σ(s))², σ(s)²)`` or
        ``(−log σ(s), −log(1 − σ(s)))``, as in
        :class:`~skultr.recommendation.RelMFRecommender`.
    max_weight : float >= 1 or None, default=None
        The cap ``M`` on the inverse propensity weights (propensities below ``1/M`` are
        raised to it): bias for less variance. ``None``: no cap, the unbiased estimate.
    clip : float in [0, 1]
        The former propensity floor: ``clip=c`` is ``max_weight=1/c`` (``clip=0`` is
        ``max_weight=None``).

        .. deprecated:: 0.1
           ``clip`` was replaced by ``max_weight`` in 0.1 and will be removed in 0.3.

    Returns
    -------
    loss : float

    Examples
    --------
    >>> from skultr.metrics import ips_pointwise_loss
    >>> ips_pointwise_loss([1, 0, 0, 0], [1.0, 0.0, 0.0, 0.5], propensity=0.5)  # can be < 0
    -0.1875
    >>> ips_pointwise_loss([0.5, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.5])  # the ideal loss
    0.1875
    """
    _check_option("loss", loss, _LOSSES)
    max_weight = _max_weight(max_weight, clip, "ips_pointwise_loss")
    weights = _inverse_weights(y_true, propensity, max_weight)
    y_score = check_1d_finite(y_score, "y_score")
    if y_score.shape != weights.shape:
        raise ValueError(
            f"y_true and y_score must have the same length; got {weights.shape[0]} and "
            f"{y_score.shape[0]}."
        )
    d1, d0 = _local_losses(y_score, loss)
    return float(np.mean(weights * d1 + (1.0 - weights) * d0))


# --------------------------------------------------------------------------------------------
# Scorer: held-out clicks ranked against the whole catalogue
# --------------------------------------------------------------------------------------------


class _IPSScorer:
    """``scorer(estimator, X, y=None)``: IPS DCG@k / Recall@k of held-out clicks ``X``.

    Each user of ``X`` is ranked over the whole catalogue by ``estimator.recommend(users,
    n=k, exclude_seen=True)``: its training pairs are left out, every other item is a
    candidate and the held-out clicks are the (weighted) hits.
    """

    def __init__(self, metric, propensity, k, max_weight):
        self.metric = metric
        self.propensity = propensity
        self.k = k
        self.max_weight = max_weight

    def __repr__(self):
        return f"make_ips_scorer({self.metric!r}, k={self.k}, max_weight={self.max_weight})"

    def _theta(self, users, items, y):
        if self.propensity is None:  # uniform: the plain (unweighted) metric
            return np.ones(users.shape[0])
        theta, _, _ = resolve_propensity(
            self.propensity, users, items, fit=False, predict_y=y, name="propensity"
        )
        return theta

    def __call__(self, estimator, X, y=None):
        read = getattr(estimator, "_raw_pairs", check_interactions)  # the estimator's columns
        users, items, _ = read(X)
        if y is not None:
            y = check_1d_finite(y, "y")
            if y.shape[0] != users.shape[0]:
                raise ValueError(f"y has {y.shape[0]} entries but X has {users.shape[0]} rows.")
            keep = y > 0
            users, items, y = users[keep], items[keep], y[keep]
        if users.size == 0:
            raise ValueError("no held-out click to score (X is empty or every y is 0).")
        weight = capped_inverse(self._theta(users, items, y), self.max_weight)
        # Held-out clicks as (user index, item index) pairs of this fold; a click counts once.
        fold_users, user_index = index_ids(users)
        item_ids, item_index = index_ids(items)
        width = item_ids.size
        key, first = np.unique(user_index * width + item_index, return_index=True)
        weight = weight[first]
        n_users = fold_users.size
        gain = np.zeros((n_users, self.k))
        # recommend() bounds its own memory; the scorer keeps k columns per user, in blocks.
        step = max(1, _SCORER_CHUNK_USERS)
        for start in range(0, n_users, step):
            stop = min(start + step, n_users)
            top, _ = estimator.recommend(fold_users[start:stop], n=self.k, exclude_seen=True)
            top = np.asarray(top)
            valid = np.array([v is not None for v in top.ravel()]).reshape(top.shape)
            if top.dtype != object:
                valid &= top >= 0
            top_index = np.full(top.shape, -1, dtype=np.int64)
            top_index[valid] = lookup_ids(
                _as_id_array(top[valid], "recommended item ids"), item_ids
            )
            top_key = np.arange(start, stop)[:, None] * width + np.maximum(top_index, 0)
            found = np.minimum(np.searchsorted(key, top_key), key.size - 1)
            hit = (key[found] == top_key) & (top_index >= 0)
            gain[start:stop] = np.where(hit, weight[found], 0.0)
        if self.metric == "dcg":
            # recommend's order: rank r gets the score -r, so no two slots tie.
            rank_score = -np.broadcast_to(np.arange(self.k, dtype=np.float64), gain.shape)
            unit = np.repeat(np.arange(n_users), self.k)
            per_user = ips_unit_dcg(gain.ravel(), rank_score.ravel(), unit, n_users, k=self.k)
            return float(np.mean(per_user))
        total = np.bincount(key // width, weights=weight, minlength=n_users)
        return float(np.mean(gain.sum(axis=1) / total))


@validate_params(
    {
        "metric": [str],
        "propensity": ["array-like", HasMethods(["predict"]), None],
        "k": [Real, None],
        "max_weight": [Interval(Real, 1, None, closed="left"), None],
        "clip": [Hidden(StrOptions({DEPRECATED})), Real],
    },
    prefer_skip_nested_validation=True,
)
def make_ips_scorer(metric="dcg", *, propensity, k=10, max_weight=None, clip=DEPRECATED):
    """A scorer of recommenders on held-out MNAR clicks, for GridSearchCV and cross_validate.

    Model selection on implicit feedback usually has no missing-at-random test set, only
    more clicks. Split the clicks (for example ``KFold(shuffle=True)`` over the click pairs);
    the scorer ranks every item each validation user did not interact with in the training
    folds (``estimator.recommend(users, n=k, exclude_seen=True)``) and scores the held-out
    clicks with inverse-propensity weights.

    Parameters
    ----------
    metric : {"dcg", "recall"}, default="dcg"
        ``"dcg"``: :func:`ips_dcg_at_k_score` over the whole catalogue (mean over the users
        with a held-out click); ``"recall"``: the self-normalised
        :func:`ips_recall_at_k_score`.
    propensity : array-like or estimator
        Exposure propensities: shape ``(n_items,)`` (per item), ``(n_users, n_items)`` (per
        pair), or a fitted object whose ``predict(X)`` gives one per pair (such as
        :class:`~skultr.propensity.PopularityPropensity` fitted on all the clicks).
    k : int, default=10
        Cut-off: each validation user's top ``k`` recommended items are scored (a positive
        integer; ``None`` is rejected).
    max_weight : float >= 1 or None, default=None
        Cap on the inverse propensity weights ``1/θ`` of the held-out clicks. ``None``: no
        cap.
    clip : float in [0, 1]
        The former propensity floor: ``clip=c`` is ``max_weight=1/c`` (``clip=0`` is
        ``max_weight=None``).

        .. deprecated:: 0.1
           ``clip`` was replaced by ``max_weight`` in 0.1 and will be removed in 0.3.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None)``; ``X`` holds held-out (user, item) pairs, ``y``
        (optional) their clicks: rows with ``y = 0`` are ignored. Greater is better. The
        estimator must provide ``recommend`` (every skultr recommender does).

    Notes
    -----
    When the validation clicks are a random share ``p`` of the clicks, the IPS DCG is
    unbiased for ``p`` times the DCG@k with gain ``γ`` of the full-catalogue ranking
    (``max_weight=None``, true propensities): the constant does not change the ranking of models.
    Ties are ordered as ``recommend`` orders them (arbitrarily), not averaged as in
    :func:`ips_dcg_at_k_score`; they only matter for users or items with no training data,
    whose factors are all zero.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV, KFold
    >>> from skultr.datasets import make_mnar_implicit_feedback
    >>> from skultr.metrics import make_ips_scorer
    >>> from skultr.propensity import PopularityPropensity
    >>> from skultr.recommendation import RelMFRecommender
    >>> data = make_mnar_implicit_feedback(n_users=200, n_items=100, random_state=0)
    >>> scorer = make_ips_scorer("dcg", k=5, propensity=PopularityPropensity().fit(data.X))
    >>> model = RelMFRecommender(n_users=200, n_items=100, device="cpu", random_state=0)
    >>> search = GridSearchCV(model, {"n_factors": [4, 16]}, scoring=scorer,
    ...                       cv=KFold(3, shuffle=True, random_state=0)).fit(data.X)
    >>> sorted(search.best_params_)
    ['n_factors']
    """
    _check_option("metric", metric, _IPS_METRICS)
    max_weight = _max_weight(max_weight, clip, "make_ips_scorer")
    k = check_int(k, "k", allow_none=True)
    if k is None:
        raise ValueError("k must be a positive integer for make_ips_scorer; got None.")
    if propensity is None:
        raise ValueError(
            "propensity is required: an array (n_items,) or (n_users, n_items), or a fitted "
            "estimator with predict(X)."
        )
    if not hasattr(propensity, "predict"):
        table = np.asarray(propensity, dtype=np.float64)
        if table.ndim not in (1, 2):
            raise ValueError(
                "propensity must be an array of shape (n_items,) or (n_users, n_items), or an "
                f"object with predict(X); got an array of shape {table.shape}."
            )
        _check_propensity_values(table.reshape(-1), table.size)
        propensity = table
    return _IPSScorer(metric, propensity, k, max_weight)
