"""Implicit-feedback baselines of Rel-MF: naive MF, WMF (Hu et al. 2008), BPR (Rendle et al. 2009).

All three share Rel-MF's factor model, validation and ``recommend`` (see ``_implicit.py``):
naive MF is the same pointwise loss without propensity weighting, WMF the confidence-weighted
least squares of Hu et al. solved by exact weighted ALS, BPR a pairwise loss with sampled
negatives on the shared torch engine.
"""

from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F

from skultr._torch import to_tensor
from skultr.utils._deprecation import DEPRECATED
from skultr.utils._engine_docs import fill_engine_doc
from skultr.utils._sklearn_compat import Interval, StrOptions

from ._implicit import LOSSES, BaseImplicitMF, PointwiseMF


@fill_engine_doc
class ImplicitMFRecommender(PointwiseMF):
    """Naive matrix factorisation of implicit feedback: clicks as relevance, no correction.

    Every click is a relevant pair and every other pair of the catalogue an irrelevant one:
    the model fits the click matrix ``Y`` itself, so it learns ``P(click) = θ γ`` (exposure
    times relevance) rather than the relevance ``γ``. This is
    :class:`RelMFRecommender` with all propensities equal to 1, with the same losses, solvers
    and parameters; it is the "naive" baseline of Saito et al. (WSDM 2020).

    Read more in the :ref:`User Guide <relmf>`.

    Parameters
    ----------
    n_factors : int, default=32
        Dimension of the user and item factors.
    loss : {"least_squares", "squared", "logistic"}, default="least_squares"
        Local loss; see :class:`RelMFRecommender`. ``"least_squares"`` is solved exactly by
        ALS (it is then the ridge-regularised rank-``n_factors`` approximation of ``Y``).
    weight_decay : float >= 0, default=1.0
        L2 penalty ``λ`` on all factors: it multiplies ``‖U‖_F² + ‖V‖_F²`` in the
        objective, on its sum-over-cells scale (the same value means the same objective for
        both solvers). It is a term of the loss, not the optimizer's weight decay.
    reg : float >= 0
        The former name of ``weight_decay`` (same value, same meaning).

        .. deprecated:: 0.1
           ``reg`` was renamed ``weight_decay`` in 0.1 and will be removed in 0.3.
    solver : {"auto", "als", "stochastic"}, default="auto"
        ``"als"``: exact alternating least squares (``loss="least_squares"`` only; one epoch
        is one update of all users then all items). ``"stochastic"``: minibatch gradient
        descent on the shared torch engine with uniformly sampled unlabelled pairs (any
        loss). ``"auto"``: ``"als"`` for ``"least_squares"``, else ``"stochastic"``.
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
        Fixed catalogue sizes: ids are then the integers ``0 .. n - 1``. ``None``: the
        catalogue is the distinct ids of the training pairs (any hashable ids), see
        :class:`RelMFRecommender`.
    id_columns : pair of str, default=("user", "item")
        Names of the user and the item column of a DataFrame ``X``, read by name in any
        column order. A DataFrame without these names is read by position (user first) in
        ``fit``, and by the names it had in ``fit`` afterwards.
    cold_start : {"popularity", "error"}, default="popularity"
        Policy for cold users (see :class:`RelMFRecommender`).
    device : {"auto", "cpu", "cuda", "cuda:N"}, default="auto"
        Device to train on: ``"auto"`` uses CUDA when available, else the CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial factors and the sampling: the same seed gives the same model on the
        same device.
    {verbose}
    {warm_start_factors}
    {callbacks}

    Attributes
    ----------
    {factors_attributes}
    {catalogue_attributes}
    {implicit_log_attributes}
    solver_ : {"als", "stochastic"}
        The solver used (``solver`` with ``"auto"`` resolved).
    n_iter_ : int
        Epochs run: ALS sweeps (fewer than ``max_epochs`` when ``tol`` stopped them), or
        passes over the clicks for the stochastic solver.
    history_ : skorch.history.History
        One row per epoch with ``train_loss``: the objective divided by the number of
        catalogue cells ``n_users_ * n_items_`` (exact for ALS, the minibatch estimate for
        the stochastic solver).
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
    RelMFRecommender : the propensity-weighted (unbiased) version.

    Notes
    -----
    Minimises ``Σ_{(u,i)∈D} [Y_ui δ¹(s_ui) + (1 − Y_ui) δ⁰(s_ui)] + λ(‖U‖² + ‖V‖²)`` over all
    ``n_users × n_items`` pairs ``D``, with ``s_ui = ⟨u_u, v_i⟩`` (the coefficients
    ``a = 1, b = 0`` on the clicks and ``0, 1`` elsewhere).

    Examples
    --------
    >>> from skultr.datasets import make_mnar_implicit_feedback
    >>> from skultr.recommendation import ImplicitMFRecommender
    >>> data = make_mnar_implicit_feedback(n_users=200, n_items=100, random_state=0)
    >>> model = ImplicitMFRecommender(n_factors=8, device="cpu", random_state=0).fit(data.X)
    >>> model.predict([[0, 1], [0, 2]]).shape
    (2,)
    """

    _parameter_constraints = {
        "id_columns": [tuple, list],
        **PointwiseMF._parameter_constraints,
        "loss": [StrOptions(set(LOSSES))],
    }

    def __init__(
        self,
        *,
        n_factors=32,
        loss="least_squares",
        weight_decay=1.0,
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
        warm_start=False,
        callbacks=None,
        reg=DEPRECATED,
    ):
        self.n_factors = n_factors
        self.loss = loss
        self.weight_decay = weight_decay
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
        self.warm_start = warm_start
        self.callbacks = callbacks
        self.reg = reg

    def _pointwise_weights(self, users, items, values):
        ones = np.ones(users.shape[0])
        return ones, np.zeros_like(ones), 1.0


@fill_engine_doc
class WMFRecommender(PointwiseMF):
    """Weighted matrix factorisation for implicit feedback (Hu, Koren and Volinsky, 2008).

    Every pair of the catalogue is a training cell: a clicked pair has preference 1 and
    confidence ``c = 1 + alpha · r`` (``r`` its feedback value, 1 for a plain click), every
    other pair preference 0 and confidence 1. The confidence-weighted least squares is solved
    by alternating least squares with the Gram-matrix trick of the paper: each user's system
    is ``(VᵀV + Vᵀ(C_u − I)V + λI) u = Vᵀ C_u p_u``, where ``VᵀV`` is shared and the
    correction only involves the user's clicked items. By default each system gets a few
    conjugate-gradient steps (``cg_steps``); ``cg_steps=None`` solves them exactly.

    Read more in the :ref:`User Guide <relmf>`.

    Parameters
    ----------
    n_factors : int, default=32
        Dimension of the user and item factors.
    alpha : float >= 0, default=1.0
        Confidence scale ``α``: a clicked pair weighs ``1 + α r`` in the loss. ``0`` gives the
        unweighted naive model (:class:`ImplicitMFRecommender` with ``loss="least_squares"``).
    weight_decay : float >= 0, default=1.0
        L2 penalty ``λ`` on the factors: it multiplies ``‖U‖_F² + ‖V‖_F²`` in the
        objective (on its sum-over-cells scale, for both solvers). It is a term of the loss,
        not the optimizer's weight decay.
    reg : float >= 0
        The former name of ``weight_decay`` (same value, same meaning).

        .. deprecated:: 0.1
           ``reg`` was renamed ``weight_decay`` in 0.1 and will be removed in 0.3.
    solver : {"auto", "als", "stochastic"}, default="auto"
        ``"auto"`` and ``"als"``: weighted ALS. ``"stochastic"``: minibatch gradient
        descent on the same objective (with sampled unlabelled pairs).
    cg_steps : int or None, default=3
        With ALS: conjugate-gradient steps per user (item) system and half step, warm-started
        at the current factors (Takács et al., 2011; the ``implicit`` package's default), so
        no ``k × k`` system is formed. ``None`` solves every system exactly (Cholesky):
        slower, the same fixed points.
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
        Fixed catalogue sizes: ids are then the integers ``0 .. n - 1``. ``None``: the
        catalogue is the distinct ids of the training pairs (any hashable ids), see
        :class:`RelMFRecommender`.
    id_columns : pair of str, default=("user", "item")
        Names of the user and the item column of a DataFrame ``X``, read by name in any
        column order. A DataFrame without these names is read by position (user first) in
        ``fit``, and by the names it had in ``fit`` afterwards.
    cold_start : {"popularity", "error"}, default="popularity"
        Policy for cold users (see :class:`RelMFRecommender`).
    device : {"auto", "cpu", "cuda", "cuda:N"}, default="auto"
        Device to train on: ``"auto"`` uses CUDA when available, else the CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial factors and the sampling: the same seed gives the same model on the
        same device.
    {verbose}
    {warm_start_factors}
    {callbacks}

    Attributes
    ----------
    {factors_attributes}
    {catalogue_attributes}
    n_clicks_ : int
        Distinct pairs with positive feedback (``y > 0``, or every pair without ``y``) trained on.
    n_duplicates_ : int
        Repeated (user, item) rows merged into one (their feedback aggregated with ``max``).
    {implicit_cold_start_attributes}
    solver_ : {"als", "stochastic"}
        The solver used (``solver`` with ``"auto"`` resolved).
    n_iter_ : int
        Epochs run: ALS sweeps (fewer than ``max_epochs`` when ``tol`` stopped them), or
        passes over the clicks for the stochastic solver.
    history_ : skorch.history.History
        One row per epoch with ``train_loss``: the weighted objective divided by the number of
        catalogue cells ``n_users_ * n_items_`` (exact for ALS, the minibatch estimate for
        the stochastic solver).
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

    Notes
    -----
    Minimises ``Σ_{(u,i)∈D} c_ui (p_ui − s_ui)² + λ(‖U‖² + ‖V‖²)`` with ``p_ui = 1[r_ui > 0]``
    and ``c_ui = 1 + α r_ui``. ``y`` may hold non-negative counts (plays, purchases);
    repeated (user, item) rows are merged with ``max`` (sum them yourself to use totals).

    References
    ----------
    .. [1] Y. Hu, Y. Koren and C. Volinsky, "Collaborative Filtering for Implicit Feedback
       Datasets", ICDM 2008.
    .. [2] G. Takács, I. Pilászy and D. Tikk, "Applications of the Conjugate Gradient Method
       for Implicit Feedback Collaborative Filtering", RecSys 2011.

    Examples
    --------
    >>> from skultr.datasets import make_mnar_implicit_feedback
    >>> from skultr.recommendation import WMFRecommender
    >>> data = make_mnar_implicit_feedback(n_users=200, n_items=100, random_state=0)
    >>> model = WMFRecommender(n_factors=8, alpha=5.0, device="cpu", random_state=0)
    >>> model.fit(data.X).solver_
    'als'
    """

    _parameter_constraints = {
        "id_columns": [tuple, list],
        **PointwiseMF._parameter_constraints,
        "alpha": [Interval(Real, 0, None, closed="left")],
        "cg_steps": [None, Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        *,
        n_factors=32,
        alpha=1.0,
        weight_decay=1.0,
        solver="auto",
        cg_steps=3,
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
        warm_start=False,
        callbacks=None,
        reg=DEPRECATED,
    ):
        self.n_factors = n_factors
        self.alpha = alpha
        self.weight_decay = weight_decay
        self.solver = solver
        self.cg_steps = cg_steps
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
        self.warm_start = warm_start
        self.callbacks = callbacks
        self.reg = reg

    def _check_feedback(self, y):
        if y is not None and (y < 0).any():
            i = int(np.flatnonzero(y < 0)[0])
            raise ValueError(
                f"y must hold non-negative implicit feedback (clicks or counts); entry {i} is "
                f"{y[i]}."
            )
        return y

    def _cg_steps(self):
        return self.cg_steps

    def _pointwise_weights(self, users, items, values):
        confidence = 1.0 + self.alpha * values
        return confidence, np.zeros_like(confidence), 1.0


@fill_engine_doc
class BPRRecommender(BaseImplicitMF):
    """Bayesian personalised ranking (Rendle et al., 2009): clicked above unclicked, per user.

    For each click ``(u, i)`` an item ``j`` is drawn uniformly from the catalogue (draws that
    the user also clicked are discarded) and the model maximises ``log σ(s_ui − s_uj)``: a
    pairwise loss that only orders items within a user. Trained by minibatch gradient
    descent on the shared torch engine, with whole-batch sampling on the device.

    Read more in the :ref:`User Guide <relmf>`.

    Parameters
    ----------
    n_factors : int, default=32
        Dimension of the user and item factors.
    weight_decay : float >= 0, default=1e-3
        L2 penalty ``λ`` on the factors of each sampled triple: it multiplies
        ``‖u‖² + ‖v_i‖² + ‖v_j‖²``, averaged like the loss (BPR-Opt's per-sample
        regularisation). It is a term of the loss, not the optimizer's weight decay.
    reg : float >= 0
        The former name of ``weight_decay`` (same value, same meaning).

        .. deprecated:: 0.1
           ``reg`` was renamed ``weight_decay`` in 0.1 and will be removed in 0.3.
    n_negatives : int, default=1
        Negative items drawn per click in each epoch.
    max_epochs : int, default=30
        Passes over the clicks.
    batch_size : int, default=256
        Clicks per step (each with its ``n_negatives`` drawn items).
    lr : float, default=0.01
        Learning rate.
    optimizer : {"adam", "adagrad", "sgd"}, default="adam"
        Created anew by every ``fit`` (these models do not warm start).
    init_std : float, default=0.1
        Standard deviation of the normal initial factors.
    n_users, n_items : int or None, default=None
        Fixed catalogue sizes: ids are then the integers ``0 .. n - 1``. ``None``: the
        catalogue is the distinct ids of the training pairs (any hashable ids), see
        :class:`RelMFRecommender`.
    id_columns : pair of str, default=("user", "item")
        Names of the user and the item column of a DataFrame ``X``, read by name in any
        column order. A DataFrame without these names is read by position (user first) in
        ``fit``, and by the names it had in ``fit`` afterwards.
    cold_start : {"popularity", "error"}, default="popularity"
        Policy for cold users (see :class:`RelMFRecommender`).
    device : {"auto", "cpu", "cuda", "cuda:N"}, default="auto"
        Device to train on: ``"auto"`` uses CUDA when available, else the CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial factors, the batch order and the negative sampling: the same
        seed gives the same model on the same device.
    {verbose}
    {warm_start_factors}
    {callbacks}

    Attributes
    ----------
    {factors_attributes}
    {catalogue_attributes}
    {implicit_log_attributes}
    n_iter_ : int
        Epochs run (passes over the clicks), always ``max_epochs``.
    history_ : skorch.history.History
        One row per epoch: ``epoch``, ``train_loss`` (the mean ``−log σ(s_ui − s_uj)`` over
        the valid sampled triples, plus the penalty) and ``dur``.
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
        initial factors, the batch order and the negative sampling.

    Notes
    -----
    BPR-Opt: ``max Σ_{(u,i,j)} log σ(s_ui − s_uj) − λ‖Θ‖²`` over triples with ``i`` clicked
    and ``j`` not clicked by ``u``; here ``j`` is uniform over the catalogue and a draw that
    turns out clicked is masked out of the batch mean. The model has no item bias (plain
    BPR-MF).

    References
    ----------
    .. [1] S. Rendle, C. Freudenthaler, Z. Gantner and L. Schmidt-Thieme, "BPR: Bayesian
       Personalized Ranking from Implicit Feedback", UAI 2009.

    Examples
    --------
    >>> from skultr.datasets import make_mnar_implicit_feedback
    >>> from skultr.recommendation import BPRRecommender
    >>> data = make_mnar_implicit_feedback(n_users=200, n_items=100, random_state=0)
    >>> model = BPRRecommender(n_factors=8, max_epochs=2, device="cpu", random_state=0)
    >>> model.fit(data.X).n_iter_
    2
    """

    _parameter_constraints = {
        "id_columns": [tuple, list],
        **BaseImplicitMF._parameter_constraints,
        "n_negatives": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        *,
        n_factors=32,
        weight_decay=1e-3,
        n_negatives=1,
        max_epochs=30,
        batch_size=256,
        lr=0.01,
        optimizer="adam",
        init_std=0.1,
        n_users=None,
        n_items=None,
        id_columns=("user", "item"),
        cold_start="popularity",
        device="auto",
        random_state=None,
        verbose=0,
        warm_start=False,
        callbacks=None,
        reg=DEPRECATED,
    ):
        self.n_factors = n_factors
        self.weight_decay = weight_decay
        self.n_negatives = n_negatives
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.init_std = init_std
        self.n_users = n_users
        self.n_items = n_items
        self.id_columns = id_columns
        self.cold_start = cold_start
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.callbacks = callbacks
        self.reg = reg

    def _fit_factors(self, users, items, values, device):
        # Sorted keys of the clicked pairs: a drawn (u, j) is a click iff its key is found
        # (partial_fit: the pairs clicked in any shard seen so far).
        self._click_keys = to_tensor(self._clicked_keys(), device, torch.int64)
        tensors = (to_tensor(users, device, torch.int64), to_tensor(items, device, torch.int64))
        try:
            self._train_this_call(tensors)
        finally:
            del self._click_keys

    def _loss(self, module, batch):
        users, items = batch
        users = users.repeat(self.n_negatives)
        items = items.repeat(self.n_negatives)
        negatives = torch.randint(0, self.n_items_, users.shape, device=users.device)
        keys = users * self.n_items_ + negatives
        found = torch.searchsorted(self._click_keys, keys).clamp_max(len(self._click_keys) - 1)
        valid = (self._click_keys[found] != keys).to(torch.float32)
        u = module.user_factors(users)
        v_i = module.item_factors(items)
        v_j = module.item_factors(negatives)
        margin = (u * (v_i - v_j)).sum(-1)
        penalty = u.square().sum(-1) + v_i.square().sum(-1) + v_j.square().sum(-1)
        per_triple = F.softplus(-margin) + self._l2_strength * penalty
        return (per_triple * valid).sum() / valid.sum().clamp_min(1.0)
