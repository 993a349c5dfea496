"""Batches of training units: sliced from device tensors, or built by a batch source.

:func:`iterate_batches` slices tensors that already live on the training device (the fast
path, for data that fits there); a :class:`BatchSource` keeps its data in host memory and
builds each batch when the loop asks for it (data larger than the device, or than a
padded copy in memory).
"""

import copy
from abc import ABC, abstractmethod

import numpy as np
import torch


def n_units(tensors):
    """Length of the first dimension shared by all ``tensors`` (or a batch source's units)."""
    if is_batch_source(tensors):
        return tensors.n_units
    lengths = {int(t.shape[0]) for t in tensors}
    if len(lengths) != 1:
        raise ValueError(f"tensors must share their first dimension; got lengths {lengths}.")
    return lengths.pop()


def _piece(start, stop, part):
    """The bounds of piece ``rank`` of ``size`` contiguous pieces of ``[start, stop)``."""
    if part is None:
        return start, stop
    rank, size = part
    n = stop - start
    return start + n * rank // size, start + n * (rank + 1) // size


def iterate_batches(tensors, batch_size, *, shuffle=False, generator=None, part=None):
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
    part : (rank, size), optional
        Data-parallel training: yield only piece ``rank`` of each batch cut into ``size``
        contiguous pieces (``None`` for an empty piece), so that the ``size`` processes
        together compute the batches of one process.
    """
    tensors = tuple(tensors)
    n = n_units(tensors)
    if shuffle:
        device = tensors[0].device
        order = torch.randperm(n, device=device, generator=generator)
        for start in range(0, n, batch_size):
            first, last = _piece(start, min(start + batch_size, n), part)
            index = order[first:last]
            yield tuple(t[index] for t in tensors) if last > first else None
    else:
        for start in range(0, n, batch_size):
            first, last = _piece(start, min(start + batch_size, n), part)
            yield tuple(t[first:last] for t in tensors) if last > first else None


# --------------------------------------------------------------------------------------------
# Batch sources: data kept in host memory, batches built per step
# --------------------------------------------------------------------------------------------


class BatchSource(ABC):
    """Training data that builds its batches on demand instead of living on the device.

    :func:`~skultr._torch._loop.run_epochs` and ``BaseTorchEstimator._train`` accept an
    object with this interface wherever they accept a tuple of device tensors:

    - ``n_units`` (int): the number of training units (rows, or lists);
    - ``device`` (torch.device): where the batches it yields live (the generator that
      shuffles an epoch is made for this device);
    - ``batches(batch_size, *, shuffle=False, generator=None, part=None)``: an iterator of
      tuples of tensors for one epoch, unit order as :func:`iterate_batches` would give it
      over the tensors of the same units (the same permutation draw: same seed, same
      order); ``part=(rank, size)`` yields only piece ``rank`` of each batch, as there;
    - ``subset(index)``: a source over the units ``index`` (in that order) that shares the
      data: the validation split selects units, it does not copy them.

    This base class implements all of it over a ``unit`` index array (int64, one entry per
    unit, so O(n_units) memory); a subclass implements ``gather(units, skip_empty=True)``,
    which returns the batch of the given unit ids (a numpy int64 array) as a tuple of
    tensors on ``device``. A training batch may leave out units that cannot contribute to
    the loss or its gradient (``skip_empty``); it is then a :class:`Batch` whose
    ``n_units`` still counts them, so that epoch means weigh batches as before.
    """

    # Unit ids live on the host (numpy) for a host source, on the device for tensors.
    _host_index = True

    def __init__(self, n_units, device, units=None, keep=None):
        self.device = torch.device(device)
        self._n_total = int(n_units)
        self._units = units  # None: every unit, in order (no index array)
        self._keep = keep  # None, or per unit id: whether it can contribute to the loss

    @property
    def n_units(self):
        return self._n_total if self._units is None else len(self._units)

    def _index(self, values):
        """``values`` (ids or positions) in this source's index space."""
        if self._host_index:
            values = values.cpu().numpy() if isinstance(values, torch.Tensor) else values
            return np.asarray(values).astype(np.int64, copy=False)
        return torch.as_tensor(values, dtype=torch.int64, device=self.device)

    def unit_ids(self):
        """Ids of this source's units, in order (int64, in the source's index space)."""
        if self._units is not None:
            return self._units
        if self._host_index:
            return np.arange(self._n_total, dtype=np.int64)
        return torch.arange(self._n_total, device=self.device)

    @abstractmethod
    def gather(self, units, skip_empty=True):
        """The batch of units ``units`` (ids into the whole data) as device tensors."""

    def batches(self, batch_size, *, shuffle=False, generator=None, part=None):
        n = self.n_units
        if shuffle:
            # The same draw as iterate_batches over device tensors of n units.
            order = self._index(torch.randperm(n, device=self.device, generator=generator))
            ids = order if self._units is None else self._units[order]
        else:
            ids = self.unit_ids()
        starts = range(0, n, batch_size)
        if self._keep is None:
            for start in starts:
                first, last = _piece(start, min(start + batch_size, n), part)
                units = ids[first:last]
                yield Batch(self.gather(units), len(units)) if last > first else None
            return
        # Batches are cut from the order of all units, then lose the units that cannot
        # contribute: the same batches as over all units, with less to gather and compute.
        keep = self._keep[ids]
        kept = ids[keep]
        ends = np.zeros(n + 1, dtype=np.int64)  # kept units among the first i: one sync
        if self._host_index:
            np.cumsum(keep, out=ends[1:])
        else:
            ends[1:] = torch.cumsum(keep, 0).cpu().numpy()
        for start in starts:
            start, stop = _piece(start, min(start + batch_size, n), part)
            if stop == start:  # an empty piece of a data-parallel batch
                yield None
                continue
            first, last = ends[start], ends[stop]
            units = kept[first:last] if last > first else ids[start : start + 1]
            yield Batch(self.gather(units), stop - start)

    def subset(self, index):
        part = copy.copy(self)  # shares the data: only the unit index is new
        part._units = self.unit_ids()[self._index(index)]
        return part

    def to_tensors(self, chunk_size=4096):
        """Every unit's batch, concatenated: the in-memory form of the same data."""
        ids = self.unit_ids()
        out = None
        for start in range(0, len(ids), chunk_size):
            batch = self.gather(ids[start : start + chunk_size], skip_empty=False)
            if out is None:  # allocated once: no list of chunks and no concatenated copy
                out = tuple(
                    torch.empty((len(ids), *t.shape[1:]), dtype=t.dtype, device=t.device)
                    for t in batch
                )
            for target, part in zip(out, batch, strict=True):
                target[start : start + len(part)] = part
        return out


class TensorSource(BatchSource):
    """Device tensors as a batch source: batches are sliced from them (the in-memory form).

    With ``keep`` (a boolean device tensor over units) the units that cannot contribute
    are left out of each batch, as a host source does; without it the batches are those of
    :func:`iterate_batches`.
    """

    _host_index = False

    def __init__(self, tensors, keep=None):
        tensors = tuple(tensors)
        super().__init__(n_units(tensors), tensors[0].device, keep=keep)
        self.tensors = tensors

    def gather(self, units, skip_empty=True):
        return tuple(t[units] for t in self.tensors)


class Batch(tuple):
    """A batch (tuple of tensors) standing for ``n_units`` units, some possibly left out."""

    n_units: int

    def __new__(cls, tensors, n_units):
        batch = super().__new__(cls, tensors)
        batch.n_units = int(n_units)
        return batch


def batch_units(batch):
    """Units a batch stands for (its first dimension, unless it is a :class:`Batch`)."""
    return getattr(batch, "n_units", None) or int(batch[0].shape[0])


def is_batch_source(data):
    """Whether ``data`` is a batch source (else a sequence of device tensors)."""
    return hasattr(data, "batches") and hasattr(data, "subset")


def data_device(data):
    """Device of the batches of ``data`` (tensors or a batch source)."""
    return data.device if is_batch_source(data) else tuple(data)[0].device


def epoch_batches(data, batch_size, *, shuffle=False, generator=None, part=None):
    """Batches of one epoch from device tensors (:func:`iterate_batches`) or a batch source.

    ``part=(rank, size)`` yields piece ``rank`` of each batch (see :func:`iterate_batches`).
    """
    if is_batch_source(data):
        return data.batches(batch_size, shuffle=shuffle, generator=generator, part=part)
    return iterate_batches(data, batch_size, shuffle=shuffle, generator=generator, part=part)


def take_units(data, index):
    """Units ``index`` of ``data``: gathered tensors, or a batch source sharing the data."""
    if is_batch_source(data):
        return data.subset(index)
    return tuple(t[index] for t in data)
