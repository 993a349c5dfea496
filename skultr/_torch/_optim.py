"""Optimizer construction (once per model, never per step)."""

import torch

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adagrad": torch.optim.Adagrad,
    "sgd": torch.optim.SGD,
}


# Optimizers of models with sparse gradients (embedding tables with ``sparse=True``): a step
# updates only the rows a batch touched, so its cost follows the batch, not the tables.
# ``"adam"`` becomes lazy Adam (moments of a row advance only when the row has a gradient).
SPARSE_OPTIMIZERS = {
    "adam": torch.optim.SparseAdam,
    "adagrad": torch.optim.Adagrad,
    "sgd": torch.optim.SGD,
}


def make_optimizer(name, parameters, *, lr, weight_decay=0.0, sparse=False):
    """Build the optimizer ``name`` ("adam", "adagrad" or "sgd") over ``parameters``.

    ``sparse=True`` for parameters with sparse gradients; their L2 penalty belongs in the
    loss (on the rows of the batch), since a decay of whole tables would touch every row.
    """
    table = SPARSE_OPTIMIZERS if sparse else OPTIMIZERS
    try:
        cls = table[name]
    except KeyError:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}; got {name!r}.") from None
    if sparse:
        if weight_decay:
            raise ValueError(
                "weight_decay of a model with sparse gradients goes in its loss, not in the "
                f"optimizer; got weight_decay={weight_decay}."
            )
        return cls(list(parameters), lr=lr)
    return cls(parameters, lr=lr, weight_decay=weight_decay)
