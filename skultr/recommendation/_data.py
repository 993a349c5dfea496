"""The recommendation data contract: (user, item) id pairs, their validation and the base class.

Every recommender in :mod:`skultr.recommendation` takes ``X`` of shape ``(n, 2)``: one row per
(user, item) pair, with non-negative integer ids, and an optional feedback vector ``y``
(clicks or ratings). The catalogue is ``n_users x n_items``; it is given to the estimator or
learned as ``max(id) + 1``. Scoring functions group test rows by user, so a recommender is
evaluated with ordinary scikit-learn tools (:func:`~sklearn.model_selection.cross_validate`,
:class:`~sklearn.model_selection.GridSearchCV`) and the scorers of :mod:`skultr.metrics`.
"""

import numbers
from abc import abstractmethod

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from skultr.utils._interactions import (  # noqa: F401 (re-exported for the recommenders)
    _as_id_array,
    _first,
    aggregate_duplicates,
    check_interactions,
    check_propensity,
    interaction_matrix,
)


class BaseRecommender(BaseEstimator):
    """Base class of the recommenders: the catalogue, pair validation and ``recommend``.

    Subclasses call :meth:`_fit_catalogue` in ``fit`` and implement :meth:`_score_users`;
    ``predict`` is theirs (it usually gathers the scores of the requested pairs).
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.input_tags.two_d_array = True
        return tags

    def _fit_catalogue(self, users, items, *, n_users=None, n_items=None):
        """Set ``n_users_``, ``n_items_``, ``n_features_in_`` and ``seen_`` from training pairs."""
        self.n_users_ = int(n_users) if n_users is not None else int(users.max()) + 1
        self.n_items_ = int(n_items) if n_items is not None else int(items.max()) + 1
        self.n_features_in_ = 2
        seen = interaction_matrix(users, items, shape=(self.n_users_, self.n_items_))
        self.seen_ = seen.astype(bool)
        return self

    def _check_pairs(self, X):
        """Validate prediction pairs against the fitted catalogue."""
        check_is_fitted(self)
        users, items, _ = check_interactions(X, n_users=self.n_users_, n_items=self.n_items_)
        return users, items

    def _check_users(self, users):
        check_is_fitted(self)
        users = _as_id_array(np.atleast_1d(np.asarray(users)).ravel(), "users")
        if users.size and users.max() >= self.n_users_:
            i = _first(users >= self.n_users_)
            raise ValueError(
                f"user id {users[i]} (entry {i}) was not in the training catalogue of "
                f"{self.n_users_} users; recommend() has no fallback for unknown users."
            )
        return users

    @abstractmethod
    def _score_users(self, users):
        """Scores of every catalogue item for each user: ndarray ``(len(users), n_items_)``."""

    def recommend(self, users, n=10, *, exclude_seen=True):
        """Top-``n`` items for each user, by decreasing predicted score.

        Parameters
        ----------
        users : array-like of int
            Ids of users seen during ``fit`` (an unknown id raises a ``ValueError``: skultr
            does not silently fall back to popularity; score such users yourself).
        n : int, default=10
            Number of items per user.
        exclude_seen : bool, default=True
            Leave out the items each user interacted with in the training data.

        Returns
        -------
        items : ndarray of shape (n_users, n), dtype int64
            Item ids, best first. Rows with fewer than ``n`` eligible items end with ``-1``.
        scores : ndarray of shape (n_users, n)
            Their scores (``-inf`` where the item is ``-1``).
        """
        users = self._check_users(users)
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"n must be a positive integer; got {n!r}.")
        scores = np.array(self._score_users(users), dtype=np.float64, copy=True)
        if exclude_seen:
            seen = self.seen_[users]
            rows, cols = seen.nonzero()
            scores[rows, cols] = -np.inf
        n_take = min(int(n), self.n_items_)
        top = np.argpartition(-scores, n_take - 1, axis=1)[:, :n_take]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        items = np.take_along_axis(top, order, axis=1)
        top_scores = np.take_along_axis(top_scores, order, axis=1)
        items[np.isneginf(top_scores)] = -1
        if n_take < n:
            pad = n - n_take
            items = np.pad(items, ((0, 0), (0, pad)), constant_values=-1)
            top_scores = np.pad(top_scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        return items.astype(np.int64), top_scores
