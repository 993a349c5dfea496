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
from skultr.utils._deprecation import DEPRECATED, resolve_renamed
from skultr.utils._sklearn_compat import Hidden, Interval, StrOptions, _fit_context

from ._als import AlsSide, als_half_step, als_half_step_cg
from ._data import COLD_START, BaseRecommender, aggregate_duplicates

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
        y_given = y
        # λ of the objective's L2 term (``reg`` is its deprecated name); fit reads this copy
        # and never writes the parameters.
        self._l2_strength = resolve_renamed(self, "reg", "weight_decay")
        self._check_solver()
        # warm_start continues the fitted factors on the fitted catalogue: every id of X
        # must be in it (an unknown one is an error that names it, before any change).
        self._fresh_fit = not (self.warm_start and hasattr(self, "module_"))
        if self._fresh_fit:
            users, items, y = self._fit_pairs(X, y, n_users=self.n_users, n_items=self.n_items)
            device = resolve_device(self.device)
        else:
            self._check_continuable()
            users, items, y = self._encode_pairs(X, y)
            device = torch.device(self.device_)
        y = self._check_feedback(y)
        users, items, y, n_duplicates = aggregate_duplicates(users, items, y, how="max")
        self.n_duplicates_ = n_duplicates
        values = np.ones(users.shape[0]) if y is None else y
        positive = values > 0
        if not positive.any():
            raise ValueError(
                f"{type(self).__name__} needs at least one click (a pair with y > 0); "
                "all feedback is 0."
            )
        self._fit_catalogue(users, items, positive)
        self.n_clicks_ = int(positive.sum())
        self._logged = (users, items, y)
        self._fit_input = (X, y_given)  # what skorch scoring callbacks score
        try:
            self._fit_factors(users[positive], items[positive], values[positive], device)
        finally:
            del self._logged, self._fit_input
        if not self.warm_start:
            # Nothing continues this model: the optimizer state (two more copies of the
            # factor tables with Adam) is neither kept nor pickled.
            vars(self).pop("optimizer_", None)
        self._sync_fitted_state()
        return self

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
            self._train(tensors, fresh=self._fresh_fit, X=self._fit_input[0], y=self._fit_input[1])

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

        self._train(
            (torch.empty(0, device=device),),
            fresh=self._fresh_fit,
            X=self._fit_input[0],
            y=self._fit_input[1],
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
