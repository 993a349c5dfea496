"""Rel-MF (Saito et al., WSDM 2020): inverse-propensity-weighted implicit-feedback MF.

The model, its objective and its two solvers are the pointwise factor model of
:mod:`skultr.recommendation._implicit`; Rel-MF only chooses the click coefficients
``a = 1/max(θ, M)``, ``b = 1 − a`` from the exposure propensities ``θ`` (see
:class:`RelMFRecommender`).
"""

from numbers import Real

import numpy as np

from skultr.utils._deprecation import (
    CLIP_HINT,
    DEPRECATED,
    clip_to_max_weight,
    resolve_renamed,
)
from skultr.utils._engine_docs import fill_engine_doc
from skultr.utils._interactions import lookup_ids, resolve_propensity
from skultr.utils._sklearn_compat import HasMethods, Hidden, Interval, StrOptions

from ._implicit import LOSSES, PointwiseMF


@fill_engine_doc
class RelMFRecommender(PointwiseMF):
    """Rel-MF: matrix factorisation trained without bias from missing-not-at-random clicks.

    With implicit feedback a missing click is ambiguous: the item was either irrelevant or
    never shown. Popular items are shown more, so a model fitted to the raw clicks learns
    exposure along with relevance. Rel-MF (Saito et al., WSDM 2020) models each click as
    ``Y_ui = O_ui · R_ui`` (exposure × relevance) and weights the clicks by the inverse of
    the exposure propensity ``θ_ui = P(O_ui = 1)``: its loss over the whole catalogue is an
    unbiased estimate of the loss it would have if relevance were observed everywhere.
    Capping the weights at ``max_weight`` trades a little bias for much less variance.

    Read more in the :ref:`User Guide <relmf>`.

    Parameters
    ----------
    n_factors : int, default=32
        Dimension of the user and item factors.
    max_weight : float >= 1 or None, default=None
        Cap ``W`` on the inverse propensity weight of each click: a click weighs
        ``min(1/θ, W)``, which is the propensity floored at ``1/W``. ``None`` (no cap) is the
        unbiased estimator. The cap only acts on clicks whose propensity is below ``1/W``
        (counted in ``n_clipped_``).
    clip : float in [0, 1]
        The former propensity floor ``M``: ``clip=M`` is ``max_weight=1/M`` (``clip=0`` is
        ``max_weight=None``).

        .. deprecated:: 0.1
           ``clip`` was replaced by ``max_weight`` in 0.1 and will be removed in 0.3.
    loss : {"least_squares", "squared", "logistic"}, default="least_squares"
        Local loss ``(δ¹, δ⁰)`` of a cell taken as relevant / irrelevant, with ``s = ⟨u_u, v_i⟩``
        and ``σ`` the sigmoid:

        - ``"least_squares"``: ``((1 − s)², s²)``, the squared loss on the raw score; the
          Rel-MF loss is then ordinary least squares on the full matrix with target
          ``Y/θ``, solved exactly by ALS (the default, fast).
        - ``"squared"``: ``((1 − σ(s))², σ(s)²)``, the loss of the paper's real-data code.
        - ``"logistic"``: ``(−log σ(s), −log(1 − σ(s)))``, the paper's semi-synthetic loss.
          With targets ``Y/θ > 1`` it is unbounded below (a clicked cell is pushed to
          ``s → ∞``); ``max_weight`` and ``weight_decay`` keep it in check.
    propensity : None, array-like or estimator, default=None
        Exposure propensities ``θ`` in (0, 1]:

        - ``None``: :class:`~skultr.propensity.PopularityPropensity` with ``eta=0.5``,
          fitted on the training clicks: ``θ_i = (n_i / max_j n_j)^0.5``;
        - an array of shape ``(n_items,)`` (one per item) or ``(n_users, n_items)`` (one per
          pair), with ``n_users`` / ``n_items`` the catalogue sizes;
        - an estimator with ``fit(X)`` and ``predict(X)``: cloned, fitted on the training
          click pairs, and asked for the propensity of each click.

        ``partial_fit`` refits the default and an estimator at every call on the pairs of
        all the shards seen so far (kept as the sparse ``seen_``), so ``propensity_`` is
        re-estimated over the whole log seen, not over the last shard.
    weight_decay : float >= 0, default=1.0
        L2 penalty ``λ`` on all factors: it multiplies ``‖U‖_F² + ‖V‖_F²`` in the objective,
        on its sum-over-cells scale (see Notes; the same value means the same objective for
        both solvers). It is a term of the loss, not the optimizer's weight decay.
    reg : float >= 0
        The former name of ``weight_decay`` (same value, same meaning).

        .. deprecated:: 0.1
           ``reg`` was renamed ``weight_decay`` in 0.1 and will be removed in 0.3.
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
    {verbose}
    {warm_start_factors}
    {callbacks}

    Attributes
    ----------
    {factors_attributes}
    {catalogue_attributes}
    propensity_ : ndarray of shape (n_items,) or (n_users, n_items)
        The propensities used (before capping the weights): per item for the default and for
        1-D arrays, the matrix for 2-D arrays, and the fitted estimator's ``propensity_`` when
        it is one per item. Not set for an estimator without such an attribute (its predictions for
        the clicks are used).
    propensity_estimator_ : estimator
        The fitted propensity estimator (default or given; absent for arrays).
    n_clipped_ : int
        Clicks whose inverse propensity exceeded ``max_weight`` (and was capped at it).
    n_clicks_ : int
        Distinct clicked pairs trained on.
    n_duplicates_ : int
        Repeated (user, item) rows merged into one (their feedback aggregated with ``max``:
        a pair is clicked if any of its rows is).
    seen_ : scipy.sparse.csr_matrix of bool
        Training pairs (clicked or not), excluded by ``recommend(exclude_seen=True)``.
    item_popularity_ : ndarray of shape (n_items,)
        Number of training users who clicked each item (as floats): the scores of the
        popularity fallback for cold users.
    warm_users_ : ndarray of bool, shape (n_users,)
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
    and the capped estimator replaces ``1/θ`` by ``min(1/θ, W)``, ``W = max_weight`` (the
    clipping of the paper, ``max(θ, M)`` with ``M = 1/W``):

    .. math:: \\hat{\\mathcal{L}}_{W}(\\hat R) = \\frac{1}{|D|} \\sum_{(u,i) \\in D}
              \\left[ Y_{ui} \\min(θ_{ui}^{-1}, W)\\, δ^{1}(\\hat R_{ui})
              + \\left(1 − Y_{ui} \\min(θ_{ui}^{-1}, W)\\right) δ^{0}(\\hat R_{ui}) \\right].

    The model minimises ``|D| · L̂_W + λ (‖U‖² + ‖V‖²)``, ``λ = weight_decay``. In the
    notation of the code, with ``θc = max(θ, 1/W)``, the coefficients of ``δ¹, δ⁰`` are
    ``a = 1/θc, b = 1 − 1/θc`` on the clicks and ``0, 1`` elsewhere. With
    ``loss="least_squares"``, ``a δ¹ + b δ⁰ = (s − a)² + const``: the objective is
    ridge-regularised least squares of the full matrix ``Y/θc``, and each ALS half step is
    one batched solve ``U = ((Y/θc) V)(VᵀV + λI)⁻¹`` (then the same for ``V``). Its global
    minimum is the rank-``n_factors`` SVD of ``Y/θc`` with singular values shrunk by ``λ``;
    ALS reaches it from a random start in practice.

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
    >>> model = RelMFRecommender(n_factors=8, max_weight=20, device="cpu", random_state=0)
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
        "max_weight": [Interval(Real, 1, None, closed="left"), None],
        "clip": [Hidden(StrOptions({DEPRECATED})), Interval(Real, 0, 1, closed="both")],
        "loss": [StrOptions(set(LOSSES))],
        "propensity": [None, "array-like", HasMethods(["fit", "predict"])],
    }

    def __init__(
        self,
        *,
        n_factors=32,
        max_weight=None,
        loss="least_squares",
        propensity=None,
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
        clip=DEPRECATED,
        reg=DEPRECATED,
    ):
        self.n_factors = n_factors
        self.max_weight = max_weight
        self.loss = loss
        self.propensity = propensity
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
        self.clip = clip
        self.reg = reg

    def _pointwise_weights(self, users, items, values):
        theta = self._click_propensity(users, items)
        max_weight = resolve_renamed(
            self, "clip", "max_weight", convert=clip_to_max_weight, hint=CLIP_HINT
        )
        inverse = 1.0 / theta
        if max_weight is None:
            self.n_clipped_ = 0
        else:
            self.n_clipped_ = int(np.sum(inverse > max_weight))
            inverse = np.minimum(inverse, max_weight)
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
            # θ of the clicks trained on: the logged clicks themselves in fit; in partial_fit
            # the logged pairs are those of every shard so far, and the shard's clicks are
            # looked up among them (both sorted by user, then item).
            logged_keys = logged_users[clicked] * self.n_items_ + logged_items[clicked]
            at = np.searchsorted(logged_keys, users * self.n_items_ + items)
            return theta[clicked][at]
        theta, _, table = resolve_propensity(
            spec,
            self.user_ids_[users],
            self.item_ids_[items],
            n_users=self.n_users,
            n_items=self.n_items,
        )
        self.propensity_ = table
        return theta
