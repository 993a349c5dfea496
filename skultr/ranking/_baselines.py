"""Baselines on the same engine as DLA: the naive ranker and inverse propensity weighting."""

from abc import abstractmethod

import numpy as np
import torch
from sklearn.base import clone

from skultr.utils._click_log import check_position_propensity
from skultr.utils._sklearn_compat import HasMethods

from ._lists import clip_log_weights, log_ratio_to_position_one, weighted_softmax_cross_entropy
from ._listwise import BaseListwiseRanker


class _FixedWeightRanker(BaseListwiseRanker):
    """Shared ``__init__`` of the baselines: DLA's parameters without the propensity model."""

    @abstractmethod
    def _log_weights(self, module, positions, mask):
        """Log inverse-propensity weight of each slot (constant: no gradient flows back)."""

    def _loss(self, module, batch):
        features, clicks, positions, mask, *sample_weight = batch
        sample_weight = sample_weight[0] if sample_weight else None
        s = module(features)
        log_w = self._log_weights(module, positions, mask)
        return weighted_softmax_cross_entropy(s, log_w, clicks, mask, sample_weight)


class NaiveRanker(_FixedWeightRanker):
    """The naive baseline: a listwise ranker trained on raw clicks, as if they were relevance.

    It learns ``P(click) = P(examined | position) · P(relevant)``, so it inherits the
    position bias of the log: documents that the production ranker showed on top look
    better than they are. Same network, loss and engine as :class:`DLARanker` with all
    weights equal to 1, so differences between the two are due to the debiasing alone.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(512, 256, 128)
        Hidden layers of the MLP ranker; ``()`` gives a linear ranker.
    activation : {"elu", "relu", "tanh", "identity"}, default="elu"
        Activation after each hidden layer of the MLP ranker (unused by a linear ranker).
    max_position : int, default=10
        Rows displayed below this position are ignored (and counted). Also the most rows a
        log without ``qid`` may have (one list).
    feature_scaling : {"standard"} or None, default="standard"
        Standardise the features inside the ranker, as in :class:`DLARanker`.
    max_epochs, batch_size, lr, optimizer, weight_decay, clip_grad_norm, early_stopping, \
validation_fraction, n_iter_no_change, tol, device, streaming, random_state, verbose, \
warm_start, callbacks
        As in :class:`DLARanker` (same defaults).

    Attributes
    ----------
    n_lists_, n_lists_without_clicks_, n_rows_beyond_max_position_, position_counts_, \
n_iter_, history_, module_, optimizer_, scaler_, n_features_in_, device_, seed_
        As in :class:`DLARanker`.

    Examples
    --------
    >>> from skultr.datasets import make_click_log, make_ranking_dataset
    >>> from skultr.ranking import NaiveRanker
    >>> X, y, qid = make_ranking_dataset(100, random_state=0)
    >>> log = make_click_log(X, y, qid, n_sessions=2000, random_state=0)
    >>> ranker = NaiveRanker(hidden_layer_sizes=(), max_epochs=2, device="cpu", random_state=0)
    >>> ranker = ranker.fit(log.X, log.clicks, qid=log.qid, position=log.position)
    >>> ranker.predict(X).shape == (len(X),), ranker.n_lists_
    (True, 2000)
    """

    def __init__(
        self,
        *,
        hidden_layer_sizes=(512, 256, 128),
        activation="elu",
        max_position=10,
        feature_scaling="standard",
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

    # NaiveRanker has no max_weight: there are no weights to clip.
    _parameter_constraints = {
        k: v for k, v in BaseListwiseRanker._parameter_constraints.items() if k != "max_weight"
    }

    def _log_weights(self, module, positions, mask):
        return torch.zeros(positions.shape, device=positions.device)


class IPWRanker(_FixedWeightRanker):
    """Inverse propensity weighting with fixed propensities, given or estimated.

    The listwise ranker of :class:`DLARanker` whose click targets are weighted by
    ``w_i = p_1 / p_{pos_i}`` from a fixed examination curve ``p`` instead of a learned one
    (Joachims et al., 2017; Wang et al., 2018). With the true propensities it is the
    reference an unbiased learner should reach; with estimated ones it is the classic
    two-step pipeline: estimate the position bias (result randomisation, regression EM),
    then reweight.

    Parameters
    ----------
    propensity : array-like of shape (n_positions,), estimator or None, default=None
        Examination probability of positions 1, 2, ... (any scale: only ratios matter). It
        must be positive and finite at position 1 and at every position displayed in the
        training log (up to ``max_position``); elsewhere it may be missing (shorter array)
        or ``NaN``, as those positions carry no rows. An estimator (for example
        :class:`skultr.propensity.RegressionEMPropensity`) is cloned and fitted on the
        training log (its features standardised when ``feature_scaling="standard"``), and
        its ``propensity_`` used. ``None`` means
        ``RegressionEMPropensity(max_position=max_position)``. To use propensities estimated
        on a separate randomised log, fit a :class:`skultr.propensity.RandomizationPropensity`
        on it and pass its ``propensity_``.
    max_weight : float >= 1 or None, default=10.0
        Clip the inverse propensity weights at this value (``None``: no clipping).
    hidden_layer_sizes : tuple of int, default=(512, 256, 128)
        Hidden layers of the MLP ranker; ``()`` gives a linear ranker.
    activation : {"elu", "relu", "tanh", "identity"}, default="elu"
        Activation after each hidden layer of the MLP ranker (unused by a linear ranker).
    max_position : int, default=10
        Rows displayed below this position are ignored (and counted). Also the most rows a
        log without ``qid`` may have (one list).
    feature_scaling : {"standard"} or None, default="standard"
        Standardise the features inside the ranker, as in :class:`DLARanker`.
    max_epochs, batch_size, lr, optimizer, weight_decay, clip_grad_norm, early_stopping, \
validation_fraction, n_iter_no_change, tol, device, streaming, random_state, verbose, \
warm_start, callbacks
        As in :class:`DLARanker` (same defaults).

    Attributes
    ----------
    propensity_ : ndarray of shape (max_position,)
        The propensities used, relative to position 1; ``NaN`` at positions without one
        (never displayed in the training log). A later ``partial_fit`` batch that displays
        such a position is an error.
    propensity_estimator_ : estimator
        The fitted propensity estimator, when ``propensity`` is an estimator or None.
    n_lists_, n_lists_without_clicks_, n_rows_beyond_max_position_, position_counts_, \
n_iter_, history_, module_, optimizer_, scaler_, n_features_in_, device_, seed_
        As in :class:`DLARanker`.

    Notes
    -----
    The weight of a click at displayed position ``p_i`` is ``w_i = p_1 / p_{p_i}``,
    clipped at ``max_weight``: relative to position 1 in every list, also in lists whose
    first displayed row is lower (relative to that row, such lists would count less).

    Examples
    --------
    >>> from skultr.datasets import make_click_log, make_ranking_dataset
    >>> from skultr.ranking import IPWRanker
    >>> X, y, qid = make_ranking_dataset(100, random_state=0)
    >>> log = make_click_log(X, y, qid, n_sessions=2000, random_state=0)
    >>> ranker = IPWRanker(propensity=log.propensity, hidden_layer_sizes=(), max_epochs=2,
    ...                    device="cpu", random_state=0)
    >>> ranker = ranker.fit(log.X, log.clicks, qid=log.qid, position=log.position)
    >>> ranker.propensity_.round(3)[:3]
    array([1.   , 0.897, 0.706])
    """

    _parameter_constraints = {
        **BaseListwiseRanker._parameter_constraints,
        "propensity": [None, "array-like", HasMethods(["fit"])],
    }

    def __init__(
        self,
        *,
        propensity=None,
        max_weight=10.0,
        hidden_layer_sizes=(512, 256, 128),
        activation="elu",
        max_position=10,
        feature_scaling="standard",
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
        self.propensity = propensity
        self.max_weight = max_weight
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.max_position = max_position
        self.feature_scaling = feature_scaling
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

    def _before_train(self, X, clicks, codes, position, fresh):
        displayed = np.unique(position[position <= self.max_position])
        if not fresh:
            # continuing a model: keep the propensities it was trained with
            missing = displayed[~np.isfinite(self.propensity_[displayed - 1])]
            if len(missing):
                raise ValueError(
                    f"this batch displays rows at position {int(missing[0])}, which has no "
                    "propensity: the model was fitted on a log that never displayed it. Fit a "
                    "new model on a log covering every position."
                )
            return
        source = self.propensity
        if source is None:
            from skultr.propensity import RegressionEMPropensity

            source = RegressionEMPropensity(max_position=self.max_position)
        if hasattr(source, "fit"):
            # the estimator sees the features the ranker trains on (a scaled copy of X)
            estimator = clone(source).fit(self._scale(X), clicks, qid=codes, position=position)
            self.propensity_estimator_ = estimator
            values, what = estimator.propensity_, f"the propensity_ of {type(estimator).__name__}"
        else:
            values, what = source, "propensity"
        values = check_position_propensity(
            values, displayed, what=what, n_positions=self.max_position
        )
        self.propensity_ = values / values[0]

    def _build_module(self):
        module = super()._build_module()
        # Positions without a propensity carry no rows (checked in _before_train): log 1.
        log_p = np.log(np.nan_to_num(self.propensity_, nan=1.0))
        module.register_buffer("log_propensity", torch.as_tensor(log_p, dtype=torch.float32))
        return module

    def _log_weights(self, module, positions, mask):
        log_w = log_ratio_to_position_one(module.log_propensity, positions)
        return clip_log_weights(log_w, self.max_weight)
