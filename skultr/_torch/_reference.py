"""The engine's reference estimator: a plain MLP regressor on the shared torch engine.

It is private: it exists so the engine itself is held to scikit-learn's estimator checks
(``tests/test_common.py``), exercised by the engine tests and timed by
``benchmarks/bench_engine.py``. Public neural estimators follow the same pattern.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from skultr.utils._atomic import atomic_fit
from skultr.utils._sklearn_compat import Interval, StrOptions, _check_sample_weight, _fit_context
from skultr.utils._validation import check_shard_columns

from ._base import BaseTorchEstimator, to_tensor
from ._modules import ACTIVATIONS, make_mlp


class TorchMLPRegressor(RegressorMixin, BaseTorchEstimator):
    """Multi-layer perceptron regressor trained with weighted squared error.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(64,)
    activation : {"relu", "elu", "tanh", "identity"}, default="relu"
    dropout : float, default=0.0
    max_epochs, batch_size, lr, optimizer, weight_decay, clip_grad_norm, early_stopping,
    validation_fraction, n_iter_no_change, tol, device, random_state, verbose, warm_start, \
callbacks
        Engine parameters, see :class:`skultr._torch.BaseTorchEstimator`.

    Attributes
    ----------
    module_ : torch.nn.Module
    optimizer_ : torch.optim.Optimizer
    history_ : skorch.history.History
        One row per epoch (``history_[:, "train_loss"]``).
    n_iter_ : int
        Epochs run in total.
    device_ : str
    seed_ : int
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from skultr._torch import TorchMLPRegressor
    >>> X = np.random.RandomState(0).normal(size=(200, 3))
    >>> y = X @ [1.0, -2.0, 0.5]
    >>> reg = TorchMLPRegressor(lr=0.01, random_state=0, device="cpu").fit(X, y)
    >>> reg.score(X, y) > 0.95
    True
    >>> reg.history_[-1, "epoch"], reg.n_iter_
    (100, 100)
    """

    _parameter_constraints = {
        **BaseTorchEstimator._parameter_constraints,
        "hidden_layer_sizes": [tuple, list],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        *,
        hidden_layer_sizes=(64,),
        activation="relu",
        dropout=0.0,
        max_epochs=100,
        batch_size=256,
        lr=1e-3,
        optimizer="adam",
        weight_decay=0.0,
        clip_grad_norm=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        device="auto",
        random_state=None,
        verbose=0,
        warm_start=False,
        callbacks=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
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
        self.warm_start = warm_start
        self.callbacks = callbacks

    def _build_module(self):
        for size in self.hidden_layer_sizes:
            if not isinstance(size, Integral) or size < 1:
                raise ValueError(
                    "hidden_layer_sizes must hold positive integers; "
                    f"got {self.hidden_layer_sizes!r}."
                )
        return make_mlp(
            self.n_features_in_,
            self.hidden_layer_sizes,
            activation=self.activation,
            dropout=self.dropout,
        )

    def _loss(self, module, batch):
        X, y, *weights = batch  # no weight tensor at all when every weight is 1
        squared_error = (module(X).squeeze(-1) - y).square()
        if not weights:
            return squared_error.mean()
        return (weights[0] * squared_error).sum() / weights[0].sum()

    def _fit(self, X, y, sample_weight, *, incremental):
        X_given, y_given = X, y
        fresh, device = self._begin_fit(incremental)
        if fresh or incremental:
            check_shard_columns(self, X, fresh=fresh)
        X, y = validate_data(self, X, y, reset=fresh, y_numeric=True, dtype=np.float64)
        arrays = [X, y]
        if sample_weight is not None:
            arrays.append(_check_sample_weight(sample_weight, X, ensure_non_negative=True))
        tensors = tuple(to_tensor(a, device) for a in arrays)
        return self._train(tensors, fresh=fresh, incremental=incremental, X=X_given, y=y_given)

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic_fit
    def fit(self, X, y, sample_weight=None):
        """Fit the network on ``(X, y)`` for ``max_epochs`` epochs (fewer if it stops early)."""
        return self._fit(X, y, sample_weight, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic_fit
    def partial_fit(self, X, y, sample_weight=None):
        """Run one epoch over ``(X, y)``, starting a model on the first call."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """Predicted targets, float64 numpy array of shape (n_samples,)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        X = to_tensor(X, self.device_)
        return self._forward_batches(lambda module, x: module(x).squeeze(-1), (X,))
