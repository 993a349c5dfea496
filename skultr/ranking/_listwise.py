"""The base of skultr's click-log rankers: validation, list tensors, predict and score.

:class:`~skultr.ranking.DLARanker`, :class:`~skultr.ranking.IPWRanker` and
:class:`~skultr.ranking.NaiveRanker` differ only in the weights of their listwise loss (and in
DLA's learned propensity); everything else lives here, on the shared torch engine.
"""

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from skultr._torch import BaseTorchEstimator, make_mlp, to_tensor
from skultr._torch._modules import ACTIVATIONS
from skultr.metrics import ndcg_score
from skultr.utils._atomic import atomic_fit
from skultr.utils._sklearn_compat import Interval, StrOptions, _fit_context, _num_samples
from skultr.utils._validation import check_shard_columns

from ._lists import (
    ClickLogWarning,
    build_list_source,
    check_clicks,
    check_positions,
    check_qid_given,
    check_sample_weight,
    check_x_finite,
    drop_frame_columns,
    in_memory,
    list_codes,
    split_frame_columns,
)


class ListwiseModule(nn.Module):
    """A ranker network and, for DLA, one examination logit per position.

    ``forward(x)`` scores documents: ``(..., n_features) -> (...)``.
    """

    def __init__(self, ranker, n_positions=0):
        super().__init__()
        self.ranker = ranker
        if n_positions:
            self.propensity_logits = nn.Parameter(torch.zeros(n_positions))

    def forward(self, x):
        return self.ranker(x).squeeze(-1)


class BaseListwiseRanker(BaseTorchEstimator):
    """Fit/partial_fit/predict/score of a neural ranker trained on click lists.

    Subclasses set their ``__init__`` and implement ``_loss``; they may override
    ``_before_train(X, clicks, codes, position, fresh)`` (called after validation) and
    ``_after_train()``.
    """

    _parameter_constraints = {
        **BaseTorchEstimator._parameter_constraints,
        "hidden_layer_sizes": [tuple, list],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "max_position": [Interval(Integral, 1, None, closed="left")],
        "max_weight": [None, Interval(Real, 1, None, closed="left")],
        "feature_scaling": [None, StrOptions({"standard"})],
        "streaming": [StrOptions({"auto"}), "boolean"],
    }

    # streaming="auto" on CUDA keeps the padded log on the device while it takes at most
    # this fraction of the free device memory.
    _DEVICE_FRACTION = 0.25
    # Rows per block when a pass over X would otherwise allocate an X-sized temporary.
    _BLOCK_ELEMENTS = 2**22

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.allow_nan = False
        return tags

    # -- model -------------------------------------------------------------------------
    def _n_propensity_logits(self):
        return 0

    def _build_module(self):
        for size in self.hidden_layer_sizes:
            if isinstance(size, bool) or not isinstance(size, Integral) or size < 1:
                raise ValueError(
                    "hidden_layer_sizes must hold positive integers (() for a linear ranker); "
                    f"got {self.hidden_layer_sizes!r}."
                )
        ranker = make_mlp(
            self.n_features_in_, tuple(self.hidden_layer_sizes), activation=self.activation
        )
        return ListwiseModule(ranker, self._n_propensity_logits())

    def _before_train(self, X, clicks, codes, position, fresh):
        """Hook: runs after validation, before the lists are built (IPW fits propensities).

        ``X`` is the validated, unscaled log (``self._scale`` scales it, as a copy).
        """

    def _after_train(self):
        """Hook: runs after training (DLA reads its propensities)."""

    # -- feature scaling ---------------------------------------------------------------
    def _row_blocks(self, X):
        step = max(1, self._BLOCK_ELEMENTS // max(X.shape[1], 1))
        return (slice(start, start + step) for start in range(0, X.shape[0], step))

    def _fit_scaler(self, X):
        """``scaler_``: standardisation statistics of the first fit (``None``: no scaling).

        Accumulated over blocks of rows (``StandardScaler.fit`` allocates temporaries of
        twice the size of a float32 ``X``); a log of one block gives ``fit``'s statistics.
        """
        if self.feature_scaling != "standard":
            self.scaler_ = None
            return
        scaler = StandardScaler()
        for block in self._row_blocks(X):
            scaler.partial_fit(X[block])
        self.scaler_ = scaler

    def _scale(self, X):
        return X if self.scaler_ is None else self.scaler_.transform(X)

    def _row_transform(self):
        """The scaling of ``_scale`` as an in-place function of gathered rows (or None).

        The same operations as ``StandardScaler.transform`` (in the rows' dtype), so a batch
        built from raw rows equals the rows of the scaled log.
        """
        scaler = self.scaler_
        if scaler is None:
            return None
        mean = None if not scaler.with_mean else scaler.mean_
        scale = None if not scaler.with_std else scaler.scale_

        def transform(x):
            if mean is not None:
                x -= mean.astype(x.dtype)
            if scale is not None:
                x /= scale.astype(x.dtype)
            return x

        return transform

    def _streams(self, padded_nbytes, device):
        """Whether to train from the host log (True) or from padded device tensors."""
        if self.streaming != "auto":
            return bool(self.streaming)
        if device.type != "cuda":
            return True  # no faster in memory on the CPU (benchmarks/bench_ranker_memory.py)
        free, _ = torch.cuda.mem_get_info(device)
        return padded_nbytes > self._DEVICE_FRACTION * free

    # -- fitting -----------------------------------------------------------------------
    def _validate_log(self, X, y, qid, position, sample_weight, *, reset, method="fit"):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None: "
                "pass the clicks (0/1), one per displayed document."
            )
        X, qid, position = split_frame_columns(X, qid, position)
        if reset or method == "partial_fit":
            check_shard_columns(self, X, fresh=reset)
        X = validate_data(
            self, X, reset=reset, dtype=[np.float32, np.float64], ensure_all_finite=False
        )
        for block in self._row_blocks(X):  # blocks: no X-sized mask
            if not np.isfinite(X[block]).all():
                check_x_finite(X)  # names the first bad entry
        n_rows = X.shape[0]
        clicks = check_clicks(y, n_rows)
        check_qid_given(qid, n_rows, self.max_position, type(self).__name__, method=method)
        codes, n_lists = list_codes(qid, n_rows)
        position = check_positions(position, codes, n_lists)
        sample_weight = check_sample_weight(sample_weight, X)
        return X, clicks, codes, position, sample_weight

    def _fit(self, X, y, qid, position, sample_weight, *, incremental):
        X_given = X  # what skorch scoring callbacks score (a reference, not a copy)
        fresh, device = self._begin_fit(incremental)
        if not fresh and len(self.position_counts_) != self.max_position:
            raise ValueError(
                f"max_position={self.max_position} differs from the {len(self.position_counts_)} "
                "positions of the model being continued (partial_fit or warm_start); fit a new "
                "model to change it."
            )
        method = "partial_fit" if incremental else "fit"
        X, clicks, codes, position, sample_weight = self._validate_log(
            X, y, qid, position, sample_weight, reset=fresh, method=method
        )
        self._check_some_click(clicks, position, sample_weight, fresh=fresh, method=method)
        if fresh:
            self._fit_scaler(X)
        self._before_train(X, clicks, codes, position, fresh)
        # The log stays in host memory in X's dtype (no scaled or padded copy): batches are
        # gathered, scaled and padded per step, or all at once for in-memory training.
        data = build_list_source(
            X,
            clicks,
            codes,
            position,
            sample_weight,
            max_position=self.max_position,
            device=device,
            transform=self._row_transform(),
        )
        del X
        train = data.source
        if not self._streams(data.padded_nbytes, device):
            train = in_memory(train)
        self._train(train, fresh=fresh, incremental=incremental, X=X_given, y=y)
        del train
        counts = {
            "n_lists_": data.n_lists,
            "n_lists_without_clicks_": data.n_lists_without_clicks,
            "n_rows_beyond_max_position_": data.n_rows_beyond_max_position,
            "position_counts_": data.position_counts,
        }
        for name, value in counts.items():
            setattr(self, name, value if fresh else getattr(self, name) + value)
        self._after_train()
        return self

    def _check_some_click(self, clicks, position, sample_weight, *, fresh, method):
        """No click (of positive weight) within ``max_position``: nothing to learn from.

        ``fit`` of a new model raises: it would return an untrained network. A continued
        model (``partial_fit``, ``warm_start``) warns: that batch leaves it as it was.
        """
        useful = (clicks > 0) & (position <= self.max_position)
        if sample_weight is not None:
            useful &= sample_weight > 0
        if useful.any():
            return
        reason = (
            f"the click log has no click (of positive sample_weight) at positions 1 to "
            f"max_position={self.max_position}: every list has no click, so there is nothing "
            "to learn from (each term of the loss is weighted by a click)"
        )
        if fresh and method == "fit":
            raise ValueError(f"{type(self).__name__}.fit: {reason}.")
        warnings.warn(
            f"{type(self).__name__}.{method}: {reason}; the model is left "
            f"{'untrained' if fresh else 'as it was'}.",
            ClickLogWarning,
            stacklevel=3,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic_fit
    def fit(self, X, y, *, qid=None, position=None, sample_weight=None):
        """Fit the ranker on a click log for ``max_epochs`` epochs (fewer if it stops early).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            One row per displayed document. A DataFrame may carry ``qid`` and ``position``
            columns instead of the arguments below (they are not used as features); given
            both ways, the two must agree.
        y : array-like of shape (n_samples,)
            Clicks, 0 or 1. A log without any click (within ``max_position``) is an error:
            there is nothing to learn from.
        qid : array-like of shape (n_samples,), optional
            List (session) of each row: any sortable ids, rows in any order. ``None`` puts
            all rows in one list, which is only allowed for at most ``max_position`` rows
            (more is a ValueError that says how to pass ``qid``: as an argument, through
            metadata routing, or as a DataFrame column).
        position : array-like of int of shape (n_samples,), optional
            1-based displayed position of each row, unique within a list. ``None`` takes the
            rows of each list to be in displayed order (XGBoost's convention). Rows beyond
            ``max_position`` are ignored and counted in ``n_rows_beyond_max_position_``.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weight of each row's click in the loss (constant within a list for
            a session weight).

        Returns
        -------
        self
        """
        return self._fit(X, y, qid, position, sample_weight, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic_fit
    def partial_fit(self, X, y, *, qid=None, position=None, sample_weight=None):
        """One epoch over a batch of sessions, continuing the current model (online learning).

        The first call starts a model (and fixes the feature scaling statistics). Takes the
        same arguments as :meth:`fit`; the counts (``n_lists_``, ...) accumulate over calls.
        A batch without any click warns and leaves the model as it was.

        A log larger than memory trains shard by shard: read one shard of whole lists at a
        time (a row group of a Parquet file with ``pandas.read_parquet``, or a slice of a
        ``numpy.memmap``) and pass it here; each call is one epoch on its shard, shuffled
        within the shard. Every shard must have the columns of the first (their number,
        and their names for a DataFrame). The result is deterministic for a seed but not
        the model of ``fit`` on the concatenation, whose epochs shuffle the whole log.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Features of the shard's rows, with the columns of the first call.
        y : array-like of shape (n_samples,)
            Clicks (0 or 1).
        qid : array-like of shape (n_samples,), optional
            List of each row, as in :meth:`fit`; a list must not be split across shards.
        position : array-like of int of shape (n_samples,), optional
            1-based displayed position of each row, as in :meth:`fit`.
        sample_weight : array-like of shape (n_samples,), optional
            Weight of each row's click, as in :meth:`fit`.

        Returns
        -------
        self

        Examples
        --------
        >>> import numpy as np
        >>> from skultr.datasets import make_click_log, make_ranking_dataset
        >>> from skultr.ranking import DLARanker
        >>> X, y, qid = make_ranking_dataset(20, n_features=5, random_state=0)
        >>> log = make_click_log(X, y, qid, n_sessions=200, random_state=0)
        >>> ranker = DLARanker(hidden_layer_sizes=(8,), device="cpu", random_state=0)
        >>> # stand-in for reading shards of whole lists from Parquet files or a memmap
        >>> for lists in np.array_split(np.unique(log.qid), 4):
        ...     rows = np.isin(log.qid, lists)
        ...     ranker = ranker.partial_fit(
        ...         log.X[rows], log.clicks[rows], qid=log.qid[rows], position=log.position[rows]
        ...     )
        >>> ranker.n_iter_
        4
        """
        return self._fit(X, y, qid, position, sample_weight, incremental=True)

    # -- prediction --------------------------------------------------------------------
    def predict(self, X):
        """Score each row (document); higher means ranked earlier.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            ``qid`` / ``position`` columns of a DataFrame are ignored.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(
            self,
            drop_frame_columns(X),
            reset=False,
            dtype=[np.float32, np.float64],
            ensure_all_finite=False,
        )
        check_x_finite(X)
        # Scaled and moved in blocks of rows: no scaled copy of the whole X.
        scores = [
            self._forward_batches(
                lambda module, x: module(x), (to_tensor(self._scale(X[block]), self.device_),)
            )
            for block in self._row_blocks(X)
        ]
        return np.concatenate(scores) if scores else np.zeros(0)

    def score(self, X, y, *, qid=None):
        """Mean nDCG@10 (exponential gain) of the predicted ranking against graded labels.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Graded relevance labels (not clicks: for click-only scoring see
            :func:`skultr.ranking.make_click_scorer`).
        qid : array-like of shape (n_samples,), optional
            List of each row; a ``qid`` column of a DataFrame ``X`` is used when not given.
            Without either, all rows form one list, which is only allowed for at most
            ``max_position`` rows: more is a ValueError (in ``GridSearchCV`` /
            ``cross_val_score``, route it with ``set_score_request(qid=True)``).

        Returns
        -------
        score : float
            Mean over lists with at least one relevant document (see
            :func:`skultr.metrics.ndcg_score`).
        """
        _, qid, _ = split_frame_columns(X, qid, None)
        check_is_fitted(self)
        n_rows = _num_samples(X)
        check_qid_given(
            qid, n_rows, self.max_position, f"{type(self).__name__}.score", method="score"
        )
        scores = self.predict(X)
        if qid is None:
            qid = np.zeros(len(scores), dtype=np.int64)
        return ndcg_score(y, scores, qid=qid, k=10)
