"""Whole-batch iteration over tensors that already live on the training device."""

import torch


def n_units(tensors):
    """Length of the first dimension shared by all ``tensors``."""
    lengths = {int(t.shape[0]) for t in tensors}
    if len(lengths) != 1:
        raise ValueError(f"tensors must share their first dimension; got lengths {lengths}.")
    return lengths.pop()


def iterate_batches(tensors, batch_size, *, shuffle=False, generator=None):
    """Yield tuples of batches sliced from ``tensors`` along their first dimension.

    No per-sample Python code runs: a shuffled epoch draws one permutation on the
    tensors' device and gathers each batch with one indexing call per tensor; an
    unshuffled epoch yields views.

    Parameters
    ----------
    tensors : sequence of torch.Tensor
        Tensors with the same first dimension (rows, or lists for listwise data).
    batch_size : int
        Units per batch; the last batch may be smaller.
    shuffle : bool, default=False
        Draw a random order for this epoch.
    generator : torch.Generator, optional
        Source of the permutation, on the tensors' device (see
        :func:`skultr._torch._random.epoch_generator`).
    """
    tensors = tuple(tensors)
    n = n_units(tensors)
    if shuffle:
        device = tensors[0].device
        order = torch.randperm(n, device=device, generator=generator)
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            yield tuple(t[index] for t in tensors)
    else:
        for start in range(0, n, batch_size):
            yield tuple(t[start : start + batch_size] for t in tensors)
