"""PointwiseIPWRanker: any scikit-learn regressor or classifier, debiased for position bias.

A click log becomes an ordinary pointwise learning problem whose population minimiser is the
relevance of a document, so gradient-boosted trees (``HistGradientBoostingRegressor``,
``LGBMRegressor``, ``XGBRegressor``) or any estimator whose ``fit`` takes ``sample_weight``
learn from clicks without the position bias. Free of torch (a ``DLARanker`` given as the
propensity brings its own).
"""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.frozen import FrozenEstimator
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted, has_fit_parameter, validate_data

from skultr.metrics import ndcg_score
from skultr.utils._atomic import atomic_fit
from skultr.utils._click_log import (
    check_clicks,
    check_position_propensity,
    check_positions,
    check_qid_given,
    check_x_finite,
    drop_frame_columns,
    list_codes,
    split_frame_columns,
)
from skultr.utils._sklearn_compat import (
    HasMethods,
    Interval,
    StrOptions,
    _check_sample_weight,
    _fit_context,
    _num_samples,
)
from skultr.utils._versions import VersionedPickleMixin

__all__ = ["PointwiseIPWRanker"]


def _inverse_propensity_weights(theta, position, max_weight):
    """``w_i = 1 / max(θ_{p_i}, 1 / max_weight)``: the clipped inverse propensity of each row."""
    theta_row = theta[position - 1]
    if max_weight is not None:
        theta_row = np.maximum(theta_row, 1.0 / max_weight)
    return 1.0 / theta_row


class PointwiseIPWRanker(MetaEstimatorMixin, VersionedPickleMixin, BaseEstimator):
    """Debias any regressor or classifier that takes ``sample_weight`` for position bias.

    Trains ``estimator`` (by default a ``HistGradientBoostingRegressor``; equally a
    ``LGBMRegressor``, an ``XGBRegressor``, a ``RandomForestRegressor`` or a classifier) on
    a click log turned into a pointwise problem whose population minimiser is the relevance
    of a document, not its click-through rate: each click is weighted by the inverse of the
    examination propensity of the position it was displayed at (inverse propensity
    scoring, Joachims et al. 2017). The propensities are given or estimated from the log
    (regression EM, randomisation, or learned by :class:`~skultr.ranking.DLARanker`).
    ``predict`` scores documents by their estimated relevance.

    Read more in the :ref:`User Guide <gbdt>`.

    Parameters
    ----------
    estimator : regressor, classifier or None, default=None
        Cloned and fitted on the debiased problem. A regressor (anything that is not a
        scikit-learn classifier) is fitted to the targets ``c_i w_i``; a classifier (its
        ``fit`` must take ``sample_weight``; it needs ``predict_proba``) to weighted
        duplicated rows (see Notes). ``None`` means
        ``sklearn.ensemble.HistGradientBoostingRegressor()``.
    propensity : {"regression_em", "randomization"}, array-like or estimator, \
default="regression_em"
        The examination probability ``θ_k`` of positions 1, 2, ...:

        - an array (entry ``k - 1`` for position ``k``), in (0, 1] at every position
          displayed in the log (within ``max_position``); elsewhere it may be missing
          (shorter array) or ``NaN``. Absolute probabilities make the model estimate
          ``P(relevant | x)``; propensities relative to position 1 (``θ_1 = 1``, as every
          skultr estimator returns them) estimate ``θ_1 P(relevant | x)``, the same ranking;
        - ``"regression_em"``: :class:`skultr.propensity.RegressionEMPropensity` fitted on
          the training log (standardised features), no intervention needed;
        - ``"randomization"``: :class:`skultr.propensity.RandomizationPropensity` fitted on
          the training log, which must then be randomised (``intervention="shuffle"``).
          For an ordinary training log and propensities from a *separate* randomised log,
          fit a ``RandomizationPropensity`` on that log and pass it wrapped in
          ``sklearn.frozen.FrozenEstimator`` (or pass its ``propensity_``);
        - an estimator with ``fit`` and ``propensity_`` (``RegressionEMPropensity``,
          ``RandomizationPropensity``, :class:`~skultr.ranking.DLARanker`, ...): cloned,
          fitted on the training log (standardised features) and its ``propensity_`` used,
          divided by its largest value (estimates are relative to position 1 and may exceed
          1 at another position; only ratios matter for the ranking).
          A ``FrozenEstimator`` is used as fitted. An already fitted estimator that is not
          frozen is refitted on the training log, with a warning.
    max_weight : float >= 1 or None, default=10.0
        Clip the inverse propensity weights at this value (``θ`` below ``1 / max_weight``
        is raised to it); ``None`` does not clip. Clipping trades a little bias (the lowest
        positions count less) for variance.
    max_position : int, default=10
        Number of positions with a propensity. Rows displayed lower are left out of the fit
        and counted in ``n_rows_beyond_max_position_``. Also the most rows a log without
        ``qid`` may have (one list).

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone of ``estimator``.
    propensity_ : ndarray of shape (max_position,)
        The propensities ``θ`` used (before clipping; an estimate divided by its largest
        value); ``NaN`` at positions without one.
    propensity_estimator_ : estimator
        The fitted propensity estimator, when ``propensity`` is a string or an estimator.
    n_lists_ : int
        Lists (sessions) of the training log.
    n_rows_beyond_max_position_ : int
        Rows left out because their position exceeds ``max_position``.
    n_features_in_ : int
        Number of features of ``X`` (without the ``qid`` and ``position`` columns of a
        DataFrame).
    feature_names_in_ : ndarray of str
        Defined when ``X`` is a DataFrame with string column names.

    See Also
    --------
    IPWRanker : inverse propensity weighting of a listwise neural ranker.
    DLARanker : learns the ranker and the propensities together.

    Notes
    -----
    Under the position-based model a click needs examination and relevance,
    ``c = e · r`` with ``P(e = 1 | position k) = θ_k`` independent of the document, so
    ``E[c | x, k] = θ_k r(x)`` with ``r(x) = P(r = 1 | x)``. Row ``i`` (displayed at
    ``p_i``, with user weight ``s_i``, 1 by default) gets the inverse propensity
    ``w_i = 1 / max(θ_{p_i}, 1 / max_weight)``; unclipped, ``E[c w | x] = r(x)`` at every
    position.

    *Regressor* (squared loss): the unbiased pointwise objective with ``c_i w_i`` as the
    share of a relevant row,

    .. math:: \\sum_i s_i [c_i w_i (f_i - 1)^2 + (1 - c_i w_i) f_i^2]
              = \\sum_i s_i (f_i - c_i w_i)^2 + \\text{const},

    has a negative weight ``1 − c_i w_i`` on the left, but the right is an ordinary
    weighted least-squares fit to the targets ``t_i = c_i w_i`` with the non-negative
    weights ``s_i``, whose minimiser is ``f(x) = E[c w | x] = r(x)``.

    *Classifier* (log-loss): every row enters as a negative with weight ``s_i``, and every
    clicked row once more as a positive with weight ``s_i w_i``. The weighted log-loss is
    minimised by ``q(x)`` with odds ``q / (1 − q) = E[s c w | x] / E[s | x] = r(x)``, so
    ``predict`` returns ``r̂(x) = q / (1 − q)`` from ``predict_proba``, all weights
    non-negative (tree libraries reject negative ones).

    References
    ----------
    .. [1] T. Joachims, A. Swaminathan and T. Schnabel, "Unbiased Learning-to-Rank with
       Biased Feedback", WSDM 2017.
    .. [2] X. Wang, N. Golbandi, M. Bendersky, D. Metzler and M. Najork, "Position Bias
       Estimation for Unbiased Learning to Rank in Personal Search", WSDM 2018.

    Examples
    --------
    >>> from sklearn.ensemble import HistGradientBoostingRegressor
    >>> from skultr.datasets import make_click_log, make_ranking_dataset
    >>> from skultr.ranking import PointwiseIPWRanker
    >>> X, y, qid = make_ranking_dataset(100, random_state=0)
    >>> log = make_click_log(X, y, qid, n_sessions=2000, random_state=0)
    >>> ranker = PointwiseIPWRanker(
    ...     HistGradientBoostingRegressor(max_iter=20, random_state=0),
    ...     propensity=log.propensity,
    ... )
    >>> ranker = ranker.fit(log.X, log.clicks, qid=log.qid, position=log.position)
    >>> ranker.predict(X).shape == (len(X),)
    True
    >>> 0 < ranker.score(X, y, qid=qid) <= 1
    True
    """

    _parameter_constraints = {
        "estimator": [None, HasMethods(["fit", "predict"])],
        "propensity": [
            StrOptions({"regression_em", "randomization"}),
            "array-like",
            HasMethods(["fit"]),
        ],
        "max_weight": [None, Interval(Real, 1, None, closed="left")],
        "max_position": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self, estimator=None, *, propensity="regression_em", max_weight=10.0, max_position=10
    ):
        self.estimator = estimator
        self.propensity = propensity
        self.max_weight = max_weight
        self.max_position = max_position

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.allow_nan = get_tags(self._base_estimator()).input_tags.allow_nan
        return tags

    def _base_estimator(self):
        if self.estimator is None:
            from sklearn.ensemble import HistGradientBoostingRegressor

            return HistGradientBoostingRegressor()
        return self.estimator

    # -- validation --------------------------------------------------------------------
    def _validate_x(self, X, *, reset):
        X = validate_data(
            self, X, reset=reset, dtype=[np.float64, np.float32], ensure_all_finite=False
        )
        base = self._base_estimator()
        if get_tags(base).input_tags.allow_nan:
            infinite = np.isinf(X)
            if infinite.any():
                row, column = np.argwhere(infinite)[0]
                raise ValueError(
                    f"X must not contain infinity (NaN is allowed: {type(base).__name__} "
                    f"handles missing values); found {X[row, column]} at row {row}, column "
                    f"{column}."
                )
        else:
            check_x_finite(X)
        return X

    def _propensity(self, X, clicks, codes, position, displayed):
        """The validated ``θ`` (length ``max_position``) and the fitted estimator, if any."""
        source = self.propensity
        if isinstance(source, str):
            from skultr.propensity import RandomizationPropensity, RegressionEMPropensity

            kind = RegressionEMPropensity if source == "regression_em" else RandomizationPropensity
            source = kind(max_position=self.max_position)
        estimator = None
        if hasattr(source, "fit"):
            if not isinstance(source, FrozenEstimator) and _is_fitted(source):
                warnings.warn(
                    f"PointwiseIPWRanker: the propensity estimator {type(source).__name__} is "
                    "already fitted; it is cloned and refitted on the training log. To use its "
                    "propensity_ as fitted (for example a RandomizationPropensity fitted on a "
                    "separate randomised log), wrap it in sklearn.frozen.FrozenEstimator.",
                    UserWarning,
                    stacklevel=4,
                )
            scaled = StandardScaler().fit_transform(X)
            estimator = clone(source).fit(scaled, clicks, qid=codes, position=position)
            if not hasattr(estimator, "propensity_"):
                raise TypeError(
                    f"propensity: the fitted {type(estimator).__name__} has no propensity_ "
                    "attribute; pass a position propensity estimator (RegressionEMPropensity, "
                    "RandomizationPropensity, DLARanker) or an array."
                )
            # Estimates are relative to position 1 and may exceed 1 elsewhere (a position
            # that looked more examined than the top): rescale to the most examined position.
            values = np.asarray(estimator.propensity_, dtype=np.float64)
            if np.isfinite(values).any() and np.nanmax(values) > 0:
                values = values / np.nanmax(values)
            what = f"the propensity_ of {type(estimator).__name__}"
        else:
            values, what = source, "propensity"
        values = check_position_propensity(
            values,
            displayed,
            what=what,
            n_positions=self.max_position,
            reference=False,
            probability=True,
        )
        return values, estimator

    # -- fitting -----------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=False)
    @atomic_fit
    def fit(self, X, y, *, qid=None, position=None, sample_weight=None):
        """Fit ``estimator`` to the inverse-propensity-weighted click log.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            One row per displayed document. A DataFrame may carry ``qid`` and ``position``
            columns instead of the arguments below (they are not used as features).
        y : array-like of shape (n_samples,)
            Clicks, 0 or 1. A log without any click (of positive weight, within
            ``max_position``) is an error.
        qid : array-like of shape (n_samples,), optional
            List (session) of each row, any order. ``None`` puts all rows in one list,
            allowed for at most ``max_position`` rows (more is a ValueError that says how
            to pass ``qid``). Used by the propensity estimators and to read positions.
        position : array-like of int of shape (n_samples,), optional
            1-based displayed position, unique within a list; ``None`` takes the rows of
            each list to be in displayed order.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weight of each row, multiplied into the weights passed to
            ``estimator.fit`` (a regressor must then take ``sample_weight``).

        Returns
        -------
        self
        """
        if y is None:
            raise ValueError(
                "PointwiseIPWRanker requires y to be passed, but the target y is None: pass "
                "the clicks (0/1), one per displayed document."
            )
        base = self._base_estimator()
        classifier = is_classifier(base)
        if classifier and not hasattr(base, "predict_proba"):
            raise TypeError(
                f"estimator: the classifier {type(base).__name__} has no predict_proba, which "
                "predict needs to turn its probabilities into relevance odds."
            )
        weighted = sample_weight is not None
        if (classifier or weighted) and not has_fit_parameter(base, "sample_weight"):
            raise TypeError(
                f"estimator: {type(base).__name__}.fit takes no sample_weight, which "
                + (
                    "a classifier needs for the inverse propensity weights."
                    if classifier
                    else "is needed to pass the given sample_weight on."
                )
            )
        X, qid, position = split_frame_columns(X, qid, position)
        X = self._validate_x(X, reset=True)
        n_rows = X.shape[0]
        clicks = check_clicks(y, n_rows)
        check_qid_given(qid, n_rows, self.max_position, type(self).__name__)
        codes, n_lists = list_codes(qid, n_rows)
        position = check_positions(position, codes, n_lists)
        s = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        keep = position <= self.max_position
        if not ((clicks[keep] > 0) & (s[keep] > 0)).any():
            raise ValueError(
                "PointwiseIPWRanker.fit: the click log has no click (of positive "
                f"sample_weight) at positions 1 to max_position={self.max_position}, so there "
                "is nothing to learn relevance from."
            )
        displayed = np.unique(position[keep])
        theta, estimator = self._propensity(X, clicks, codes, position, displayed)
        if estimator is not None:
            self.propensity_estimator_ = estimator
        self.propensity_ = theta
        self.n_lists_ = int(n_lists)
        self.n_rows_beyond_max_position_ = int(n_rows - keep.sum())

        X, c, s, p = X[keep], clicks[keep].astype(np.float64), s[keep], position[keep]
        w = _inverse_propensity_weights(theta, p, self.max_weight)
        model = clone(base)
        if classifier:
            clicked = c > 0
            X_fit = np.concatenate([X, X[clicked]])
            y_fit = np.r_[np.zeros(len(X), dtype=np.int64), np.ones(clicked.sum(), np.int64)]
            model.fit(X_fit, y_fit, sample_weight=np.r_[s, s[clicked] * w[clicked]])
        elif weighted:
            model.fit(X, c * w, sample_weight=s)
        else:
            model.fit(X, c * w)
        self.estimator_ = model
        return self

    # -- prediction --------------------------------------------------------------------
    def predict(self, X):
        """Estimated relevance of each row (higher ranks first).

        A regressor's prediction ``r̂(x)``; for a classifier the odds ``q / (1 − q)`` of
        its probability of the positive class (see Notes).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            ``qid`` / ``position`` columns of a DataFrame are dropped.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = self._validate_x(drop_frame_columns(X), reset=False)
        if not is_classifier(self.estimator_):
            return np.asarray(self.estimator_.predict(X), dtype=np.float64).reshape(-1)
        column = int(np.flatnonzero(self.estimator_.classes_ == 1)[0])
        q = np.clip(self.estimator_.predict_proba(X)[:, column], 0.0, 1.0 - 1e-12)
        return q / (1.0 - q)

    def score(self, X, y, *, qid=None):
        """Mean nDCG@10 (exponential gain) of the predicted ranking against graded labels.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Graded relevance labels (not clicks).
        qid : array-like of shape (n_samples,), optional
            List of each row; a ``qid`` column of a DataFrame ``X`` is used when not given.
            Without either, all rows form one list, only allowed for at most
            ``max_position`` rows (in ``GridSearchCV``, route it with
            ``set_score_request(qid=True)``).

        Returns
        -------
        score : float
            Mean over lists with at least one relevant document (see
            :func:`skultr.metrics.ndcg_score`).
        """
        _, qid, _ = split_frame_columns(X, qid, None)
        check_is_fitted(self)
        n_rows = _num_samples(X)
        check_qid_given(qid, n_rows, self.max_position, "PointwiseIPWRanker.score", method="score")
        scores = self.predict(X)
        if qid is None:
            qid = np.zeros(len(scores), dtype=np.int64)
        return ndcg_score(y, scores, qid=qid, k=10)


def _is_fitted(estimator):
    try:
        check_is_fitted(estimator)
    except (TypeError, ValueError, AttributeError):
        return False
    return True
