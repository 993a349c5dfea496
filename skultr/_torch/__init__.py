"""The shared torch engine of skultr's neural estimators (private).

- :func:`resolve_device` — ``"auto" | "cpu" | "cuda" | "cuda:N"`` to a torch device.
- :func:`draw_seed`, :func:`seeded` — reproducible fits from ``random_state``.
- :func:`iterate_batches` — whole-batch slicing of device tensors, seeded shuffling.
- :func:`make_optimizer` — adam, adagrad or sgd, created once per model.
- :func:`run_epochs`, :class:`EarlyStopper` — the training loop.
- :class:`BaseTorchEstimator` — parameters, fit/partial_fit/warm_start plumbing, pickling
  that loads on a CPU-only machine.
"""

from ._base import BaseTorchEstimator, to_tensor
from ._batching import iterate_batches
from ._device import loadable_device, resolve_device
from ._loop import EarlyStopper, run_epochs
from ._modules import make_mlp
from ._optim import make_optimizer
from ._random import draw_seed, seeded
from ._reference import TorchMLPRegressor

__all__ = [
    "BaseTorchEstimator",
    "EarlyStopper",
    "TorchMLPRegressor",
    "draw_seed",
    "iterate_batches",
    "loadable_device",
    "make_mlp",
    "make_optimizer",
    "resolve_device",
    "run_epochs",
    "seeded",
    "to_tensor",
]
