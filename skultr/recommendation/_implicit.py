"""The implicit-feedback factor models behind Rel-MF and its baselines (private).

Every model here is ``R̂_ui = ⟨u_u, v_i⟩`` (no biases, as in the Rel-MF paper) trained on the
whole ``n_users × n_items`` catalogue ``D`` from click pairs. The pointwise models minimise

.. math:: J(U, V) = \\sum_{(u,i) \\in D} \\left[ a_{ui}\\, δ^{1}(s_{ui})
          + b_{ui}\\, δ^{0}(s_{ui}) \\right] + λ (\\lVert U\\rVert_F^2 + \\lVert V\\rVert_F^2),
          \\qquad s_{ui} = ⟨u_u, v_i⟩,

with ``a = 0, b = w0`` on every unclicked cell and per-click coefficients ``a_c, b_c`` chosen
by the model (Rel-MF: ``a = 1/θ, b = 1 − 1/θ``; naive MF: ``a = 1, b = 0``; WMF:
``a = 1 + α r, b = 0``). Two solvers:

- ``"als"``, exact alternating least squares for the identity-link squared loss
  (``δ¹ = (1 − s)², δ⁰ = s²``): each half step solves every user's (item's) ridge problem in
  closed form with the Gram-matrix trick, ``(w0 VᵀV + Σ_{i∈c(u)} (a+b−w0) v_i v_iᵀ + λI) u =
  Σ_{i∈c(u)} a_ui v_i``; when ``a + b = w0`` on every click (Rel-MF, naive MF) there is no
  per-user correction and a half step is one batched solve ``U = (A V)(w0 VᵀV + λI)⁻¹``
  (one sparse product, one ``k × k`` Cholesky factorisation). WMF may instead take a few
  conjugate-gradient steps per system (``cg_steps``), which never forms the systems.
- ``"stochastic"``, minibatch gradient descent on the shared torch engine for any local loss.
  Splitting ``J`` into a sum over all cells and a correction on the clicks,
  ``J/|D| = w0·mean_D δ⁰(s) + (N/|D|)·mean_clicks[a δ¹(s) + (b − w0) δ⁰(s)] + λ/|D|·‖·‖²``,
  each step averages a batch of clicks (the training units) and ``n_negatives`` uniformly drawn
  catalogue pairs per click: an unbiased estimate of ``J/|D|`` and of its gradient.
"""

from abc import abstractmethod
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted

from skultr._torch import (
    BaseTorchEstimator,
    resolve_device,
    to_tensor,
)
from skultr._torch._modules import MatrixFactorization
from skultr._torch._optim import OPTIMIZERS
from skultr._torch._random import stream_seed
from skultr.utils._atomic import atomic_fit
from skultr.utils._deprecation import DEPRECATED, resolve_renamed
from skultr.utils._interactions import index_ids, lookup_ids
from skultr.utils._sklearn_compat import Hidden, Interval, StrOptions, _fit_context
from skultr.utils._validation import check_shard_columns, first_index

from ._als import AlsSide, als_half_step, als_half_step_cg
from ._data import (
    COLD_START,
    BaseRecommender,
    _id_repr,
    aggregate_duplicates,
    interaction_matrix,
)

LOSSES = ("least_squares", "squared", "logistic")


def local_losses(score, loss):
    """``(δ¹(s), δ⁰(s))``: the loss of a cell taken as relevant and as irrelevant."""
    if loss == "logistic":
        return F.softplus(-score), F.softplus(score)
    if loss == "squared":
        r = torch.sigmoid(score)
        return (1.0 - r) ** 2, r**2
    return (1.0 - score) ** 2, score**2


def check_binary_feedback(y, what="y"):
    """Clicks must be 0 or 1; returns float64 values (``None`` -> all clicks)."""
    if y is None:
        return None
    bad = (y != 0) & (y != 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{what} must hold implicit feedback, 0 or 1 (1 = click); entry {i} is {y[i]}. "
            "Binarise ratings first (for example y >= 4)."
        )
    return y


class BaseImplicitMF(BaseRecommender, BaseTorchEstimator):
    """Fit plumbing of the implicit-feedback factor models: validation, catalogue, factors.

    Subclasses implement ``_fit_factors(users, items, values, device)`` on the deduplicated
    positive pairs (``values`` their feedback) and may override ``_check_feedback``.
    """

    _parameter_constraints = {
        "n_factors": [Interval(Integral, 1, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "reg": [Hidden(StrOptions({DEPRECATED})), Interval(Real, 0, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "init_std": [Interval(Real, 0, None, closed="neither")],
        "n_users": [None, Interval(Integral, 1, None, closed="left")],
        "n_items": [None, Interval(Integral, 1, None, closed="left")],
        "cold_start": [StrOptions(set(COLD_START))],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }
    # k of the default score (Recall@k of held-out positives over the catalogue).
    score_k = 10
    _factor_scores = True  # recommend() scores on device_ (BaseRecommender)

    # -- hooks ---------------------------------------------------------------------------
    def _check_feedback(self, y):
        return check_binary_feedback(y)

    @abstractmethod
    def _fit_factors(self, users, items, values, device):
        """Train ``module_`` on the positive pairs."""

    def _build_module(self):
        # Sparse gradients: a stochastic step updates only the rows of its batch (its cost
        # does not grow with the catalogue); ALS writes the tables directly.
        return MatrixFactorization(
            self.n_users_,
            self.n_items_,
            self.n_factors,
            biases=False,
            init_std=self.init_std,
            sparse=True,
        )

    def _sparse_gradients(self):
        return True

    # -- fitting -------------------------------------------------------------------------
    def _optimizer_weight_decay(self):
        return 0.0  # the L2 penalty is a term of the objective (``_loss``), not of the optimizer

    def _sync_fitted_state(self):
        """Copy the trained factors to the numpy arrays ``predict`` and ``recommend`` use."""
        with torch.no_grad():
            self.user_factors_ = self.module_.user_factors.weight.detach().cpu().double().numpy()
            self.item_factors_ = self.module_.item_factors.weight.detach().cpu().double().numpy()

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic_fit
    def fit(self, X, y=None):
        """Fit the factors on implicit feedback over the whole ``n_users × n_items`` catalogue.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_pairs, 2)
            (user id, item id) pairs: any hashable ids (see ``id_columns`` for a DataFrame's
            columns). Without ``y`` every pair is a
            click; every pair of the catalogue not listed is unlabelled (feedback 0).
        y : array-like of shape (n_pairs,), optional
            Feedback of each pair (see the class documentation for the values accepted);
            pairs with ``y = 0`` are logged but unclicked, which the model treats like any
            other unlabelled pair (they only count as seen for ``recommend``).

        Returns
        -------
        self
        """
        return self._fit_log(X, y, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic_fit
    def partial_fit(self, X, y=None):
        """Train one epoch on a shard of the log, continuing the model (the first call starts it).

        Fits a log larger than memory shard by shard: ``for shard in shards:
        model.partial_fit(shard)``. Each call runs one epoch on the shard (one ALS sweep, or
        one pass over its clicks for the stochastic solver) and counts in ``n_iter_``;
        ``max_epochs`` and ``tol`` are not used. The catalogue grows with the shards: an id
        first seen in a later shard adds a row to the factor tables, drawn from the same
        ``"init"`` stream of ``seed_`` as the first rows, with zero optimizer moments (the
        rows already trained keep theirs), as a row that no batch has touched yet. A side
        declared with ``n_users`` / ``n_items`` is fixed: an id outside it raises a
        ``ValueError`` naming it, before anything changes.

        ``seen_``, ``item_popularity_``, ``warm_users_``, ``n_clicks_`` and
        ``n_duplicates_`` describe the union of the shards seen so far (the concatenated log,
        repeated pairs merged), as ``fit`` on that log would. An epoch trains on the clicks
        of its own shard; the stochastic models use the union for what depends on the whole
        log (Rel-MF's propensity model is refitted on all the pairs seen so far; BPR never
        draws as a negative a pair clicked in any earlier shard).

        The ALS sweep solves every factor exactly for the shard's own objective (its unlisted
        cells count as unclicked), so each sweep replaces the factors of the previous shards:
        with ALS, ``partial_fit`` is ``fit`` only when every shard is the whole log. Train a
        log that does not fit in memory with ``solver="stochastic"``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_pairs, 2)
            (user id, item id) pairs of the shard, read as in ``fit``.
        y : array-like of shape (n_pairs,), optional
            Feedback of each pair, as in ``fit``.

        Returns
        -------
        self
        """
        return self._fit_log(X, y, incremental=True)

    def _fit_log(self, X, y, *, incremental):
        """``fit`` (``incremental=False``) or ``partial_fit`` (one epoch, growing catalogue)."""
        y_given = y
        # λ of the objective's L2 term (``reg`` is its deprecated name); fit reads this copy
        # and never writes the parameters.
        self._l2_strength = resolve_renamed(self, "reg", "weight_decay")
        self._check_solver()
        # warm_start (and partial_fit) continue the fitted factors. warm_start keeps the
        # fitted catalogue (an unknown id is an error that names it, before any change);
        # partial_fit grows it where it was not declared.
        continuing = hasattr(self, "module_") and (incremental or self.warm_start)
        self._fresh_fit = not continuing
        self._incremental = incremental
        if self._fresh_fit or incremental:
            check_shard_columns(self, X, fresh=self._fresh_fit)
        if self._fresh_fit:
            users, items, y = self._fit_pairs(X, y, n_users=self.n_users, n_items=self.n_items)
            device = resolve_device(self.device)
        else:
            self._check_continuable()
            # After a fit without warm_start the optimizer state was dropped: a stochastic
            # solver continues with a fresh optimizer, ALS needs none.
            self.optimizer_ = getattr(self, "optimizer_", None)
            if incremental:
                users, items, y = self._encode_growing(X, y)
            else:
                users, items, y = self._encode_pairs(X, y)
            device = torch.device(self.device_)
        if not incremental or self._fresh_fit:
            y = self._check_feedback(y)
            self._check_any_click(y)
        n_rows = users.shape[0]
        users, items, y, n_duplicates = aggregate_duplicates(users, items, y, how="max")
        values = np.ones(users.shape[0]) if y is None else y
        positive = values > 0
        merge = incremental and not self._fresh_fit
        self._update_log_statistics(users, items, positive, n_rows, n_duplicates, merge=merge)
        self._logged = self._logged_pairs(users, items, y, merge)
        self._fit_input = (X, y_given)  # what skorch scoring callbacks score
        try:
            self._fit_factors(users[positive], items[positive], values[positive], device)
        finally:
            del self._logged, self._fit_input, self._incremental
        if not (self.warm_start or incremental):
            # Nothing continues this model: the optimizer state (two more copies of the
            # factor tables with Adam) is neither kept nor pickled.
            vars(self).pop("optimizer_", None)
        self._sync_fitted_state()
        return self

    def _train_this_call(self, tensors, **solver):
        """The engine's training for this ``fit`` or ``partial_fit`` call (set by ``_fit_log``)."""
        return self._train(
            tensors,
            fresh=self._fresh_fit,
            incremental=self._incremental,
            X=self._fit_input[0],
            y=self._fit_input[1],
            **solver,
        )

    def _check_any_click(self, y):
        if y is not None and not (y > 0).any():
            raise ValueError(
                f"{type(self).__name__} needs at least one click (a pair with y > 0); "
                "all feedback is 0."
            )

    # -- the log seen so far (partial_fit) ----------------------------------------------
    def _update_log_statistics(self, users, items, positive, n_rows, n_duplicates, *, merge):
        """``seen_``, ``item_popularity_``, ``warm_users_``, ``n_clicks_``, ``n_duplicates_``.

        Of these pairs, or (``merge``) of the union of these and the pairs of the earlier
        ``partial_fit`` shards: the clicked pairs seen so far are kept (``_clicked``, a sparse
        boolean matrix like ``seen_``) and a pair clicked in any shard is clicked.
        """
        shape = (self.n_users_, self.n_items_)
        seen = interaction_matrix(users, items, shape=shape).astype(bool)
        clicked = interaction_matrix(users[positive], items[positive], shape=shape).astype(bool)
        if merge:
            seen = (seen + self.seen_).astype(bool)
            clicked = (clicked + self._clicked).astype(bool)
            self._n_rows_seen += n_rows
            n_duplicates = self._n_rows_seen - int(seen.nnz)
        else:
            self._n_rows_seen = n_rows
        self.seen_ = seen
        self._clicked = clicked
        self.item_popularity_ = np.asarray(clicked.sum(axis=0), dtype=np.float64).ravel()
        self.warm_users_ = np.asarray(clicked.sum(axis=1)).ravel() > 0
        self.n_clicks_ = int(clicked.nnz)
        self.n_duplicates_ = int(n_duplicates)

    def _logged_pairs(self, users, items, y, merge):
        """``(users, items, y)`` of the logged pairs a propensity model is fitted on.

        ``fit``: the deduplicated pairs of ``X``; ``partial_fit``: those of every shard seen
        so far (``y`` = 1 on a pair clicked in any shard, ``None`` when every pair was).
        """
        if not merge:
            return users, items, y
        seen = self.seen_.tocoo()
        order = np.lexsort((seen.col, seen.row))
        all_users = seen.row[order].astype(np.int64)
        all_items = seen.col[order].astype(np.int64)
        if self._clicked.nnz == seen.nnz:
            return all_users, all_items, None
        all_y = np.asarray(self._clicked[all_users, all_items], dtype=np.float64).ravel()
        return all_users, all_items, all_y

    def _clicked_keys(self):
        """Sorted ``user * n_items_ + item`` keys of the clicked pairs seen so far."""
        clicked = self._clicked.tocoo()
        return np.sort(clicked.row.astype(np.int64) * self.n_items_ + clicked.col)

    def _encode_growing(self, X, y):
        """Indices of a shard's pairs, adding its new ids to the catalogue (partial_fit).

        Everything is validated before the catalogue changes; on a side declared with
        ``n_users`` / ``n_items`` a new id is an error that names it.
        """
        raw_users, raw_items, y = self._raw_pairs(X, y)
        sides = []
        for what, ids, declared in (
            ("user", raw_users, self.n_users),
            ("item", raw_items, self.n_items),
        ):
            catalogue = self.user_ids_ if what == "user" else self.item_ids_
            codes = lookup_ids(ids, catalogue)
            new = codes < 0
            if new.any() and declared is not None:
                i = first_index(new)
                raise ValueError(
                    f"{what} id {_id_repr(ids, i)} (entry {i} of X) is not in the declared "
                    f"catalogue n_{what}s={declared} (ids 0 .. {declared - 1}); partial_fit "
                    f"extends only a catalogue learned from the data (n_{what}s=None)."
                )
            grown = None
            if new.any():
                grown, _ = index_ids(np.concatenate([catalogue, np.asarray(ids)[new]]))
            sides.append(grown)
        y = self._check_feedback(y)
        self._check_any_click(y)
        if sides[0] is not None or sides[1] is not None:
            self._grow_catalogue(*sides)
        return (
            self._encode_ids(raw_users, "user"),
            self._encode_ids(raw_items, "item"),
            y,
        )

    def _grow_catalogue(self, user_ids, item_ids):
        """Extend the catalogue to these (sorted) ids: factor rows, optimizer state, pairs.

        The known ids keep their rows (moved to their place in the sorted catalogue); each
        new id gets a row drawn from the ``("init", side, n_old)`` stream of ``seed_`` and,
        in the optimizer state, zero moments.
        """
        new_user_ids = self.user_ids_ if user_ids is None else user_ids
        new_item_ids = self.item_ids_ if item_ids is None else item_ids
        user_rows = lookup_ids(self.user_ids_, new_user_ids)
        item_rows = lookup_ids(self.item_ids_, new_item_ids)
        old_parameters = list(self.module_.parameters())
        moves = {}
        for side, (table, rows, size) in enumerate(
            (
                (self.module_.user_factors, user_rows, new_user_ids.size),
                (self.module_.item_factors, item_rows, new_item_ids.size),
            )
        ):
            old = table.weight.data
            n_old, k = old.shape
            generator = torch.Generator().manual_seed(stream_seed(self.seed_, "init", side, n_old))
            weight = torch.randn(size, k, generator=generator).to(old.dtype) * self.init_std
            weight = weight.to(old.device)
            weight[torch.as_tensor(rows, device=old.device)] = old
            grown = torch.nn.Embedding(size, k, sparse=table.sparse, _weight=weight)
            setattr(self.module_, "user_factors" if side == 0 else "item_factors", grown)
            moves[id(table.weight)] = (rows, size)
        optimizer = getattr(self, "optimizer_", None)
        if optimizer is not None:
            self.optimizer_ = self._grown_optimizer(optimizer, old_parameters, moves)
        self.user_ids_, self.item_ids_ = new_user_ids, new_item_ids
        self.n_users_, self.n_items_ = int(new_user_ids.size), int(new_item_ids.size)
        shape = (self.n_users_, self.n_items_)
        for name in ("seen_", "_clicked"):
            pairs = getattr(self, name).tocoo()
            moved = interaction_matrix(user_rows[pairs.row], item_rows[pairs.col], shape=shape)
            setattr(self, name, moved.astype(bool))

    def _grown_optimizer(self, optimizer, old_parameters, moves):
        """A new optimizer over the grown tables carrying the old rows' state."""
        state = optimizer.state_dict()
        for index, parameter in enumerate(old_parameters):
            rows, size = moves[id(parameter)]
            entry = state["state"].get(index, {})
            for key, value in entry.items():
                if torch.is_tensor(value) and value.dim() >= 1 and value.shape[0] == rows.size:
                    grown = value.new_zeros((size, *value.shape[1:]))
                    grown[torch.as_tensor(rows, device=value.device)] = value
                    entry[key] = grown
        rebuilt = self._new_optimizer()
        rebuilt.load_state_dict(state)
        return rebuilt

    def _check_solver(self):
        """Hook: reject parameter combinations before any work (pointwise models)."""

    def _check_continuable(self):
        """warm_start: the parameters that shape the model must be those it was fitted with."""
        fitted = self.module_.user_factors.weight.shape[1]
        if fitted != self.n_factors:
            raise ValueError(
                f"warm_start=True continues a model with n_factors={fitted}; got "
                f"n_factors={self.n_factors}. Set warm_start=False to fit a new model."
            )

    # -- prediction ----------------------------------------------------------------------
    def _score_pairs(self, users, items):
        return np.einsum("ij,ij->i", self.user_factors_[users], self.item_factors_[items])

    def _score_users(self, users):
        check_is_fitted(self)
        return self.user_factors_[users] @ self.item_factors_.T

    def score(self, X, y=None):
        """Recall@10 of held-out positive pairs, each user ranked over the whole catalogue.

        The default score of the implicit-feedback recommenders (``GridSearchCV`` and
        ``cross_validate`` use it when no ``scoring`` is given): for each user of ``X``,
        :meth:`recommend` ranks every item the user did not interact with in training, and
        the score is the share of the user's held-out positives (pairs of ``X`` with
        ``y > 0``, or all pairs when ``y`` is None) in the top 10, averaged over those users.
        It is :func:`~skultr.metrics.ips_recall_at_k_score` with all propensities 1; for an
        unbiased estimate from MNAR clicks use
        :func:`~skultr.metrics.make_ips_scorer` with the exposure propensities.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_pairs, 2)
            Held-out (user id, item id) pairs.
        y : array-like of shape (n_pairs,), default=None
            Their feedback; pairs with ``y = 0`` are not positives.

        Returns
        -------
        score : float
            In [0, 1], greater is better.
        """
        from skultr.metrics import make_ips_scorer

        return make_ips_scorer("recall", propensity=np.ones(self.n_items_), k=self.score_k)(
            self, X, y
        )


class PointwiseMF(BaseImplicitMF):
    """A pointwise factor model over the full catalogue, solved by ALS or by sampling.

    Subclasses implement ``_pointwise_weights(users, items, values) -> (a, b, w0)``: the
    coefficients of ``δ¹`` and ``δ⁰`` on each click, and of ``δ⁰`` on unclicked cells.
    """

    _parameter_constraints = {
        **BaseImplicitMF._parameter_constraints,
        "solver": [StrOptions({"auto", "als", "stochastic"})],
        "n_negatives": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
    }

    def _loss_name(self):
        return getattr(self, "loss", "least_squares")

    def _cg_steps(self):
        """Conjugate-gradient steps of a weighted ALS half step; None solves exactly."""
        return None

    def _resolved_solver(self):
        if self.solver != "auto":
            return self.solver
        return "als" if self._loss_name() == "least_squares" else "stochastic"

    def _memory_advice(self):
        """What to lower when a fit runs out of memory (see ``skultr.utils._atomic``)."""
        if self._resolved_solver() != "als":
            return None  # the stochastic solver: batch_size
        return (
            "an ALS sweep holds the whole log and the factor tables; train shards of the log "
            "with partial_fit and solver='stochastic', or lower n_factors "
            f"(now {self.n_factors})"
        )

    def _check_continuable(self):
        super()._check_continuable()
        if self._resolved_solver() != self.solver_:
            raise ValueError(
                f"warm_start=True continues a model trained with solver={self.solver_!r}; "
                f"got solver={self.solver!r}. Set warm_start=False to fit a new model."
            )

    def _check_solver(self):
        if self._resolved_solver() == "als" and self._loss_name() != "least_squares":
            raise ValueError(
                f"solver='als' solves the identity-link squared loss only "
                f"(loss='least_squares'); got loss={self._loss_name()!r}. Use "
                "solver='stochastic' (or 'auto') for it."
            )

    @abstractmethod
    def _pointwise_weights(self, users, items, values):
        """``(a, b, w0)``: float64 arrays over the clicks and the unclicked-cell weight."""

    def _fit_factors(self, users, items, values, device):
        a, b, w0 = self._pointwise_weights(users, items, values)
        self.solver_ = self._resolved_solver()
        n_cells = float(self.n_users_) * float(self.n_items_)
        if self.solver_ == "als":
            self._fit_als(users, items, a, b, w0, device, n_cells)
        else:
            self._w0 = float(w0)
            self._click_share = users.shape[0] / n_cells
            self._reg_share = self._l2_strength / n_cells
            tensors = (
                to_tensor(users, device, torch.int64),
                to_tensor(items, device, torch.int64),
                to_tensor(a, device),
                to_tensor(b, device),
            )
            self._train_this_call(tensors)

    # -- stochastic solver ---------------------------------------------------------------
    def _loss(self, module, batch):
        users, items, a, b = batch
        d1, d0 = local_losses(module(users, items), self._loss_name())
        n_draws = self.n_negatives * users.shape[0]
        device = users.device
        any_users = torch.randint(0, self.n_users_, (n_draws,), device=device)
        any_items = torch.randint(0, self.n_items_, (n_draws,), device=device)
        u_any = module.user_factors(any_users)
        v_any = module.item_factors(any_items)
        _, d0_all = local_losses((u_any * v_any).sum(-1), self._loss_name())
        data = self._w0 * d0_all.mean() + self._click_share * (a * d1 + (b - self._w0) * d0).mean()
        # ‖U‖² + ‖V‖² estimated without bias from the uniformly drawn rows
        # (‖U‖² = n_users · E_u ‖u_u‖²), so a step touches only the rows of its batch.
        penalty = (
            self.n_users_ * u_any.square().sum(-1).mean()
            + self.n_items_ * v_any.square().sum(-1).mean()
        )
        return data + self._reg_share * penalty

    # -- exact alternating least squares -------------------------------------------------
    def _fit_als(self, users, items, a, b, w0, device, n_cells):
        """Alternating least squares as the engine's epoch step: one sweep per epoch."""
        extra = a + b - w0
        weighted = bool(np.any(extra != 0))
        extra = extra if weighted else None
        k = self.n_factors
        by_user = AlsSide(
            users,
            items,
            a,
            extra,
            shape=(self.n_users_, self.n_items_),
            n_factors=k,
            device=device,
        )
        by_item = AlsSide(
            items,
            users,
            a,
            extra,
            shape=(self.n_items_, self.n_users_),
            n_factors=k,
            device=device,
        )
        clicks = (
            (
                to_tensor(users, device, torch.int64),
                to_tensor(items, device, torch.int64),
                torch.as_tensor(extra, dtype=torch.float64, device=device),
            )
            if weighted
            else None
        )
        sum_a = float(np.sum(a))
        # A tiny ridge keeps the systems invertible at weight_decay=0.
        reg = self._l2_strength if self._l2_strength > 0 else 1e-6
        steps = self._cg_steps() if weighted else None

        @torch.no_grad()
        def sweep(epoch):
            U = self.module_.user_factors.weight.data
            V = self.module_.item_factors.weight.data
            if steps is not None:
                U.copy_(als_half_step_cg(by_user, V, U, w0=w0, reg=reg, n_steps=steps))
                V.copy_(als_half_step_cg(by_item, U, V, w0=w0, reg=reg, n_steps=steps))
            else:
                U.copy_(als_half_step(by_user, V, w0=w0, reg=reg))
                V.copy_(als_half_step(by_item, U, w0=w0, reg=reg))
            objective = self._least_squares_objective(by_user, clicks, sum_a, w0, n_cells)
            if not np.isfinite(objective):
                raise FloatingPointError(f"the ALS objective became {objective}.")
            return objective

        def converged(previous, objective):
            return np.isfinite(previous) and previous - objective <= self.tol * abs(previous)

        self._train_this_call(
            (torch.empty(0, device=device),),
            epoch_step=sweep,
            converged=converged,
        )

    def _least_squares_objective(self, by_user, clicks, sum_a, w0, n_cells):
        """``J / |D|`` without forming the dense score matrix.

        On the clicks ``a(1 − s)² + (b − w0)s² = a − 2as + extra·s²``, so
        ``J = w0 Σ_D s² + Σ a − 2 Σ a s + Σ extra s² + λ(‖U‖² + ‖V‖²)`` with
        ``Σ_D s² = ⟨UᵀU, VᵀV⟩`` and ``Σ a s = ⟨U, A V⟩`` (one sparse product).
        """
        U = self.module_.user_factors.weight.data
        V = self.module_.item_factors.weight.data
        U64, V64 = U.double(), V.double()
        all_cells = w0 * ((U64.T @ U64) * (V64.T @ V64)).sum()
        cross = (U64 * (by_user.a @ V).double()).sum()
        total = all_cells + sum_a - 2.0 * cross
        if clicks is not None:
            users, items, extra = clicks
            s = (U[users] * V[items]).sum(-1).double()
            total = total + (extra * s**2).sum()
        penalty = self._l2_strength * (U64.square().sum() + V64.square().sum())
        return float((total + penalty) / n_cells)
