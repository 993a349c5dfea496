"""A fit that fails leaves the estimator as it was; running out of memory says what to lower.

:func:`atomic_fit` wraps the ``fit`` and ``partial_fit`` of every estimator trained by the
engine. Before the call it keeps:

- the estimator's attributes (a shallow copy of ``vars``: the fitted attributes are replaced,
  not changed in place, by a fit);
- for the torch objects a continued fit changes in place (``warm_start``, ``partial_fit``):
  the structure of each module (its submodules, parameters and buffers, which a growing
  catalogue replaces), a host copy of every parameter and buffer, a host copy of the
  optimizer state and a copy of ``history_``.

When the call raises, all of it is put back (the values copied in place, so nothing new is
allocated on the device) and the error goes on. An error of the allocator (device or host
memory) becomes one that names the estimator, the call, the device and the parameter to
lower (``batch_size``, or what the estimator's ``_memory_advice`` says), and that the model
was left as it was. A ``KeyboardInterrupt`` is not an error here: like skorch, the model
trained so far is kept.

The host copies cost one copy of the parameters and optimizer state per continued call
(fresh fits copy nothing), at most ``SNAPSHOT_BYTES`` (256 MiB): a larger model (a factor
model of millions of users with Adam's moments) would pay a copy of that size on every
``partial_fit`` shard (0.4 s for 850 MB here, on top of a shard's epoch of a second or two).
Above it no value is copied (the structure still is), and a continued call that fails
once training has started (the engine's loop calls :func:`training_started`) leaves the
estimator *unfitted* (its parameters only) rather than half-updated, and says so: keep
checkpoints with skorch's ``Checkpoint`` callback to resume such a model. A call that fails
before (validation, a shard with other columns) restores it exactly at any size.

torch is imported only when the estimator holds torch objects,
so the numpy estimators that use this decorator import without it.
"""

import contextvars
import copy
import functools
import sys

_CURRENT = contextvars.ContextVar("skultr_fit_snapshot", default=None)


def training_started():
    """Called by the engine's loop before its first step: values may change from here."""
    snapshot = _CURRENT.get()
    if snapshot is not None:
        snapshot.trained = True


_ALLOCATOR_MESSAGES = ("out of memory", "can't allocate memory", "failed to allocate memory")


def is_out_of_memory(exc):
    """Whether ``exc`` is an allocation failure (torch's device or host allocator, numpy)."""
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and any(
        text in str(exc).lower() for text in _ALLOCATOR_MESSAGES
    )


def atomic_fit(method):
    """Decorate ``fit`` / ``partial_fit``: on an error, restore the estimator, then raise."""

    @functools.wraps(method)
    def fit(self, *args, **kwargs):
        continued = method.__name__ == "partial_fit" or getattr(self, "warm_start", False)
        snapshot = _Snapshot(self, copy_torch_state=continued)
        token = _CURRENT.set(snapshot)
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            device = getattr(self, "device_", None) or getattr(self, "device", "cpu")
            outcome = snapshot.restore(self)
            if is_out_of_memory(exc) and not isinstance(exc, _ReportedOutOfMemory):
                raise _out_of_memory_error(self, method.__name__, exc, device, outcome) from exc
            if outcome != _RESTORED and hasattr(exc, "add_note"):  # Python >= 3.11
                exc.add_note(outcome)
            raise
        finally:
            _CURRENT.reset(token)

    return fit


class _ReportedOutOfMemory(MemoryError):
    """The error :func:`atomic_fit` raises for an allocation failure (a ``MemoryError``)."""


def _out_of_memory_error(estimator, method, exc, device, outcome):
    name = type(estimator).__name__
    advice = None
    if hasattr(estimator, "_memory_advice"):
        advice = estimator._memory_advice()
    if advice is None:
        batch_size = getattr(estimator, "batch_size", None)
        if batch_size is not None:
            advice = (
                f"lower batch_size (now {batch_size}, for example to {max(1, batch_size // 2)})"
            )
        else:
            advice = "train on smaller shards with partial_fit"
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return _ReportedOutOfMemory(
        f"{name}.{method} ran out of memory on device {device!r}: {advice}. {outcome} "
        f"(The allocator said: {first_line})"
    )


SNAPSHOT_BYTES = 256 * 2**20
_RESTORED = "The estimator was left as it was before this call."


class _Snapshot:
    """What :func:`atomic_fit` puts back (see the module docstring)."""

    def __init__(self, estimator, *, copy_torch_state):
        self.attributes = dict(vars(estimator))
        self.parameters = set(estimator.get_params(deep=False))
        self.too_large = None
        self.trained = False
        torch = sys.modules.get("torch")
        history_type = getattr(sys.modules.get("skorch.history"), "History", ())
        copy_torch_state = copy_torch_state and torch is not None
        self.modules = []
        self.optimizers = []
        self.histories = []
        if copy_torch_state:
            size = _torch_state_bytes(self.attributes.values(), torch)
            if size > SNAPSHOT_BYTES:
                self.too_large = size
        # A fresh fit builds new torch objects and leaves the old ones alone.
        for value in self.attributes.values() if copy_torch_state else ():
            if isinstance(value, torch.nn.Module):
                values = None if self.too_large else _host_state(value)
                self.modules.append((value, _module_structure(value), values))
            elif self.too_large:
                continue
            elif isinstance(value, torch.optim.Optimizer):
                self.optimizers.append((value, _host_tree(value.state_dict())))
            elif isinstance(value, history_type):
                self.histories.append((value, copy.deepcopy(list(value))))

    def restore(self, estimator):
        """Put the estimator back; return the sentence that says what it is now."""
        state = vars(estimator)
        state.clear()
        if self.too_large is not None and self.trained:  # values changed, not copied
            state.update({k: v for k, v in self.attributes.items() if k in self.parameters})
            return (
                f"The model's state ({self.too_large / 2**20:.0f} MiB) is above the "
                f"{SNAPSHOT_BYTES // 2**20} MiB kept for a failed call, so the estimator was "
                "reset to unfitted rather than left half-updated; keep checkpoints with "
                "skorch's Checkpoint callback to resume a model of this size."
            )
        state.update(self.attributes)
        for module, structure, values in self.modules:
            for submodule, children, parameters, buffers in structure:
                _replace(submodule._modules, children)
                _replace(submodule._parameters, parameters)
                _replace(submodule._buffers, buffers)
            for tensor, saved in zip(_tensors(module), values or (), strict=values is not None):
                tensor.detach().copy_(saved)
        for optimizer, saved in self.optimizers:
            optimizer.load_state_dict(saved)
        for history, rows in self.histories:
            history[:] = rows
        return _RESTORED


def _torch_state_bytes(values, torch):
    """Bytes of the tensors of the modules and optimizer states among ``values``."""
    total = 0
    for value in values:
        if isinstance(value, torch.nn.Module):
            tensors = _tensors(value)
        elif isinstance(value, torch.optim.Optimizer):
            tensors = [
                t for entry in value.state.values() for t in entry.values() if torch.is_tensor(t)
            ]
        else:
            continue
        total += sum(t.numel() * t.element_size() for t in tensors)
    return total


def _module_structure(module):
    return [
        (sub, dict(sub._modules), dict(sub._parameters), dict(sub._buffers))
        for sub in module.modules()
    ]


def _tensors(module):
    return [t for t in (*module.parameters(), *module.buffers()) if t is not None]


def _host_state(module):
    return [t.detach().to("cpu", copy=True) for t in _tensors(module)]


def _host_tree(obj):
    if isinstance(obj, sys.modules["torch"].Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {key: _host_tree(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_host_tree(value) for value in obj)
    return copy.deepcopy(obj)


def _replace(target, saved):
    target.clear()
    target.update(saved)
