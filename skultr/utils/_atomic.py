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
(fresh fits copy nothing). torch is imported only when the estimator holds torch objects,
so the numpy estimators that use this decorator import without it.
"""

import copy
import functools
import sys

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
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            snapshot.restore(self)
            if is_out_of_memory(exc) and not isinstance(exc, _ReportedOutOfMemory):
                raise _out_of_memory_error(self, method.__name__, exc) from exc
            raise

    return fit


class _ReportedOutOfMemory(MemoryError):
    """The error :func:`atomic_fit` raises for an allocation failure (a ``MemoryError``)."""


def _out_of_memory_error(estimator, method, exc):
    name = type(estimator).__name__
    device = getattr(estimator, "device_", None) or getattr(estimator, "device", "cpu")
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
        f"{name}.{method} ran out of memory on device {device!r}: {advice}. The estimator "
        f"was left as it was before this call. (The allocator said: {first_line})"
    )


class _Snapshot:
    """What :func:`atomic_fit` puts back (see the module docstring)."""

    def __init__(self, estimator, *, copy_torch_state):
        self.attributes = dict(vars(estimator))
        torch = sys.modules.get("torch")
        history_type = getattr(sys.modules.get("skorch.history"), "History", ())
        copy_torch_state = copy_torch_state and torch is not None
        self.modules = []
        self.optimizers = []
        self.histories = []
        # A fresh fit builds new torch objects and leaves the old ones alone.
        for value in self.attributes.values() if copy_torch_state else ():
            if isinstance(value, torch.nn.Module):
                self.modules.append((value, _module_structure(value), _host_state(value)))
            elif isinstance(value, torch.optim.Optimizer):
                self.optimizers.append((value, _host_tree(value.state_dict())))
            elif isinstance(value, history_type):
                self.histories.append((value, copy.deepcopy(list(value))))

    def restore(self, estimator):
        state = vars(estimator)
        state.clear()
        state.update(self.attributes)
        for module, structure, values in self.modules:
            for submodule, children, parameters, buffers in structure:
                _replace(submodule._modules, children)
                _replace(submodule._parameters, parameters)
                _replace(submodule._buffers, buffers)
            for tensor, saved in zip(_tensors(module), values, strict=True):
                tensor.detach().copy_(saved)
        for optimizer, saved in self.optimizers:
            optimizer.load_state_dict(saved)
        for history, rows in self.histories:
            history[:] = rows


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
