"""Position-bias (examination) propensities from click logs.

Two families, both returning ``propensity_``, the examination probability of positions
1..max_position relative to position 1:

- :class:`RandomizationPropensity` reads the curve off a log whose lists were randomised
  (full shuffles of the top results, or swaps of position 1 with a random position): with the
  documents assigned to positions at random, click rates differ only by examination.
- :class:`RegressionEMPropensity` needs no intervention: it fits the position-based model
  ``P(click) = θ_position · γ(x)`` to an ordinary log by expectation-maximisation, with the
  relevance ``γ`` a classifier of the features (Wang et al., WSDM 2018).
"""

import copy
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import validate_data

from skultr.utils._atomic import atomic_fit
from skultr.utils._click_log import (
    ClickLogWarning,
    check_clicks,
    check_positions,
    check_qid_given,
    check_x_finite,
    list_codes,
    split_frame_columns,
)
from skultr.utils._sklearn_compat import HasMethods, Interval, StrOptions, _fit_context
from skultr.utils._validation import check_shard_columns
from skultr.utils._versions import VersionedPickleMixin

from ._em import (
    _GAMMA_BINS,
    _examined_by_histogram,
    _gamma_histogram,
    _SoftLabelLogistic,
    _WeightedClassifier,
)


def _validate_click_log(estimator, X, y, qid, position, *, reset=True, shard=False):
    """Validated ``(X, clicks, positions)`` with the rankers' conventions and errors.

    ``reset=False`` checks ``X`` against the fitted columns; ``shard`` also records (first
    call) or checks (later calls) the columns of a ``partial_fit`` shard.
    """
    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the target y is None: "
            "pass the clicks (0/1), one per displayed document."
        )
    X, qid, position = split_frame_columns(X, qid, position)
    if shard:
        check_shard_columns(estimator, X, fresh=reset)
    X = validate_data(
        estimator, X, reset=reset, dtype=[np.float64, np.float32], ensure_all_finite=False
    )
    check_x_finite(X)
    clicks = check_clicks(y, X.shape[0])
    check_qid_given(qid, X.shape[0], estimator.max_position, type(estimator).__name__)
    codes, n_lists = list_codes(qid, X.shape[0])
    return X, clicks, check_positions(position, codes, n_lists)


def _warn_without_position_one(estimator, impressions):
    """All-NaN ``propensity_``: say why (propensities are relative to position 1)."""
    if impressions[0] == 0:
        warnings.warn(
            f"{type(estimator).__name__}: no row was displayed at position 1, so propensity_ "
            "is all NaN (propensities are relative to position 1). Pass the positions as "
            "displayed (1 = top).",
            ClickLogWarning,
            stacklevel=3,
        )


def _check_some_click(estimator, n_clicks):
    """A log without any click within ``max_position`` has no examination to estimate."""
    if n_clicks.sum() > 0:
        return
    raise ValueError(
        f"{type(estimator).__name__}.fit: the click log has no click at positions 1 to "
        f"max_position={estimator.max_position}, so there is nothing to estimate the "
        "propensities from (every click-through rate is 0)."
    )


def _click_rates(clicks, slot, n_positions):
    """Clicks and impressions per 0-based slot ``< n_positions``."""
    keep = slot < n_positions
    impressions = np.bincount(slot[keep], minlength=n_positions).astype(np.float64)
    n_clicks = np.bincount(slot[keep], weights=clicks[keep], minlength=n_positions)
    return n_clicks, impressions


class _PositionPropensityMixin(VersionedPickleMixin):
    """Tags shared by the position propensity estimators: y (clicks) is required."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


class RandomizationPropensity(_PositionPropensityMixin, BaseEstimator):
    """Examination propensities from a log with randomised result lists.

    On a randomised log the document shown at a position does not depend on the position,
    so the click rates per position differ only by how often each position is examined.

    - ``intervention="shuffle"`` (RandTop: the top results in a uniformly random order):
      ``p_k / p_1 = CTR_k / CTR_1``, the click-through rate at each position.
    - ``intervention="swap"`` (RandPair / swap interventions, Joachims et al. 2017: position
      1 exchanged with a uniformly drawn position ``k``): compares each document with itself
      at two positions. With ``r(a@b)`` the click rate of the document of production rank
      ``a`` displayed at position ``b``,
      ``p_k / p_1 = sqrt(r(1@k) · r(k@k) / (r(1@1) · r(k@1)))``, the geometric mean of the
      two swapped documents' ratios (each is unbiased for the ratio under the
      position-based model, up to the usual ratio-estimator bias).

    Build such logs with :func:`skultr.datasets.make_click_log` (``intervention=...``).

    Parameters
    ----------
    intervention : {"shuffle", "swap"}, default="shuffle"
        The randomisation of the log: ``"shuffle"`` (the top results in a uniformly random
        order; propensities from the click rate per position) or ``"swap"`` (position 1
        exchanged with one other position; needs ``production_position`` in ``fit``).
    max_position : int, default=10
        Number of positions with a propensity; clicks and impressions are counted at
        positions ``1 .. max_position``. Also the most rows a log without ``qid`` may have
        (one list).

    Attributes
    ----------
    propensity_ : ndarray of shape (max_position,)
        Examination of each position relative to position 1. ``NaN`` where there is no
        data (no impression or, for a ratio, no click on a denominator); all ``NaN``, with
        a warning, when no row was displayed at position 1.
    clicks_, impressions_ : ndarray of shape (max_position,)
        Clicks and impressions per displayed position (summed over the ``partial_fit``
        shards).
    n_features_in_ : int
        ``X`` is only validated: the estimate uses clicks and positions alone. It is taken
        so the estimator fits the same ``(X, y, qid=, position=)`` log as the rankers.

    Examples
    --------
    >>> from skultr.datasets import make_click_log, make_ranking_dataset
    >>> from skultr.propensity import RandomizationPropensity
    >>> X, y, qid = make_ranking_dataset(200, random_state=0)
    >>> log = make_click_log(X, y, qid, n_sessions=50_000, intervention="shuffle",
    ...                      random_state=0)
    >>> est = RandomizationPropensity().fit(log.X, log.clicks, qid=log.qid,
    ...                                     position=log.position)
    >>> bool(abs(est.propensity_ - log.propensity).max() < 0.05)
    True
    """

    _parameter_constraints = {
        "intervention": [StrOptions({"shuffle", "swap"})],
        "max_position": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, *, intervention="shuffle", max_position=10):
        self.intervention = intervention
        self.max_position = max_position

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic_fit
    def fit(self, X, y, *, qid=None, position=None, production_position=None):
        """Estimate the propensities from a randomised click log.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features of the displayed documents (validated, not used).
        y : array-like of shape (n_samples,)
            Clicks, 0 or 1. A log without any click within ``max_position`` is an error.
        qid : array-like of shape (n_samples,), optional
            Session of each row. ``None`` (and no ``qid`` column of a DataFrame ``X``) puts
            all rows in one list, allowed for at most ``max_position`` rows (more is a
            ValueError that says how to pass ``qid``).
        position : array-like of int of shape (n_samples,), optional
            1-based displayed position (``None``: the row order within each list).
        production_position : array-like of int of shape (n_samples,), optional
            1-based rank of each row before the intervention. Required for ``"swap"``.

        Returns
        -------
        self
        """
        return self._count(X, y, qid, position, production_position, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic_fit
    def partial_fit(self, X, y, *, qid=None, position=None, production_position=None):
        """Add a shard of the randomised log to the counts (the first call starts them).

        The estimate is a function of counts (clicks and impressions per position, or per
        production rank and position for ``"swap"``), which add up over shards: after
        ``partial_fit`` on every shard of a log, ``clicks_``, ``impressions_`` and
        ``propensity_`` are those of ``fit`` on the concatenated log, whatever the split
        (a list may even be split across shards). Every shard must have the columns of the
        first; ``intervention`` and ``max_position`` must be those of the counts being
        continued (fit a new estimator to change them). Until some shard has a click
        within ``max_position``, ``propensity_`` is all ``NaN`` and a warning says so.

        Parameters
        ----------
        X, y, qid, position, production_position
            One shard of the log, as in :meth:`fit`.

        Returns
        -------
        self

        Examples
        --------
        >>> import numpy as np
        >>> from skultr.datasets import make_click_log, make_ranking_dataset
        >>> from skultr.propensity import RandomizationPropensity
        >>> X, y, qid = make_ranking_dataset(50, random_state=0)
        >>> log = make_click_log(X, y, qid, n_sessions=2_000, intervention="shuffle",
        ...                      random_state=0)
        >>> streamed = RandomizationPropensity()
        >>> for rows in np.array_split(np.arange(len(log.clicks)), 4):
        ...     streamed = streamed.partial_fit(log.X[rows], log.clicks[rows],
        ...                                     qid=log.qid[rows], position=log.position[rows])
        >>> whole = RandomizationPropensity().fit(log.X, log.clicks, qid=log.qid,
        ...                                       position=log.position)
        >>> bool(np.allclose(streamed.propensity_, whole.propensity_, equal_nan=True))
        True
        """
        return self._count(X, y, qid, position, production_position, incremental=True)

    def _count(self, X, y, qid, position, production_position, *, incremental):
        fresh = not (incremental and hasattr(self, "clicks_"))
        if not fresh:
            self._check_continuable()
        X, clicks, position = _validate_click_log(
            self, X, y, qid, position, reset=fresh, shard=fresh or incremental
        )
        K = self.max_position
        slot = position - 1
        counts = {"clicks_": None, "impressions_": None}
        counts["clicks_"], counts["impressions_"] = _click_rates(clicks, slot, K)
        if self.intervention == "swap":
            counts["_swap_clicks"], counts["_swap_impressions"] = self._swap_counts(
                clicks, slot, production_position, K
            )
        if not fresh:
            counts = {name: getattr(self, name) + value for name, value in counts.items()}
        if not incremental:
            _check_some_click(self, counts["clicks_"])
        for name, value in counts.items():
            setattr(self, name, value)
        self._intervention = self.intervention
        self._update_propensity()
        return self

    _COUNTS = ("clicks_", "impressions_", "_swap_clicks", "_swap_impressions")

    def _merge_counts(self, parts):
        """Fit from estimators that each counted one partition (map-reduce; see
        :func:`skultr.distributed.fit_by_counts`): their counts are summed, exactly the
        counts of ``fit`` on the whole log. The first part's columns are the reference;
        another part with other columns is an error naming it.
        """
        first = parts[0]
        for name in (*self._COUNTS, "feature_names_in_"):  # nothing of an earlier fit stays
            vars(self).pop(name, None)
        for name in ("n_features_in_", "feature_names_in_", "_shard_columns"):
            if hasattr(first, name):
                setattr(self, name, getattr(first, name))
        for index, part in enumerate(parts[1:], start=1):
            check_shard_columns(
                self,
                None,
                fresh=False,
                schema=part._shard_columns[1:],
                where=f"{type(self).__name__}: partition {index}",
            )
        for name in self._COUNTS:
            if hasattr(first, name):
                setattr(self, name, sum(getattr(part, name) for part in parts))
        self._intervention = self.intervention
        _check_some_click(self, self.clicks_)
        self._update_propensity()
        return self

    def _update_propensity(self):
        """``propensity_`` from the counts, with the warnings of an estimate without data."""
        K = self.max_position
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.intervention == "shuffle":
                rate = self.clicks_ / self.impressions_
                propensity = rate / rate[0]
            else:
                propensity = _swap_ratios(self._swap_clicks, self._swap_impressions)
        propensity[~np.isfinite(propensity)] = np.nan
        self.propensity_ = propensity
        if self.clicks_.sum() == 0:
            warnings.warn(
                f"{type(self).__name__}.partial_fit: no click at positions 1 to "
                f"max_position={K} in the shards so far, so propensity_ is all NaN.",
                ClickLogWarning,
                stacklevel=3,
            )
        else:
            _warn_without_position_one(self, self.impressions_)

    def _check_continuable(self):
        for name, fitted in (
            ("intervention", getattr(self, "_intervention", self.intervention)),
            ("max_position", len(self.clicks_)),
        ):
            if getattr(self, name) != fitted:
                raise ValueError(
                    f"{type(self).__name__}.partial_fit: {name}={getattr(self, name)!r} differs "
                    f"from the {name}={fitted!r} of the counts being continued; fit a new "
                    "estimator to change it."
                )

    @staticmethod
    def _swap_counts(clicks, slot, production_position, K):
        """Clicks and impressions (K, K) by production rank (row) and displayed position."""
        if production_position is None:
            raise ValueError(
                "production_position is required for intervention='swap': the rank of each "
                "row before the swap (make_click_log returns it as production_position)."
            )
        production = np.asarray(production_position)
        if production.shape != slot.shape:
            raise ValueError(
                f"production_position has {production.size} entries but X has {len(slot)} rows."
            )
        if production.dtype.kind not in "iuf" or (production < 1).any():
            raise ValueError("production_position must hold integers >= 1.")
        source = production.astype(np.int64) - 1
        keep = (source < K) & (slot < K)
        cell = source[keep] * K + slot[keep]
        n = np.bincount(cell, minlength=K * K).reshape(K, K).astype(np.float64)
        c = np.bincount(cell, weights=clicks[keep], minlength=K * K).reshape(K, K)
        return c, n


def _swap_ratios(c, n):
    """``p_k / p_1`` from the (K, K) swap counts (see ``RandomizationPropensity``)."""
    K = c.shape[0]
    rate = c / n  # rate[a, b]: document of production rank a+1 shown at position b+1
    k = np.arange(K)
    ratio = np.sqrt(rate[0, k] * rate[k, k] / (rate[0, 0] * rate[k, 0]))
    ratio[0] = 1.0
    return ratio


class RegressionEMPropensity(_PositionPropensityMixin, BaseEstimator):
    """Examination propensities by regression EM on an ordinary click log (Wang et al. 2018).

    The position-based model says a document is clicked when it is examined (probability
    ``θ_k`` at position ``k``) and found relevant (probability ``γ(x)``, a function of its
    features): ``P(c = 1) = θ_k γ(x)``. Examination and relevance are hidden, so both are
    fitted by expectation-maximisation. The E-step gives, for an unclicked document,

    .. math:: P(E=1 | c=0) = \\frac{θ_k (1 − γ)}{1 − θ_k γ}, \\qquad
              P(R=1 | c=0) = \\frac{(1 − θ_k) γ}{1 − θ_k γ}

    (both are 1 after a click); the M-step sets ``θ_k`` to the mean posterior examination at
    position ``k`` and refits the relevance classifier ``γ`` to the posterior relevance (each
    row enters twice, as a positive with weight ``P(R=1)`` and a negative with weight
    ``P(R=0)``: the expected log-likelihood, where Wang et al. sample labels instead).

    No intervention is needed: the relevance model separates relevance from position because
    it must explain the clicks of similar documents shown at different positions. The
    estimate is only as good as that model; a relevance model that cannot express the true
    relevance leaves part of it in ``θ``.

    Parameters
    ----------
    max_position : int, default=10
        Number of positions with a propensity. Rows displayed lower are left out of the
        fit. Also the most rows a log without ``qid`` may have (one list).
    relevance_model : classifier or None, default=None
        Any binary classifier with ``sample_weight`` in ``fit`` and ``predict_proba``; cloned.
        ``None`` uses an L2-regularised logistic regression on the features (the model of
        ``LogisticRegression(C=1.0)``), fitted to the soft labels directly by two Newton
        steps per EM iteration, warm-started: much faster than refitting a classifier. Its
        gradient is exact over all rows; on logs of more than 50,000 rows its curvature
        (the Hessian) comes from 50,000 rows drawn once, so an iteration costs
        ``O(n F + 50,000 F²)``: on 100,000 rows × 136 features with a 10,000-row Hessian
        the propensities moved by at most 5e-5. ``X`` is used as given (float32 stays
        float32, no copy).
    max_iter : int, default=100
        EM iterations.
    tol : float, default=1e-4
        Stop when no ``θ_k`` moves by more than ``tol`` in an iteration.

    Attributes
    ----------
    propensity_ : ndarray of shape (max_position,)
        ``θ_k / θ_1``; ``NaN`` for positions without data (all ``NaN``, with a warning,
        when no row was displayed at position 1).
    examination_ : ndarray of shape (max_position,)
        The absolute examination probabilities ``θ_k``.
    relevance_model_ : classifier
        The fitted relevance model ``γ`` (a ``LogisticRegression`` holding the final
        coefficients when ``relevance_model=None``).
    n_iter_ : int
        EM iterations run (``max_iter`` unless ``tol`` stopped them earlier).
    n_features_in_ : int
        Number of features of ``X`` (the input of the relevance model).

    References
    ----------
    .. [1] X. Wang, N. Golbandi, M. Bendersky, D. Metzler and M. Najork, "Position Bias
       Estimation for Unbiased Learning to Rank in Personal Search", WSDM 2018.

    Examples
    --------
    >>> from skultr.datasets import make_click_log, make_ranking_dataset
    >>> from skultr.propensity import RegressionEMPropensity
    >>> X, y, qid = make_ranking_dataset(200, random_state=0)
    >>> log = make_click_log(X, y, qid, n_sessions=2000, random_state=0)
    >>> est = RegressionEMPropensity(max_iter=10)
    >>> est = est.fit(log.X, log.clicks, qid=log.qid, position=log.position)
    >>> est.propensity_.shape, est.n_iter_
    ((10,), 10)
    """

    _parameter_constraints = {
        "max_position": [Interval(Integral, 1, None, closed="left")],
        "relevance_model": [None, HasMethods(["fit", "predict_proba"])],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, *, max_position=10, relevance_model=None, max_iter=100, tol=1e-4):
        self.max_position = max_position
        self.relevance_model = relevance_model
        self.max_iter = max_iter
        self.tol = tol

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic_fit
    def fit(self, X, y, *, qid=None, position=None):
        """Fit the position-based model to a click log.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features of the displayed documents (input of the relevance model).
        y : array-like of shape (n_samples,)
            Clicks, 0 or 1. A log without any click within ``max_position`` is an error.
        qid : array-like of shape (n_samples,), optional
            Session of each row. ``None`` (and no ``qid`` column of a DataFrame ``X``) puts
            all rows in one list, allowed for at most ``max_position`` rows (more is a
            ValueError that says how to pass ``qid``).
        position : array-like of int of shape (n_samples,), optional
            1-based displayed position (``None``: the row order within each list). Rows
            beyond ``max_position`` are left out.

        Returns
        -------
        self
        """
        return self._fit_em(X, y, qid, position, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic_fit
    def partial_fit(self, X, y, *, qid=None, position=None):
        """Run EM on one shard of the log, pooling ``θ`` with the shards before it.

        Incremental EM, one pass over the shards: each call runs up to ``max_iter`` EM
        iterations on its shard (until ``tol``), starting from the current ``θ`` and
        relevance model, so the first call on a fresh estimator is ``fit`` on its shard.
        What the earlier shards contribute is kept in a summary of fixed size, not as rows:

        - to the M-step of ``θ``: their clicks and impressions per position, and their
          unclicked rows per position binned by the relevance ``γ`` they had when their
          own call ended (512 bins), whose posterior examination
          ``θ_k (1 − γ) / (1 − θ_k γ)`` is re-evaluated at every iteration;
        - to the relevance model (the default logistic one): their objective in quadratic
          form around their fit (its curvature, a ``(F + 1) × (F + 1)`` matrix, which
          also holds the L2 penalty), added to the shard's. A given ``relevance_model``
          continues from its fitted state (warm start where it has one) on the shard's
          rows only.

        The earlier rows' ``γ`` are not revisited, so the estimate differs from ``fit`` on
        the concatenated log. Measured on simulated logs (``make_ranking_dataset(200)``,
        ``make_click_log``, lists split evenly into shards; max abs difference of
        ``propensity_`` from ``fit``'s): 40,000 rows: 0.003, 0.020, 0.032, 0.031 for 2, 4,
        8, 16 shards; 320,000 rows: 0.006, 0.014, 0.017, 0.016. On those logs ``fit``
        itself is 0.10 and 0.16 from the true propensities (the logistic relevance model
        cannot express the simulated relevance), so the shards' error is a fraction of
        the model's.

        Every shard must have the columns of the first and the model's ``max_position``
        and kind of relevance model; ``n_iter_`` counts the iterations of all calls.

        Parameters
        ----------
        X, y, qid, position
            One shard of the log, as in :meth:`fit`. The first shard must have a click
            within ``max_position``.

        Returns
        -------
        self
        """
        return self._fit_em(X, y, qid, position, incremental=True)

    def _check_continuable(self):
        fitted_position = len(self._impressions)
        if self.max_position != fitted_position:
            raise ValueError(
                f"{type(self).__name__}.partial_fit: max_position={self.max_position} differs "
                f"from the max_position={fitted_position} of the model being continued; fit a "
                "new estimator to change it."
            )
        if (self.relevance_model is None) != self._default_relevance:
            raise ValueError(
                f"{type(self).__name__}.partial_fit: relevance_model changed between calls "
                "(the model being continued was fitted with "
                f"{'the default' if self._default_relevance else 'a given'} relevance model); "
                "fit a new estimator to change it."
            )

    def _fit_em(self, X, y, qid, position, *, incremental):
        fresh = not (incremental and hasattr(self, "_impressions"))
        if not fresh:
            self._check_continuable()
        X, clicks, position = _validate_click_log(
            self, X, y, qid, position, reset=fresh, shard=fresh or incremental
        )
        K = self.max_position
        keep = position <= K
        if not keep.all():  # rows beyond max_position are left out (a copy only then)
            X, clicks, position = X[keep], clicks[keep], position[keep]
        c, slot = clicks.astype(np.float64), position - 1
        n_clicks, impressions = _click_rates(c, slot, K)
        if fresh:
            _check_some_click(self, n_clicks)
            earlier_clicks, earlier_impressions = np.zeros(K), np.zeros(K)
            earlier_unclicked = np.zeros((K, _GAMMA_BINS))
        else:
            earlier_clicks, earlier_impressions = self._clicks, self._impressions
            earlier_unclicked = self._unclicked
        total_impressions = earlier_impressions + impressions
        seen = total_impressions > 0
        if self.relevance_model is None:
            relevance = _SoftLabelLogistic(X, C=1.0, prior=None if fresh else self._posterior)
        else:
            model = clone(self.relevance_model) if fresh else copy.deepcopy(self.relevance_model_)
            relevance = _WeightedClassifier(model, X)

        if fresh:
            # Start from the click-through rates: theta proportional to CTR, gamma constant.
            ctr = np.divide(n_clicks, impressions, out=np.zeros(K), where=seen)
            theta = np.clip(ctr / max(ctr.max(), 1e-12), 0.05, 0.95)
            gamma = np.full(len(c), np.clip(c.mean() / theta[slot].mean(), 0.05, 0.95))
            self.n_iter_ = 0
        else:
            theta = self._theta.copy()
            gamma = np.clip(relevance.predict(), 1e-6, 1 - 1e-6)
        examined_sum = np.zeros(K)
        for _ in range(self.max_iter):
            t = theta[slot]
            denominator = np.clip(1.0 - t * gamma, 1e-12, None)
            examined = c + (1.0 - c) * t * (1.0 - gamma) / denominator
            relevant = c + (1.0 - c) * (1.0 - t) * gamma / denominator
            examined_sum = np.bincount(slot, weights=examined, minlength=K)
            examined_sum += _examined_by_histogram(theta, earlier_unclicked) + earlier_clicks
            new_theta = np.divide(examined_sum, total_impressions, out=theta.copy(), where=seen)
            gamma = np.clip(relevance.update(relevant), 1e-6, 1 - 1e-6)
            shift = np.max(np.abs(new_theta - theta))
            theta = np.clip(new_theta, 1e-6, 1.0)
            self.n_iter_ += 1
            if shift <= self.tol:
                break
        self.relevance_model_ = relevance.estimator()
        self._default_relevance = self.relevance_model is None
        if self._default_relevance:
            self._posterior = relevance.posterior()
        self._theta = theta
        self._clicks = earlier_clicks + n_clicks
        unclicked = c == 0
        self._unclicked = earlier_unclicked + _gamma_histogram(
            slot[unclicked], gamma[unclicked], K
        )
        self._impressions = total_impressions
        self.examination_ = np.where(seen, theta, np.nan)
        self.propensity_ = self.examination_ / self.examination_[0]
        _warn_without_position_one(self, total_impressions)
        return self
