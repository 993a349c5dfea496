"""DLARanker: the Dual Learning Algorithm (Ai et al., SIGIR 2018) on the shared torch engine."""

import warnings

import numpy as np
import torch

from skultr.utils._engine_docs import fill_engine_doc

from ._lists import (
    ClickLogWarning,
    clip_log_weights,
    log_ratio_to_first,
    log_ratio_to_position_one,
    weighted_softmax_cross_entropy,
)
from ._listwise import BaseListwiseRanker


@fill_engine_doc
class DLARanker(BaseListwiseRanker):
    """Unbiased learning to rank from clicks: a ranker and the position bias, learned together.

    Clicks are biased by position: users click what they look at, and they look at the top.
    DLA (the Dual Learning Algorithm) learns a ranker ``f(x)`` and one examination logit per
    displayed position from the clicks alone. Each model corrects the other's training
    signal: the ranker's click targets are weighted by the inverse examination propensity,
    and the propensity's click targets by the inverse relevance. After fitting,
    ``propensity_`` is the learned examination curve and ``predict`` scores documents by
    relevance, free of the position bias.

    Read more in the :ref:`User Guide <dla>`.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(512, 256, 128)
        Hidden layers of the MLP ranker (the paper's). ``()`` gives a linear ranker.
    activation : {"elu", "relu", "tanh", "identity"}, default="elu"
        Activation after each hidden layer of the MLP ranker (unused by a linear ranker).
    max_position : int, default=10
        Number of positions with a propensity. Rows displayed lower are ignored (and
        counted in ``n_rows_beyond_max_position_``). Also the most rows a log without
        ``qid`` may have (one list).
    feature_scaling : {"standard"} or None, default="standard"
        ``"standard"`` standardises each feature (mean 0, standard deviation 1; a constant
        feature is only centred) with statistics of the first fit, kept by ``partial_fit``
        and ``warm_start`` and applied by ``predict``: the ranker then trains the same on
        raw feature scales (LETOR's, for example) as on scaled ones. ``None`` uses the
        features as given.
    max_weight : float >= 1 or None, default=10.0
        Clip both inverse weights (propensity and relevance) at this value; ``None`` does not
        clip (the paper). Clipping trades bias for variance: on small logs unclipped DLA can
        fall below the naive ranker, while with a bias steeper than the clip (true inverse
        propensities above ``max_weight``) the learned ``propensity_`` comes out flatter
        than the truth. See the User Guide for the measurements behind the default.
    max_epochs : int, default=20
        Passes over the log. The paper trains for about 2.5M sessions (10,000 batches of
        256), so a log of ``n`` sessions needs about ``2.5e6 / n`` epochs, at least a few.
    batch_size : int, default=256
        Lists (sessions) per batch.
    lr : float, default=0.05
        Learning rate of both models.
    optimizer : {"adagrad", "adam", "sgd"}, default="adagrad"
        Created once per model (its state carries over ``partial_fit`` calls).
    weight_decay : float, default=0.0
        L2 penalty of the ranker (the propensity logits are never decayed).
    clip_grad_norm : float or None, default=5.0
        Maximum gradient norm, applied to the ranker and to the propensity separately.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the lists and stop when their (click-only) DLA
        loss has not improved by ``tol`` for ``n_iter_no_change`` epochs; the best epoch's
        weights are kept.
    validation_fraction : float, default=0.1
        Fraction of the lists held out as the validation set when ``early_stopping=True``.
    n_iter_no_change : int, default=5
        With early stopping: epochs without an improvement of the validation loss by more
        than ``tol`` before training stops.
    tol : float, default=1e-4
        With early stopping: the least decrease of the validation loss that counts as an
        improvement.
    device : {"auto", "cpu", "cuda", "cuda:N"}, default="auto"
        Device to train on: ``"auto"`` uses CUDA when available, else the CPU.
    {streaming_lists}
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights and the batch order: the same seed gives the same model
        on the same device.
    {verbose}
    warm_start : bool, default=False
        ``fit`` continues the fitted model instead of starting a new one.
    {callbacks}

    Attributes
    ----------
    propensity_ : ndarray of shape (max_position,)
        Learned examination probability of each position relative to position 1,
        ``ô_k / ô_1`` (so ``propensity_[0] == 1``). ``NaN`` for positions never displayed in
        the training data (everywhere, with a warning, if position 1 never was).
    scaler_ : sklearn.preprocessing.StandardScaler or None
        The feature standardisation (``feature_scaling="standard"``), else ``None``.
    n_lists_ : int
        Lists (sessions) trained on, summed over ``partial_fit`` calls.
    n_lists_without_clicks_ : int
        Lists without any click: allowed, but they carry no gradient.
    n_rows_beyond_max_position_ : int
        Rows ignored because their position exceeds ``max_position``.
    position_counts_ : ndarray of shape (max_position,)
        Training rows displayed at each position.
    n_iter_ : int
        Epochs run.
    history_ : skorch.history.History
        One row per epoch: ``epoch``, ``train_loss`` (DLA loss: ranker + propensity) and
        its two parts ``train_ranker_loss`` and ``train_propensity_loss``; with early
        stopping also ``valid_loss``, ``valid_ranker_loss``, ``valid_propensity_loss`` and
        ``best``; ``dur``.
    module_ : torch.nn.Module
        ``module_.ranker`` (the scorer) and ``module_.propensity_logits`` (``e``).
    optimizer_ : torch.optim.Optimizer
        The optimizer of both models (one parameter group each), created with the model;
        its state carries over ``partial_fit`` calls and warm starts.
    n_features_in_ : int
        Number of features of ``X`` (without the ``qid`` and ``position`` columns of a
        DataFrame).
    feature_names_in_ : ndarray of str
        Defined when ``X`` is a DataFrame with string column names.
    device_ : str
        Device the model was trained on (``device`` resolved, for example ``"cpu"``).
    seed_ : int
        Integer seed drawn from ``random_state`` when the model was created; it seeds the
        initial weights and the batch order of every epoch.
    best_epoch_ : int
        With early stopping: the epoch whose weights were kept.

    See Also
    --------
    IPWRanker : the same ranker with fixed (given or estimated) propensities.
    NaiveRanker : the same ranker trained on raw clicks.
    skultr.ranking.make_click_scorer : click-only scorers for model selection.

    Notes
    -----
    For a list ``q`` with documents at displayed positions ``p_i`` and clicks ``c_i``, the
    ranker gives scores ``s_i = f(x_i)`` and the propensity model one logit ``e_k`` per
    position. With ``r̂ = softmax(s)`` over the list and ``ô = softmax(e_{p_i})`` over its
    displayed positions, the inverse propensity and inverse relevance weights are

    .. math:: w_i = \\frac{ô_1}{ô_{p_i}} = e^{e_1 - e_{p_i}}, \\qquad
              v_i = \\frac{r̂_{first}}{r̂_i},

    treated as constants (no gradient) and clipped at ``max_weight``. The inverse
    propensity ``w_i`` is relative to position 1 in every list, also in a list whose first
    displayed row is lower (relative to that row, such lists would count less); the
    inverse relevance ``v_i`` is relative to the document displayed first in the list.
    Both models minimise a click-weighted listwise softmax cross-entropy,
    normalised over the batch:

    .. math:: L_{rank} = \\frac{\\sum_q \\sum_i c_i w_i (-\\log r̂_i)}{\\sum_q \\sum_i c_i w_i},
              \\qquad
              L_{exam} = \\frac{\\sum_q \\sum_i c_i v_i (-\\log ô_i)}{\\sum_q \\sum_i c_i v_i},

    and both are updated on every batch from ``L_rank + L_exam`` (one optimizer, created
    once, gradient norm clipped per model). ``propensity_`` is ``ô_k / ô_1 = exp(e_k − e_1)``.

    References
    ----------
    .. [1] Q. Ai, K. Bi, C. Luo, J. Guo and W. B. Croft, "Unbiased Learning to Rank with
       Unbiased Propensity Estimation", SIGIR 2018 (arXiv:1804.05938).

    Examples
    --------
    >>> from skultr.datasets import make_click_log, make_ranking_dataset
    >>> from skultr.ranking import DLARanker
    >>> X, y, qid = make_ranking_dataset(200, random_state=0)
    >>> log = make_click_log(X, y, qid, n_sessions=2000, random_state=0)
    >>> ranker = DLARanker(hidden_layer_sizes=(16,), max_epochs=3, device="cpu",
    ...                    random_state=0)
    >>> ranker = ranker.fit(log.X, log.clicks, qid=log.qid, position=log.position)
    >>> ranker.propensity_.shape, ranker.n_lists_, ranker.n_lists_without_clicks_
    ((10,), 2000, 782)
    >>> 0 < ranker.score(X, y, qid=qid) <= 1
    True
    """

    def __init__(
        self,
        *,
        hidden_layer_sizes=(512, 256, 128),
        activation="elu",
        max_position=10,
        feature_scaling="standard",
        max_weight=10.0,
        max_epochs=20,
        batch_size=256,
        lr=0.05,
        optimizer="adagrad",
        weight_decay=0.0,
        clip_grad_norm=5.0,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        tol=1e-4,
        device="auto",
        streaming="auto",
        random_state=None,
        verbose=0,
        warm_start=False,
        callbacks=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.max_position = max_position
        self.feature_scaling = feature_scaling
        self.max_weight = max_weight
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
        self.streaming = streaming
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.callbacks = callbacks

    def _n_propensity_logits(self):
        return self.max_position

    def _optimizer_parameters(self, module):
        # Two groups, so that the engine clips each model's gradient norm separately.
        return [
            {"params": list(module.ranker.parameters())},
            {"params": [module.propensity_logits], "weight_decay": 0.0},
        ]

    def _loss(self, module, batch):
        features, clicks, positions, mask, *sample_weight = batch
        sample_weight = sample_weight[0] if sample_weight else None
        s = module(features)  # ranker scores, (lists, width)
        e = module.propensity_logits[positions]  # examination logits of the displayed positions
        with torch.no_grad():
            log_w = clip_log_weights(
                log_ratio_to_position_one(module.propensity_logits, positions), self.max_weight
            )
            log_v = clip_log_weights(log_ratio_to_first(s, positions, mask), self.max_weight)
        rank_loss = weighted_softmax_cross_entropy(s, log_w, clicks, mask, sample_weight)
        exam_loss = weighted_softmax_cross_entropy(e, log_v, clicks, mask, sample_weight)
        parts = {"ranker_loss": rank_loss.detach(), "propensity_loss": exam_loss.detach()}
        return rank_loss + exam_loss, parts

    def _after_train(self):
        with torch.no_grad():
            logits = self.module_.propensity_logits.detach().cpu().double().numpy()
        propensity = np.exp(logits - logits[0])
        # Positions never displayed keep their initial logit: there is nothing to report.
        # Without position 1 there is no reference, so the whole curve is undefined.
        unseen = self.position_counts_ == 0
        propensity[unseen | unseen[0]] = np.nan
        self.propensity_ = propensity
        if unseen[0]:
            warnings.warn(
                "DLARanker: no training row was displayed at position 1, so propensity_ is "
                "all NaN (propensities are relative to position 1). The ranker is trained, "
                "with weights relative to an unlearned reference; pass the positions as "
                "displayed (1 = top) to learn the examination curve.",
                ClickLogWarning,
                stacklevel=4,
            )
