"""Debiased matrix factorisation for missing-not-at-random explicit feedback.

IPS, SNIPS, DR, DR-JL and MRDR, each optionally with kernel-balancing weights (KBIPS, WKBIPS,
AKBIPS, KBDR, WKBDR, AKBDR; Li et al., ICLR 2024), on the shared torch engine.
"""

from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted
from torch import nn

from skultr._torch import BaseTorchEstimator, draw_seed, resolve_device
from skultr._torch._balancing import (
    MatrixFactorization,
    batched_logits,
    fit_embeddings,
    make_balancer,
    mmd_pair,
    prepare_balancing,
    warn_if_collapsed,
)
from skultr._torch._distributed import shared_seed
from skultr._torch._random import stream_seed
from skultr.propensity import (
    KernelBalancingPropensity,
    LogisticPropensity,
    NaiveBayesPropensity,
    PopularityPropensity,
)
from skultr.utils._atomic import atomic_fit
from skultr.utils._engine_docs import fill_engine_doc
from skultr.utils._interactions import index_ids, resolve_propensity
from skultr.utils._sklearn_compat import (
    HasMethods,
    Interval,
    StrOptions,
    _check_sample_weight,
    _fit_context,
)
from skultr.utils._validation import check_shard_columns

from ._data import COLD_START, BaseRecommender, check_propensity, interaction_matrix

METHODS = ("naive", "ips", "snips", "dr", "dr_jl", "mrdr")
PROPENSITIES = ("logistic", "naive_bayes", "popularity", "uniform")
# Observed pairs used by one step of the weight model's balancing objective (a uniform
# subsample above this size: the objective stays unbiased and the step cost bounded).
BALANCE_SAMPLE = 2048
# Candidates of a worst-case centre search (an (M x M) Cholesky on every batch; the
# standalone KernelBalancingPropensity uses 512). 256 keeps a WKBIPS/WKBDR fit on Coat in the
# paper's recipe (40 epochs) at about 16 s instead of about 25 s.
WORST_CANDIDATES = 256

# Catalogues with at least this many rows (users + items) train with sparse gradients: a
# step then costs what its batch touches; below it a dense step over the whole tables is
# cheaper (Coat, 590 rows: about 2x faster per step). The loss is the same either way.
SPARSE_MIN_ROWS = 20_000

# Settings of the balancing named by a string: the authors' Coat notebook (J = 3 centres per
# batch, γ = 1, tolerance C = 0.01, our balance_tol), gentler than KernelBalancingPropensity's
# standalone defaults. On Coat the standalone defaults (20 centres, γ = 100, balance_tol =
# 0.001) balance the embeddings fully but lowered the AUC of KBIPS from 0.70 to 0.64 in the
# paper's model class.
PAPER_BALANCING = {"n_centers": 3, "penalty": 1.0, "balance_tol": 0.01}

# Paper name -> (method, balancing)
PAPER_NAMES = {
    "MF": ("naive", None),
    "IPS": ("ips", None),
    "SNIPS": ("snips", None),
    "DR": ("dr", None),
    "DR-JL": ("dr_jl", None),
    "MRDR": ("mrdr", None),
    "KBIPS": ("ips", "random"),
    "WKBIPS": ("ips", "worst"),
    "AKBIPS": ("ips", "adaptive"),
    "KBDR": ("dr_jl", "random"),
    "WKBDR": ("dr_jl", "worst"),
    "AKBDR": ("dr_jl", "adaptive"),
}


def _setting_key(value):
    """A comparable record of a parameter (an estimator by its type and parameters)."""
    if hasattr(value, "get_params"):
        return type(value), repr(sorted(value.get_params(deep=False).items()))
    return value


class _DebiasedModule(nn.Module):
    """Container of the models of one fit: prediction, [imputation], [weight], [imputer]."""

    def __init__(self, prediction, imputation=None, weight=None, imputer=None):
        super().__init__()
        self.prediction = prediction
        self.imputation = imputation
        self.weight = weight
        self.imputer = imputer  # frozen naive MF ("dr"'s imputation model)
        if imputer is not None:
            imputer.requires_grad_(False)


@fill_engine_doc
class DebiasedMFRecommender(BaseRecommender, BaseTorchEstimator):
    """Matrix factorisation trained on self-selected ratings with IPS, DR or kernel balancing.

    Observed ratings are a biased sample of the user x item matrix: people rate what they
    chose. The prediction model ``f`` (a matrix factorisation) is trained on an estimate of
    its *ideal* loss, the mean error over every pair of the catalogue, built from the
    observed pairs with inverse propensity weights (IPS, SNIPS), with an imputation model
    (DR, DR-JL, MRDR), and optionally with weights learned by kernel balancing (``balancing``:
    KBIPS, WKBIPS, AKBIPS, KBDR, WKBDR, AKBDR in Li et al., ICLR 2024).

    ===========  =====================  =====================
    paper name   ``method``             ``balancing``
    ===========  =====================  =====================
    MF (naive)   ``"naive"``            ``None``
    IPS          ``"ips"``              ``None``
    SNIPS        ``"snips"``            ``None``
    DR           ``"dr"``               ``None``
    DR-JL        ``"dr_jl"``            ``None``
    MRDR         ``"mrdr"``             ``None``
    KBIPS        ``"ips"``              ``"random"``
    WKBIPS       ``"ips"``              ``"worst"``
    AKBIPS       ``"ips"``              ``"adaptive"``
    KBDR         ``"dr_jl"``            ``"random"``
    WKBDR        ``"dr_jl"``            ``"worst"``
    AKBDR        ``"dr_jl"``            ``"adaptive"``
    ===========  =====================  =====================

    (The authors' KBDR code trains its imputation model jointly, DR-JL style, so the KB-DR
    names map to ``method="dr_jl"``; any other method except ``"naive"`` also takes
    ``balancing``.)

    Read more in the :ref:`User Guide <kernel_balancing>`.

    Parameters
    ----------
    method : {"naive", "ips", "snips", "dr", "dr_jl", "mrdr"}, default="dr_jl"
        Estimator of the ideal loss (see Notes).
    propensity : {"logistic", "naive_bayes", "popularity", "uniform"} or estimator, \
default="logistic"
        Base propensity ``p̂`` of each observed pair: :class:`~skultr.propensity.
        LogisticPropensity` (user and item effects, no extra data);
        :class:`~skultr.propensity.NaiveBayesPropensity` (the paper's; needs ``mar_y`` in
        ``fit``); :class:`~skultr.propensity.PopularityPropensity`; ``"uniform"``
        (``p̂ = p̄``, so IPS is the naive loss); or an unfitted instance of one of these.
        ``sample_propensity`` in ``fit`` overrides it. Unused by ``method="naive"``.
    balancing : {None, "random", "worst", "adaptive"} or KernelBalancingPropensity, \
default="adaptive"
        Kernel balancing of the inverse propensity weights, learned jointly with ``f``:
        random (KB), worst-case (WKB) or adaptive (AKB) centres with the authors' Coat
        settings (``n_centers=3, penalty=1, balance_tol=0.01``; gentler than the standalone
        defaults of :class:`~skultr.propensity.KernelBalancingPropensity`, see the User
        Guide), or an instance whose
        settings (kernel, bandwidth, n_centers, centers, balance_tol, entropy_weight, penalty,
        sample_ratio, n_factors, lr, weight_decay) are used. Unused by ``method="naive"``
        (so ``DebiasedMFRecommender(method="naive")`` is the plain MF baseline).
        ``None``: fixed weights
        ``p̄ / p̂``.
    n_factors : int, default=4
        Factors of the prediction model (the paper's 4).
    biases : bool, default=True
        Add user and item bias terms to the prediction model. ``False`` is the paper's
        setting; with biases the naive model is much stronger on Coat (see the User Guide).
    init_std : float, "uniform" or None, default=None
        Standard deviation of the normal initial factors, or ``"uniform"`` for factors drawn
        from U(0, 1) as in the authors' code (all initial scores positive; on Coat in the
        paper's setting it trains a better bias-free MF, see the User Guide). ``None``: 1.0
        without biases (a bias-free MF started near 0 barely moves) and 0.1 with biases.
    imputation_lr, imputation_weight_decay : float or None, default=None
        Adam settings of the imputation model (DR-JL, MRDR); ``None``: ``lr`` /
        ``weight_decay``.
    n_users, n_items : int, default=None
        Fixed catalogue sizes: ids are then the integers ``0 .. n - 1``. ``None``: the
        catalogue is the distinct ids of the training pairs (integers of any size, strings
        or other hashable ids; see :class:`~skultr.recommendation.RelMFRecommender`).
    id_columns : pair of str, default=("user", "item")
        Names of the user and the item column of a DataFrame ``X``, read by name in any
        column order. A DataFrame without these names is read by position (user first) in
        ``fit``, and by the names it had in ``fit`` afterwards.
    cold_start : {"popularity", "error"}, default="popularity"
        Policy for a cold user (an id without any training rating) in
        ``predict`` and ``recommend``: ``"popularity"`` gives each item the share of warm
        training users who rated it positively, with a warning counting the cold users;
        ``"error"`` raises. An unknown item is always an error.
    max_epochs : int, default=30
        Passes over the observed pairs. The first, naive MF fit (kernel features with
        ``balancing``, the frozen imputer of ``method="dr"``) runs as many epochs.
    batch_size : int, default=128
        Observed pairs per step (the reference code's 128 on Coat).
    lr : float, default=0.01
        Learning rate of the prediction model, of the imputation model unless
        ``imputation_lr`` is set, and of the first, naive MF fit; the weight model uses the
        balancing settings' ``lr``.
    optimizer : {"adam", "adagrad", "sgd"}, default="adam"
        Created once per fit, with one parameter group per model (see Notes). On a
        catalogue of 20,000 rows (users + items) or more a step updates only the rows of
        its batch: ``"adam"`` is then lazy Adam (:class:`torch.optim.SparseAdam`, the
        moments of a row advance when the row is in a batch), ``"adagrad"`` and ``"sgd"``
        take sparse gradients; on smaller catalogues the steps are dense (cheaper there).
    weight_decay : float, default=1e-3
        L2 penalty ``λ`` of the prediction model: the loss gets ``(λ/2)(‖P‖² + ‖Q‖²
        [+ ‖b‖² + ‖c‖²])``, estimated on each step from the rows of its batch (see Notes).
    clip_grad_norm : float or None, default=None
        Maximum gradient norm, applied to each model (parameter group) separately; ``None``
        does not clip (sparse embedding gradients are clipped too, by the norm of the rows
        they touch, which is the whole gradient's norm).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the observed pairs and stop when their
        (debiased) loss stops improving; the best epoch's weights are kept.
    validation_fraction : float, default=0.1
        Fraction of the observed pairs held out as the validation set when
        ``early_stopping=True``.
    n_iter_no_change : int, default=5
        With early stopping: epochs without an improvement of the validation loss by more
        than ``tol`` before training stops.
    tol : float, default=1e-4
        With early stopping: the least decrease of the validation loss that counts as an
        improvement.
    device : {"auto", "cpu", "cuda", "cuda:N"}, default="auto"
        Device to train on: ``"auto"`` uses CUDA when available, else the CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the batches, the catalogue draws and the centres.
    {verbose}
    {callbacks}

    Attributes
    ----------
    propensity_ : ndarray of shape (n_samples,)
        Base propensity ``p̂`` of each training pair (of the last shard, after
        :meth:`partial_fit`; ``None`` for ``method="naive"``).
    weights_ : ndarray of shape (n_samples,)
        Final weight of each training pair (of the last shard, after :meth:`partial_fit`),
        normalised to mean 1: ``p̄ / p̂`` rescaled, or the learned balancing weights
        (``None`` for ``method="naive"``).
    effective_sample_size_ : float or None
        Kish's effective sample size of ``weights_``.
    mmd_base_, mmd_ : float or None
        With ``balancing``: squared MMD between the observed and all pairs in the kernel
        features, with the base weights and with the learned weights (unbiased estimates
        on the same samples, not clamped at zero; see
        :attr:`KernelBalancingPropensity.mmd_ <skultr.propensity.KernelBalancingPropensity>`).
    mmd_base_se_, mmd_se_ : float or None
        Their standard errors: a difference of a few standard errors is noise.
    user_features_, item_features_ : ndarray or None
        Kernel features (standardised embeddings of the first, naive MF fit).
    bandwidth_ : float or None
        With ``balancing``: the kernel bandwidth used, the balancing settings'
        ``bandwidth``, or for ``bandwidth="median"`` half the median distance between the
        kernel features of random catalogue pairs; ``None`` without balancing.
    balancing_ : KernelBalancingPropensity or None
        The (unfitted) balancing settings used.
    p_bar_ : float
        ``|O| / |D|``, the share of observed pairs (after :meth:`partial_fit`: of the
        distinct pairs of every shard so far).
    user_factors_ : ndarray of shape (n_users, n_factors)
        User factors of the prediction model (float64), row ``k`` for ``user_ids_[k]``.
    item_factors_ : ndarray of shape (n_items, n_factors)
        Item factors of the prediction model (float64), row ``k`` for ``item_ids_[k]``.
    user_bias_ : ndarray of shape (n_users,)
        User bias terms of the prediction model; only with ``biases=True``.
    item_bias_ : ndarray of shape (n_items,)
        Item bias terms of the prediction model; only with ``biases=True``.
    {catalogue_attributes}
    seen_ : scipy.sparse.csr_matrix of bool, shape (n_users, n_items)
        Training pairs, excluded by ``recommend(exclude_seen=True)``.
    item_popularity_ : ndarray of shape (n_items,)
        Number of training users who rated each item positively (``y > 0``, as floats):
        the scores of the popularity fallback for cold users.
    warm_users_ : ndarray of bool, shape (n_users,)
        Users with at least one training rating (positive or not); the others are cold
        users (see ``cold_start``).
    n_features_in_ : int
        Always 2 (the user and the item column).
    feature_names_in_ : ndarray of str
        Column names of ``X`` in ``fit``; defined only when ``X`` was a DataFrame with
        string column names.
    n_iter_ : int
        Epochs run (fewer than ``max_epochs`` when early stopping stopped the fit; one more
        per :meth:`partial_fit` call).
    best_epoch_ : int
        With early stopping: the epoch whose weights were kept.
    history_ : skorch.history.History
        One row per epoch: ``epoch``, ``train_loss`` (the full loss of a step: the debiased
        prediction loss plus the imputation and balancing losses and the L2 terms; the
        ``valid_loss`` has no L2 term), with early stopping
        ``valid_loss`` and ``best``, and ``dur``.
    module_ : torch.nn.Module
        The models on ``device_``: ``module_.prediction`` (the prediction MF),
        ``module_.imputation`` (DR-JL, MRDR), ``module_.weight`` (the weight MF ``g`` with
        ``balancing``) and ``module_.imputer`` (the frozen naive MF of ``method="dr"``);
        the ones a method does not use are ``None``.
    optimizer_ : torch.optim.Optimizer
        The optimizer of the fit, one parameter group per trained model.
    device_ : str
        Device the model was trained on (``device`` resolved, for example ``"cpu"``).
    seed_ : int
        Integer seed drawn from ``random_state`` at the start of ``fit`` (or of the first
        :meth:`partial_fit`); it seeds the propensity model, the first naive fit, the initial
        weights and the batches (epoch ``e`` draws from its own stream, so the shards
        continue the streams of one longer fit).

    See Also
    --------
    skultr.propensity.KernelBalancingPropensity : the balancing weights on their own.
    skultr.propensity.NaiveBayesPropensity, skultr.propensity.LogisticPropensity

    Notes
    -----
    ``f(u, i) = σ(⟨P_u, Q_i⟩ [+ b_u + c_i])``, error ``e_ui = BCE(f(u, i), r_ui)`` with
    ``r`` the binarised rating. With ``O`` the observed pairs, ``D`` the catalogue,
    ``p̄ = |O| / |D|`` and weights ``w_ui = p̄ / p̂_ui`` rescaled to mean 1 over ``O``
    (so ``(1/|O|) Σ_O w e`` is ``(1/|D|) Σ_D o e / p̂`` with the propensities' scale fixed
    by ``Σ_O 1/p̂ = |D|``), each step on a batch ``B ⊂ O`` minimises

    - naive: ``mean_B e``;
    - IPS: ``mean_B w e``; SNIPS: ``Σ_B w e / Σ_B w``;
    - DR, DR-JL, MRDR: ``mean_M ê + mean_B w (e − ê)`` with ``ê_ui = BCE(f(u, i), r̃_ui)``
      for an imputed label ``r̃``, over ``M`` pairs drawn uniformly from ``D``
      (``sample_ratio`` per observed pair). DR: ``r̃`` from a naive MF fitted first and
      frozen. DR-JL: ``r̃ = σ(m(u, i))`` learned jointly on ``mean_B w (e − ê)²``; MRDR:
      on ``mean_B w (w − p̄) (e − ê)² / (1 − p̄)`` (the ``(1 − p̂)/p̂²`` weighting).

    With ``balancing``, ``w = q exp(g(u, i))`` with ``q`` the normalised base weights and
    ``g`` a weight MF, updated on the same step by the objective of
    :class:`~skultr.propensity.KernelBalancingPropensity` over (up to 2,048) observed pairs;
    adaptive centres use the batch's current ``e`` (IPS) or ``e − ê`` (DR) as the outcome.
    The prediction loss uses ``w`` without gradient. All models share one optimizer with
    one parameter group each (lr per group); their losses do not share gradients, so this
    equals one optimizer per model stepping on the same batch.

    L2 terms, on the rows a step touches: each trained model's loss gets ``(λ/2)
    mean_B [(|O| / n_u)(‖P_u‖² + b_u²) + (|O| / n_i)(‖Q_i‖² + c_i²)]`` over the pairs of
    its rows in the step (the batch for the prediction and imputation models, the
    observed pairs of the balancing objective for the weight model), with ``n_u``, ``n_i``
    the training pairs of the user and the item. The pairs are drawn uniformly from ``O``,
    so this is an unbiased estimate of ``(λ/2)`` times the squared norm of the tables' rows
    that have training pairs, the term ``weight_decay`` adds to the loss, while a step
    touches only its rows: with sparse gradients (catalogues of 20,000 rows or more) its
    cost does not grow with the catalogue. ``λ``: ``weight_decay``,
    ``imputation_weight_decay`` and the balancing settings' ``weight_decay``. Unlike an
    optimizer's weight decay, which would shrink every row on every step, the rows of users
    and items without training pairs keep their initial values, and with Adam a row's
    decay follows its own steps.

    ``sample_weight`` ``s`` (rescaled to mean 1 over ``O``) multiplies each observed pair's
    terms: ``mean_B s e``, ``mean_B s w e``, ``Σ_B s w e / Σ_B s w``, ``mean_B s w (e − ê)``
    and the imputation losses likewise. The catalogue term ``mean_M ê``, the balancing
    objective and the first, naive fit of the kernel features and of DR's imputer are not
    weighted.

    Kernel features: the user and item factors (and biases) of a naive MF with the same
    ``n_factors``/``biases``, fitted first for ``max_epochs`` epochs, standardised
    column-wise (the authors used frozen pretrained 4-d embeddings of unstated origin).

    The weight model ``g`` is trained by the balancing objective. Whether that lowers the
    imbalance is measured, not assumed: compare ``mmd_`` with ``mmd_base_`` in units of
    their standard errors (on simulated data with a strong selection it falls by many
    standard errors; on Coat, with the paper recipes, the change is within noise). The
    authors' code trains its weight model too: in their ``matrix_factorization_coat.py``
    every KB, WKB and AKB class
    (IPS and DR, Gaussian and exponential kernels) computes the balancing loss from
    ``weight_model.forward`` and steps the weight optimizer, with weights ``σ(g) / p̂``; in
    their Yahoo! R3 file (``matrix_factorization_music.py``) ``MF_AKBDR_Gau`` and
    ``MF_AKBDR_Exp`` read the weights through the detached ``weight_model.predict``, so
    those two keep ``g`` at its initialisation. (One stored revision of the Coat file,
    2b67229, read ``predict`` in all twelve classes; revision fabfb43 reads ``forward``.)

    Training on shards (:meth:`partial_fit`): each call is one epoch of the loss above over
    the shard's pairs, with ``O`` the shard for the base weights' normalisation and the
    balancing objective, and every shard so far for ``p̄`` (distinct pairs) and the L2
    terms' shares ``|O| / n_u``, ``|O| / n_i`` (rows). Memory: the shard, the models and
    their optimizer state, one count per user and per item, and ``seen_``. The propensity
    model, kernel features, bandwidth and DR imputer come from the first call. On a strongly
    self-selected :func:`~skultr.datasets.make_mnar_ratings` log (200 x 150,
    ``rating_selection=1``), DR-JL with the true propensities reached a log-loss against
    every pair's true label of 0.646 with 10 passes over 4 random shards, 0.648 with ``fit``
    (10 epochs), 0.919 for the naive MF.

    References
    ----------
    .. [1] H. Li, Y. Xiao, C. Zheng, P. Wu, Z. Geng, X. Chen and P. Cui, "Debiased
       Collaborative Filtering with Kernel-Based Causal Balancing", ICLR 2024.
    .. [2] X. Wang, R. Zhang, Y. Sun and J. Qi, "Doubly Robust Joint Learning for
       Recommendation on Data Missing Not at Random", ICML 2019.
    .. [3] S. Guo, L. Zou, Y. Liu, W. Ye, S. Cheng, S. Wang, H. Chen, D. Yin and Y. Chang,
       "Enhanced Doubly Robust Learning for Debiasing Post-Click Conversion Rate
       Estimation", SIGIR 2021 (MRDR).

    Examples
    --------
    >>> from skultr.datasets import make_mnar_ratings
    >>> from skultr.recommendation import DebiasedMFRecommender
    >>> data = make_mnar_ratings(60, 50, density=0.1, random_state=0)
    >>> model = DebiasedMFRecommender(method="ips", balancing="random", max_epochs=3,
    ...                               device="cpu", random_state=0)
    >>> model = model.fit(data.X, data.y >= 4)
    >>> model.predict(data.X[:3]).shape, model.weights_.shape == (len(data.X),)
    ((3,), True)
    >>> items, scores = model.recommend([0, 1], n=5)
    >>> items.shape
    (2, 5)
    """

    _parameter_constraints: dict = {
        "id_columns": [tuple, list],
        **BaseTorchEstimator._parameter_constraints,
        "method": [StrOptions(set(METHODS))],
        "propensity": [StrOptions(set(PROPENSITIES)), HasMethods(["fit", "predict"])],
        "balancing": [
            None,
            StrOptions({"random", "worst", "adaptive"}),
            HasMethods(["fit", "get_params"]),
        ],
        "n_factors": [Interval(Integral, 1, None, closed="left")],
        "biases": ["boolean"],
        "init_std": [None, StrOptions({"uniform"}), Interval(Real, 0, None, closed="neither")],
        "imputation_lr": [None, Interval(Real, 0, None, closed="neither")],
        "imputation_weight_decay": [None, Interval(Real, 0, None, closed="left")],
        "n_users": [None, Interval(Integral, 1, None, closed="left")],
        "n_items": [None, Interval(Integral, 1, None, closed="left")],
        "cold_start": [StrOptions(set(COLD_START))],
    }
    warm_start = False  # not supported: every fit starts afresh
    _factor_scores = True  # recommend() scores on device_ (BaseRecommender)

    def __init__(
        self,
        *,
        method="dr_jl",
        propensity="logistic",
        balancing="adaptive",
        n_factors=4,
        biases=True,
        init_std=None,
        imputation_lr=None,
        imputation_weight_decay=None,
        n_users=None,
        n_items=None,
        id_columns=("user", "item"),
        cold_start="popularity",
        max_epochs=30,
        batch_size=128,
        lr=0.01,
        optimizer="adam",
        weight_decay=1e-3,
        clip_grad_norm=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        tol=1e-4,
        device="auto",
        random_state=None,
        verbose=0,
        callbacks=None,
    ):
        self.method = method
        self.propensity = propensity
        self.balancing = balancing
        self.n_factors = n_factors
        self.biases = biases
        self.init_std = init_std
        self.imputation_lr = imputation_lr
        self.imputation_weight_decay = imputation_weight_decay
        self.n_users = n_users
        self.n_items = n_items
        self.id_columns = id_columns
        self.cold_start = cold_start
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.clip_grad_norm = clip_grad_norm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    # -- configuration -------------------------------------------------------------------
    def _balancing_settings(self):
        if self.balancing is None:
            return None
        if isinstance(self.balancing, str):
            return KernelBalancingPropensity(centers=self.balancing, **PAPER_BALANCING)
        return clone(self.balancing)

    def _check_sample_propensity(self, sample_propensity, n):
        propensity = check_propensity(sample_propensity, name="sample_propensity").ravel()
        if propensity.shape != (n,):
            raise ValueError(
                f"sample_propensity must have one value per row of X ({n}); got "
                f"{propensity.shape[0]}."
            )
        return propensity

    def _base_propensity(self, X, y, users, items, mar_y):
        """The propensity model of the fit (kept in ``_propensity_model``) and its ``p̂``."""
        n = users.shape[0]
        spec = self.propensity
        if isinstance(spec, str):
            if spec == "uniform":
                return np.full(n, self.p_bar_)
            spec = {
                "logistic": LogisticPropensity(random_state=self.seed_),
                "naive_bayes": NaiveBayesPropensity(),
                "popularity": PopularityPropensity(),
            }[spec]
        if isinstance(spec, NaiveBayesPropensity) and mar_y is None:
            raise ValueError(
                "propensity='naive_bayes' needs mar_y in fit: the binarised ratings of a "
                "small missing-at-random sample, kept apart from any evaluation data."
            )
        # Observation propensities: popularity counts every observed pair (no y); naive
        # Bayes needs the ratings, kernel balancing learns its features from them.
        theta, self._propensity_model, _ = resolve_propensity(
            spec,
            self.user_ids_[users],
            self.item_ids_[items],
            fit_y=None if isinstance(spec, (PopularityPropensity, LogisticPropensity)) else y,
            predict_y=y,
            fit_params={"mar_y": mar_y},
            n_users=self.n_users,
            n_items=self.n_items,
        )
        return theta

    def _shard_propensity(self, y, users, items):
        """partial_fit: ``p̂`` of a later shard's pairs from the first call's model."""
        if self._propensity_model is None:  # "uniform"
            return np.full(users.shape[0], self.p_bar_)
        theta, _, _ = resolve_propensity(
            self._propensity_model,
            self.user_ids_[users],
            self.item_ids_[items],
            fit=False,
            predict_y=y,
        )
        return theta

    def _optimizer_parameters(self, module):
        # One group per trained model, with its own lr; the L2 strengths go in the loss
        # (``_penalties``), on the rows a step touches.
        groups = [{"params": list(module.prediction.parameters())}]
        if module.imputation is not None:
            group = {"params": list(module.imputation.parameters())}
            if self.imputation_lr is not None:
                group["lr"] = self.imputation_lr
            groups.append(group)
        if module.weight is not None:
            groups.append({"params": list(module.weight.parameters()), "lr": self.balancing_.lr})
        return groups

    def _optimizer_weight_decay(self):
        return 0.0  # the L2 penalty is a term of the loss (``_touched_penalty``)

    def _sparse_gradients(self):
        # A step updates only the rows of its batch (lazy Adam with optimizer="adam") once
        # the tables are large; on small catalogues dense steps are cheaper. Both paths
        # minimise the same loss (and clip to the same norm: untouched rows have no
        # gradient either way).
        return self.n_users_ + self.n_items_ >= SPARSE_MIN_ROWS

    def _penalties(self):
        """λ of the L2 term of each trained model: ``(prediction, imputation, weight)``."""
        imputation = self.weight_decay
        if self.imputation_weight_decay is not None:
            imputation = self.imputation_weight_decay
        weight = self.balancing_.weight_decay if self.balancing_ is not None else 0.0
        return self.weight_decay, imputation, weight

    def _touched_penalty(self, model, u, i, strength):
        """``(λ/2)(‖P‖² + ‖Q‖² [+ ‖b‖² + ‖c‖²])`` estimated on the rows of the pairs ``(u, i)``.

        The pairs are a uniform draw from the training pairs, so weighting each user row
        by ``|O| / n_u`` (``n_u``: the user's training pairs) and each item row by
        ``|O| / n_i`` makes the batch mean an unbiased estimate of the whole tables' term
        over the rows with training pairs, while the step touches only the batch's rows.
        """
        if strength == 0:
            return 0.0
        user_share, item_share = self._state["row_share"]
        user = model.user_factors(u).square().sum(-1)
        item = model.item_factors(i).square().sum(-1)
        if model.biases:
            user = user + model.user_bias(u)[:, 0].square()
            item = item + model.item_bias(i)[:, 0].square()
        return 0.5 * strength * (user_share[u] * user + item_share[i] * item).mean()

    def _init_std(self):
        if self.init_std is not None:
            return self.init_std
        return 0.1 if self.biases else 1.0

    def _matrix_factorization(self, n_factors, *, biases, init_std):
        """A matrix factorisation of the catalogue, with sparse gradients when they are used."""
        return MatrixFactorization(
            self.n_users_,
            self.n_items_,
            n_factors,
            biases=biases,
            init_std=init_std,
            sparse=self._sparse_gradients(),
        )

    def _build_module(self):
        state = self._state
        prediction = self._matrix_factorization(
            self.n_factors, biases=self.biases, init_std=self._init_std()
        )
        imputation = weight = None
        if self.method in ("dr_jl", "mrdr"):
            imputation = self._matrix_factorization(
                self.n_factors, biases=self.biases, init_std=self._init_std()
            )
        if self.balancing_ is not None:
            weight = self._matrix_factorization(
                self.balancing_.n_factors, biases=True, init_std=0.01
            )
        return _DebiasedModule(prediction, imputation, weight, state.get("imputer"))

    def _start_model(self, device, **kwargs):
        # The engine's, with the seed drawn at the start of fit (the propensity and feature
        # models use it too).
        super()._start_model(device, seed=self.seed_, **kwargs)

    # -- fitting -------------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=False)
    @atomic_fit
    def fit(self, X, y, *, sample_weight=None, sample_propensity=None, mar_y=None):
        """Fit the prediction model on observed binarised ratings.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, 2)
            Observed (user id, item id) pairs.
        y : array-like of shape (n_samples,)
            Their ratings binarised by you, in [0, 1] (Coat: ``rating >= 3`` in the
            kernel-balancing papers).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each observed pair in the prediction loss (see Notes);
            rescaled to mean 1, so a constant weight changes nothing. Routed by
            ``set_fit_request(sample_weight=True)`` in a ``Pipeline`` or ``GridSearchCV``.
        sample_propensity : array-like of shape (n_samples,), default=None
            Known propensities of the observed pairs, in (0, 1]; overrides ``propensity``.
        mar_y : array-like, default=None
            For ``propensity="naive_bayes"``: binarised ratings of a small
            missing-at-random sample (never the evaluation data). Its length differs from
            ``X``'s, so cross-validation passes it whole to every fold.

        Returns
        -------
        self
        """
        return self._fit_log(X, y, sample_weight, sample_propensity, mar_y, incremental=False)

    @_fit_context(prefer_skip_nested_validation=False)
    @atomic_fit
    def partial_fit(self, X, y, *, sample_weight=None, sample_propensity=None, mar_y=None):
        """Train one epoch on a shard of the observed ratings, continuing the models.

        Fits a log larger than memory shard by shard: ``for shard in shards:
        model.partial_fit(shard, ...)``. The first call (on an unfitted model) starts the
        models as :meth:`fit` does on its shard, and runs one epoch; each later call runs one
        epoch of the debiased loss over its shard's pairs, continuing the prediction,
        imputation and weight models and their optimizer state. Each call counts in
        ``n_iter_`` and adds one row to ``history_``; ``max_epochs`` trains only the first,
        naive MF of the first call, and ``early_stopping`` is not used. A call after
        :meth:`fit` continues the fitted models.

        What depends on the whole log is fixed by the first call or counted over the shards:

        - the catalogue must be declared before the first shard: set ``n_users`` and
          ``n_items`` (integer ids ``0 .. n - 1``). An id outside it is a ``ValueError``
          naming it, before anything changes;
        - the base propensity model (``propensity``) is fitted on the first shard (with
          ``mar_y`` for ``"naive_bayes"``) and predicts the pairs of the later shards, which
          do not refit it; ``sample_propensity`` is given with every call or with none;
        - the first, naive MF (the kernel features and ``bandwidth_`` with ``balancing``,
          the frozen imputer of ``method="dr"``) is fitted on the first shard only;
        - ``p_bar_`` is the number of distinct pairs seen so far over ``n_users_ *
          n_items_`` (a pair passed again, in a later pass over the shards, counts once;
          ``fit`` counts the rows of ``X``); the shares ``|O| / n_u`` and ``|O| / n_i`` of
          the L2 terms (see Notes of the class) count the rows of every shard so far (one
          count per user and per item: memory of the catalogue's size, not the log's);
        - ``seen_``, ``item_popularity_`` and ``warm_users_`` describe the union of the
          shards so far.

        Each epoch weights its shard as ``fit`` weights the log: the base weights are
        normalised to mean 1 over the shard's pairs, and the balancing objective is over
        them. Passing the whole log ``k`` times to a model with ``max_epochs=k`` (the first
        MF's epochs) gives ``fit`` with ``max_epochs=k`` exactly; the first call is ``fit``
        with one epoch of the debiased training. Smaller shards see the log only in part
        (see the Notes of the class for figures). ``propensity_``, ``weights_``,
        ``effective_sample_size_`` and the MMD attributes describe the last shard's pairs.
        ``method``, ``propensity``, ``balancing``, ``n_factors``, ``biases``, ``n_users``,
        ``n_items``, ``optimizer`` and ``clip_grad_norm`` are those of the first call
        (another value is a ``ValueError`` and the model is left as it was; fit a new
        estimator to change them), and every shard must have the columns of the first; the
        learning rates and L2 strengths apply from the call that sets them.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, 2)
            Observed (user id, item id) pairs of the shard, read as in ``fit``.
        y : array-like of shape (n_samples,)
            Their binarised ratings, in [0, 1]. The first shard needs both classes.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each pair of the shard, as in ``fit`` (rescaled to mean 1
            over the shard).
        sample_propensity : array-like of shape (n_samples,), default=None
            Known propensities of the shard's pairs, as in ``fit``: in every call or in none.
        mar_y : array-like, default=None
            For ``propensity="naive_bayes"``, as in ``fit``; only the first call uses it.

        Returns
        -------
        self

        Examples
        --------
        >>> import numpy as np
        >>> from skultr.datasets import make_mnar_ratings
        >>> from skultr.recommendation import DebiasedMFRecommender
        >>> data = make_mnar_ratings(60, 50, density=0.1, random_state=0)
        >>> model = DebiasedMFRecommender(method="ips", balancing="random", n_users=60,
        ...                               n_items=50, max_epochs=3, device="cpu",
        ...                               random_state=0)
        >>> # stand-in for reading shards of the log from Parquet files or a memmap
        >>> for rows in np.array_split(np.random.default_rng(0).permutation(len(data.X)), 3):
        ...     model = model.partial_fit(data.X[rows], data.y[rows] >= 4)
        >>> model.n_iter_, len(model.history_)
        (3, 3)
        >>> bool(model.p_bar_ == len(data.X) / (60 * 50))    # all the pairs seen so far
        True
        >>> model.predict(data.X_mar[:3]).shape
        (3,)
        """
        return self._fit_log(X, y, sample_weight, sample_propensity, mar_y, incremental=True)

    # Parameters that fix the models' shapes, the base propensities or the optimizer: a
    # partial_fit shard after the first must have those of the first call.
    _MODEL_SETTINGS = (
        "method",
        "propensity",
        "balancing",
        "n_factors",
        "biases",
        "n_users",
        "n_items",
        "optimizer",
        "clip_grad_norm",
    )

    def _fit_log(self, X, y, sample_weight, sample_propensity, mar_y, *, incremental):
        """``fit`` (``incremental=False``) or one ``partial_fit`` epoch on a shard."""
        name = type(self).__name__
        if y is None:
            raise ValueError(
                f"{name} requires y to be passed, but the target y is None: "
                "pass the binarised ratings of the pairs in X."
            )
        fresh = not (incremental and hasattr(self, "module_"))
        if not fresh:
            self._check_continuable()
        check_shard_columns(self, X, fresh=fresh)
        y_given = y
        if fresh:
            if incremental and (self.n_users is None or self.n_items is None):
                raise ValueError(
                    f"{name}.partial_fit needs the whole catalogue from the first shard on "
                    "(p_bar_, the factor tables and the catalogue pairs of the DR and "
                    "balancing terms are over it): set n_users and n_items (integer ids "
                    "0 .. n - 1)."
                )
            users, items, y = self._fit_pairs(X, y, n_users=self.n_users, n_items=self.n_items)
        else:
            users, items, y = self._encode_pairs(X, y)
        if ((y < 0) | (y > 1)).any():
            i = int(np.flatnonzero((y < 0) | (y > 1))[0])
            raise ValueError(
                f"y must hold binarised ratings in [0, 1] (e.g. y = rating >= 3); entry {i} "
                f"is {y[i].item()!r}."
            )
        if fresh and np.all(y == y[0]):
            raise ValueError(
                f"y must hold both positive and negative ratings; got one class: every entry "
                f"is {y[0]:g}, "
                "so there is nothing to learn (the model would predict about 0.5 for every "
                "pair). Binarise with a threshold inside the range of the ratings."
            )
        s = np.ones(users.shape[0])
        if sample_weight is not None:
            s = _check_sample_weight(sample_weight, users, ensure_non_negative=True)
            if not s.any():
                raise ValueError(
                    "sample_weight is zero for every pair: at least one needs a positive weight."
                )
            s = s / s.mean()
        n = users.shape[0]
        if self.method != "naive":
            if sample_propensity is not None:
                sample_propensity = self._check_sample_propensity(sample_propensity, n)
            if not fresh and (sample_propensity is not None) != self._with_sample_propensity:
                raise ValueError(
                    f"{name}.partial_fit: the first shard was fitted "
                    + ("with" if self._with_sample_propensity else "without")
                    + " sample_propensity; pass it with every shard or with none."
                )
        if fresh:
            # The naive loss has no weights to balance: balancing (like propensity) is unused.
            kb = None if self.method == "naive" else self._balancing_settings()
            device = resolve_device(self.device)
            self.seed_ = shared_seed(draw_seed(self.random_state))  # rank 0's under DDP
            self._model_settings = {
                setting: (_setting_key(getattr(self, setting)), repr(getattr(self, setting)))
                for setting in self._MODEL_SETTINGS
            }
            self._with_sample_propensity = sample_propensity is not None
            self._propensity_model = None
            self.bandwidth_ = self.user_features_ = self.item_features_ = None
        else:
            kb = self.balancing_
            device = torch.device(self.device_)
        self._update_catalogue(users, items, y > 0, merge=not fresh)
        # p̄ over the distinct pairs seen so far (the rows of X in fit): shards passed again
        # for more epochs do not count twice.
        n_seen = n if not incremental else int(self.seen_.nnz)
        self.p_bar_ = n_seen / (self.n_users_ * self.n_items_)
        self.propensity_ = self.weights_ = self.effective_sample_size_ = None
        self.mmd_base_ = self.mmd_ = self.mmd_base_se_ = self.mmd_se_ = None
        base = np.ones(n)
        if self.method != "naive":
            if sample_propensity is not None:
                self.propensity_ = sample_propensity
            elif fresh:
                self.propensity_ = self._base_propensity(X, y, users, items, mar_y)
            else:
                self.propensity_ = self._shard_propensity(y, users, items)
            base = self.p_bar_ / self.propensity_
            base = base / base.mean()
        u_t = torch.as_tensor(users, device=device)
        i_t = torch.as_tensor(items, device=device)
        y_t = torch.as_tensor(y, dtype=torch.float32, device=device)
        q_t = torch.as_tensor(base, dtype=torch.float32, device=device)
        s_t = torch.as_tensor(s, dtype=torch.float32, device=device)
        self.balancing_ = kb
        row_share = self._row_share(users, items, device, merge=not fresh)
        self._state = {"kb": kb, "q_all": q_t, "row_share": row_share}
        if not fresh and kb is not None:
            # The kernel features and bandwidth of the first call.
            self._state["features"] = tuple(
                torch.as_tensor(table, dtype=torch.float32, device=device)
                for table in (self.user_features_, self.item_features_)
            )
            self._state["balancer"] = make_balancer(
                kb, self.bandwidth_, max_worst_candidates=WORST_CANDIDATES
            )
            self._state["observed"] = (u_t, i_t)
        try:
            if fresh and (kb is not None or self.method == "dr"):
                self._prepare_features(u_t, i_t, y_t, kb, device)
            if not fresh:
                self._set_learning_rates()
            self._train(
                (u_t, i_t, y_t, q_t, s_t), fresh=fresh, incremental=incremental, X=X, y=y_given
            )
            self._finish(users, items, u_t, i_t, base)
        finally:
            del self._state
        return self

    def _check_continuable(self):
        """partial_fit: the settings of the model being continued, and its records."""
        name = type(self).__name__
        if not hasattr(self, "_row_counts"):
            raise ValueError(
                f"{name}.partial_fit: this model was fitted by an earlier version of skultr, "
                "which did not keep the counts of the pairs seen; fit it again (or start a "
                "new model with partial_fit) to continue it on shards."
            )
        for setting, (key, shown) in self._model_settings.items():
            value = getattr(self, setting)
            if _setting_key(value) != key:
                raise ValueError(
                    f"{name}.partial_fit: {setting}={value!r} differs from the "
                    f"{setting}={shown} of the model being continued; fit a new estimator to "
                    "change it."
                )

    def _set_learning_rates(self):
        """partial_fit: the continued optimizer takes the learning rates of this call."""
        optimizer = getattr(self, "optimizer_", None)
        if optimizer is None:
            return
        groups = self._optimizer_parameters(self.module_)
        for group, settings in zip(optimizer.param_groups, groups, strict=True):
            group["lr"] = settings.get("lr", self.lr)

    def _update_catalogue(self, users, items, positive, *, merge):
        """``seen_``, ``item_popularity_`` and ``warm_users_`` (a user with any pair is warm).

        Of these pairs, or (``merge``) of the union of these and the pairs of the earlier
        ``partial_fit`` shards; ``_liked`` keeps the pairs rated positively in any of them.
        """
        shape = (self.n_users_, self.n_items_)
        seen = interaction_matrix(users, items, shape=shape).astype(bool)
        liked = interaction_matrix(users[positive], items[positive], shape=shape).astype(bool)
        if merge:
            seen = (seen + self.seen_).astype(bool)
            liked = (liked + self._liked).astype(bool)
        self.seen_, self._liked = seen, liked
        self.item_popularity_ = np.asarray(liked.sum(axis=0), dtype=np.float64).ravel()
        self.warm_users_ = np.asarray(seen.sum(axis=1)).ravel() > 0

    def _row_share(self, users, items, device, *, merge=False):
        """``|O| / n_u`` per user and ``|O| / n_i`` per item (0 for a row without pairs).

        Counted over the rows of ``fit``, or (``merge``) of every ``partial_fit`` shard so
        far: ``_row_counts`` keeps the counts per user and per item and ``|O|``.
        """
        user_counts = np.bincount(users, minlength=self.n_users_)
        item_counts = np.bincount(items, minlength=self.n_items_)
        n_rows = users.shape[0]
        if merge:
            seen_users, seen_items, seen_rows = self._row_counts
            user_counts, item_counts = user_counts + seen_users, item_counts + seen_items
            n_rows += seen_rows
        self._row_counts = (user_counts, item_counts, n_rows)
        shares = []
        for counts in (user_counts, item_counts):
            counts = counts.astype(np.float64)
            share = np.divide(n_rows, counts, out=np.zeros(counts.size), where=counts > 0)
            shares.append(torch.as_tensor(share, dtype=torch.float32, device=device))
        return tuple(shares)

    def _prepare_features(self, u_t, i_t, y_t, kb, device):
        """First, naive MF fit: kernel features (KB) and the frozen imputer ("dr")."""
        first = fit_embeddings(
            u_t,
            i_t,
            y_t,
            n_users=self.n_users_,
            n_items=self.n_items_,
            n_factors=self.n_factors,
            biases=self.biases,
            n_epochs=self.max_epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            seed=stream_seed(self.seed_, "features"),
            device=device,
            init_std=self._init_std(),
        )
        if self.method == "dr":
            self._state["imputer"] = first
        if kb is None:
            return
        user_t, item_t, self.bandwidth_, balancer = prepare_balancing(
            first.user_table(),
            first.item_table(),
            settings=kb,
            seed=self.seed_,
            device=device,
            max_worst_candidates=WORST_CANDIDATES,
        )
        self._state["features"] = (user_t, item_t)
        self._state["balancer"] = balancer
        self._state["observed"] = (u_t, i_t)
        self.user_features_ = user_t.cpu().double().numpy()
        self.item_features_ = item_t.cpu().double().numpy()

    def _features(self, u, i):
        user_t, item_t = self._state["features"]
        return torch.cat([user_t[u], item_t[i]], dim=1)

    def _draw_pairs(self, m, device):
        return (
            torch.randint(self.n_users_, (m,), device=device),
            torch.randint(self.n_items_, (m,), device=device),
        )

    def _loss(self, module, batch):
        loss = self._debiased_loss(module, batch)
        if not module.training:  # the validation loss is the debiased loss alone
            return loss
        u, i = batch[0], batch[1]
        prediction, imputation, _ = self._penalties()
        loss = loss + self._touched_penalty(module.prediction, u, i, prediction)
        if module.imputation is not None:
            loss = loss + self._touched_penalty(module.imputation, u, i, imputation)
        return loss

    def _debiased_loss(self, module, batch):
        u, i, r, q, s = batch
        f_obs = module.prediction(u, i)
        e = F.binary_cross_entropy_with_logits(f_obs, r, reduction="none")
        if self.method == "naive":
            return (s * e).mean()
        kb = self._state["kb"]
        w = q if module.weight is None else q * torch.exp(module.weight(u, i).detach())
        sw = s * w  # sample weight times inverse-propensity (or balancing) weight
        extra = torch.zeros((), device=u.device)
        if self.method in ("ips", "snips"):
            if self.method == "ips":
                loss = (sw * e).mean()
            else:
                loss = (sw * e).sum() / sw.sum().clamp_min(1e-12)
            outcome = e.detach()
        else:
            ratio = kb.sample_ratio if kb is not None else 5
            au, ai = self._draw_pairs(ratio * u.shape[0], u.device)
            if self.method == "dr":
                target_obs = torch.sigmoid(module.imputer(u, i))
                target_all = torch.sigmoid(module.imputer(au, ai))
            else:
                imputed_logit_obs = module.imputation(u, i)
                target_obs = torch.sigmoid(imputed_logit_obs).detach()
                target_all = torch.sigmoid(module.imputation(au, ai)).detach()
            f_all = module.prediction(au, ai)
            e_hat_all = F.binary_cross_entropy_with_logits(f_all, target_all)
            e_hat_obs = F.binary_cross_entropy_with_logits(f_obs, target_obs, reduction="none")
            loss = e_hat_all + (sw * (e - e_hat_obs)).mean()
            outcome = (e - e_hat_obs).detach()
            if self.method in ("dr_jl", "mrdr"):
                # Imputation step: ê as a function of the imputation model (f fixed).
                e_hat_imp = F.binary_cross_entropy_with_logits(
                    f_obs.detach(), torch.sigmoid(imputed_logit_obs), reduction="none"
                )
                if self.method == "dr_jl":
                    v = w
                else:
                    v = (w * (w - self.p_bar_)).clamp_min(0.0) / (1.0 - self.p_bar_)
                extra = extra + (s * v * (e.detach() - e_hat_imp) ** 2).mean()
        if module.weight is not None:
            extra = extra + self._balancing_loss(module, u, i, q, w, outcome)
        return loss + extra

    def _balancing_loss(self, module, u, i, q, w, outcome):
        state = self._state
        balancer, kb = state["balancer"], state["kb"]
        obs_u, obs_i = state["observed"]
        q_all = state["q_all"]
        if obs_u.shape[0] > BALANCE_SAMPLE:
            index = torch.randint(obs_u.shape[0], (BALANCE_SAMPLE,), device=u.device)
            obs_u, obs_i, q_all = obs_u[index], obs_i[index], q_all[index]
        x_all = self._features(*self._draw_pairs(kb.sample_ratio * u.shape[0], u.device))
        centers = balancer.select(x_all, self._features(u, i), w, q, outcome)
        loss = balancer.loss(
            module.weight(obs_u, obs_i), q_all, self._features(obs_u, obs_i), centers, x_all
        )
        if module.training:  # its rows: the observed pairs of the objective
            loss = loss + self._touched_penalty(module.weight, obs_u, obs_i, self._penalties()[2])
        return loss

    def _sync_fitted_state(self):
        """Copy the prediction model to the numpy arrays ``predict`` uses."""
        prediction = self.module_.prediction
        self.user_factors_ = prediction.user_factors.weight.detach().cpu().double().numpy()
        self.item_factors_ = prediction.item_factors.weight.detach().cpu().double().numpy()
        if self.biases:
            self.user_bias_ = prediction.user_bias.weight.detach().cpu().double().numpy()[:, 0]
            self.item_bias_ = prediction.item_bias.weight.detach().cpu().double().numpy()[:, 0]

    def _finish(self, users, items, u_t, i_t, base):
        module = self.module_
        self._sync_fitted_state()
        if self.method == "naive":
            return
        if module.weight is None:
            weights = base
            what = "The inverse propensity weights"
            advice = (
                "Some propensities are near zero: use a smoother propensity model, pass "
                "clipped sample_propensity, or use method='snips' or balancing."
            )
        else:
            log_ratio = batched_logits(module.weight, u_t, i_t).cpu().double().numpy()
            weights = base * np.exp(log_ratio)
            weights = weights / weights.mean()
            what = "The kernel-balancing weights"
            advice = (
                "Pass balancing=KernelBalancingPropensity(...) with a larger entropy_weight "
                "or balance_tol, or a smaller penalty or n_centers."
            )
            (self.mmd_base_, self.mmd_base_se_), (self.mmd_, self.mmd_se_) = self._mmd(
                users, items, base, weights
            )
        self.weights_ = weights
        self.effective_sample_size_ = warn_if_collapsed(
            weights, what=what, advice=advice, stacklevel=4
        )

    def _mmd(self, users, items, base, weights):
        return mmd_pair(
            self.user_features_,
            self.item_features_,
            users,
            items,
            [base, weights],
            kernel=self._state["kb"].kernel,
            bandwidth=self.bandwidth_,
            seed=self.seed_,
        )

    # -- prediction ----------------------------------------------------------------------
    def _logits(self, users, items):
        logits = np.einsum("ij,ij->i", self.user_factors_[users], self.item_factors_[items])
        if self.biases:
            logits = logits + self.user_bias_[users] + self.item_bias_[items]
        return logits

    def predict(self, X):
        """Predicted probability that each pair's (binarised) rating is positive.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_pairs, 2)
            (user id, item id) pairs of the training catalogue (a cold user follows
            ``cold_start``; an unknown item is an error).

        Returns
        -------
        proba : ndarray of shape (n_pairs,)
        """
        return super().predict(X)

    def _score_pairs(self, users, items):
        return 1.0 / (1.0 + np.exp(-self._logits(users, items)))

    def score(self, X, y):
        """Mean per-user nDCG@5 of held-out ratings ranked by ``predict``.

        The default score (``GridSearchCV`` and ``cross_validate`` use it when no
        ``scoring`` is given): :func:`~skultr.metrics.ndcg_score` with ``k=5`` (the
        kernel-balancing papers' NDCG@5), the users of ``X`` as ``qid`` and the binarised
        ratings ``y`` as gains; users without a positive rating are skipped. On MNAR
        validation ratings it is as biased as the ratings are: score on a
        missing-at-random sample where you have one.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_pairs, 2)
            Held-out (user id, item id) pairs.
        y : array-like of shape (n_pairs,)
            Their binarised ratings, in [0, 1].

        Returns
        -------
        score : float
        """
        from skultr.metrics import ndcg_score

        if y is None:
            raise ValueError("DebiasedMFRecommender.score needs y, the held-out ratings.")
        users, _, y = self._raw_pairs(X, y)
        _, qid = index_ids(users)
        return ndcg_score(y, self.predict(X), qid=qid, k=5)

    def _score_users(self, users):
        check_is_fitted(self)
        scores = self.user_factors_[users] @ self.item_factors_.T
        if self.biases:
            scores = scores + self.user_bias_[users][:, None] + self.item_bias_[None, :]
        return scores
