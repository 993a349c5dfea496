"""Exposure propensities of implicit feedback from relative item popularity.

Torch-free: the (user, item) validation comes from :mod:`skultr.utils._interactions`, so
``import skultr.propensity`` stays light.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from skultr.utils._interactions import _as_id_array, _PairEstimatorMixin, lookup_ids
from skultr.utils._sklearn_compat import Interval, _fit_context
from skultr.utils._versions import VersionedPickleMixin


class PopularityPropensity(_PairEstimatorMixin, VersionedPickleMixin, BaseEstimator):
    """Exposure propensity of each item from its relative popularity among the clicks.

    A user can only click an item that was shown to them, and popular items are shown more.
    This estimator takes the click counts ``n_i`` of the items as a proxy of how often each
    item is exposed, as Saito et al. (WSDM 2020) do after Yang et al. (RecSys 2018):

    .. math:: \\hat\\theta_{*,i} = \\left(\\frac{n_i}{\\max_j n_j}\\right)^{\\eta} .

    The same propensity is given to every user (``θ_ui = θ_i``). It is the default
    propensity model of :class:`~skultr.recommendation.RelMFRecommender`, and the one the
    paper uses on Yahoo! R3.

    Read more in the :ref:`User Guide <relmf>`.

    Parameters
    ----------
    eta : float, default=0.5
        Exponent ``η`` (> 0): smaller values flatten the propensities towards 1. The paper
        and its code use 0.5.
    n_items : int or None, default=None
        Size of a fixed item catalogue (item ids ``0 .. n_items - 1``). ``None``: the
        catalogue is the distinct item ids of the training pairs, of any hashable type.
    id_columns : pair of str, default=("user", "item")
        Names of the user and the item column of a DataFrame ``X``, read by name in any
        column order. A DataFrame without these names is read by position (user first) in
        ``fit``, and by the names it had in ``fit`` afterwards.

    Attributes
    ----------
    item_ids_ : ndarray of shape (n_items,)
        The item ids of the catalogue, in the order of ``item_counts_`` and ``propensity_``.
    user_ids_ : ndarray
        The distinct user ids of the training pairs.
    item_counts_ : ndarray of shape (n_items,)
        Clicks ``n_i`` of each item: the number of distinct users who clicked it (repeated
        (user, item) rows count once).
    propensity_ : ndarray of shape (n_items,)
        ``θ_i`` of each item, in (0, 1]. An item without any click is given the propensity of
        an item clicked once, ``(1 / max_j n_j)^η``: the formula would give 0, which no
        inverse-propensity weight can use, and a Rel-MF fit never needs it (only clicked pairs
        are weighted).
    n_items_ : int
        Size of the item catalogue.
    n_users_ : int
        Number of distinct users of the training pairs.
    n_features_in_ : int
        Always 2 (the user and the item column).
        Always 2: ``X`` holds (user, item) pairs.
    feature_names_in_ : ndarray of str
        The column names of a DataFrame ``X`` (columns ``user`` and ``item`` are read by
        name).

    See Also
    --------
    skultr.recommendation.RelMFRecommender : uses these propensities by default.

    Notes
    -----
    The counts mix exposure with relevance (an item can be popular because it is liked), so
    this is a heuristic rather than a consistent estimator of ``P(O_ui = 1)``; it is the right
    model when exposure is driven by popularity, and the wrong one when the missingness comes
    from self-selection (users choosing what to rate, as on Coat). Plug another estimator, or
    a known propensity array, into ``RelMFRecommender(propensity=...)`` in that case.

    References
    ----------
    .. [1] Y. Saito, S. Yaginuma, Y. Nishino, H. Sakata and K. Nakata, "Unbiased Recommender
       Learning from Missing-Not-At-Random Implicit Feedback", WSDM 2020 (arXiv:1909.03601).
    .. [2] L. Yang, Y. Cui, Y. Xuan, C. Wang, S. Belongie and D. Estrin, "Unbiased Offline
       Recommender Evaluation for Missing-Not-At-Random Implicit Feedback", RecSys 2018.

    Examples
    --------
    >>> from skultr.propensity import PopularityPropensity
    >>> clicks = [[0, 0], [1, 0], [2, 0], [3, 0], [0, 1], [1, 2], [1, 2]]
    >>> est = PopularityPropensity(eta=0.5).fit(clicks)
    >>> est.item_counts_.tolist(), est.propensity_.round(3).tolist()
    ([4, 1, 1], [1.0, 0.5, 0.5])
    >>> est.predict([[5, 0], [5, 1]]).tolist()
    [1.0, 0.5]
    """

    _parameter_constraints = {
        "id_columns": [tuple, list],
        "eta": [Interval(Real, 0, None, closed="neither")],
        "n_items": [None, Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, *, eta=0.5, n_items=None, id_columns=("user", "item")):
        self.eta = eta
        self.n_items = n_items
        self.id_columns = id_columns

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Count the clicks of each item.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_pairs, 2)
            (user id, item id) pairs: the clicks, or all logged pairs when ``y`` is given.
        y : array-like of shape (n_pairs,), optional
            Feedback of each pair; pairs with ``y > 0`` count as clicks. ``None``: every
            pair is a click.

        Returns
        -------
        self
        """
        users, items, y = self._fit_pairs(X, y, n_items=self.n_items)
        clicked = self._clicked(y)
        if clicked is not None:
            users, items = users[clicked], items[clicked]
        # One click per distinct (user, item) pair: repeated rows are the same click.
        key = np.unique(users * self.n_items_ + items)
        return self._fit_from_counts(np.bincount(key % self.n_items_, minlength=self.n_items_))

    @staticmethod
    def _clicked(y):
        """The pairs that are clicks (``y > 0``; ``None``: all), refusing negative ``y``."""
        if y is None:
            return None
        negative = y < 0
        if negative.any():
            i = int(np.flatnonzero(negative)[0])
            raise ValueError(
                f"y must hold non-negative feedback (clicks or counts); entry {i} is {y[i]}."
            )
        return y > 0

    def _fit_from_counts(self, counts):
        """``item_counts_`` and ``propensity_`` from the clicks of each catalogue item.

        ``counts[i]``: the distinct users who clicked ``item_ids_[i]``. The one way from
        counts to propensities, of :meth:`fit` and of :meth:`_fit_from_catalogue`.
        """
        counts = np.asarray(counts, dtype=np.int64)
        if counts.sum() == 0:
            raise ValueError(
                "PopularityPropensity needs at least one click (a pair with y > 0) to count."
            )
        self.item_counts_ = counts
        self.propensity_ = (np.maximum(counts, 1) / counts.max()) ** self.eta
        return self

    def _fit_from_catalogue(self, X, clicked_items, clicked_counts):
        """Fit from counts made elsewhere (map-reduce, :func:`skultr.distributed.fit_by_counts`).

        ``X``: (user, item) pairs holding every distinct user and item id of the log, with
        the columns of the log's ``X`` (they fix the catalogues and feature names as in
        :meth:`fit`); ``clicked_items`` and ``clicked_counts``: each clicked item and its
        number of distinct users who clicked it. Equals :meth:`fit` on the log.
        """
        self._fit_pairs(X, n_items=self.n_items)
        counts = np.zeros(self.n_items_, dtype=np.int64)
        if len(clicked_items):
            items = _as_id_array(clicked_items, "clicked item ids")
            counts[lookup_ids(items, self.item_ids_)] = np.asarray(clicked_counts, np.int64)
        return self._fit_from_counts(counts)

    def predict(self, X):
        """Propensity of each (user, item) pair: ``θ_i`` of its item.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_pairs, 2)

        Returns
        -------
        propensity : ndarray of shape (n_pairs,)
            ``θ_i`` of each pair's item (the user plays no role, and may be unknown). An
            item outside the catalogue is a ``ValueError``: declare ``n_items``, or fit on
            all logged pairs with their clicks ``y``, to give unclicked items a propensity.
        """
        check_is_fitted(self)
        _, items, _ = self._encode_pairs(X, unknown_users="mark", unknown_items="error")
        return self.propensity_[items]
