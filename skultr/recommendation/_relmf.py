"""Rel-MF (Saito et al., WSDM 2020) and the matrix-factorisation core it shares with the
implicit-feedback baselines.

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

import warnings
from abc import abstractmethod
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from skultr._torch import (
    BaseTorchEstimator,
    draw_seed,
    make_optimizer,
    resolve_device,
    run_epochs,
    seeded,
    to_tensor,
)
from skultr._torch._modules import MatrixFactorization
from skultr._torch._optim import OPTIMIZERS
from skultr.utils._interactions import lookup_ids, resolve_propensity

from ._data import COLD_START, BaseRecommender, aggregate_duplicates

LOSSES = ("least_squares", "squared", "logistic")
# Memory budget (floats) of the per-row k x k systems built in one chunk of a weighted ALS step.
_ALS_CHUNK_FLOATS = 2**24


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


def _sparse_rows(rows, cols, values, shape, device):
    """A torch CSR matrix from coordinates sorted by row (products work on CPU and CUDA)."""
    crow = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=shape[0]))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        return torch.sparse_csr_tensor(
            torch.as_tensor(crow, dtype=torch.int64, device=device),
            torch.as_tensor(cols, dtype=torch.int64, device=device),
            to_tensor(values, device),
            size=shape,
        )


class AlsSide:
    """One side of an ALS sweep: the rows being solved and their clicked columns.

    ``a`` (the right-hand side weights) and ``extra`` (the click weight beyond ``w0``) are
    held as sparse ``n_rows × n_cols`` matrices, so ``Σ_j a_rj y_j`` for every row is one
    sparse product. ``extra`` is None when it is zero everywhere; otherwise it is cut into
    row chunks whose ``k × k`` systems fit the memory budget.
    """

    def __init__(self, rows, cols, a, extra, *, shape, n_factors, device):
        order = np.lexsort((cols, rows))
        rows, cols, a = rows[order], cols[order], a[order]
        self.n_rows, self.n_cols = shape
        self.a = _sparse_rows(rows, cols, a, shape, device)
        self.extra_chunks = []
        self.extra = None
        if extra is None:
            return
        extra = extra[order]
        self.extra = _sparse_rows(rows, cols, extra, shape, device)
        budget = max(_ALS_CHUNK_FLOATS // (n_factors * n_factors), 1)
        row_ptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=self.n_rows))])
        for start in range(0, self.n_rows, budget):
            stop = min(start + budget, self.n_rows)
            lo, hi = row_ptr[start], row_ptr[stop]
            matrix = _sparse_rows(
                rows[lo:hi] - start, cols[lo:hi], extra[lo:hi], (stop - start, self.n_cols), device
            )
            self.extra_chunks.append((start, stop, matrix))


def _solve_spd(systems, rhs):
    """Solve symmetric systems by Cholesky, falling back to LU where one is not positive."""
    factor, info = torch.linalg.cholesky_ex(systems)
    if bool((info == 0).all()):
        return torch.cholesky_solve(rhs, factor)
    return torch.linalg.solve(systems, rhs)


def als_half_step(side, fixed, *, w0, reg):
    """Solve every row's ridge problem with the other side's factors ``fixed``.

    Minimises ``Σ_j w_rj (x_r·y_j − p_rj)² + λ‖x_r‖²`` for each row ``r`` where the weight is
    ``w0`` off the clicks and ``w0 + extra`` on them, and ``w·p = a`` on the clicks (0
    elsewhere): ``(w0 YᵀY + Σ_j extra_rj y_j y_jᵀ + λI) x_r = Σ_j a_rj y_j``. The shared Gram
    matrix ``w0 YᵀY`` is computed once; the click correction, when there is one, is the
    sparse product of ``extra`` with the row-wise outer products ``y_j y_jᵀ``.
    """
    k = fixed.shape[1]
    gram = w0 * (fixed.T @ fixed) + reg * torch.eye(k, device=fixed.device, dtype=fixed.dtype)
    rhs = side.a @ fixed
    if not side.extra_chunks:
        return _solve_spd(gram, rhs.T).T
    outer = (fixed[:, :, None] * fixed[:, None, :]).reshape(fixed.shape[0], k * k)
    out = torch.empty_like(rhs)
    for start, stop, extra in side.extra_chunks:
        systems = (extra @ outer).reshape(stop - start, k, k) + gram
        out[start:stop] = _solve_spd(systems, rhs[start:stop].unsqueeze(-1)).squeeze(-1)
    return out


def als_half_step_cg(side, fixed, current, *, w0, reg, n_steps):
    """Approximate :func:`als_half_step` by ``n_steps`` of conjugate gradient per row.

    Warm-started at the ``current`` factors, as in Takács et al. (RecSys 2011) and the
    ``implicit`` package: the systems are never formed, each step costs one sampled product
    (``y_j·p_r`` on the clicks) and one sparse product, all rows at once.
    """
    k = fixed.shape[1]
    gram = w0 * (fixed.T @ fixed) + reg * torch.eye(k, device=fixed.device, dtype=fixed.dtype)
    extra = side.extra
    crow, col, weight = extra.crow_indices(), extra.col_indices(), extra.values()

    def matvec(p):
        dots = torch.sparse.sampled_addmm(extra, p, fixed.T, beta=0.0).values()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            scaled = torch.sparse_csr_tensor(crow, col, dots * weight, size=extra.shape)
        return p @ gram + scaled @ fixed

    x = current.clone()
    residual = side.a @ fixed - matvec(x)
    direction = residual.clone()
    norm = (residual * residual).sum(1)
    for _ in range(n_steps):
        product = matvec(direction)
        curvature = (direction * product).sum(1)
        step = torch.where(curvature > 0, norm / curvature.clamp_min(1e-30), 0.0)
        x += step[:, None] * direction
        residual -= step[:, None] * product
        new_norm = (residual * residual).sum(1)
        direction = (
            residual
            + torch.where(norm > 0, new_norm / norm.clamp_min(1e-30), 0.0)[:, None] * direction
        )
        norm = new_norm
    return x


class BaseImplicitMF(BaseRecommender, BaseTorchEstimator):
    """Fit plumbing of the implicit-feedback factor models: validation, catalogue, factors.

    Subclasses implement ``_fit_factors(users, items, values, device)`` on the deduplicated
    positive pairs (``values`` their feedback) and may override ``_check_feedback``.
    """

    _parameter_constraints = {
        "n_factors": [Interval(Integral, 1, None, closed="left")],
        "reg": [Interval(Real, 0, None, closed="left")],
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
        return MatrixFactorization(
            self.n_users_, self.n_items_, self.n_factors, biases=False, init_std=self.init_std
        )

    # -- fitting -------------------------------------------------------------------------
    def _start_model(self, device):
        """Seeded fresh factors on ``device``; returns the optimizer of a stochastic fit.

        The optimizer is not kept after fitting: these models train from scratch on each
        ``fit`` (no ``warm_start`` / ``partial_fit``), so a pickle carries only the factors.
        """
        self.device_ = str(device)
        self.seed_ = draw_seed(self.random_state)
        with seeded(self.seed_, self.device_):
            self.module_ = self._build_module().to(self.device_)
        self.history_ = History()
        self.n_iter_ = 0
        return make_optimizer(self.optimizer, self.module_.parameters(), lr=self.lr)

    def _run_stochastic(self, tensors):
        """Minibatch training with the engine's loop (``_loss`` draws the unlabelled pairs)."""
        optimizer = self._start_model(tensors[0].device)
        with seeded(self.seed_, self.device_):
            self.n_iter_ = run_epochs(
                module=self.module_,
                optimizer=optimizer,
                loss_fn=self._loss,
                train=tensors,
                n_epochs=self.max_epochs,
                batch_size=self.batch_size,
                seed=self.seed_,
                history=self.history_,
                verbose=self.verbose,
                description=type(self).__name__,
            )
        self.module_.eval()

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
        users, items, y = self._fit_pairs(X, y, n_users=self.n_users, n_items=self.n_items)
        y = self._check_feedback(y)
        self._check_solver()
        device = resolve_device(self.device)
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
        try:
            self._fit_factors(users[positive], items[positive], values[positive], device)
        finally:
            del self._logged
        with torch.no_grad():
            self.user_factors_ = self.module_.user_factors.weight.detach().cpu().double().numpy()
            self.item_factors_ = self.module_.item_factors.weight.detach().cpu().double().numpy()
        return self

    def _check_solver(self):
        """Hook: reject parameter combinations before any work (pointwise models)."""

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

        return make_ips_scorer(
            "recall", propensity=np.ones(self.n_items_), k=self.score_k
        )(self, X, y)


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
            self._reg_share = self.reg / n_cells
            tensors = (
                to_tensor(users, device, torch.int64),
                to_tensor(items, device, torch.int64),
                to_tensor(a, device),
                to_tensor(b, device),
            )
            self._run_stochastic(tensors)

    # -- stochastic solver ---------------------------------------------------------------
    def _loss(self, module, batch):
        users, items, a, b = batch
        d1, d0 = local_losses(module(users, items), self._loss_name())
        n_draws = self.n_negatives * users.shape[0]
        device = users.device
        any_users = torch.randint(0, self.n_users_, (n_draws,), device=device)
        any_items = torch.randint(0, self.n_items_, (n_draws,), device=device)
        _, d0_all = local_losses(module(any_users, any_items), self._loss_name())
        data = self._w0 * d0_all.mean() + self._click_share * (a * d1 + (b - self._w0) * d0).mean()
        penalty = (
            module.user_factors.weight.square().sum() + module.item_factors.weight.square().sum()
        )
        return data + self._reg_share * penalty

    # -- exact alternating least squares -------------------------------------------------
    def _fit_als(self, users, items, a, b, w0, device, n_cells):
        self._start_model(device)
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
        reg = self.reg if self.reg > 0 else 1e-6  # keeps the systems invertible at reg=0
        U = self.module_.user_factors.weight.data
        V = self.module_.item_factors.weight.data
        previous = np.inf
        with torch.no_grad():
            for epoch in range(1, self.max_epochs + 1):
                if weighted and self._cg_steps() is not None:
                    steps = self._cg_steps()
                    U.copy_(als_half_step_cg(by_user, V, U, w0=w0, reg=reg, n_steps=steps))
                    V.copy_(als_half_step_cg(by_item, U, V, w0=w0, reg=reg, n_steps=steps))
                else:
                    U.copy_(als_half_step(by_user, V, w0=w0, reg=reg))
                    V.copy_(als_half_step(by_item, U, w0=w0, reg=reg))
                objective = self._least_squares_objective(by_user, clicks, sum_a, w0, n_cells)
                self.history_.new_epoch()
                self.history_.record("epoch", epoch)
                self.history_.record("train_loss", objective)
                self.n_iter_ = epoch
                if self.verbose:
                    print(f"epoch {epoch:>4d}  objective/|D| {objective:.6g}", flush=True)
                if not np.isfinite(objective):
                    raise FloatingPointError(f"the ALS objective became {objective}.")
                if np.isfinite(previous) and previous - objective <= self.tol * abs(previous):
                    break
                previous = objective
        self.module_.eval()

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
        penalty = self.reg * (U64.square().sum() + V64.square().sum())
        return float((total + penalty) / n_cells)


class RelMFRecommender(PointwiseMF):
    """Rel-MF: matrix factorisation trained without bias from missing-not-at-random clicks.

    With implicit feedback a missing click is ambiguous: the item was either irrelevant or
    never shown. Popular items are shown more, so a model fitted to the raw clicks learns
    exposure along with relevance. Rel-MF (Saito et al., WSDM 2020) models each click as
    ``Y_ui = O_ui · R_ui`` (exposure × relevance) and weights the clicks by the inverse of
    the exposure propensity ``θ_ui = P(O_ui = 1)``: its loss over the whole catalogue is an
    unbiased estimate of the loss it would have if relevance were observed everywhere.
    Clipping the propensities at ``clip`` trades a little bias for much less variance.

    Read more in the :ref:`User Guide <relmf>`.

    Parameters
    ----------
    n_factors : int, default=32
        Dimension of the user and item factors.
    clip : float in [0, 1], default=0.0
        Clipping constant ``M``: each propensity becomes ``max(θ, M)``, so no click weighs
        more than ``1/M``. ``0`` is the unbiased estimator. Clipping only acts on clicks whose
        propensity is below ``M`` (counted in ``n_clipped_``).
    loss : {"least_squares", "squared", "logistic"}, default="least_squares"
        Local loss ``(δ¹, δ⁰)`` of a cell taken as relevant / irrelevant, with ``s = ⟨u_u, v_i⟩``
        and ``σ`` the sigmoid:

        - ``"least_squares"``: ``((1 − s)², s²)``, the squared loss on the raw score; the
          Rel-MF loss is then ordinary least squares on the full matrix with target
          ``Y/θ``, solved exactly by ALS (the default, fast).
        - ``"squared"``: ``((1 − σ(s))², σ(s)²)``, the loss of the paper's real-data code.
        - ``"logistic"``: ``(−log σ(s), −log(1 − σ(s)))``, the paper's semi-synthetic loss.
          With targets ``Y/θ > 1`` it is unbounded below (a clicked cell is pushed to
          ``s → ∞``); clipping and ``reg`` keep it in check.
    propensity : None, array-like or estimator, default=None
        Exposure propensities ``θ`` in (0, 1]:

        - ``None``: :class:`~skultr.propensity.PopularityPropensity` with ``eta=0.5``,
          fitted on the training clicks: ``θ_i = (n_i / max_j n_j)^0.5``;
        - an array of shape ``(n_items,)`` (one per item) or ``(n_users, n_items)`` (one per
          pair), with ``n_users`` / ``n_items`` the catalogue sizes;
        - an estimator with ``fit(X)`` and ``predict(X)``: cloned, fitted on the training
          click pairs, and asked for the propensity of each click.
    reg : float >= 0, default=1.0
        L2 penalty ``λ`` on all factors, on the sum-over-cells scale of the objective (see
        Notes; the same value means the same objective for both solvers).
    solver : {"auto", "als", "stochastic"}, default="auto"
        ``"als"``: exact alternating least squares (``loss="least_squares"`` only; one epoch =
        one update of all users then all items). ``"stochastic"``: minibatch gradient descent
        on the shared torch engine with uniformly sampled unlabelled pairs (any loss).
        ``"auto"``: ``"als"`` for ``"least_squares"``, else ``"stochastic"``.
    max_epochs : int, default=30
        ALS sweeps (stopping earlier once the objective improves by less than ``tol``), or
        passes over the clicks for the stochastic solver.
    batch_size : int, default=256
        Clicks per step (stochastic solver).
    n_negatives : int, default=4
        Uniformly drawn catalogue pairs per click in a step (stochastic solver): they estimate
        the sum over all cells.
    lr : float, default=0.01
        Learning rate (stochastic solver).
    optimizer : {"adam", "adagrad", "sgd"}, default="adam"
        Optimizer of the stochastic solver, created anew by every ``fit`` (these models do
        not warm start); ALS does not use it.
    tol : float, default=1e-4
        ALS stops once a sweep lowers the objective by at most ``tol`` times its previous
        value; the stochastic solver always runs ``max_epochs`` epochs.
    init_std : float, default=0.1
        Standard deviation of the normal initial factors.
    n_users, n_items : int or None, default=None
        Fixed catalogue sizes: ids are then the integers ``0 .. n - 1``, and the loss runs
        over all of them (declare them when some users or items have no pair). ``None``:
        the catalogue is the distinct ids of the training pairs, which may be integers of
        any size, strings or other hashable values (mapped to indices in sorted order;
        memory follows the number of distinct ids).
    id_columns : pair of str, default=("user", "item")
        Names of the user and the item column of a DataFrame ``X``, read by name in any
        column order. A DataFrame without these names is read by position (user first) in
        ``fit``, and by the names it had in ``fit`` afterwards.
    cold_start : {"popularity", "error"}, default="popularity"
        Policy for a cold user in ``predict`` and ``recommend`` (an unknown id, or a user
        without a positive training pair, whose factors carry no information):
        ``"popularity"`` scores items by the share of warm training users who liked them
        (``item_popularity_`` / number of warm users) and warns with the count of cold
        users; ``"error"`` raises a ``ValueError`` naming the first one. An unknown *item*
        is always an error.
    device : {"auto", "cpu", "cuda", "cuda:N"}, default="auto"
        Device to train on: ``"auto"`` uses CUDA when available, else the CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial factors and the sampling: the same seed gives the same model on the
        same device.
    verbose : int, default=0
        0 silent. The stochastic solver shows a progress bar at 1 and prints one line per
        epoch at 2; ALS prints its objective after every sweep at any value above 0.

    Attributes
    ----------
    user_factors_ : ndarray of shape (n_users_, n_factors)
        Learned user factors (float64), row ``k`` for the user ``user_ids_[k]``.
    item_factors_ : ndarray of shape (n_items_, n_factors)
        Learned item factors (float64), row ``k`` for the item ``item_ids_[k]``. The score
        of a pair is the dot product of its two rows.
    user_ids_ : ndarray of shape (n_users_,)
        The user catalogue: ``0 .. n_users - 1`` when ``n_users`` is given, else the sorted
        distinct user ids of the training pairs.
    item_ids_ : ndarray of shape (n_items_,)
        The item catalogue: ``0 .. n_items - 1`` when ``n_items`` is given, else the sorted
        distinct item ids of the training pairs.
    propensity_ : ndarray of shape (n_items,) or (n_users, n_items)
        The propensities used (before clipping): per item for the default and for 1-D arrays,
        the matrix for 2-D arrays, and the fitted estimator's ``propensity_`` when it is one
        per item. Not set for an estimator without such an attribute (its predictions for
        the clicks are used).
    propensity_estimator_ : estimator
        The fitted propensity estimator (default or given; absent for arrays).
    n_clipped_ : int
        Clicks whose propensity was below ``clip`` (and was raised to it).
    n_users_, n_items_ : int
        Catalogue sizes.
    n_clicks_ : int
        Distinct clicked pairs trained on.
    n_duplicates_ : int
        Repeated (user, item) rows merged into one (their feedback aggregated with ``max``:
        a pair is clicked if any of its rows is).
    seen_ : scipy.sparse.csr_matrix of bool
        Training pairs (clicked or not), excluded by ``recommend(exclude_seen=True)``.
    item_popularity_ : ndarray of shape (n_items_,)
        Number of training users who clicked each item (as floats): the scores of the
        popularity fallback for cold users.
    warm_users_ : ndarray of bool, shape (n_users_,)
        Users with a click in training; the others are cold users (see ``cold_start``).
    solver_ : {"als", "stochastic"}
        The solver used (``solver`` with ``"auto"`` resolved).
    n_iter_ : int
        Epochs run: ALS sweeps (fewer than ``max_epochs`` when ``tol`` stopped them), or
        passes over the clicks for the stochastic solver.
    history_ : skorch.history.History
        One row per epoch with ``train_loss``: the objective divided by ``|D|`` (exact for
        ALS, the minibatch estimate for the stochastic solver).
    module_ : torch.nn.Module
        The factor tables (``user_factors`` and ``item_factors`` embeddings) on ``device_``.
    n_features_in_ : int
        Always 2 (the user and the item column).
    feature_names_in_ : ndarray of str
        Column names of ``X`` in ``fit``; defined only when ``X`` was a DataFrame with
        string column names.
    device_ : str
        Device the model was trained on (``device`` resolved, for example ``"cpu"``).
    seed_ : int
        Integer seed drawn from ``random_state`` at the start of ``fit``; it seeds the
        initial factors and, for the stochastic solver, the sampling.

    See Also
    --------
    ImplicitMFRecommender : the same model without propensity weighting (naive MF).
    WMFRecommender : weighted matrix factorisation (Hu et al., 2008).
    BPRRecommender : Bayesian personalised ranking (Rendle et al., 2009).
    skultr.propensity.PopularityPropensity : the default propensity model.

    Notes
    -----
    Let ``D`` be all ``n_users × n_items`` pairs, ``Y_ui`` the click indicator,
    ``γ_ui = P(R_ui = 1)`` the relevance and ``θ_ui = P(O_ui = 1)`` the exposure. The ideal
    loss, which needs the unobserved relevance, is

    .. math:: \\mathcal{L}_{ideal}(\\hat R) = \\frac{1}{|D|} \\sum_{(u,i) \\in D}
              \\left[ γ_{ui} δ^{1}(\\hat R_{ui}) + (1 − γ_{ui}) δ^{0}(\\hat R_{ui}) \\right].

    Since ``E[Y_ui] = θ_ui γ_ui``, replacing ``γ`` by ``Y/θ`` gives an unbiased estimate,
    and the clipped estimator replaces ``θ`` by ``max(θ, M)``:

    .. math:: \\hat{\\mathcal{L}}_{M}(\\hat R) = \\frac{1}{|D|} \\sum_{(u,i) \\in D}
              \\left[ \\frac{Y_{ui}}{\\max(θ_{ui}, M)} δ^{1}(\\hat R_{ui})
              + \\left(1 − \\frac{Y_{ui}}{\\max(θ_{ui}, M)}\\right) δ^{0}(\\hat R_{ui}) \\right].

    The model minimises ``|D| · L̂_M + λ (‖U‖² + ‖V‖²)``. In the notation of the code the
    coefficients of ``δ¹, δ⁰`` are ``a = 1/θc, b = 1 − 1/θc`` on the clicks and ``0, 1``
    elsewhere. With ``loss="least_squares"``, ``a δ¹ + b δ⁰ = (s − a)² + const``: the
    objective is ridge-regularised least squares of the full matrix ``Y/θc``, and each ALS
    half step is one batched solve ``U = ((Y/θc) V)(VᵀV + λI)⁻¹`` (then the same for ``V``).
    Its global minimum is the rank-``n_factors`` SVD of ``Y/θc`` with singular values shrunk
    by ``λ``; ALS reaches it from a random start in practice.

    Which (loss, solver) pairs exist:

    ================  ===========  ==============
    loss              ``"als"``    ``"stochastic"``
    ================  ===========  ==============
    least_squares     yes (exact)  yes
    squared           no           yes
    logistic          no           yes
    ================  ===========  ==============

    References
    ----------
    .. [1] Y. Saito, S. Yaginuma, Y. Nishino, H. Sakata and K. Nakata, "Unbiased Recommender
       Learning from Missing-Not-At-Random Implicit Feedback", WSDM 2020 (arXiv:1909.03601).

    Examples
    --------
    >>> from skultr.datasets import make_mnar_implicit_feedback
    >>> from skultr.recommendation import RelMFRecommender
    >>> data = make_mnar_implicit_feedback(n_users=200, n_items=100, random_state=0)
    >>> model = RelMFRecommender(n_factors=8, clip=0.05, device="cpu", random_state=0)
    >>> model = model.fit(data.X)
    >>> model.user_factors_.shape, model.propensity_.shape, model.solver_
    ((200, 8), (100,), 'als')
    >>> items, scores = model.recommend([0, 1], n=3)
    >>> items.shape
    (2, 3)
    """

    _parameter_constraints = {
        "id_columns": [tuple, list],
        **PointwiseMF._parameter_constraints,
        "clip": [Interval(Real, 0, 1, closed="both")],
        "loss": [StrOptions(set(LOSSES))],
        "propensity": [None, "array-like", HasMethods(["fit", "predict"])],
    }

    def __init__(
        self,
        *,
        n_factors=32,
        clip=0.0,
        loss="least_squares",
        propensity=None,
        reg=1.0,
        solver="auto",
        max_epochs=30,
        batch_size=256,
        n_negatives=4,
        lr=0.01,
        optimizer="adam",
        tol=1e-4,
        init_std=0.1,
        n_users=None,
        n_items=None,
        id_columns=("user", "item"),
        cold_start="popularity",
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_factors = n_factors
        self.clip = clip
        self.loss = loss
        self.propensity = propensity
        self.reg = reg
        self.solver = solver
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.n_negatives = n_negatives
        self.lr = lr
        self.optimizer = optimizer
        self.tol = tol
        self.init_std = init_std
        self.n_users = n_users
        self.n_items = n_items
        self.id_columns = id_columns
        self.cold_start = cold_start
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _pointwise_weights(self, users, items, values):
        theta = self._click_propensity(users, items)
        self.n_clipped_ = int(np.sum(theta < self.clip))
        inverse = 1.0 / np.maximum(theta, self.clip)
        return inverse, 1.0 - inverse, 1.0

    def _click_propensity(self, users, items):
        """Fit or check the propensity model (:func:`resolve_propensity`); ``θ`` of each click.

        An estimator is fitted on every logged pair (with its feedback ``y`` when given) and
        asked for the propensity of the clicks; an array is indexed by id.
        """
        spec = self.propensity
        if spec is None:
            from skultr.propensity import PopularityPropensity

            spec = PopularityPropensity(eta=0.5)
        logged_users, logged_items, logged_y = self._logged
        if hasattr(spec, "fit") and hasattr(spec, "predict"):
            from skultr.propensity import PopularityPropensity

            theta, estimator, _ = resolve_propensity(
                spec,
                self.user_ids_[logged_users],
                self.item_ids_[logged_items],
                fit_y=logged_y,
                predict_y=logged_y,
                n_users=self.n_users,
                n_items=self.n_items,
            )
            self.propensity_estimator_ = estimator
            if isinstance(estimator, PopularityPropensity):
                codes = lookup_ids(self.item_ids_, estimator.item_ids_)
                if (codes >= 0).all():
                    self.propensity_ = estimator.propensity_[codes]
            clicked = (
                np.ones(logged_users.shape[0], dtype=bool) if logged_y is None else (logged_y > 0)
            )
            return theta[clicked]
        theta, _, table = resolve_propensity(
            spec,
            self.user_ids_[users],
            self.item_ids_[items],
            n_users=self.n_users,
            n_items=self.n_items,
        )
        self.propensity_ = table
        return theta
