"""Off-policy evaluation (OPE) of rankers and recommenders from logged clicks, with intervals.

The one home of the inverse-propensity (IPS) estimates of ranking metrics: the click scorers
of :mod:`skultr.ranking` (:func:`~skultr.ranking.ips_dcg_score`) and the MNAR metrics of
:mod:`skultr.metrics` (:func:`ips_dcg_at_k_score`, :func:`ips_recall_at_k_score`) call the
per-unit terms computed here.

Every estimate is a smooth function ``g`` of the means over *units* (lists or users) of a few
per-unit columns ``U_q``; the units are independent, so

- ``interval="normal"``: the delta-method (CLT) interval ``g(ū) ± z · sd(φ) / sqrt(n)`` with
  ``φ_q = ∇g(ū) · (U_q − ū)``;
- ``interval="bootstrap"``: the percentile interval of ``g`` over ``n_bootstrap`` resamples of
  the units (vectorised, in blocks of resamples).

The scorer for model selection, :func:`make_ope_scorer`, is in :mod:`._ope_scorer`.
"""

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm
from sklearn.utils import check_random_state

from skultr.utils._click_log import (
    check_clicks,
    check_position_propensity,
    check_positions,
    list_codes,
)
from skultr.utils._interactions import check_propensity
from skultr.utils._sklearn_compat import (
    Interval,
    StrOptions,
    validate_params,
)
from skultr.utils._validation import check_1d, check_1d_finite, check_int

from ._ranking import _TIES, _check_option, _discounts, _sort_queries, _tie_blocks

_ESTIMATORS = ("ips", "snips", "dr")
_METRICS = ("dcg", "recall")
_INTERVALS = ("normal", "bootstrap")
# Resampled units held in memory at once by the bootstrap (resamples x units).
_BOOTSTRAP_BLOCK = 4_000_000


@dataclass(frozen=True)
class OPEResult:
    """An off-policy estimate of a metric with its confidence interval and diagnostics.

    Attributes
    ----------
    estimate : float
        The estimate of the target's metric.
    ci_low, ci_high : float
        Bounds of the confidence interval.
    std_error : float
        Standard error of the estimate (delta method over units; for ``"bootstrap"`` the
        standard deviation of the bootstrap estimates).
    confidence : float
        Nominal coverage of the interval.
    interval : str
        ``"normal"`` or ``"bootstrap"``.
    method : str
        ``"ips"``, ``"snips"`` or ``"dr"``.
    metric : str
        ``"dcg"`` or ``"recall"``.
    n_units : int
        Lists (ranking) or users (recommendation) the estimate averages over.
    ess : float
        Effective sample size ``(Σ w)² / Σ w²`` of the inverse-propensity weights ``w`` of
        the rows that enter the estimate.
    n_clipped : int
        Rows of those whose weight ``1/ρ`` exceeded ``max_weight`` and was capped.
    clipped_fraction : float
        ``n_clipped`` over the rows that enter the estimate.
    n_excluded : int
        Rows left out because their document could not be estimated (never shown by the
        logging policy, see the functions' ``position``).
    """

    estimate: float
    ci_low: float
    ci_high: float
    std_error: float
    confidence: float
    interval: str
    method: str
    metric: str
    n_units: int
    ess: float
    n_clipped: int
    clipped_fraction: float
    n_excluded: int

    def __float__(self):
        return float(self.estimate)


# --------------------------------------------------------------------------------------------
# The estimator core (validated arrays in, per-unit terms out)
# --------------------------------------------------------------------------------------------


def capped_inverse(rho, max_weight):
    """The inverse-propensity weight ``w = min(1 / ρ, max_weight)`` (``None``: ``1 / ρ``)."""
    inverse = 1.0 / rho
    return inverse if max_weight is None else np.minimum(inverse, max_weight)


def _rank_weights(score, group, n_units, k, ties, tiebreak=None):
    """Per row, in the input order: the expected DCG discount ``D`` of its rank under
    ``score`` and the probability that it is ranked in the top ``k``, tied scores averaged
    over their orderings (``ties="average"``) or broken by ascending ``tiebreak``."""
    n = len(score)
    tiebreak = np.zeros(n) if tiebreak is None else tiebreak
    # Each row gets its own integer "grade" ordered like (tiebreak, row): the sort below then
    # puts tied rows in ascending tiebreak order and tells which input row is where.
    by_tiebreak = np.lexsort((np.arange(n), tiebreak))
    code = np.empty(n)
    code[by_tiebreak] = np.arange(n)
    sq = _sort_queries(code, score, group, n_units)
    rows = by_tiebreak[sq.relevance.astype(np.int64)]
    blocks = _tie_blocks(sq, ties)
    discount = np.add.reduceat(_discounts(sq.rank, k), blocks.starts) / blocks.sizes
    top = np.ones(len(blocks.starts)) if k is None else 0.0
    if k is not None:
        top = np.clip(k - blocks.first_rank, 0, blocks.sizes) / blocks.sizes
    D = np.empty(n)
    in_top = np.empty(n)
    D[rows] = discount[blocks.of_row]
    in_top[rows] = np.broadcast_to(top, len(blocks.starts))[blocks.of_row]
    return D, in_top


def ips_unit_dcg(gain, score, group, n_units, *, k, ties="average"):
    """Per-unit DCG ``Σ_d D_d ĝ_d`` of the ranking by ``score`` with the estimated gains
    ``ĝ`` (the IPS terms ``c w``, or the doubly robust ones); the IPS DCG logic of the
    package."""
    tiebreak = gain if ties == "pessimistic" else None
    D, _ = _rank_weights(score, group, n_units, k, ties, tiebreak)
    return np.bincount(group, weights=D * gain, minlength=n_units)


def ips_unit_recall(gain, score, group, n_units, *, k, ties="average"):
    """Per unit: the estimated relevance in the top ``k``, and in all rows (Recall's two sums)."""
    tiebreak = gain if ties == "pessimistic" else None
    _, in_top = _rank_weights(score, group, n_units, k, ties, tiebreak)
    hit = np.bincount(group, weights=in_top * gain, minlength=n_units)
    return hit, np.bincount(group, weights=gain, minlength=n_units)


def _estimate_parts(clicks, examined, rho, reward, score, group, n_units, spec):
    """Per-unit columns ``U``, the function ``g`` of their means and its gradient, and which
    rows enter the estimate (for the diagnostics)."""
    w = capped_inverse(rho, spec["max_weight"])
    gain = reward + (clicks - examined * reward) * w  # reward = 0 unless "dr": c w
    if spec["metric"] == "recall":
        hit, total = ips_unit_recall(gain, score, group, n_units, k=spec["k"], ties=spec["ties"])
        kept = total > 0
        recall = np.divide(hit, total, out=np.zeros(n_units), where=kept)
        U = np.column_stack([recall * kept, kept.astype(np.float64)])
        return U, _ratio, _ratio_gradient, np.ones(len(w), dtype=bool)
    tiebreak = gain if spec["ties"] == "pessimistic" else None
    D, _ = _rank_weights(score, group, n_units, spec["k"], spec["ties"], tiebreak)
    entering = D > 0
    A = np.bincount(group, weights=D * gain, minlength=n_units)
    if spec["estimator"] != "snips":
        return A[:, None], _first, _first_gradient, entering
    B = np.bincount(group, weights=D * examined * w, minlength=n_units)
    C = np.bincount(group, weights=D, minlength=n_units)
    return np.column_stack([A, B, C]), _snips, _snips_gradient, entering


def _first(u):
    return u[..., 0]


def _first_gradient(u):
    return np.array([1.0])


def _ratio(u):
    return u[..., 0] / u[..., 1]


def _ratio_gradient(u):
    return np.array([1.0 / u[1], -u[0] / u[1] ** 2])


def _snips(u):
    return u[..., 0] * u[..., 2] / u[..., 1]


def _snips_gradient(u):
    a, b, c = u
    return np.array([c / b, -a * c / b**2, a / b])


def _interval(U, g, gradient, spec):
    """Estimate, standard error and interval of ``g(mean of U over units)``."""
    n = U.shape[0]
    mean = U.mean(axis=0)
    estimate = float(g(mean))
    alpha = 1.0 - spec["confidence"]
    if n < 2:
        return estimate, float("nan"), float("nan"), float("nan")
    if spec["interval"] == "normal":
        phi = (U - mean) @ gradient(mean)
        se = float(np.std(phi, ddof=1) / np.sqrt(n))
        z = float(norm.ppf(1.0 - alpha / 2.0))
        return estimate, se, estimate - z * se, estimate + z * se
    rng = check_random_state(spec["random_state"])
    B = spec["n_bootstrap"]
    step = max(1, _BOOTSTRAP_BLOCK // max(n, 1))
    draws = np.empty(B)
    for start in range(0, B, step):
        stop = min(B, start + step)
        idx = rng.randint(0, n, size=(stop - start, n))
        draws[start:stop] = g(U[idx].mean(axis=1))
    low, high = np.quantile(draws, [alpha / 2.0, 1.0 - alpha / 2.0])
    return estimate, float(np.std(draws, ddof=1)), float(low), float(high)


def ope_from_rows(clicks, examined, rho, reward, score, group, n_units, spec, n_excluded=0):
    """The :class:`OPEResult` of validated per-row arrays (the shared back end)."""
    U, g, gradient, entering = _estimate_parts(
        clicks, examined, rho, reward, score, group, n_units, spec
    )
    if spec["metric"] == "recall":
        if U[:, 1].sum() == 0:
            raise ValueError("Recall@k is undefined: no unit has a click to estimate it from.")
        # Recall averages over the units with a click: they are the units of the interval
        # (a resample without one is undefined, and one unit has no spread).
        U = U[U[:, 1] > 0]
    estimate, se, low, high = _interval(U, g, gradient, spec)
    raw = 1.0 / rho[entering]
    w = capped_inverse(rho[entering], spec["max_weight"])
    n_clipped = 0 if spec["max_weight"] is None else int(np.sum(raw > spec["max_weight"]))
    return OPEResult(
        estimate=estimate,
        ci_low=low,
        ci_high=high,
        std_error=se,
        confidence=spec["confidence"],
        interval=spec["interval"],
        method=spec["estimator"],
        metric=spec["metric"],
        n_units=int(n_units),
        ess=float(w.sum() ** 2 / np.sum(w**2)) if len(w) else 0.0,
        n_clipped=n_clipped,
        clipped_fraction=n_clipped / max(len(w), 1),
        n_excluded=int(n_excluded),
    )


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _spec(estimator, metric, k, max_weight, ties, interval, confidence, n_bootstrap, random_state):
    _check_option("estimator", estimator, _ESTIMATORS)
    _check_option("metric", metric, _METRICS)
    _check_option("interval", interval, _INTERVALS)
    _check_option("ties", ties, _TIES)
    return {
        "estimator": estimator,
        "metric": metric,
        "k": check_int(k, "k", allow_none=True),
        "max_weight": None if max_weight is None else float(max_weight),
        "ties": ties,
        "interval": interval,
        "confidence": float(confidence),
        "n_bootstrap": check_int(n_bootstrap, "n_bootstrap"),
        "random_state": random_state,
    }


def _per_row(values, name, n, *, low=None, high=None, allow_low=False):
    """A finite float per row (a scalar is broadcast), optionally within ``[low, high]``."""
    array = np.asarray(values, dtype=object if np.ndim(values) == 0 else None)
    if np.ndim(values) == 0:
        array = np.full(n, values)
    array = check_1d_finite(array, name, n_rows=n)
    if low is not None:
        bad = (array < low) | ((array == low) & (not allow_low))
        if high is not None:
            bad |= array > high
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            bound = "[" if allow_low else "("
            raise ValueError(
                f"{name} must lie in {bound}{low}, {high}]; got {array[i]} at row {i}."
            )
    return array


def _check_reward(reward, estimator, n):
    if estimator != "dr":
        return np.zeros(n)
    if reward is None:
        raise ValueError(
            "estimator='dr' needs reward: the reward model's predicted relevance of each row "
            "(for example a regressor's predictions, fitted on other data)."
        )
    return check_1d_finite(reward, "reward", n_rows=n)


def _ranking_positions(position, codes, n_lists):
    """Integer positions >= 0 (0: not displayed), unique among each list's displayed rows."""
    array = np.asarray(position)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array.ravel()
    if array.dtype.kind in "iuf" and array.ndim == 1 and len(array) == len(codes):
        hidden = array == 0
        # The non-displayed rows get distinct positions past the list for the shared check.
        stand_in = np.where(hidden, array.max(initial=0) + 1 + np.arange(len(array)), array)
        return check_positions(stand_in, codes, n_lists) * ~hidden
    return check_positions(position, codes, n_lists)


def _check_examination(propensity, position):
    """``θ_p`` of each displayed row (0 for the rows not displayed): the shared position
    propensity check, every logged position required and in (0, 1]."""
    if np.ndim(propensity) != 1:
        raise ValueError(
            "propensity must be 1-D with the examination probability of positions 1, 2, ...; "
            f"got shape {np.shape(propensity)}."
        )
    shown = position > 0
    theta = check_position_propensity(
        propensity, np.unique(position[shown]), reference=False, probability=True, complete=True
    )
    value = np.zeros(len(position))
    value[shown] = theta[position[shown] - 1]
    return value


_COMMON = {
    "y_true": ["array-like"],
    "y_score": ["array-like"],
    "qid": ["array-like", None],
    "propensity": ["array-like", Real],
    "reward": ["array-like", None],
    "estimator": [StrOptions(set(_ESTIMATORS))],
    "metric": [StrOptions(set(_METRICS))],
    "k": [Interval(Integral, 1, None, closed="left"), None],
    "max_weight": [Interval(Real, 1, None, closed="left"), None],
    "ties": [StrOptions(set(_TIES))],
    "interval": [StrOptions(set(_INTERVALS))],
    "confidence": [Interval(Real, 0, 1, closed="neither")],
    "n_bootstrap": [Interval(Integral, 2, None, closed="left")],
    "random_state": ["random_state"],
}


@validate_params(
    {**_COMMON, "position": ["array-like", None], "logging_exposure": ["array-like", None]},
    prefer_skip_nested_validation=True,
)
def ope_ranking_metric(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    qid: ArrayLike,
    position: ArrayLike,
    propensity: ArrayLike,
    logging_exposure: ArrayLike | None = None,
    reward: ArrayLike | None = None,
    estimator: str = "ips",
    metric: str = "dcg",
    k: int | None = 10,
    max_weight: float | None = None,
    ties: str = "average",
    interval: str = "normal",
    confidence: float = 0.95,
    n_bootstrap: int = 1000,
    random_state=None,
) -> OPEResult:
    """Off-policy estimate, with a confidence interval, of a new ranker's DCG@k from clicks.

    The log holds lists (sessions) shown by a logging ranker and the clicks on them, under
    the position-based model: a document displayed at position ``p`` is examined with
    probability ``θ_p`` and then clicked with probability ``γ_d`` (its relevance). Each list
    is re-ranked by the target's ``y_score``; the estimand is the mean over lists of the
    target's DCG@k with the relevance probabilities ``γ`` as gains.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Clicks, 0 or 1, one per row (a candidate document of a list).
    y_score : array-like of shape (n_samples,)
        Scores of the target ranker; each list is ranked by them, higher first.
    qid : array-like of shape (n_samples,)
        List (session) of each row: the unit of the interval.
    position : array-like of int of shape (n_samples,)
        1-based position each row was displayed at in the log; ``0`` for a candidate the log
        did not display in this session (see ``logging_exposure``).
    propensity : array-like of shape (n_positions,)
        Examination probability ``θ_p`` of positions 1, 2, ..., in (0, 1] (absolute, so that
        the estimate is on the scale of ``γ``). A logged position without a valid value is a
        ValueError that names it.
    logging_exposure : array-like of shape (n_samples,), optional
        ``ρ_d``: the expected examination of each row's document under the (stochastic)
        logging ranker, ``E_log[θ_{p(d)}]`` (0 where it can never be shown), in [0, 1]. With
        it the weights are ``1/ρ_d`` (policy-aware IPS) and rows with ``position=0`` count
        (their click is 0). ``None``: the logger is deterministic, ``ρ_d = θ_{p(d)}``.
    reward : array-like of shape (n_samples,), optional
        The reward model's predicted relevance ``r̂_d`` of each row, for ``estimator="dr"``
        (fit it on other data than this log, or cross-fit).
    estimator : {"ips", "snips", "dr"}, default="ips"
        Inverse propensity scoring, its self-normalised form, or doubly robust (Notes).
    metric : {"dcg", "recall"}, default="dcg"
        DCG@k with gains ``γ``, or Recall@k (share of the list's relevance in the top ``k``).
    k : int or None, default=10
        Cut-off; ``None`` uses the whole list.
    max_weight : float >= 1 or None, default=None
        Cap on the weights ``1/ρ`` (less variance for some bias); capped rows are counted.
    ties : {"average", "pessimistic"}, default="average"
        Tied scores averaged over their orderings, or the rows with the smaller estimated
        gain first (the convention of :mod:`skultr.metrics`).
    interval : {"normal", "bootstrap"}, default="normal"
        Delta-method (CLT) interval over lists, or percentile bootstrap over lists.
    confidence : float in (0, 1), default=0.95
        Nominal coverage of the interval.
    n_bootstrap : int, default=1000
        Bootstrap resamples (``interval="bootstrap"``).
    random_state : int, RandomState instance or None, default=None
        Seed of the bootstrap resamples.

    Returns
    -------
    result : OPEResult
        ``estimate``, ``ci_low``, ``ci_high``, ``std_error``, ``ess``, ``n_clipped``,
        ``clipped_fraction``, ``n_units``, ``n_excluded``, ``method``, ``interval``;
        ``float(result)`` is the estimate.

    Notes
    -----
    With ``D_d = 1/log2(1 + rank_d)`` for the target's rank of ``d`` up to ``k`` (0 beyond),
    ``c_d`` the click, ``e_d = θ_{p(d)}`` the examination probability of the displayed
    position (0 if not displayed), ``ρ_d`` the logging exposure (``= e_d`` by default) and
    ``w_d = min(1/ρ_d, max_weight)``, the per-list terms are

    - IPS: ``A_q = Σ_d D_d c_d w_d``; estimate ``mean_q A_q``. ``E[c_d] = ρ_d γ_d``, so it is
      unbiased (``max_weight=None``) for ``mean_q Σ_d D_d γ_d``.
    - DR: ``A_q = Σ_d D_d [r̂_d + (c_d − e_d r̂_d) w_d]``, the direct method with the reward
      model plus the IPS correction of its residual; unbiased for any ``r̂`` because
      ``E[c_d − e_d r̂_d] = ρ_d (γ_d − r̂_d)``. With a deterministic logger (``ρ = e``) the
      displayed rows' terms reduce to ``c_d / θ_{p(d)}`` exactly, as IPS: the reward model
      lowers the variance only where the position of a document is random (a stochastic
      logger: ``e_d`` varies around ``ρ_d`` and ``e_d r̂_d`` is a control variate).
    - SNIPS: ``mean_q A_q · mean_q C_q / mean_q B_q`` with the IPS ``A_q``,
      ``B_q = Σ_d D_d e_d w_d`` (mean 1 per unit of discount: ``E[e_d] = ρ_d``) and
      ``C_q = Σ_d D_d``; equal to IPS for a deterministic logger.
    - Recall (any estimator): per list ``Σ_{d in top k} ĝ_d / Σ_d ĝ_d`` with the IPS or DR
      gains ``ĝ``, averaged over the lists with ``Σ_d ĝ_d > 0``: a ratio, consistent but not
      unbiased.

    A candidate with ``position=0`` and no positive ``logging_exposure`` was never shown by the
    logging policy: nothing in the log estimates its relevance, so it is left out of the list
    before the target ranks it, and counted in ``n_excluded``. A click on such a row is an
    error.

    References
    ----------
    .. [1] T. Joachims, A. Swaminathan and T. Schnabel, "Unbiased Learning-to-Rank with Biased
       Feedback", WSDM 2017.
    .. [2] H. Oosterhuis, "Doubly Robust Estimation for Correcting Position Bias in Click
       Feedback for Unbiased Learning to Rank", ACM TOIS 41(3), 2023.

    Examples
    --------
    >>> from skultr.metrics import ope_ranking_metric
    >>> clicks, qid, position = [1, 0, 0, 1, 0, 0], [0, 0, 0, 1, 1, 1], [1, 2, 3, 1, 2, 3]
    >>> target = [0.2, 0.9, 0.1, 0.8, 0.5, 0.3]
    >>> result = ope_ranking_metric(clicks, target, qid=qid, position=position,
    ...                             propensity=[1.0, 0.5, 0.25], k=3)
    >>> round(result.estimate, 4), result.n_units
    (0.8155, 2)
    """
    spec = _spec(
        estimator, metric, k, max_weight, ties, interval, confidence, n_bootstrap, random_state
    )
    y_score = check_1d_finite(y_score, "y_score")
    n = len(y_score)
    clicks = check_clicks(y_true, n, "y_true").astype(np.float64)
    for name, value in (("qid", qid), ("position", position)):
        if value is None:
            raise ValueError(
                f"{name} is required: pass the list id and the displayed position of each row "
                "(in model selection through metadata routing, see make_ope_scorer)."
            )
    codes, n_lists = list_codes(qid, n)
    position = _ranking_positions(position, codes, n_lists)
    examined = _check_examination(propensity, position)
    reward = _check_reward(reward, spec["estimator"], n)
    shown = position > 0
    if logging_exposure is None:
        rho = examined.copy()
    else:
        rho = _per_row(logging_exposure, "logging_exposure", n, low=0.0, high=1.0, allow_low=True)
        zero = shown & (rho == 0)
        if zero.any():
            i = int(np.flatnonzero(zero)[0])
            raise ValueError(
                f"logging_exposure is 0 at row {i}, which the log displayed at position "
                f"{position[i]}: a displayed document has a positive exposure."
            )
    clicked_hidden = ~shown & (clicks > 0)
    if clicked_hidden.any():
        i = int(np.flatnonzero(clicked_hidden)[0])
        raise ValueError(
            f"y_true has a click at row {i}, which the log did not display (position 0)."
        )
    keep = rho > 0
    n_excluded = int(np.sum(~keep))
    if not keep.any():
        raise ValueError("no row can be estimated: no document was displayed (position 0).")
    codes = np.unique(codes[keep], return_inverse=True)[1].reshape(-1)
    n_lists = int(codes.max()) + 1
    return ope_from_rows(
        clicks[keep],
        examined[keep],
        rho[keep],
        reward[keep],
        y_score[keep],
        codes,
        n_lists,
        spec,
        n_excluded,
    )


def _check_binary(values, name, n):
    array = check_1d_finite(values, name, n_rows=n)
    bad = ~((array == 0) | (array == 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must hold 0 or 1; got {array[i]} at row {i}.")
    return array


@validate_params(
    {**_COMMON, "exposure": ["array-like", None]},
    prefer_skip_nested_validation=True,
)
def ope_recommendation_metric(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    qid: ArrayLike,
    propensity: ArrayLike,
    exposure: ArrayLike | None = None,
    reward: ArrayLike | None = None,
    estimator: str = "ips",
    metric: str = "dcg",
    k: int | None = 10,
    max_weight: float | None = None,
    ties: str = "average",
    interval: str = "normal",
    confidence: float = 0.95,
    n_bootstrap: int = 1000,
    random_state=None,
) -> OPEResult:
    """Off-policy estimate, with a confidence interval, of a recommender's DCG@k or Recall@k
    from missing-not-at-random clicks.

    Each row is a candidate (user, item) pair; a click needs exposure (probability ``θ_ui``)
    and relevance (probability ``γ_ui``), ``Y = O · R``. Each user's candidates are ranked by
    ``y_score``; the estimand is the mean over users of the DCG@k with gains ``γ`` (or of
    Recall@k, the share of the user's relevance ``Σ γ`` ranked in the top ``k``).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Clicks ``Y``, 0 or 1.
    y_score : array-like of shape (n_samples,)
        Scores of the recommender; each user's rows are ranked by them, higher first.
    qid : array-like of shape (n_samples,)
        User of each row: the unit of the interval.
    propensity : float or array-like of shape (n_samples,)
        Exposure propensity ``θ_ui`` of each row, in (0, 1] (a bad value names its row).
    exposure : array-like of shape (n_samples,), optional
        The observed exposure ``O`` (0/1) of each row, where the log records impressions.
        Without it the doubly robust and self-normalised estimators reduce to IPS (Notes).
    reward : array-like of shape (n_samples,), optional
        The imputation model's predicted relevance ``r̂_ui`` of each row, for
        ``estimator="dr"`` (fit on other data, or cross-fit).
    estimator : {"ips", "snips", "dr"}, default="ips"
        Inverse propensity scoring, its self-normalised form, or doubly robust.
    metric : {"dcg", "recall"}, default="dcg"
        DCG@k with gains ``γ``, or Recall@k.
    k : int or None, default=10
        Cut-off; ``None`` uses all the user's rows.
    max_weight : float >= 1 or None, default=None
        Cap on the weights ``1/θ``; capped rows are counted in the result.
    ties : {"average", "pessimistic"}, default="average"
        Tied scores averaged over their orderings, or the smaller estimated gains first.
    interval : {"normal", "bootstrap"}, default="normal"
        Delta-method (CLT) interval over users, or percentile bootstrap over users.
    confidence : float in (0, 1), default=0.95
        Nominal coverage of the interval.
    n_bootstrap : int, default=1000
        Bootstrap resamples (``interval="bootstrap"``).
    random_state : int, RandomState instance or None, default=None
        Seed of the bootstrap resamples.

    Returns
    -------
    result : OPEResult
        As :func:`ope_ranking_metric` (``n_excluded`` is 0).

    Notes
    -----
    The estimators of :func:`ope_ranking_metric` with ``ρ = θ_ui`` and ``e = O_ui`` (or
    ``e = θ_ui`` when ``exposure`` is not given): IPS ``Σ_i D_i Y_i w_i``; DR
    ``Σ_i D_i [r̂_i + (Y_i − e_i r̂_i) w_i]`` (the imputation model plus the inverse-propensity
    correction of its error on the exposed pairs, Wang et al. 2019); SNIPS normalises IPS by
    ``Σ D e w / Σ D`` (Schnabel et al. 2016). Without observed exposures ``e = θ`` and both
    reduce to IPS exactly: clicks alone carry no control variate.

    References
    ----------
    .. [1] L. Yang, Y. Cui, Y. Xuan, C. Wang, S. Belongie and D. Estrin, "Unbiased Offline
       Recommender Evaluation for Missing-Not-At-Random Implicit Feedback", RecSys 2018.
    .. [2] X. Wang, R. Zhang, Y. Sun and J. Qi, "Doubly Robust Joint Learning for
       Recommendation on Data Missing Not at Random", ICML 2019.

    Examples
    --------
    >>> from skultr.metrics import ope_recommendation_metric
    >>> clicks = [1, 0, 0, 0, 1, 0]
    >>> scores = [0.9, 0.5, 0.1, 0.8, 0.7, 0.3]
    >>> theta = [0.5, 1.0, 1.0, 1.0, 0.25, 1.0]
    >>> result = ope_recommendation_metric(clicks, scores, qid=[0, 0, 0, 1, 1, 1],
    ...                                    propensity=theta, k=2)
    >>> round(result.estimate, 4)  # the same estimate as ips_dcg_at_k_score
    2.2619
    """
    spec = _spec(
        estimator, metric, k, max_weight, ties, interval, confidence, n_bootstrap, random_state
    )
    y_score = check_1d_finite(y_score, "y_score")
    n = len(y_score)
    clicks = _check_binary(y_true, "y_true", n)
    if qid is None:
        raise ValueError("qid is required: pass the user of each row.")
    codes, n_users = list_codes(qid, n)
    theta = np.asarray(propensity, dtype=np.float64)
    theta = np.full(n, float(theta)) if theta.ndim == 0 else theta
    theta = check_propensity(check_1d(theta, "propensity", n_rows=n), name="propensity")
    reward = _check_reward(reward, spec["estimator"], n)
    if exposure is None:
        examined = theta
    else:
        examined = _check_binary(exposure, "exposure", n)
        unexposed = (examined == 0) & (clicks > 0)
        if unexposed.any():
            i = int(np.flatnonzero(unexposed)[0])
            raise ValueError(f"y_true has a click at row {i}, whose exposure is 0.")
    return ope_from_rows(clicks, examined, theta, reward, y_score, codes, n_users, spec)
