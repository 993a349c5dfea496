"""Propensity baselines for missing-not-at-random explicit ratings.

- :class:`NaiveBayesPropensity`: ``p(o = 1 | r)`` from the observed ratings and a small
  missing-at-random sample of ratings, passed explicitly (Schnabel et al., ICML 2016).
- :class:`LogisticPropensity`: a logistic regression of the observation indicator on user and
  item one-hot codes (and optional features), over the whole catalogue.

Torch-free: importing :mod:`skultr.propensity` does not import torch.
"""

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from skultr.utils._interactions import _PairEstimatorMixin
from skultr.utils._sklearn_compat import Interval, _fit_context
from skultr.utils._versions import VersionedPickleMixin


class NaiveBayesPropensity(_PairEstimatorMixin, VersionedPickleMixin, BaseEstimator):
    """Propensity of observing a rating given its value, by Bayes' rule.

    Self-selection makes high (or extreme) ratings over-represented among observed ratings.
    With a small sample of ratings collected *missing at random* (users asked to rate random
    items), the propensity of observing a pair depends on its rating ``r`` only:

    .. math:: \\hat p(o = 1 \\mid r) = \\frac{P(r \\mid o = 1) \\, P(o = 1)}{P(r)},

    with ``P(r | o = 1)`` the rating distribution of the observed (MNAR) ratings, ``P(r)`` the
    distribution in the MAR sample and ``P(o = 1) = n_observed / (n_users n_items)``.

    The MAR sample must be passed explicitly and kept apart from any evaluation data: the
    authors' kernel-balancing code draws it from the MAR *test* set and leaves it there, which
    leaks test labels into training. On Coat, split a few percent of the MAR ratings off as a
    propensity sample and evaluate on the rest (as ``benchmarks/bench_kernel_balancing.py``
    does).

    Read more in the :ref:`User Guide <kernel_balancing>`.

    Parameters
    ----------
    smoothing : float >= 0, default=0.0
        Laplace pseudo-count added to every rating class in both distributions (useful when
        the MAR sample is tiny and misses a class).
    n_users, n_items : int, default=None
        Fixed catalogue sizes (for ``P(o = 1)``; ids ``0 .. n - 1``); by default the
        distinct ids of ``X`` (any hashable ids).
    id_columns : pair of str, default=("user", "item")
        Names of the user and the item column of a DataFrame ``X``, read by name in any
        column order. A DataFrame without these names is read by position (user first) in
        ``fit``, and by the names it had in ``fit`` afterwards.

    Attributes
    ----------
    classes_ : ndarray
        The rating values seen in ``y`` or ``mar_y``.
    class_propensity_ : ndarray of shape (n_classes,)
        ``p̂(o = 1 | r)`` of each class, clipped to (0, 1].
    observation_rate_ : float
        ``P(o = 1)``.
    user_ids_, item_ids_ : ndarray
        The catalogue's ids, in the order of the fitted tables.
    n_users_, n_items_ : int
        Catalogue sizes.
    n_features_in_ : int
        Always 2 (the user and the item column).

    See Also
    --------
    LogisticPropensity : propensities from user and item effects, without MAR data.
    KernelBalancingPropensity : balancing weights on top of a base propensity.

    References
    ----------
    .. [1] T. Schnabel, A. Swaminathan, A. Singh, N. Chandak and T. Joachims,
       "Recommendations as Treatments: Debiasing Learning and Evaluation", ICML 2016.

    Examples
    --------
    >>> from skultr.propensity import NaiveBayesPropensity
    >>> X = [[0, 0], [0, 1], [1, 0], [1, 2]]
    >>> nb = NaiveBayesPropensity(n_users=2, n_items=4).fit(X, [1, 1, 1, 0], mar_y=[0, 0, 0, 1])
    >>> nb.class_propensity_.round(3).tolist()
    [0.167, 1.0]
    >>> nb.predict(X, [1, 1, 1, 0]).round(3).tolist()
    [1.0, 1.0, 1.0, 0.167]
    """

    _parameter_constraints: dict = {
        "id_columns": [tuple, list],
        "smoothing": [Interval(Real, 0, None, closed="left")],
        "n_users": [None, Interval(Integral, 1, None, closed="left")],
        "n_items": [None, Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, *, smoothing=0.0, n_users=None, n_items=None, id_columns=("user", "item")):
        self.smoothing = smoothing
        self.n_users = n_users
        self.n_items = n_items
        self.id_columns = id_columns

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, *, mar_y=None):
        """Estimate ``p(o = 1 | r)`` for each rating value.

        Parameters
        ----------
        X : array-like of shape (n_samples, 2)
            Observed (user, item) pairs (the MNAR training data).
        y : array-like of shape (n_samples,)
            Their ratings (raw or binarised: any discrete values).
        mar_y : array-like of shape (n_mar,)
            Ratings of a missing-at-random sample, encoded like ``y``; required. Never take
            it from the data you evaluate on.

        Returns
        -------
        self
        """
        if y is None:
            raise ValueError(
                "NaiveBayesPropensity requires y to be passed, but the target y is None: "
                "pass the ratings of the observed pairs."
            )
        users, items, y = self._fit_pairs(X, y, n_users=self.n_users, n_items=self.n_items)
        if mar_y is None:
            raise ValueError(
                "NaiveBayesPropensity needs mar_y, the ratings of a small missing-at-random "
                "sample (kept apart from any evaluation data): fit(X, y, mar_y=...)."
            )
        mar_y = np.asarray(mar_y, dtype=np.float64).ravel()
        if mar_y.size == 0 or not np.isfinite(mar_y).all():
            raise ValueError("mar_y must be a non-empty array of finite ratings.")
        self.classes_ = np.union1d(np.unique(y), np.unique(mar_y))
        n_classes = len(self.classes_)
        alpha = self.smoothing
        observed = np.bincount(np.searchsorted(self.classes_, y), minlength=n_classes) + alpha
        mar = np.bincount(np.searchsorted(self.classes_, mar_y), minlength=n_classes) + alpha
        p_given_observed = observed / observed.sum()
        p_marginal = mar / mar.sum()
        self.observation_rate_ = len(y) / (self.n_users_ * self.n_items_)
        with np.errstate(divide="ignore", invalid="ignore"):
            propensity = p_given_observed * self.observation_rate_ / p_marginal
        missing = p_marginal == 0
        if missing.any():
            raise ValueError(
                f"rating {self.classes_[missing][0].item()!r} occurs in y but never in mar_y, so "
                "P(r) is 0 there; set smoothing > 0 or use a larger MAR sample."
            )
        # A class seen in the MAR sample but never observed gets the smallest positive value.
        floor = np.min(propensity[propensity > 0]) if (propensity > 0).any() else 1e-6
        self.class_propensity_ = np.clip(np.where(propensity > 0, propensity, floor), 1e-12, 1.0)
        return self

    def predict(self, X, y=None):
        """Propensity ``p̂(o = 1 | r)`` of pairs with ratings ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, 2)
        y : array-like of shape (n_samples,)
            The ratings of the pairs (the propensity depends on them only); required.

        Returns
        -------
        propensity : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        if y is None:
            raise ValueError(
                "NaiveBayesPropensity.predict needs y, the ratings of the pairs: the "
                "propensity depends on the rating only."
            )
        _, _, y = self._raw_pairs(X, y)
        index = np.searchsorted(self.classes_, y)
        index = np.minimum(index, len(self.classes_) - 1)
        unknown = self.classes_[index] != y
        if unknown.any():
            i = int(np.flatnonzero(unknown)[0])
            raise ValueError(
                f"y holds a rating never seen during fit: entry {i} is {y[i].item()!r}; known "
                f"ratings are {self.classes_.tolist()}."
            )
        return self.class_propensity_[index]


class LogisticPropensity(_PairEstimatorMixin, VersionedPickleMixin, BaseEstimator):
    """Propensity of observing a (user, item) pair by logistic regression over the catalogue.

    Every pair of the ``n_users × n_items`` catalogue is a row with label ``o_ui`` (observed
    or not); the features are one-hot codes of the user and of the item, so the model is
    ``logit p_ui = a + α_u + β_i`` (user activity and item popularity), plus linear terms of
    optional user and item feature tables. No missing-at-random data is needed; the rating
    itself is not a feature, so self-selection on the rating is not modelled (see
    :class:`NaiveBayesPropensity`).

    Read more in the :ref:`User Guide <kernel_balancing>`.

    Parameters
    ----------
    C : float > 0, default=1.0
        Inverse L2 regularisation strength of :class:`~sklearn.linear_model.LogisticRegression`.
    max_unobserved : int, default=1_000_000
        Catalogues with more unobserved pairs are subsampled uniformly to this many, each
        weighted by the inverse sampling rate (the log-likelihood stays unbiased).
    n_users, n_items : int, default=None
        Fixed catalogue sizes (ids ``0 .. n - 1``); by default the rows of the feature
        tables when given, else the distinct ids of ``X`` (any hashable ids).
    id_columns : pair of str, default=("user", "item")
        Names of the user and the item column of a DataFrame ``X``, read by name in any
        column order. A DataFrame without these names is read by position (user first) in
        ``fit``, and by the names it had in ``fit`` afterwards.
    random_state : int, RandomState instance or None, default=None
        Seeds the subsampling of unobserved pairs.

    Attributes
    ----------
    intercept_ : float
        The intercept ``a`` of the log-odds of observation (40.0, a propensity of 1, when
        every pair of the catalogue is observed and there is nothing to fit).
    user_coef_ : ndarray of shape (n_users,)
        The user effects ``α_u``, in the order of ``user_ids_``.
    item_coef_ : ndarray of shape (n_items,)
        The item effects ``β_i``, in the order of ``item_ids_``.
    feature_coef_ : ndarray or None
        Coefficients of ``[user_features[u], item_features[i]]`` when given.
    user_ids_, item_ids_ : ndarray
        The catalogue's ids, in the order of the fitted tables.
    n_users_, n_items_ : int
        Catalogue sizes.
    n_features_in_ : int
        Always 2 (the user and the item column).

    Examples
    --------
    >>> from skultr.datasets import make_mnar_ratings
    >>> from skultr.propensity import LogisticPropensity
    >>> data = make_mnar_ratings(40, 30, density=0.1, random_state=0)
    >>> est = LogisticPropensity().fit(data.X)
    >>> p = est.predict(data.X)
    >>> bool((p > 0).all() and (p <= 1).all()), bool(p.mean() > len(data.X) / (40 * 30))
    (True, True)
    """

    _parameter_constraints: dict = {
        "id_columns": [tuple, list],
        "C": [Interval(Real, 0, None, closed="neither")],
        "max_unobserved": [Interval(Integral, 1, None, closed="left")],
        "n_users": [None, Interval(Integral, 1, None, closed="left")],
        "n_items": [None, Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        C=1.0,
        max_unobserved=1_000_000,
        n_users=None,
        n_items=None,
        id_columns=("user", "item"),
        random_state=None,
    ):
        self.C = C
        self.max_unobserved = max_unobserved
        self.n_users = n_users
        self.n_items = n_items
        self.id_columns = id_columns
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags

    def _design(self, users, items):
        n = users.shape[0]
        rows = np.arange(n)
        onehot = sp.csr_matrix(
            (np.ones(2 * n), (np.r_[rows, rows], np.r_[users, self.n_users_ + items])),
            shape=(n, self.n_users_ + self.n_items_),
        )
        if self._user_features is None:
            return onehot
        dense = np.hstack([self._user_features[users], self._item_features[items]])
        return sp.hstack([onehot, sp.csr_matrix(dense)], format="csr")

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, user_features=None, item_features=None):
        """Fit ``P(o = 1 | u, i)`` on the catalogue.

        Parameters
        ----------
        X : array-like of shape (n_samples, 2)
            Observed (user, item) pairs (repeats count once).
        y : ignored
            Accepted for API compatibility (the ratings play no role).
        user_features, item_features : array-like, default=None
            Optional feature tables (one row per id), both or neither.

        Returns
        -------
        self
        """
        from sklearn.linear_model import LogisticRegression

        from skultr.propensity._kernel_balancing import _check_feature_table

        if (user_features is None) != (item_features is None):
            raise ValueError("user_features and item_features must be given together.")
        # Feature tables (one row per id 0 .. n - 1) fix the catalogue.
        n_users = self.n_users or (None if user_features is None else len(user_features))
        n_items = self.n_items or (None if item_features is None else len(item_features))
        users, items, _ = self._fit_pairs(X, n_users=n_users, n_items=n_items)
        self._user_features = _check_feature_table(user_features, self.n_users_, "user_features")
        self._item_features = _check_feature_table(item_features, self.n_items_, "item_features")
        n_cells = self.n_users_ * self.n_items_
        observed_keys = np.unique(users * self.n_items_ + items)
        n_unobserved = n_cells - observed_keys.size
        rng = check_random_state(self.random_state)
        if n_unobserved <= self.max_unobserved:
            mask = np.ones(n_cells, dtype=bool)
            mask[observed_keys] = False
            unobserved_keys = np.flatnonzero(mask)
            weight = 1.0
        else:
            draws = rng.randint(0, n_cells, size=int(1.2 * self.max_unobserved) + 100)
            draws = draws[~np.isin(draws, observed_keys)][: self.max_unobserved]
            unobserved_keys = draws
            weight = n_unobserved / draws.size
        if unobserved_keys.size == 0:
            # every pair is observed: the propensity is 1 (no regression to fit)
            self.intercept_ = 40.0
            self.user_coef_ = np.zeros(self.n_users_)
            self.item_coef_ = np.zeros(self.n_items_)
            n_dense = (
                0
                if user_features is None
                else (self._user_features.shape[1] + self._item_features.shape[1])
            )
            self.feature_coef_ = np.zeros(n_dense) if user_features is not None else None
            return self
        keys = np.concatenate([observed_keys, unobserved_keys])
        labels = np.r_[np.ones(observed_keys.size), np.zeros(unobserved_keys.size)]
        sample_weight = np.r_[np.ones(observed_keys.size), np.full(unobserved_keys.size, weight)]
        design = self._design(*np.divmod(keys, self.n_items_))
        model = LogisticRegression(C=self.C, max_iter=1000)
        model.fit(design, labels, sample_weight=sample_weight)
        coef = model.coef_[0]
        self.intercept_ = float(model.intercept_[0])
        self.user_coef_ = coef[: self.n_users_]
        self.item_coef_ = coef[self.n_users_ : self.n_users_ + self.n_items_]
        self.feature_coef_ = (
            coef[self.n_users_ + self.n_items_ :] if user_features is not None else None
        )
        return self

    def decision_function(self, X):
        """Log-odds of observation of the pairs ``X``."""
        check_is_fitted(self)
        users, items, _ = self._encode_pairs(X)
        logit = self.intercept_ + self.user_coef_[users] + self.item_coef_[items]
        if self.feature_coef_ is not None:
            dense = np.hstack([self._user_features[users], self._item_features[items]])
            logit = logit + dense @ self.feature_coef_
        return logit

    def predict(self, X):
        """Propensities ``P(o = 1 | u, i)`` of the pairs ``X``, in (0, 1]."""
        from scipy.special import expit

        return np.clip(expit(self.decision_function(X)), 1e-12, 1.0)
