"""skorch callbacks on skultr's training loop.

A skorch callback is written against a ``skorch.NeuralNet``: it reads ``net.history``,
``net.module_`` and ``net.optimizer_``, saves and loads state through ``net.save_params`` /
``net.load_params``, scores through ``net.predict`` and counts batches through
``net.get_iterator``. :class:`NetView` offers exactly those to a skultr estimator while it
trains, and :class:`CallbackRunner` calls the callbacks' hooks from
:func:`~skultr._torch._loop.run_epochs` in skorch's order (``on_train_begin``,
``on_epoch_begin``, ``on_batch_begin``, ``on_grad_computed``, ``on_batch_end``,
``on_epoch_end``, ``on_train_end``).

What works: ``LRScheduler`` (epoch and batch policies, ``ReduceLROnPlateau`` on any history
column), ``Checkpoint`` / ``TrainEndCheckpoint`` / ``LoadInitState`` (module, optimizer and
history, so a long fit resumes where it stopped), ``EpochScoring`` / ``BatchScoring`` with a
scorer on the data passed to ``fit`` (``on_train=True``; the engine's validation split lives
in tensor space, so ``on_train=False`` has no data to score and is rejected), ``ProgressBar``,
``GradientNormClipping`` and any callback that only reads the history. Estimators trained by a
solver step (alternating least squares) have no optimizer: a callback that needs one fails
with a clear error.
"""

import copy

import torch

from ._batching import n_units


class NetView:
    """The parts of a ``skorch.NeuralNet`` that callbacks use, backed by an estimator.

    Scorers see it as the estimator: its parameters and tags are the estimator's.
    """

    use_caching = False  # EpochScoring then calls net.predict on the data it scores

    def __init__(
        self, estimator, train, batch_size, X=None, y=None, *, module=None, optimizer=None
    ):
        self._estimator = estimator
        # The trained module and optimizer: the estimator's ``module_`` / ``optimizer_``
        # unless the fit trains a local model (KernelBalancingPropensity's weight model).
        self._module = module
        self._optimizer = optimizer
        self._n_batches = max(-(-n_units(train) // batch_size), 1) if train else 1
        self._X, self._y = X, y

    # -- state skorch callbacks read -------------------------------------------------------
    @property
    def history(self):
        return self._estimator.history_

    @property
    def module_(self):
        return self._module if self._module is not None else self._estimator.module_

    @property
    def optimizer_(self):
        optimizer = self._optimizer or getattr(self._estimator, "optimizer_", None)
        if optimizer is None:
            raise AttributeError(
                f"{type(self._estimator).__name__} is trained by a solver step, not by an "
                "optimizer: callbacks that need net.optimizer_ (LRScheduler, saving "
                "f_optimizer) cannot work with it."
            )
        return optimizer

    @property
    def verbose(self):
        return self._estimator.verbose

    @property
    def device(self):
        return self._estimator.device_

    def get_iterator(self, dataset, training=False):
        """A sized stand-in for a DataLoader (ProgressBar counts the batches of an epoch)."""
        return range(self._n_batches if training else 0)

    def get_all_learnable_params(self):
        return self.module_.named_parameters()

    def fit(self, *args, **kwargs):
        """Present so scikit-learn's ``check_scoring`` accepts the view; never called."""
        raise RuntimeError("a callback cannot refit the estimator it watches.")

    def get_params(self, deep=True):
        return self._estimator.get_params(deep=deep)

    def __sklearn_tags__(self):
        return self._estimator.__sklearn_tags__()

    # -- scoring -------------------------------------------------------------------------
    def _ready(self):
        sync = getattr(self._estimator, "_sync_fitted_state", None)
        if sync is not None:
            sync()
        self.module_.eval()

    def predict(self, X):
        self._ready()
        try:
            return self._estimator.predict(X)
        finally:
            self.module_.train()

    def predict_proba(self, X):
        self._ready()
        try:
            return self._estimator.predict_proba(X)
        finally:
            self.module_.train()

    def decision_function(self, X):
        self._ready()
        try:
            return self._estimator.decision_function(X)
        finally:
            self.module_.train()

    def score(self, X, y=None):
        self._ready()
        try:
            return self._estimator.score(X, y)
        finally:
            self.module_.train()

    # -- checkpoints -----------------------------------------------------------------------
    def save_params(
        self, f_params=None, f_optimizer=None, f_criterion=None, f_history=None, **kwargs
    ):
        if kwargs.get("use_safetensors"):
            raise ValueError("skultr checkpoints are saved with torch.save, not safetensors.")
        f_params = f_params or kwargs.get("f_module")  # skorch's name for the module's file
        if f_params is not None:
            torch.save(self.module_.state_dict(), f_params)
        if f_optimizer is not None:
            torch.save(self.optimizer_.state_dict(), f_optimizer)
        if f_history is not None:
            self.history.to_file(f_history)
        # f_criterion: skultr's losses hold no state.

    def load_params(
        self,
        f_params=None,
        f_optimizer=None,
        f_criterion=None,
        f_history=None,
        checkpoint=None,
        **kwargs,
    ):
        from skorch.history import History

        if checkpoint is not None:
            # The history first: the checkpoint's file names are formatted from it.
            if f_history is None and checkpoint.f_history is not None:
                self._load_history(History.from_file(checkpoint.f_history_))
            files = checkpoint.get_formatted_files(self)
            f_params = f_params or files.get("f_params") or files.get("f_module")
            f_optimizer = f_optimizer or files.get("f_optimizer")
        f_params = f_params or kwargs.get("f_module")
        device = self._estimator.device_
        if f_params is not None:
            state = torch.load(f_params, map_location=device, weights_only=True)
            self.module_.load_state_dict(state)
        optimizer = self._optimizer or getattr(self._estimator, "optimizer_", None)
        if f_optimizer is not None and optimizer is not None:
            state = torch.load(f_optimizer, map_location=device, weights_only=True)
            optimizer.load_state_dict(state)
        if f_history is not None:
            self._load_history(History.from_file(f_history))

    def _load_history(self, history):
        self._estimator.history_ = history
        self._estimator.n_iter_ = len(history)


def initialised_copies(callbacks):
    """Initialised deep copies of a ``callbacks`` parameter (the parameter stays as given)."""
    callbacks = copy.deepcopy(list(callbacks or []))
    return [callback.initialize() or callback for callback in callbacks]


class CallbackRunner:
    """Calls skorch callbacks from the training loop with a :class:`NetView` as ``net``."""

    def __init__(self, callbacks, net):
        self.callbacks = list(callbacks)
        self.net = net
        self._dataset = None
        if net._X is not None:
            from skorch.dataset import Dataset

            self._dataset = Dataset(net._X, net._y)
        for callback in self.callbacks:
            if getattr(callback, "on_train", True) is False:
                raise ValueError(
                    f"{type(callback).__name__}(on_train=False) scores the validation data, "
                    "which skultr splits off in tensor space: pass on_train=True (it scores "
                    "the data given to fit) or score held-out data after fitting."
                )

    def _each(self, hook, **kwargs):
        for callback in self.callbacks:
            getattr(callback, hook)(self.net, **kwargs)

    def train_begin(self, first_epoch):
        """Returns the number of epochs already run, which a loaded checkpoint may change."""
        history_before = self.net.history
        self._each("on_train_begin", X=self.net._X, y=self.net._y)
        if self.net.history is not history_before:
            return len(self.net.history)
        return first_epoch

    def epoch_begin(self):
        self._each("on_epoch_begin", dataset_train=self._dataset, dataset_valid=None)

    def batch_begin(self, batch):
        self.net.history.new_batch()
        self._each("on_batch_begin", batch=batch, training=True)

    def grad_computed(self, batch):
        self._each(
            "on_grad_computed",
            named_parameters=list(self.net.module_.named_parameters()),
            batch=batch,
            training=True,
        )

    def batch_end(self, batch, loss, size):
        self.net.history.record_batch("train_loss", loss)
        self.net.history.record_batch("train_batch_size", size)
        self._each("on_batch_end", batch=batch, training=True, loss=loss, y_pred=None)

    def epoch_end(self):
        self._each("on_epoch_end", dataset_train=self._dataset, dataset_valid=None)

    def train_end(self):
        self._each("on_train_end", X=self.net._X, y=self.net._y)
