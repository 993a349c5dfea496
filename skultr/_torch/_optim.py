"""Optimizer construction (once per model, never per step)."""

import torch

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adagrad": torch.optim.Adagrad,
    "sgd": torch.optim.SGD,
}


def make_optimizer(name, parameters, *, lr, weight_decay=0.0):
    """Build the optimizer ``name`` ("adam", "adagrad" or "sgd") over ``parameters``."""
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}; got {name!r}.") from None
    return cls(parameters, lr=lr, weight_decay=weight_decay)
