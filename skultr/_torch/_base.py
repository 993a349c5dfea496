"""The base class of every neural estimator: parameters, fit plumbing, pickling."""

import copy
import math
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from skultr.utils._sklearn_compat import Interval, StrOptions
from skultr.utils._versions import VersionedPickleMixin

from ._batching import data_device, is_batch_source, iterate_batches, n_units, take_units
from ._device import loadable_device, resolve_device
from ._distributed import shared_seed
from ._loop import EarlyStopper, run_epochs
from ._optim import OPTIMIZERS, make_optimizer
from ._random import draw_seed, seeded, stream_seed


def to_tensor(array, device, dtype=torch.float32):
    """A contiguous tensor on ``device`` (float32 unless told otherwise)."""
    if isinstance(array, torch.Tensor):
        return array.to(device=device, dtype=dtype)
    numpy_dtype = {torch.float32: np.float32, torch.int64: np.int64, torch.bool: np.bool_}
    return torch.as_tensor(np.ascontiguousarray(array, dtype=numpy_dtype[dtype]), device=device)


class BaseTorchEstimator(VersionedPickleMixin, BaseEstimator, metaclass=ABCMeta):
    """Shared machinery of skultr's torch estimators.

    Subclasses declare their own keyword-only ``__init__`` (sklearn reads parameters from
    its signature) including the engine parameters below, and implement:

    - ``_build_module(self) -> torch.nn.Module``: called once per fresh fit, after input
      validation, inside a seeded context (so the initial weights follow ``random_state``).
    - ``_loss(self, module, batch) -> torch.Tensor``: the mean loss of one batch, a tuple
      of tensors sliced along the first dimension of the tensors given to ``_train``. It may
      return ``(loss, {name: part})`` instead, to log named parts of the loss per epoch in
      ``history_`` (as ``train_<name>`` / ``valid_<name>``).
    - optionally ``_optimizer_parameters(self, module)`` to return parameter groups (one
      group per sub-model: gradient clipping is applied per group).

    A subclass's ``fit`` calls ``fresh, device = self._begin_fit(incremental)`` before
    ``validate_data(..., reset=fresh)``, turns its data into tensors on ``device`` whose
    first dimension indexes the training units (rows, or lists for listwise losses) and
    calls ``self._train(tensors, fresh=fresh, incremental=incremental)``.

    Engine parameters
    -----------------
    max_epochs, batch_size, lr, optimizer ("adam" | "adagrad" | "sgd"), weight_decay,
    clip_grad_norm (None or max norm), early_stopping, validation_fraction,
    n_iter_no_change, tol, device ("auto" | "cpu" | "cuda" | "cuda:N"), random_state,
    verbose, warm_start, callbacks (skorch callbacks, see ``_callbacks``).

    The training contract, shared with the solvers that are not gradient descent (an ALS
    sweep is an ``epoch_step``): :meth:`_start_model` makes the model (initial weights from
    the ``"init"`` stream of ``seed_``), :meth:`_train` runs :func:`run_epochs`, which fills
    ``history_`` (skorch's columns), reports progress by ``verbose`` and calls the callbacks;
    ``n_iter_`` counts the epochs run on the model, across ``warm_start`` and ``partial_fit``.
    """

    _parameter_constraints: dict = {
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "clip_grad_norm": [None, Interval(Real, 0, None, closed="neither")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "callbacks": [None, list, tuple],
    }

    # Attributes holding torch objects that must not be pickled as device tensors.
    _TORCH_STATE = ("module_",)
    _PICKLE_TORCH_VERSION = True  # the pickle records torch's release, checked on load

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # CUDA kernels with atomics are not bit-reproducible; the CPU path is.
        tags.non_deterministic = str(self.device) != "cpu" and torch.cuda.is_available()
        return tags

    # -- hooks -------------------------------------------------------------------------
    @abstractmethod
    def _build_module(self):
        """Return the untrained torch module (after validation, inside the seeded context)."""

    @abstractmethod
    def _loss(self, module, batch):
        """Return the mean loss of one batch as a scalar tensor (or ``(loss, parts)``)."""

    def _optimizer_parameters(self, module):
        return module.parameters()

    # -- fitting -----------------------------------------------------------------------
    def _begin_fit(self, incremental):
        """Decide whether this call starts a new model, and on which device.

        Returns ``(fresh, device)``: ``fresh`` is False when the call continues the fitted
        model (``partial_fit``, or ``fit`` with ``warm_start=True``). Nothing is set on the
        estimator, so a call that then fails validation leaves it untouched.
        """
        fresh = not (hasattr(self, "module_") and (incremental or self.warm_start))
        device = resolve_device(self.device) if fresh else torch.device(self.device_)
        return fresh, device

    def _start_model(self, device, *, seed=None, optimizer=True):
        """A fresh model on ``device``: seed, initial weights, optimizer, empty history.

        ``seed`` is the fit's seed when the caller drew it earlier (models whose fit uses
        it before training); ``optimizer=False`` for models trained by a solver step.
        """
        self.device_ = str(device)
        # data-parallel: rank 0's seed on every rank (random_state=None included)
        self.seed_ = shared_seed(draw_seed(self.random_state) if seed is None else seed)
        with seeded(stream_seed(self.seed_, "init"), self.device_):
            self.module_ = self._build_module().to(self.device_)
        self.optimizer_ = self._new_optimizer() if optimizer else None
        self.history_ = History()
        self.n_iter_ = 0
        self._callbacks = self._fresh_callbacks()

    def _fresh_callbacks(self):
        from ._callbacks import initialised_copies

        return initialised_copies(getattr(self, "callbacks", None))

    def _new_optimizer(self):
        """The optimizer of ``module_`` built from the parameters (state not included)."""
        return make_optimizer(
            self.optimizer,
            self._optimizer_parameters(self.module_),
            lr=self.lr,
            weight_decay=self._optimizer_weight_decay(),
            sparse=self._sparse_gradients(),
        )

    def _optimizer_weight_decay(self):
        return self.weight_decay

    def _sparse_gradients(self):
        """Whether the module's gradients are sparse (then a sparse optimizer is used)."""
        return False

    def _callback_runner(self, train, batch_size, X, y):
        if not hasattr(self, "_callbacks"):  # unpickled: callbacks are not pickled
            self._callbacks = self._fresh_callbacks()
        if not self._callbacks:
            return None
        from ._callbacks import CallbackRunner, NetView

        net = NetView(self, train, batch_size, X, y)
        return CallbackRunner(self._callbacks, net)

    def _split_validation(self, tensors):
        """``(train, valid)`` units of ``tensors`` (tensors, or a batch source: a view)."""
        n = n_units(tensors)
        n_valid = math.ceil(self.validation_fraction * n)
        if n - n_valid < 1 or n_valid < 1:
            raise ValueError(
                f"early_stopping=True needs at least 2 training units to hold out a "
                f"validation_fraction={self.validation_fraction} of them; got {n}."
            )
        order = np.random.RandomState(stream_seed(self.seed_, "split")).permutation(n)
        if is_batch_source(tensors):  # unit ids only: the source's data is shared
            return take_units(tensors, order[n_valid:]), take_units(tensors, order[:n_valid])
        index = torch.as_tensor(order, device=tensors[0].device)
        valid, train = index[:n_valid], index[n_valid:]
        return take_units(tensors, train), take_units(tensors, valid)

    def _train(
        self,
        tensors,
        *,
        fresh,
        incremental=False,
        X=None,
        y=None,
        epoch_step=None,
        converged=None,
    ):
        """Train on device ``tensors``: ``max_epochs`` epochs, or one for ``partial_fit``.

        ``tensors`` may also be a batch source (see :class:`~skultr._torch._batching.
        BatchSource`): data kept in host memory, batches built per step; the early-stopping
        split then selects its units without copying them.

        ``X, y`` as passed to ``fit``: the data skorch scoring callbacks score. A model
        trained by a solver step passes ``epoch_step`` (one sweep, returning its objective)
        and optionally ``converged``; ``tensors`` then only fixes the device.
        """
        if not is_batch_source(tensors):
            tensors = tuple(tensors)
        if fresh:
            self._start_model(data_device(tensors), optimizer=epoch_step is None)
        elif epoch_step is None and getattr(self, "optimizer_", None) is None:
            # continuing a model whose optimizer state was not kept: a fresh optimizer
            self.optimizer_ = self._new_optimizer()
        valid = stopper = None
        if getattr(self, "early_stopping", False) and not incremental:
            tensors, valid = self._split_validation(tensors)
            stopper = EarlyStopper(self.n_iter_no_change, self.tol)
        train = None if epoch_step is not None else tensors
        run_epochs(
            module=self.module_,
            optimizer=self.optimizer_,
            loss_fn=self._loss,
            train=train,
            valid=valid,
            stopper=stopper,
            n_epochs=1 if incremental else self.max_epochs,
            batch_size=self.batch_size,
            seed=self.seed_,
            first_epoch=self.n_iter_,
            clip_grad_norm=getattr(self, "clip_grad_norm", None),
            history=self.history_,
            verbose=self.verbose,
            description=type(self).__name__,
            epoch_step=epoch_step,
            converged=converged,
            callbacks=self._callback_runner(train, self.batch_size, X, y),
        )
        self.n_iter_ = len(self.history_)
        if stopper is not None:
            self.best_epoch_ = stopper.best_epoch
        self.module_.eval()
        return self

    # -- prediction --------------------------------------------------------------------
    @torch.no_grad()
    def _forward_batches(self, forward, tensors, batch_size=None):
        """Apply ``forward(module, *batch)`` over ``tensors`` in eval mode; numpy float64."""
        check_is_fitted(self)
        self.module_.eval()
        batch_size = batch_size or max(self.batch_size, 8192)
        outputs = [forward(self.module_, *batch) for batch in iterate_batches(tensors, batch_size)]
        return torch.cat(outputs).cpu().numpy().astype(np.float64)

    # -- pickling ----------------------------------------------------------------------
    def __getstate__(self):
        # A copy: on Python >= 3.11 object.__getstate__ returns the live __dict__.
        state = dict(super().__getstate__())
        state.pop("_callbacks", None)  # live callbacks (progress bars, schedulers) stay here
        if state.get("optimizer_") is not None:
            state["optimizer_"] = _tree_to_cpu(state["optimizer_"].state_dict())
        for name in self._TORCH_STATE:
            value = state.get(name)
            if isinstance(value, torch.nn.Module) and _module_device(value).type != "cpu":
                state[name] = copy.deepcopy(value).cpu()
        return state

    def __setstate__(self, state):
        had_optimizer = "optimizer_" in state
        optimizer_state = state.pop("optimizer_", None)
        super().__setstate__(state)
        if had_optimizer and optimizer_state is None:
            self.optimizer_ = None  # a model trained by a solver step
        if "device_" not in state:
            return
        device = loadable_device(state["device_"])
        self.device_ = str(device)
        for name in self._TORCH_STATE:
            value = getattr(self, name, None)
            if isinstance(value, torch.nn.Module):
                value.to(device)
        if optimizer_state is not None and hasattr(self, "module_"):
            self.optimizer_ = self._new_optimizer()
            self.optimizer_.load_state_dict(optimizer_state)


def _module_device(module):
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def _tree_to_cpu(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {key: _tree_to_cpu(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_tree_to_cpu(value) for value in obj)
    return obj
