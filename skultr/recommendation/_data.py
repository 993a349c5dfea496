"""The recommendation data contract: (user, item) id pairs, their validation and the base class.

Every recommender in :mod:`skultr.recommendation` takes ``X`` of shape ``(n, 2)``: one row per
(user, item) pair, with ids of any hashable type (mapped internally to ``0 .. n - 1``), and an
optional feedback vector ``y`` (clicks or ratings). The catalogue is ``n_users x n_items``; it
is declared to the estimator (integer ids) or learned as the distinct ids of ``fit``. Scoring
functions group test rows by user, so a recommender is evaluated with ordinary scikit-learn
tools (:func:`~sklearn.model_selection.cross_validate`,
:class:`~sklearn.model_selection.GridSearchCV`) and the scorers of :mod:`skultr.metrics`.
"""

import numbers
import warnings
from abc import abstractmethod

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from skultr.utils._interactions import (  # noqa: F401 (re-exported for the recommenders)
    _as_id_array,
    _id_repr,
    _PairEstimatorMixin,
    aggregate_duplicates,
    check_interactions,
    check_propensity,
    interaction_matrix,
)
from skultr.utils._validation import first_index

# Cells (users x items) of the dense score block that recommend() builds at once: 2**22
# float64 cells are 32 MiB, and the block's top-n selection needs about as much again.
RECOMMEND_CHUNK_CELLS = 2**22
COLD_START = ("error", "popularity")


class BaseRecommender(_PairEstimatorMixin, BaseEstimator):
    """Base class of the recommenders: the catalogue, pair validation, cold users, ``recommend``.

    Subclasses call :meth:`_fit_pairs` then :meth:`_fit_catalogue` in ``fit``, and implement
    :meth:`_score_users` (scores of every item for some user indices) and
    :meth:`_score_pairs` (scores of some (user index, item index) pairs).
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.input_tags.two_d_array = True
        return tags

    def _fit_catalogue(self, users, items, positive=None, *, warm_if_any_pair=False):
        """Set ``seen_``, ``item_popularity_`` and ``warm_users_`` from the training indices.

        ``positive`` marks the pairs with positive feedback (``None``: all of them); a user
        is warm when one of their training pairs is positive (implicit feedback: a user
        without a click has no information), or has any pair with ``warm_if_any_pair``
        (explicit ratings: negative ratings inform the user's factors too).
        """
        seen = interaction_matrix(users, items, shape=(self.n_users_, self.n_items_))
        self.seen_ = seen.astype(bool)
        if positive is None:
            positive = np.ones(users.shape[0], dtype=bool)
        liked = interaction_matrix(
            users[positive], items[positive], shape=(self.n_users_, self.n_items_)
        ).astype(bool)
        self.item_popularity_ = np.asarray(liked.sum(axis=0), dtype=np.float64).ravel()
        warm_from = self.seen_ if warm_if_any_pair else liked
        self.warm_users_ = np.asarray(warm_from.sum(axis=1)).ravel() > 0
        return self

    def _cold_users(self, codes, ids, what):
        """Mask of the cold entries (unknown ids or users without positive training pairs).

        ``cold_start="error"`` raises on the first one; ``"popularity"`` warns with their
        count.
        """
        cold = codes < 0
        cold[~cold] = ~self.warm_users_[codes[~cold]]
        if not cold.any():
            return cold
        i = first_index(cold)
        n_cold = len(set(np.asarray(ids, dtype=object)[cold].tolist()))
        if self.cold_start == "error":
            raise ValueError(
                f"user id {_id_repr(ids, i)} (entry {i} of {what}) is a cold user: it had no "
                f"(positive) training pair ({n_cold} such user(s) in {what}). Set "
                "cold_start='popularity' to rank items by training popularity for them."
            )
        warnings.warn(
            f"{n_cold} cold user(s) in {what} (no (positive) training pair; first: user id "
            f"{_id_repr(ids, i)}) are given the popularity fallback (cold_start='popularity'): "
            "items ranked by the number of training users who liked them.",
            UserWarning,
            stacklevel=3,
        )
        return cold

    def _popularity_scores(self, items):
        """Fallback score of a cold user for some items: the share of warm users who liked it."""
        return self.item_popularity_[items] / max(int(self.warm_users_.sum()), 1)

    def _check_pairs(self, X):
        """Indices of prediction pairs and their cold-user mask (unknown items are errors)."""
        check_is_fitted(self)
        ids, _, _ = self._raw_pairs(X)
        users, items, _ = self._encode_pairs(X, unknown_users="mark", unknown_items="error")
        return users, items, self._cold_users(users, ids, "X")

    def predict(self, X):
        """Score (user, item) pairs; higher = more relevant.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_pairs, 2)
            (user id, item id) pairs with ids of the training catalogue. An unknown item is
            an error; a cold user (unknown, or without a positive training pair) follows
            ``cold_start``.

        Returns
        -------
        scores : ndarray of shape (n_pairs,)
        """
        users, items, cold = self._check_pairs(X)
        scores = np.empty(users.shape[0], dtype=np.float64)
        warm = ~cold
        scores[warm] = self._score_pairs(users[warm], items[warm])
        scores[cold] = self._popularity_scores(items[cold])
        return scores

    @abstractmethod
    def _score_pairs(self, users, items):
        """Scores of (user index, item index) pairs: ndarray ``(len(users),)``."""

    @abstractmethod
    def _score_users(self, users):
        """Scores of every catalogue item for each user index: ``(len(users), n_items_)``."""

    # Models whose scores are ``⟨user_factors_[u], item_factors_[i]⟩`` (plus ``user_bias_[u]
    # + item_bias_[i]`` when they have biases) set this: recommend() then scores its blocks
    # with torch on the model's device (``device_``), in float64 like ``_score_users``.
    _factor_scores = False

    def _factor_tables(self):
        """``(user_factors, item_factors, user_bias, item_bias)`` (biases may be None)."""
        biases = getattr(self, "biases", False)
        return (
            self.user_factors_,
            self.item_factors_,
            self.user_bias_ if biases else None,
            self.item_bias_ if biases else None,
        )

    def recommend(self, users, n=10, *, exclude_seen=True):
        """Top-``n`` items for each user, by decreasing predicted score.

        The scores are computed for blocks of users (about ``2**22`` user x item cells at a
        time), so the memory beyond the returned arrays stays bounded (about 64 MiB)
        whatever the number of users. The factor models score and select on the device
        they were trained on (``device_``, a GPU when there is one), in float64.

        Parameters
        ----------
        users : array-like of user ids
            Ids as in ``fit`` (integers, strings...). A cold user (unknown, or without a
            positive training pair) follows ``cold_start``: an error, or the items ranked by
            training popularity with a warning counting such users.
        n : int, default=10
            Number of items per user.
        exclude_seen : bool, default=True
            Leave out the items each user interacted with in the training data.

        Returns
        -------
        items : ndarray of shape (n_users, n)
            Item ids as in ``fit``, best first. Rows with fewer than ``n`` eligible items end
            with ``-1`` (integer ids) or ``None`` (other ids).
        scores : ndarray of shape (n_users, n)
            Their scores (``-inf`` where there is no item).
        """
        check_is_fitted(self)
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"n must be a positive integer; got {n!r}.")
        ids = _as_id_array(np.atleast_1d(np.asarray(users, dtype=object)).ravel(), "users")
        codes = self._encode_ids(ids, "user", unknown="mark")
        cold = self._cold_users(codes, ids, "users")
        n_take = min(int(n), self.n_items_)
        top = np.empty((codes.size, n_take), dtype=np.int64)
        top_scores = np.empty((codes.size, n_take), dtype=np.float64)
        step = max(1, RECOMMEND_CHUNK_CELLS // max(self.n_items_, 1))
        top_block = self._top_block
        if self._factor_scores:
            top_block = _TorchTopN(self)
        for start in range(0, codes.size, step):
            stop = min(start + step, codes.size)
            top[start:stop], top_scores[start:stop] = top_block(
                codes[start:stop], cold[start:stop], n_take, exclude_seen
            )
        missing = np.isneginf(top_scores)
        if self.item_ids_.dtype == object:
            items = np.empty(top.shape, dtype=object)
            items[~missing] = self.item_ids_[top[~missing]]
            items[missing] = None
            pad = None
        else:
            items = self.item_ids_[top]
            items[missing] = -1
            pad = -1
        if n_take < n:
            width = ((0, 0), (0, n - n_take))
            items = np.pad(items, width, constant_values=pad)
            top_scores = np.pad(top_scores, width, constant_values=-np.inf)
        return items, top_scores

    def _top_block(self, codes, cold, n_take, exclude_seen):
        scores = np.empty((codes.size, self.n_items_), dtype=np.float64)
        warm = ~cold
        if warm.any():
            scores[warm] = self._score_users(codes[warm])
        if cold.any():
            scores[cold] = self._popularity_scores(np.arange(self.n_items_))[None, :]
        if exclude_seen:
            known = codes >= 0
            rows, cols = self.seen_[codes[known]].nonzero()
            scores[np.flatnonzero(known)[rows], cols] = -np.inf
        top = np.argpartition(-scores, n_take - 1, axis=1)[:, :n_take]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        return np.take_along_axis(top, order, axis=1), np.take_along_axis(
            top_scores, order, axis=1
        )


class _TorchTopN:
    """``recommend``'s block step for the factor models: scores and top-n with torch.

    Holds the item table (and the popularity scores of cold users) on the model's device
    for the whole call; each block sends its user rows and its seen pairs, and gets back
    ``(len(codes), n_take)`` indices and scores. float64 throughout, so the ranking is the
    one of ``_score_users`` (up to the order of equal scores).
    """

    def __init__(self, model):
        import torch

        self.torch = torch
        self.model = model
        self.device = torch.device(getattr(model, "device_", "cpu"))
        users, items, user_bias, item_bias = model._factor_tables()
        self.users = users
        self.user_bias = user_bias
        self.items = self._tensor(items)
        self.item_bias = None if item_bias is None else self._tensor(item_bias)
        self.popularity = None

    def _tensor(self, array):
        return self.torch.as_tensor(np.asarray(array, dtype=np.float64), device=self.device)

    def __call__(self, codes, cold, n_take, exclude_seen):
        torch = self.torch
        model = self.model
        scores = torch.empty((codes.size, model.n_items_), dtype=torch.float64, device=self.device)
        warm = ~cold
        if warm.any():
            rows = torch.as_tensor(np.flatnonzero(warm), device=self.device)
            block = self._tensor(self.users[codes[warm]]) @ self.items.T
            if self.item_bias is not None:
                block += self._tensor(self.user_bias[codes[warm]])[:, None] + self.item_bias
            scores[rows] = block
        if cold.any():
            if self.popularity is None:
                self.popularity = self._tensor(model._popularity_scores(np.arange(model.n_items_)))
            scores[torch.as_tensor(np.flatnonzero(cold), device=self.device)] = self.popularity
        if exclude_seen:
            known = codes >= 0
            rows, cols = model.seen_[codes[known]].nonzero()
            rows = torch.as_tensor(np.flatnonzero(known)[rows], device=self.device)
            scores[rows, torch.as_tensor(cols, device=self.device)] = -torch.inf
        top_scores, top = torch.topk(scores, n_take, dim=1, sorted=True)
        return top.cpu().numpy(), top_scores.cpu().numpy()
