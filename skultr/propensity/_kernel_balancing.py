"""Kernel-balancing weights and propensities for observed (user, item) pairs.

Li, Xiao, Zheng, Wu, Chen, Geng and Cui, "Debiased Collaborative Filtering with Kernel-Based
Causal Balancing", ICLR 2024 (arXiv:2404.19596). Torch is imported inside ``fit`` only (the
model code, shared with :class:`skultr.recommendation.DebiasedMFRecommender`, lives in
:mod:`skultr._torch._balancing`), so importing :mod:`skultr.propensity` stays light.
"""

import hashlib
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from skultr.utils._atomic import atomic_fit
from skultr.utils._deprecation import DEPRECATED, resolve_renamed_value
from skultr.utils._engine_docs import fill_engine_doc
from skultr.utils._interactions import _PairEstimatorMixin, check_propensity
from skultr.utils._mmd import mmd_of_weights
from skultr.utils._sklearn_compat import (
    Hidden,
    Interval,
    StrOptions,
    _fit_context,
    validate_params,
)
from skultr.utils._validation import check_shard_columns
from skultr.utils._versions import VersionedPickleMixin


@validate_params(
    {
        "X_observed": ["array-like"],
        "X_all": ["array-like"],
        "weights": ["array-like", None],
        "kernel": [str],
        "bandwidth": [Real],
        "return_se": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def weighted_mmd(
    X_observed, X_all, weights=None, *, kernel="gaussian", bandwidth=1.0, return_se=False
):
    """Maximum mean discrepancy between weighted observed features and all features.

    .. math:: \\mathrm{MMD}^2 = \\frac{\\sum_{i \\ne j} a_i a_j K(x_i, x_j)}{1 - \\sum_i a_i^2}
              - 2 \\sum_{i, m} a_i b_m K(x_i, x_m)
              + \\frac{\\sum_{m \\ne m'} b_m b_{m'} K(x_m, x_{m'})}{1 - \\sum_m b_m^2},

    with ``a = w / Σ w`` on the observed rows and ``b`` uniform on ``X_all``: the distance,
    in the kernel's reproducing kernel Hilbert space, between the weighted mean embedding of
    the observed pairs and the mean embedding of all pairs. Zero means every function of the
    space has the same weighted mean on the observed pairs as on all pairs.

    Parameters
    ----------
    X_observed : array-like of shape (n_observed, d)
        Features of the observed pairs.
    X_all : array-like of shape (n_all, d)
        Features of (a sample of) all pairs.
    weights : array-like of shape (n_observed,), default=None
        Non-negative weights of the observed pairs (``None``: equal weights).
    kernel : {"gaussian", "exponential"}, default="gaussian"
        The kernel ``K``: Gaussian (squared distance) or exponential (distance), with the
        ``bandwidth`` below.
    bandwidth : float, default=1.0
        ``σ`` in ``exp(-‖a − b‖² / (2σ²))`` or ``exp(-‖a − b‖ / σ)``.
    return_se : bool, default=False
        Return the squared MMD estimate itself (not clamped) and its standard error instead
        of ``sqrt(max(MMD², 0))``. Use it to judge a difference: an estimate within two
        standard errors of zero, or of another estimate, is noise.

    Returns
    -------
    mmd : float
        ``sqrt(max(MMD², 0))`` (``return_se=False``). The self-terms leave out their
        diagonals (a weighted U-statistic), so the estimate does not grow with the weights'
        variance alone: it measures imbalance, not the effective sample size. Clamping makes
        every imbalance below the sampling noise read ``0``. O(n²) memory: pass samples of a
        few thousand rows.
    mmd2, se : float
        With ``return_se=True``: the unclamped estimate of ``MMD²`` (negative when the
        imbalance is below its noise) and its standard error, a delete-a-group jackknife
        over 20 random groups of the observed and of the catalogue rows (somewhat
        conservative when the true ``MMD²`` is near zero).

    Examples
    --------
    >>> import numpy as np
    >>> from skultr.propensity import weighted_mmd
    >>> rng = np.random.default_rng(0)
    >>> X_all = rng.normal(size=(500, 2))
    >>> X_obs = X_all[X_all[:, 0] > 0]          # a biased sample
    >>> round(weighted_mmd(X_obs, X_all), 3) > round(weighted_mmd(X_all, X_all), 3)
    True
    >>> mmd2, se = weighted_mmd(X_obs, X_all, return_se=True)
    >>> bool(mmd2 > 5 * se)                    # far above its sampling noise
    True
    """
    if kernel not in ("gaussian", "exponential"):
        raise ValueError(f"kernel must be 'gaussian' or 'exponential'; got {kernel!r}.")
    if not (isinstance(bandwidth, Real) and bandwidth > 0):
        raise ValueError(f"bandwidth must be a positive number; got {bandwidth!r}.")
    A = np.asarray(X_observed, dtype=np.float64)
    B = np.asarray(X_all, dtype=np.float64)
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[1]:
        raise ValueError(
            "X_observed and X_all must be 2-D with the same number of columns; got shapes "
            f"{A.shape} and {B.shape}."
        )
    if weights is None:
        a = np.full(len(A), 1.0 / len(A))
    else:
        a = np.asarray(weights, dtype=np.float64)
        if a.shape != (len(A),) or not np.isfinite(a).all() or (a < 0).any() or a.sum() <= 0:
            raise ValueError(
                f"weights must be {len(A)} finite non-negative numbers, not all zero."
            )
        a = a / a.sum()
    mmd2, se = mmd_of_weights(A, B, [a], kernel, bandwidth)[0]
    return (mmd2, se) if return_se else float(np.sqrt(max(mmd2, 0.0)))


def _table_digest(user_table, item_table):
    """A fingerprint of the two feature tables (None without tables), for partial_fit."""
    if user_table is None:
        return None
    digest = hashlib.blake2b(digest_size=16)
    for table in (user_table, item_table):
        digest.update(repr(table.shape).encode())
        digest.update(np.ascontiguousarray(table).tobytes())
    return digest.hexdigest()


def _check_feature_table(table, n_rows, name):
    if table is None:
        return None
    array = np.asarray(table, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (one row per id); got shape {array.shape}.")
    if n_rows is not None and array.shape[0] < n_rows:
        raise ValueError(
            f"{name} has {array.shape[0]} rows but ids go up to {n_rows - 1}: one row per id "
            "is required."
        )
    if not np.isfinite(array).all():
        i = int(np.flatnonzero(~np.isfinite(array).all(1))[0])
        raise ValueError(f"{name} must be finite; row {i} is not.")
    return array


BALANCING_CONSTRAINTS = {
    "kernel": [StrOptions({"gaussian", "exponential"})],
    "bandwidth": [StrOptions({"median"}), Interval(Real, 0, None, closed="neither")],
    "n_centers": [Interval(Integral, 1, None, closed="left")],
    "centers": [StrOptions({"random", "worst", "adaptive"})],
    "balance_tol": [Interval(Real, 0, None, closed="left")],
    "C": [Hidden(StrOptions({DEPRECATED})), Interval(Real, 0, None, closed="left")],
    "entropy_weight": [Interval(Real, 0, None, closed="left")],
    "penalty": [Interval(Real, 0, None, closed="left")],
    "sample_ratio": [Interval(Integral, 1, None, closed="left")],
}


def _renamed_propensity(base_propensity, sample_propensity, method):
    # ``base_propensity`` is the deprecated name of the ``sample_propensity`` keyword.
    return resolve_renamed_value(
        base_propensity,
        sample_propensity,
        old="base_propensity",
        new="sample_propensity",
        new_default=None,
        where=f"KernelBalancingPropensity.{method}",
        unset=None,
        stacklevel=4,
    )


@fill_engine_doc
class KernelBalancingPropensity(_PairEstimatorMixin, VersionedPickleMixin, BaseEstimator):
    """Balancing weights for observed (user, item) pairs, learned in a kernel space.

    Inverse propensity weights ``1/p̂`` are meant to make the observed pairs look like all
    pairs of the catalogue; a propensity model fitted by likelihood does not check that they
    do. Kernel balancing learns the weights ``w`` of the observed pairs so that, for kernel
    functions ``K(·, c_j)`` of the pair features, the weighted observed mean matches the mean
    over all pairs, while staying as close as possible (in entropy) to base inverse
    propensities. The fitted ``weights_`` plug into IPS or DR estimators; ``propensity_`` is
    the implied propensity ``p̄ / w``. The recommender
    :class:`~skultr.recommendation.DebiasedMFRecommender` learns such weights jointly with
    its prediction model (KBIPS, KBDR, ...) from the settings of an instance of this class.

    Read more in the :ref:`User Guide <kernel_balancing>`.

    Parameters
    ----------
    kernel : {"gaussian", "exponential"}, default="gaussian"
        ``exp(-‖x − x'‖² / (2σ²))`` or ``exp(-‖x − x'‖ / σ)``.
    bandwidth : "median" or float > 0, default="median"
        ``σ``, in units of the standardised features (each column is centred and scaled
        first). ``"median"``: half the median distance between the features of random
        catalogue pairs. (The plain median heuristic gives kernels too wide to see the
        interaction of user and item features: on :func:`~skultr.datasets.make_mnar_ratings`
        it removed a third as much bias from IPS as half of it.)
    n_centers : int, default=20
        ``J``, kernel functions balanced per step (the reference code balances 3 per
        mini-batch; more centres per step balance faster, at little cost).
    centers : {"random", "worst", "adaptive"}, default="random"
        How the ``J`` centres are chosen among the ``M`` pairs sampled for the batch:
        ``"random"`` (KB), ``"worst"`` (WKB: the kernel expansion with the largest weighted
        imbalance per unit RKHS norm) or ``"adaptive"`` (AKB: the expansion of the outcome,
        for example the loss of a prediction model, fitted by ridge regression).
    balance_tol : float >= 0, default=0.001
        Tolerance ``τ`` of each balancing constraint: violations below it cost nothing (the
        ``C`` of the paper; not an inverse regularisation strength like the ``C`` of
        :class:`LogisticPropensity` and scikit-learn).
    C : float >= 0
        The former name of ``balance_tol`` (same value, same meaning).

        .. deprecated:: 0.1
           ``C`` was renamed ``balance_tol`` in 0.1 and will be removed in 0.3.
    entropy_weight : float >= 0, default=1.0
        ``λ``, weight of the divergence of ``w`` from the base weights.
    penalty : float >= 0, default=100.0
        ``γ``, weight of the hinge penalty on the balancing violations.
    sample_ratio : int, default=5
        ``G``: each batch of ``B`` observed pairs is compared with ``M = G·B`` pairs drawn
        uniformly from the catalogue (the reference code's 5 on Coat).
    n_factors : int, default=4
        Factors of the weight model ``g`` (an MF with user and item biases) and of the
        feature MF fitted when no features are given.
    max_epochs : int, default=30
        Passes over the observed pairs in the training of the weight model (all of them are
        run), and epochs of the feature MF fitted when no features are given.
    batch_size : int, default=256
        Observed pairs per step: each step draws ``sample_ratio * batch_size`` catalogue
        pairs and picks its centres for this batch. The balancing objective runs over all
        observed pairs up to 100,000 of them, and over 100,000 drawn for the step beyond
        (so a step costs the same at any size and an epoch grows linearly). Also the batch
        size of the feature MF.
    lr : float, default=0.05
        Adam learning rate of the weight model.
    weight_decay : float, default=0.0
        L2 penalty (Adam's weight decay) of the weight model.
    n_users, n_items : int, default=None
        Fixed catalogue sizes (integer ids ``0 .. n - 1``); by default the rows of the feature
        tables, else the distinct ids of ``X`` (any hashable ids).
    id_columns : pair of str, default=("user", "item")
        Names of the user and the item column of a DataFrame ``X``, read by name in any
        column order. A DataFrame without these names is read by position (user first) in
        ``fit``, and by the names it had in ``fit`` afterwards.
    device : {"auto", "cpu", "cuda", "cuda:N"}, default="auto"
        Device to train on: ``"auto"`` uses CUDA when available, else the CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the feature MF, the bandwidth's sample, the initial weight model, the batch
        order, the catalogue draws and the centres: the same seed gives the same weights
        on the same device.
    {verbose}
    {callbacks}

    Attributes
    ----------
    weights_ : ndarray of shape (n_samples,)
        Balancing weight of each training pair (of the last shard, after
        :meth:`partial_fit`), normalised to mean 1 (so ``weights_ / n`` estimates
        ``p̄ / (n p_ui)``, ``p̄ = n / (n_users n_items)``).
    propensity_ : ndarray of shape (n_samples,)
        Implied propensities ``min(1, p̄ / weights_)`` (of the same pairs).
    base_weights_ : ndarray of shape (n_samples,)
        The base inverse propensities ``p̄ / p̂``, normalised to mean 1.
    mmd_base_, mmd_ : float
        Squared weighted MMD between observed and all pairs, in the kernel of the fit, with
        the base weights and with the balancing weights: the unbiased estimate on the same
        samples of up to 2,000 observed (the last shard's, after :meth:`partial_fit`) and
        2,000 catalogue pairs, not clamped at zero (a negative value is an imbalance below
        the sampling noise).
    mmd_base_se_, mmd_se_ : float
        Their standard errors (delete-a-group jackknife, see :func:`weighted_mmd`). Read a
        change as real only when it is several standard errors (on Coat, the balancing
        weights of the paper recipes change it by less than one).
    effective_sample_size_ : float
        Kish's ``(Σ w)² / Σ w²`` of ``weights_``.
    bandwidth_ : float
        The kernel bandwidth ``σ`` used: ``bandwidth``, or for ``"median"`` half the median
        distance between the standardised features of 2,000 random catalogue pairs.
    user_features_, item_features_ : ndarray
        The standardised kernel features (``x_ui = [user_features_[u], item_features_[i]]``).
    history_ : skorch.history.History
        One row per epoch of the weight model's training, with the engine's columns
        (``epoch``, ``train_loss`` — the mean balancing objective —, ``train_loss_best``,
        ``train_batch_count``, ``dur``), as every iterative skultr estimator.
    loss_curve_ : list of float
        Deprecated alias of ``history_[:, "train_loss"]``.

        .. deprecated:: 0.1
           Use ``history_[:, "train_loss"]``; ``loss_curve_`` will be removed in 0.3.
    p_bar_ : float
        ``n_samples / (n_users_ * n_items_)``, the share of observed pairs in the catalogue
        (after :meth:`partial_fit`: of the distinct pairs of every shard so far).
    base_scale_ : float
        Mean of the base weights ``p̄ / p̂`` before their normalisation (1.0 without
        ``sample_propensity``; after :meth:`partial_fit`, over the distinct pairs of every
        shard so far); ``predict`` divides by it.
    fitted_with_base_propensity_ : bool
        Whether ``fit`` got ``sample_propensity``; ``predict`` then needs one too.
    weight_scale_ : float
        Mean of the unnormalised weights ``q exp(g)`` over the training pairs (the last
        shard's, after :meth:`partial_fit`); ``predict`` divides by it, so its weights are
        on the scale of ``weights_``.
    weight_user_table_ : ndarray of shape (n_users, n_factors + 2)
        The weight model's user side ``[P_u, b_u, 1]`` (factors, bias, a column of ones).
    weight_item_table_ : ndarray of shape (n_items, n_factors + 2)
        The weight model's item side ``[Q_i, 1, c_i]``: the dot product of a user row and an
        item row is ``g(u, i) = ⟨P_u, Q_i⟩ + b_u + c_i``.
    user_ids_ : ndarray of shape (n_users,)
        The user catalogue: ``0 .. n_users_ - 1`` when ``n_users`` or feature tables are
        given, else the sorted distinct user ids of ``X``.
    item_ids_ : ndarray of shape (n_items,)
        The item catalogue, in the same way.
    n_users_, n_items_ : int
        Catalogue sizes.
    n_features_in_ : int
        Always 2 (the user and the item column).
    n_iter_ : int
        Epochs run (``max_epochs``: the balancing has no stopping rule; one more per
        :meth:`partial_fit` call).
    device_ : str
        Device the model was trained on (``device`` resolved, for example ``"cpu"``).
    seed_ : int
        Integer seed drawn from ``random_state`` at the start of ``fit`` (or of the first
        :meth:`partial_fit`); it seeds every random step of the fit (epoch ``e`` draws from
        its own stream, so the shards continue the streams of one longer fit).

    See Also
    --------
    NaiveBayesPropensity, LogisticPropensity : base propensities.
    skultr.recommendation.DebiasedMFRecommender : KBIPS / KBDR recommenders.

    Notes
    -----
    With observed pairs ``b`` (features ``x_b = [U_u, V_i]``, base weights ``q_b = p̄ /
    p̂_b``) and the weight model ``g`` (an MF with biases; its output is used as it is,
    unbounded), the weights are ``w_b = q_b exp(g_b)``; after the fit they are rescaled to
    mean 1. On each mini-batch of ``B`` observed pairs and ``M = G·B`` pairs ``x_m``
    drawn from the catalogue, ``J`` centres ``c_j`` are picked among the ``x_m`` and ``g``
    takes an Adam step on

    .. math::

        λ \\frac{1}{B}\\sum_b \\Bigl(w_b \\log\\frac{w_b}{q_b} - w_b + q_b\\Bigr)
        + γ \\Bigl[\\sum_{j=1}^J \\max\\bigl(0, |h^{obs}_j - h^{all}_j| - τ\\bigr)
        + \\max\\bigl(0, |\\bar w - 1| - τ\\bigr)\\Bigr],

    :math:`h^{obs}_j = \\frac1B\\sum_b w_b K(x_b, c_j)`,
    :math:`h^{all}_j = \\frac1M\\sum_m K(x_m, c_j)`. Centres: random (KB); worst case
    (WKB) takes the top-``J`` ``|ε|`` of ``ε = (K_{MM} + ρI)^{-1} δ``, ``δ_m = \\frac1B
    \\sum_b w_b K(x_b, x_m) - \\frac1M \\sum_{m'} K(x_{m'}, x_m)``; adaptive (AKB) the
    top-``J`` ``|ε|`` of the ridge fit ``\\min_ε \\sum_b q_b (ℓ_b - \\sum_m ε_m K(x_b,
    x_m))^2 + ρM‖ε‖^2`` of the centred outcome ``ℓ``.

    Deliberate differences from the authors' code: the hinge applies to each constraint
    (the paper's intent; the code hinges the *sum* of signed violations, which lets
    violations of opposite sign cancel); the divergence is to the base weights (the code's
    ``mean(w log w)``, which equals it when the base propensity is uniform) and the
    normalisation ``mean(w) = 1`` is a constraint (stated in the paper, absent from the
    code); the bandwidth is the median heuristic on standardised features rather than a
    fixed 0.1 on min-max-scaled ones; the last partial batch is used; ``ε`` is solved in
    closed form on each batch instead of a few Adam steps on a parameter of hard-coded size.

    Training on shards (:meth:`partial_fit`): each call is one epoch of the objective above
    over the shard's pairs only (constant memory: the shard, the weight model, its Adam
    moments and 8 bytes per distinct observed pair for ``p_bar_``). The catalogue, the
    kernel features and the bandwidth are fixed by the first call. With given feature
    tables, passing the whole log ``k`` times gives ``fit`` with ``max_epochs=k`` exactly.
    Smaller shards balance each shard, not the log: on
    :func:`~skultr.datasets.make_mnar_ratings` (2,962 pairs, 2 random shards, 4 passes) the
    log's MMD² fell from 0.0048 (naive-Bayes weights) to 0.0032, against 0.0029 for ``fit``
    with 4 epochs. On pairs held out of training neither reduced it (fit on half the pairs:
    0.0047 on the other half, as the naive-Bayes weights): the gain of ``fit`` on its own
    pairs is balance of those pairs, which shards see only in part.

    References
    ----------
    .. [1] H. Li, Y. Xiao, C. Zheng, P. Wu, Z. Geng, X. Chen and P. Cui, "Debiased
       Collaborative Filtering with Kernel-Based Causal Balancing", ICLR 2024
       (arXiv:2404.19596).

    Examples
    --------
    >>> from skultr.datasets import make_mnar_ratings
    >>> from skultr.propensity import KernelBalancingPropensity
    >>> data = make_mnar_ratings(60, 50, density=0.1, random_state=0)
    >>> kb = KernelBalancingPropensity(max_epochs=5, device="cpu", random_state=0)
    >>> kb = kb.fit(data.X, user_features=data.user_features,
    ...             item_features=data.item_features)
    >>> kb.weights_.shape == (len(data.X),)
    True
    >>> bool(kb.mmd_se_ > 0 and kb.mmd_base_se_ > 0)  # compare mmd_ with mmd_base_ in these
    True
    """

    _PICKLE_TORCH_VERSION = True  # fitted on torch: the pickle records its release

    _parameter_constraints: dict = {
        "id_columns": [tuple, list],
        **BALANCING_CONSTRAINTS,
        "n_factors": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "n_users": [None, Interval(Integral, 1, None, closed="left")],
        "n_items": [None, Interval(Integral, 1, None, closed="left")],
        "device": "no_validation",
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [None, list, tuple],
    }

    def __init__(
        self,
        *,
        kernel="gaussian",
        bandwidth="median",
        n_centers=20,
        centers="random",
        balance_tol=0.001,
        entropy_weight=1.0,
        penalty=100.0,
        sample_ratio=5,
        n_factors=4,
        max_epochs=30,
        batch_size=256,
        lr=0.05,
        weight_decay=0.0,
        n_users=None,
        n_items=None,
        id_columns=("user", "item"),
        device="auto",
        random_state=None,
        verbose=0,
        callbacks=None,
        C=DEPRECATED,
    ):
        self.kernel = kernel
        self.bandwidth = bandwidth
        self.n_centers = n_centers
        self.centers = centers
        self.balance_tol = balance_tol
        self.entropy_weight = entropy_weight
        self.penalty = penalty
        self.sample_ratio = sample_ratio
        self.n_factors = n_factors
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.n_users = n_users
        self.n_items = n_items
        self.id_columns = id_columns
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.C = C

    # Observed pairs over which a step evaluates the balancing objective: all of them up to
    # this many, else this many drawn uniformly for the step (an unbiased estimate of every
    # mean in the objective; the hinge makes it slightly conservative).
    OBJECTIVE_PAIRS = 100_000

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.non_deterministic = str(self.device) not in ("cpu", "auto")
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic_fit
    def fit(
        self,
        X,
        y=None,
        *,
        user_features=None,
        item_features=None,
        sample_propensity=None,
        outcome=None,
        base_propensity=None,
    ):
        """Learn balancing weights for the observed pairs ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, 2)
            Observed (user id, item id) pairs.
        y : array-like of shape (n_samples,), default=None
            Labels in [0, 1] of the observed pairs (binarised ratings). Needed when no
            feature tables are given (the features are then the embeddings of a naive MF
            fitted to ``y``) and, without ``outcome``, for ``centers="adaptive"``.
        user_features : array-like of shape (n_users, d_u), default=None
        item_features : array-like of shape (n_items, d_i), default=None
            Kernel features of users and items (both or neither). ``None``: the user and
            item factors and biases of a naive MF (BCE, ``n_factors`` factors, ``max_epochs``
            epochs) fitted to ``(X, y)``.
        sample_propensity : array-like of shape (n_samples,), default=None
            Known (base) propensity ``p̂`` of each observed pair, in (0, 1] (for example
            from :class:`NaiveBayesPropensity`), as in
            :meth:`DebiasedMFRecommender.fit <skultr.recommendation.DebiasedMFRecommender.fit>`.
            ``None``: uniform, ``p̂ = p̄``.
        outcome : array-like of shape (n_samples,), default=None
            For ``centers="adaptive"``: the per-pair quantity whose kernel expansion picks
            the centres, for example the loss of a fixed prediction model. Default ``y``.
        base_propensity : array-like of shape (n_samples,), default=None
            The former name of ``sample_propensity``.

            .. deprecated:: 0.1
               ``base_propensity`` was renamed ``sample_propensity`` in 0.1 and will be
               removed in 0.3.

        Returns
        -------
        self : KernelBalancingPropensity
        """
        sample_propensity = _renamed_propensity(base_propensity, sample_propensity, "fit")
        return self._fit_log(
            X, y, user_features, item_features, sample_propensity, outcome, incremental=False
        )

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic_fit
    def partial_fit(
        self,
        X,
        y=None,
        *,
        user_features=None,
        item_features=None,
        sample_propensity=None,
        outcome=None,
    ):
        """Train one epoch on a shard of the observed pairs, continuing the weight model.

        Fits a log larger than memory shard by shard: ``for shard in shards:
        model.partial_fit(shard, ...)``. The first call (on an unfitted model) starts the
        model as :meth:`fit` does on its shard, and runs one epoch; each later call runs one
        epoch of the balancing objective over its shard's pairs, continuing the weight model
        ``g`` and its Adam moments. Each call counts in ``n_iter_`` and adds one row to
        ``history_``; ``max_epochs`` trains only the feature MF of the first call. A call
        after :meth:`fit` continues the fitted weight model with a fresh optimizer.

        What depends on the whole log is fixed by the first call or counted over the shards:

        - the catalogue must be known before the first shard: pass ``user_features`` and
          ``item_features`` (one row per id) or set ``n_users`` and ``n_items``. An id
          outside it is a ``ValueError`` naming it, before anything changes;
        - the kernel features: the given tables, or the naive MF fitted to the first
          shard's ``y`` (``max_epochs`` epochs), which later shards do not refit. Later
          calls may omit the tables; tables that differ from the first call's are an error;
        - ``bandwidth_`` (the median heuristic over catalogue pairs of the first call);
        - ``p_bar_`` is the number of distinct pairs seen so far over ``n_users_ *
          n_items_`` (a pair passed again, in a later pass over the shards, counts once;
          ``fit`` counts the rows of ``X``), and with ``sample_propensity`` (every call or
          none) ``base_scale_`` is the mean of ``p̄ / p̂`` over those pairs: :meth:`predict`
          is on the scale of the whole log.

        Each epoch balances its shard as ``fit`` balances the log (the base weights and
        the constraint ``mean(w) = 1`` are over the shard's pairs). With given feature
        tables, passing the whole log ``k`` times gives ``fit`` with ``max_epochs=k``
        exactly (the first call is ``fit`` with ``max_epochs=1``). Smaller shards balance
        the log less than ``fit`` with as many passes, since no step sees the whole log
        (see the Notes of the class for figures); more passes, or larger shards, get
        closer. ``weights_``, ``propensity_``, ``base_weights_``, the MMD attributes, the
        effective sample size and ``weight_scale_`` describe the last shard's pairs;
        :meth:`predict` gives the propensity of any pair under the continued model.
        ``n_factors``, ``n_users``, ``n_items``, ``kernel`` and ``bandwidth`` are those of
        the first call (another value is a ``ValueError`` and the model is left as it was;
        fit a new estimator to change them), and every shard must have the columns of the
        first; the other settings (``lr``, ``n_centers``, ``penalty``, ...) apply from the
        call that sets them.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, 2)
            Observed (user id, item id) pairs of the shard, read as in ``fit``.
        y : array-like of shape (n_samples,), default=None
            Labels in [0, 1] of the shard's pairs: needed by the first call when no feature
            tables are given, and (without ``outcome``) for ``centers="adaptive"``.
        user_features, item_features : array-like, default=None
            The kernel feature tables, as in ``fit``; only the first call needs them.
        sample_propensity : array-like of shape (n_samples,), default=None
            Base propensity of each pair of the shard, as in ``fit``: in every call or in
            none.
        outcome : array-like of shape (n_samples,), default=None
            For ``centers="adaptive"``, as in ``fit``.

        Returns
        -------
        self : KernelBalancingPropensity

        Examples
        --------
        >>> import numpy as np
        >>> from skultr.datasets import make_mnar_ratings
        >>> from skultr.propensity import KernelBalancingPropensity
        >>> data = make_mnar_ratings(60, 50, density=0.1, random_state=0)
        >>> kb = KernelBalancingPropensity(device="cpu", random_state=0)
        >>> # stand-in for reading shards of the log from Parquet files or a memmap
        >>> for rows in np.array_split(np.random.default_rng(0).permutation(len(data.X)), 3):
        ...     kb = kb.partial_fit(data.X[rows], user_features=data.user_features,
        ...                         item_features=data.item_features)
        >>> kb.n_iter_, len(kb.history_)
        (3, 3)
        >>> bool(kb.p_bar_ == len(data.X) / (60 * 50))    # all the pairs seen so far
        True
        >>> kb.predict(data.X).shape                         # the continued model, any pair
        (300,)
        """
        return self._fit_log(
            X, y, user_features, item_features, sample_propensity, outcome, incremental=True
        )

    # Parameters that fix the weight model's shape or the kernel: a partial_fit shard after
    # the first must have those of the first call.
    _MODEL_SETTINGS = ("n_factors", "n_users", "n_items", "kernel", "bandwidth")

    def _fit_log(
        self, X, y, user_features, item_features, sample_propensity, outcome, *, incremental
    ):
        """``fit`` (``incremental=False``) or one ``partial_fit`` epoch on a shard."""
        import torch
        from skorch.history import History

        from skultr._torch import draw_seed, make_optimizer, resolve_device, run_epochs
        from skultr._torch._balancing import (
            MatrixFactorization,
            batched_logits,
            fit_embeddings,
            make_balancer,
            prepare_balancing,
            warn_if_collapsed,
        )
        from skultr._torch._callbacks import CallbackRunner, NetView, initialised_copies
        from skultr._torch._distributed import shared_seed
        from skultr._torch._random import seeded, stream_seed
        from skultr.utils._atomic import _host_tree

        fresh = not (incremental and hasattr(self, "weight_user_table_"))
        if (user_features is None) != (item_features is None):
            raise ValueError(
                "user_features and item_features must be given together (or neither); got "
                f"user_features={'None' if user_features is None else 'an array'} and "
                f"item_features={'None' if item_features is None else 'an array'}."
            )
        user_table = _check_feature_table(user_features, None, "user_features")
        item_table = _check_feature_table(item_features, None, "item_features")
        if not fresh:
            self._check_continuable(user_table, item_table)
        check_shard_columns(self, X, fresh=fresh)
        y_given = y
        if fresh:
            # Feature tables (one row per id 0 .. n - 1) fix the catalogue.
            n_users = self.n_users or (len(user_table) if user_table is not None else None)
            n_items = self.n_items or (len(item_table) if item_table is not None else None)
            if incremental and (n_users is None or n_items is None):
                raise ValueError(
                    "KernelBalancingPropensity.partial_fit needs the whole catalogue from the "
                    "first shard on (p_bar_, the kernel features and the catalogue draws are "
                    "over it): pass user_features and item_features (one row per id), or set "
                    "n_users and n_items (integer ids 0 .. n - 1)."
                )
            users, items, y = self._fit_pairs(X, y, n_users=n_users, n_items=n_items)
            if user_table is not None and (
                len(user_table) != self.n_users_ or len(item_table) != self.n_items_
            ):
                raise ValueError(
                    f"user_features and item_features must have n_users={self.n_users_} and "
                    f"n_items={self.n_items_} rows; got {len(user_table)} and "
                    f"{len(item_table)}."
                )
        else:
            users, items, y = self._encode_pairs(X, y)
        n = users.shape[0]
        if y is not None and ((y < 0) | (y > 1)).any():
            i = int(np.flatnonzero((y < 0) | (y > 1))[0])
            raise ValueError(
                "y must hold labels in [0, 1] (binarise ratings first); "
                f"entry {i} is {y[i].item()!r}."
            )
        if fresh and user_table is None and y is None:
            raise ValueError(
                "KernelBalancingPropensity needs kernel features: pass user_features and "
                "item_features, or y (labels in [0, 1]) to learn them with a naive MF."
            )
        if self.centers == "adaptive":
            if outcome is None and y is None:
                raise ValueError(
                    "centers='adaptive' balances the kernel functions that best explain an "
                    "outcome: pass outcome= (e.g. a model's loss per pair) or y."
                )
            outcome = y if outcome is None else outcome
        if outcome is not None:
            outcome = np.asarray(outcome, dtype=np.float64).ravel()
            if outcome.shape != (n,) or not np.isfinite(outcome).all():
                raise ValueError(f"outcome must be {n} finite numbers, one per row of X.")
        if not fresh and (sample_propensity is not None) != self.fitted_with_base_propensity_:
            raise ValueError(
                "KernelBalancingPropensity.partial_fit: the first shard was fitted "
                + ("with" if self.fitted_with_base_propensity_ else "without")
                + " sample_propensity; pass it with every shard or with none."
            )
        # p̄ over the distinct pairs seen so far (the rows of X in fit): shards passed again
        # for more epochs do not count twice.
        first_seen = self._record_pairs(users, items, fresh=fresh)
        n_seen = n if not incremental else self._seen_keys.size
        p_bar = n_seen / (self.n_users_ * self.n_items_)
        inverse_sum = 0.0 if fresh else self._inverse_propensity_sum
        if sample_propensity is None:
            base = np.ones(n)
        else:
            propensity = check_propensity(sample_propensity, name="sample_propensity").ravel()
            if propensity.shape != (n,):
                raise ValueError(
                    f"sample_propensity must have one value per row of X ({n}); got "
                    f"{propensity.shape[0]}."
                )
            base = p_bar / propensity
            inverse_sum += float((1.0 / propensity[first_seen]).sum())
        if fresh or sample_propensity is None:
            self.base_scale_ = float(base.mean())
        else:  # the mean of p̄ / p̂ over the distinct pairs seen so far
            self.base_scale_ = p_bar * inverse_sum / n_seen
        self.p_bar_ = p_bar
        self.fitted_with_base_propensity_ = sample_propensity is not None
        self._inverse_propensity_sum = inverse_sum
        # The shard's base weights at mean 1 (its objective, as fit's over the log) and on
        # the scale of every pair seen so far (the weights predict gives); equal in fit.
        q_shard = base / base.mean()
        q_seen = base / self.base_scale_

        if fresh:
            device = resolve_device(self.device)
            self.device_ = str(device)
            self.seed_ = shared_seed(draw_seed(self.random_state))  # rank 0's under DDP
            self._model_settings = {name: getattr(self, name) for name in self._MODEL_SETTINGS}
            self._feature_digest = _table_digest(user_table, item_table)
        else:
            device = torch.device(self.device_)
        u_t = torch.as_tensor(users, device=device)
        i_t = torch.as_tensor(items, device=device)
        if not fresh:
            # The kernel features, bandwidth and catalogue of the first call.
            user_t = torch.as_tensor(self.user_features_, dtype=torch.float32, device=device)
            item_t = torch.as_tensor(self.item_features_, dtype=torch.float32, device=device)
            balancer = make_balancer(self, self.bandwidth_)
        else:
            if user_table is None:
                mf = fit_embeddings(
                    u_t,
                    i_t,
                    torch.as_tensor(y, dtype=torch.float32, device=device),
                    n_users=self.n_users_,
                    n_items=self.n_items_,
                    n_factors=self.n_factors,
                    biases=True,
                    n_epochs=self.max_epochs,
                    batch_size=self.batch_size,
                    lr=0.05,
                    weight_decay=1e-4,
                    seed=stream_seed(self.seed_, "features"),
                    device=device,
                )
                user_t, item_t = mf.user_table(), mf.item_table()
            else:
                user_t = torch.as_tensor(user_table, dtype=torch.float32, device=device)
                item_t = torch.as_tensor(item_table, dtype=torch.float32, device=device)
            user_t, item_t, self.bandwidth_, balancer = prepare_balancing(
                user_t, item_t, settings=self, seed=self.seed_, device=device
            )

        def features(u, i):
            return torch.cat([user_t[u], item_t[i]], dim=1)

        q_t = torch.as_tensor(q_shard, dtype=torch.float32, device=device)
        out_t = (
            torch.as_tensor(outcome, dtype=torch.float32, device=device)
            if outcome is not None
            else torch.zeros(n, device=device)
        )
        with seeded(stream_seed(self.seed_, "init"), self.device_):
            model = MatrixFactorization(
                self.n_users_, self.n_items_, self.n_factors, biases=True, init_std=0.01
            ).to(device)
        if not fresh:
            self._load_weight_model(model)
        optimizer = make_optimizer(
            "adam", model.parameters(), lr=self.lr, weight_decay=self.weight_decay
        )
        optimizer_state = None if fresh else getattr(self, "_optimizer_state", None)
        if optimizer_state is not None:
            # A copy: the optimizer updates its moments in place.
            optimizer.load_state_dict(_host_tree(optimizer_state))
            for group in optimizer.param_groups:  # the settings of this call
                group["lr"], group["weight_decay"] = self.lr, self.weight_decay
        x_obs = features(u_t, i_t)

        n_objective = min(n, self.OBJECTIVE_PAIRS)

        def balancing_loss(module, batch):
            # Centres from this batch; the balancing objective over every observed pair, or
            # over OBJECTIVE_PAIRS of them drawn for the step on larger data (so a step
            # costs the same at any size and an epoch grows linearly).
            u, i, q, out = batch
            m = self.sample_ratio * u.shape[0]
            x_all = features(
                torch.randint(self.n_users_, (m,), device=device),
                torch.randint(self.n_items_, (m,), device=device),
            )
            with torch.no_grad():
                w_batch = q * torch.exp(module(u, i))
            centers = balancer.select(x_all, features(u, i), w_batch, q, out)
            if n_objective == n:
                return balancer.loss(module(u_t, i_t), q_t, x_obs, centers, x_all)
            rows = torch.randint(n, (n_objective,), device=device)
            return balancer.loss(
                module(u_t[rows], i_t[rows]), q_t[rows], x_obs[rows], centers, x_all
            )

        if fresh:
            self.history_ = History()
        net = NetView(self, None, self.batch_size, X, y_given, module=model, optimizer=optimizer)
        run_epochs(
            module=model,
            optimizer=optimizer,
            loss_fn=balancing_loss,
            train=(u_t, i_t, q_t, out_t),
            n_epochs=1 if incremental else self.max_epochs,
            batch_size=self.batch_size,
            seed=self.seed_,
            first_epoch=0 if fresh else self.n_iter_,
            history=self.history_,
            verbose=self.verbose,
            description=type(self).__name__,
            callbacks=(
                CallbackRunner(initialised_copies(self.callbacks), net) if self.callbacks else None
            ),
        )
        self.n_iter_ = len(self.history_)
        if incremental:  # the next shard continues the moments
            self._optimizer_state = _host_tree(optimizer.state_dict())
        else:  # nothing continues a fit: the state (two copies of g) is not kept
            vars(self).pop("_optimizer_state", None)
        model.eval()
        log_ratio = batched_logits(model, u_t, i_t).cpu().numpy()
        weights = q_seen * np.exp(log_ratio.astype(np.float64))
        self.weight_scale_ = float(weights.mean())
        ones_u = np.ones((self.n_users_, 1))
        ones_i = np.ones((self.n_items_, 1))
        self.weight_user_table_ = np.hstack(
            [model.user_table().cpu().double().numpy(), ones_u]
        )  # [P_u, b_u, 1]
        item_part = model.item_table().cpu().double().numpy()  # [Q_i, c_i]
        self.weight_item_table_ = np.hstack([item_part[:, :-1], ones_i, item_part[:, -1:]])
        self.weights_ = weights / weights.mean()
        self.base_weights_ = q_shard
        self.propensity_ = np.minimum(1.0, p_bar / self.weights_)
        if fresh:
            self.user_features_ = user_t.cpu().numpy().astype(np.float64)
            self.item_features_ = item_t.cpu().numpy().astype(np.float64)
        (self.mmd_base_, self.mmd_base_se_), (self.mmd_, self.mmd_se_) = self._mmd_pair(
            users, items, q_shard, self.weights_
        )
        self.effective_sample_size_ = warn_if_collapsed(
            self.weights_,
            what="The kernel-balancing weights",
            advice=(
                "Raise entropy_weight or balance_tol (looser balancing), lower penalty or "
                "n_centers, or check sample_propensity for near-zero values."
            ),
        )
        return self

    def _check_continuable(self, user_table, item_table):
        """partial_fit: the settings and features of the model being continued."""
        if not hasattr(self, "_seen_keys"):
            raise ValueError(
                "KernelBalancingPropensity.partial_fit: this model was fitted by an earlier "
                "version of skultr, which did not keep the pairs seen for p_bar_; fit it again "
                "(or start a new model with partial_fit) to continue it on shards."
            )
        fitted = dict(getattr(self, "_model_settings", {}))
        fitted["n_factors"] = self.weight_user_table_.shape[1] - 2
        for name, value in fitted.items():
            if getattr(self, name) != value:
                raise ValueError(
                    f"KernelBalancingPropensity.partial_fit: {name}={getattr(self, name)!r} "
                    f"differs from the {name}={value!r} of the model being continued; fit a "
                    "new estimator to change it."
                )
        if user_table is None:
            return
        digest = getattr(self, "_feature_digest", None)
        if digest is None:
            raise ValueError(
                "KernelBalancingPropensity.partial_fit: the kernel features of this model "
                "were learned from y by the first call and stay fixed; later shards take no "
                "user_features or item_features."
            )
        if _table_digest(user_table, item_table) != digest:
            raise ValueError(
                "KernelBalancingPropensity.partial_fit: user_features and item_features "
                "differ from those of the first call, which fixed the kernel features; pass "
                "the same tables (or none) with every shard, or fit a new estimator."
            )

    def _record_pairs(self, users, items, *, fresh):
        """Add the pairs to the sorted keys of the pairs seen so far; rows seen first here.

        ``_seen_keys`` holds ``user * n_items_ + item`` of every distinct pair of the fit or
        of the ``partial_fit`` shards so far (8 bytes a pair); the rows returned are the
        first occurrence of each pair that no earlier call had.
        """
        keys = users.astype(np.int64) * self.n_items_ + items
        unique, first = np.unique(keys, return_index=True)
        if fresh:
            self._seen_keys = unique
            return first
        seen = self._seen_keys
        at = np.searchsorted(seen, unique)
        known = seen[np.minimum(at, seen.size - 1)] == unique
        self._seen_keys = np.insert(seen, at[~known], unique[~known])
        return first[~known]

    def _load_weight_model(self, model):
        """Set the weight model ``g`` from ``weight_user_table_`` / ``weight_item_table_``."""
        import torch

        k = self.weight_user_table_.shape[1] - 2
        user, item = self.weight_user_table_, self.weight_item_table_
        with torch.no_grad():
            for parameter, values in (
                (model.user_factors.weight, user[:, :k]),
                (model.user_bias.weight, user[:, k : k + 1]),
                (model.item_factors.weight, item[:, :k]),
                (model.item_bias.weight, item[:, k + 1 : k + 2]),
            ):
                parameter.copy_(torch.as_tensor(values, dtype=parameter.dtype))

    def _mmd_pair(self, users, items, base, weights, n_sample=2000):
        """MMD of the base and of the balancing weights on the same samples."""
        from skultr._torch._balancing import mmd_pair

        return mmd_pair(
            self.user_features_,
            self.item_features_,
            users,
            items,
            [base, weights],
            kernel=self.kernel,
            bandwidth=self.bandwidth_,
            seed=self.seed_,
            n_sample=n_sample,
        )

    @property
    def loss_curve_(self):
        if "history_" not in vars(self):
            raise AttributeError("loss_curve_")  # not fitted
        warnings.warn(
            "loss_curve_ is deprecated in 0.1 and will be removed in 0.3: use "
            "history_[:, 'train_loss'] (the same values, as in every iterative skultr "
            "estimator).",
            FutureWarning,
            stacklevel=2,
        )
        return self.history_[:, "train_loss"]

    def predict(self, X, sample_propensity=None, base_propensity=None):
        """Implied propensities ``min(1, p̄ / w)`` of the pairs ``X`` under the fitted weights.

        ``w = q exp(g(u, i))`` with the fitted weight model ``g`` and the base weight
        ``q = p̄ / p̂`` of each pair, both normalised as in ``fit``. On the training pairs it
        is ``propensity_``. This makes the estimator composable as ``propensity=`` of
        :class:`~skultr.recommendation.RelMFRecommender` and
        :class:`~skultr.recommendation.DebiasedMFRecommender` (which fit it on their
        training pairs, with their feedback as ``y``, and ask for those pairs' propensities).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_pairs, 2)
            (user id, item id) pairs of the fitted catalogue (an unknown id is an error).
        sample_propensity : array-like of shape (n_pairs,), default=None
            Base propensity ``p̂`` of each pair; required when ``fit`` was given one.
        base_propensity : array-like of shape (n_pairs,), default=None
            The former name of ``sample_propensity``.

            .. deprecated:: 0.1
               ``base_propensity`` was renamed ``sample_propensity`` in 0.1 and will be
               removed in 0.3.

        Returns
        -------
        propensity : ndarray of shape (n_pairs,)
        """
        check_is_fitted(self)
        sample_propensity = _renamed_propensity(base_propensity, sample_propensity, "predict")
        users, items, _ = self._encode_pairs(X)
        if sample_propensity is None:
            if self.fitted_with_base_propensity_:
                raise ValueError(
                    "this KernelBalancingPropensity was fitted with sample_propensity: pass "
                    "the base propensity of the pairs, predict(X, sample_propensity=...)."
                )
            base = np.ones(users.shape[0]) / self.base_scale_
        else:
            propensity = check_propensity(sample_propensity, name="sample_propensity").ravel()
            if propensity.shape != users.shape:
                raise ValueError(
                    f"sample_propensity must have one value per row of X ({users.size}); got "
                    f"{propensity.size}."
                )
            base = self.p_bar_ / propensity / self.base_scale_
        log_ratio = np.einsum(
            "ij,ij->i", self.weight_user_table_[users], self.weight_item_table_[items]
        )
        weights = base * np.exp(log_ratio) / self.weight_scale_
        return np.minimum(1.0, self.p_bar_ / weights)

    def pair_features(self, X):
        """Standardised kernel features ``[U_u, V_i]`` of the pairs ``X`` (fitted tables)."""
        check_is_fitted(self)
        users, items, _ = self._encode_pairs(X)
        return np.hstack([self.user_features_[users], self.item_features_[items]])
