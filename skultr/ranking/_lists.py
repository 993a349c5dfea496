"""Click logs as padded list tensors, and the weighted listwise loss shared by the rankers.

A click log has one row per displayed document: features ``X``, a click ``y`` in {0, 1},
the list (session) id ``qid`` and the 1-based displayed ``position``. The rankers train on
lists, so the rows are gathered into padded tensors whose first dimension indexes lists:

- ``features`` ``(n_lists, width, n_features)``, ``clicks`` ``(n_lists, width)``,
- ``positions`` ``(n_lists, width)``, 0-based, and ``mask`` ``(n_lists, width)``,
- optionally ``weights`` ``(n_lists, width)`` from ``sample_weight``,

where slot ``j`` of a list holds its document displayed at position ``j + 1`` (so
``width`` is the largest position kept, at most ``max_position``). Lists are ordered by
their sorted ``qid``: the tensors, hence the fitted model, do not depend on the row order.
"""

import math
from typing import NamedTuple

import numpy as np
import torch

from skultr._torch._batching import BatchSource, TensorSource
from skultr.utils._click_log import (  # noqa: F401 (re-exported for the rankers)
    FRAME_COLUMNS,
    ClickLogWarning,
    check_clicks,
    check_positions,
    check_qid_given,
    check_x_finite,
    drop_frame_columns,
    list_codes,
    split_frame_columns,
)
from skultr.utils._sklearn_compat import _check_sample_weight


class ListTensors(NamedTuple):
    """Padded per-list tensors and the counts the rankers report after fitting."""

    tensors: tuple
    n_lists: int
    n_lists_without_clicks: int
    n_rows_beyond_max_position: int
    position_counts: np.ndarray


def build_list_tensors(X, clicks, codes, position, sample_weight, *, max_position, device):
    """Gather validated rows into the padded list tensors described in the module docstring.

    Rows displayed below ``max_position`` are left out (and counted); a list left without
    rows disappears.
    """
    keep = position <= max_position
    n_beyond = int((~keep).sum())
    if not keep.any():
        raise ValueError(
            f"every row has a position beyond max_position={max_position}; nothing to train on."
        )
    if n_beyond:
        X, clicks, codes, position = X[keep], clicks[keep], codes[keep], position[keep]
        if sample_weight is not None:
            sample_weight = sample_weight[keep]
    _, codes = np.unique(codes, return_inverse=True)
    codes = codes.reshape(-1)
    n_lists = int(codes.max()) + 1
    width = int(position.max())
    slot = position - 1

    features = np.zeros((n_lists, width, X.shape[1]), dtype=np.float32)
    features[codes, slot] = X
    click_table = np.zeros((n_lists, width), dtype=np.float32)
    click_table[codes, slot] = clicks
    mask = np.zeros((n_lists, width), dtype=bool)
    mask[codes, slot] = True
    positions = np.broadcast_to(np.arange(width, dtype=np.int64), (n_lists, width))
    arrays = [features, click_table, np.ascontiguousarray(positions), mask]
    if sample_weight is not None:
        weights = np.zeros((n_lists, width), dtype=np.float32)
        weights[codes, slot] = sample_weight
        arrays.append(weights)
    dtypes = [torch.float32, torch.float32, torch.int64, torch.bool, torch.float32]
    tensors = tuple(
        torch.as_tensor(a, dtype=t).to(device) for a, t in zip(arrays, dtypes, strict=False)
    )
    has_click = click_table.any(axis=1)
    return ListTensors(
        tensors=tensors,
        n_lists=n_lists,
        n_lists_without_clicks=int((~has_click).sum()),
        n_rows_beyond_max_position=n_beyond,
        position_counts=np.bincount(slot, minlength=max_position)[:max_position],
    )


class ListSource(NamedTuple):
    """A click log kept in host memory as a batch source, and the rankers' counts."""

    source: "ListBatchSource"
    n_lists: int
    n_lists_without_clicks: int
    n_rows_beyond_max_position: int
    position_counts: np.ndarray
    padded_nbytes: int  # size of the padded float32 features of the trained lists


class ListBatchSource(BatchSource):
    """Padded list batches built per step from a click log kept in host memory.

    Holds a reference to the caller's ``X`` (any float dtype, never copied) and O(n_rows)
    index arrays: the kept rows sorted by list (``rows``), each list's span of them
    (``offsets``), their slot, click and weight. A batch of list ids gathers its rows,
    applies ``transform`` (the feature scaling, row-wise, in ``X``'s dtype: the same
    operations as scaling the whole ``X`` first), pads them to
    ``(B, width, n_features)`` float32 and moves the batch to ``device`` (on CUDA through
    pinned host buffers, copied asynchronously). Its batches are exactly the rows of the
    tensors :func:`build_list_tensors` would build, in the same order.
    """

    def __init__(
        self, X, rows, offsets, slots, clicks, weights, width, device, transform=None, keep=None
    ):
        super().__init__(len(offsets) - 1, device, keep=keep)
        self._X = X
        self._rows, self._offsets, self._slots = rows, offsets, slots
        self._clicks, self._weights = clicks, weights
        self.width = int(width)
        self._transform = transform
        self._positions = torch.arange(self.width, device=self.device)
        self._pinned = self.device.type == "cuda"
        self._staging = {}  # (turn, name) -> pinned host tensor, reused two batches apart
        self._events = [None, None]
        self._turn = [0]  # shared with subsets: they use the same staging buffers

    def nbytes(self):
        """Host memory held beyond the caller's ``X`` (the index arrays)."""
        arrays = (self._rows, self._offsets, self._slots, self._clicks, self._weights, self._keep)
        held = sum(a.nbytes for a in arrays if a is not None)
        return held + (0 if self._units is None else self._units.nbytes)

    def gather(self, units, skip_empty=True):
        units = np.asarray(units, dtype=np.int64)
        starts = self._offsets[units]
        lengths = self._offsets[units + 1] - starts
        n_batch, total = len(units), int(lengths.sum())
        ends = np.cumsum(lengths)
        # index (into the sorted rows) of every row of the batch, list after list
        k = np.repeat(starts - (ends - lengths), lengths) + np.arange(total, dtype=np.int64)
        where = (np.repeat(np.arange(n_batch, dtype=np.int64), lengths), self._slots[k])
        x = self._X[self._rows[k]]
        if self._transform is not None:
            x = self._transform(x)
        shape = (n_batch, self.width)
        out = {
            "features": (shape + (x.shape[1],), np.float32, x),
            "clicks": (shape, np.float32, self._clicks[k]),
            "mask": (shape, np.bool_, True),
        }
        if self._weights is not None:
            out["weights"] = (shape, np.float32, self._weights[k])
        host = {name: self._host_buffer(name, *spec[:2]) for name, spec in out.items()}
        for name, (_, _, values) in out.items():
            host[name][where] = values
        tensors = self._to_device(host)
        positions = self._positions.expand(shape)
        batch = [tensors["features"], tensors["clicks"], positions, tensors["mask"]]
        if self._weights is not None:
            batch.append(tensors["weights"])
        return tuple(batch)

    def _host_buffer(self, name, shape, dtype):
        """A zeroed numpy array of ``shape``: fresh on CPU, a pinned staging view on CUDA."""
        if not self._pinned:
            return np.zeros(shape, dtype=dtype)
        turn = self._turn[0] % 2
        if name == "features" and self._events[turn] is not None:
            self._events[turn].synchronize()  # the copy out of this buffer is done
            self._events[turn] = None
        key = (turn, name)
        buffer = self._staging.get(key)
        if buffer is None or buffer.shape[0] < shape[0]:
            buffer = torch.empty(
                shape, dtype=torch.from_numpy(np.zeros(0, dtype)).dtype, pin_memory=True
            )
            self._staging[key] = buffer
        view = buffer[: shape[0]]
        view.zero_()
        return view.numpy()

    def _to_device(self, host):
        if not self._pinned:
            return {name: torch.from_numpy(a).to(self.device) for name, a in host.items()}
        tensors = {
            name: torch.from_numpy(a).to(self.device, non_blocking=True)
            for name, a in host.items()
        }
        turn = self._turn[0] % 2
        event = torch.cuda.Event()
        event.record(torch.cuda.current_stream(self.device))
        self._events[turn] = event
        self._turn[0] += 1
        return tensors


def in_memory(source):
    """The in-memory form of a :class:`ListBatchSource`: its padded lists on the device.

    Batches leave out the same lists without clicks, so training gives the same model.
    """
    keep = source._keep
    keep = None if keep is None else torch.as_tensor(keep, device=source.device)
    return TensorSource(source.to_tensors(), keep=keep)


def build_list_source(
    X,
    clicks,
    codes,
    position,
    sample_weight,
    *,
    max_position,
    device,
    transform=None,
    drop_without_clicks=True,
):
    """The click log as a :class:`ListBatchSource` (no copy of ``X``) and its counts.

    Rows displayed below ``max_position`` are left out (and counted); a list left without
    rows disappears. Lists without a click are counted and, with ``drop_without_clicks``,
    left out of each training batch after it is drawn (before its rows are gathered and
    padded): every term of the listwise loss is weighted by a click, so they add nothing
    to a batch's loss or gradient. They stay units of the shuffling and of the validation
    split, so the batches hold the same clicked lists as the in-memory tensors and the
    model is the same as with them.
    """
    keep = position <= max_position
    n_beyond = int((~keep).sum())
    if not keep.any():
        raise ValueError(
            f"every row has a position beyond max_position={max_position}; nothing to train on."
        )
    rows = np.flatnonzero(keep).astype(np.int64, copy=False)
    kept_codes = np.asarray(codes)[rows]
    present = np.bincount(kept_codes) > 0
    dense = (np.cumsum(present) - 1)[kept_codes]  # lists in sorted qid order, no gaps
    n_lists = int(present.sum())
    order = np.argsort(dense, kind="stable")
    rows, dense = rows[order], dense[order]
    del order, kept_codes
    offsets = np.zeros(n_lists + 1, dtype=np.int64)
    np.cumsum(np.bincount(dense, minlength=n_lists), out=offsets[1:])
    slots = np.asarray(position)[rows].astype(np.int64) - 1
    row_clicks = np.asarray(clicks)[rows].astype(np.float32)
    weights = None if sample_weight is None else sample_weight[rows].astype(np.float32)
    has_click = np.bincount(dense, weights=row_clicks > 0, minlength=n_lists) > 0
    del dense
    keep = has_click if drop_without_clicks and not has_click.all() else None
    width = int(slots.max()) + 1
    source = ListBatchSource(
        X, rows, offsets, slots, row_clicks, weights, width, device, transform, keep
    )
    return ListSource(
        source=source,
        n_lists=n_lists,
        n_lists_without_clicks=int((~has_click).sum()),
        n_rows_beyond_max_position=n_beyond,
        position_counts=np.bincount(slots, minlength=max_position)[:max_position],
        padded_nbytes=source.n_units * width * X.shape[1] * 4,
    )


def check_sample_weight(sample_weight, X):
    """Non-negative finite per-row weights, or ``None`` when absent."""
    if sample_weight is None:
        return None
    return _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)


# --------------------------------------------------------------------------------------------
# The weighted listwise softmax cross-entropy and its weights
# --------------------------------------------------------------------------------------------

# Log of the largest weight ratio kept when max_weight is None: float32 overflows at e^88.
_MAX_LOG_WEIGHT = 80.0


def log_ratio_to_position_one(position_logits, positions):
    """``log(o_1 / o_{p_i}) = e_1 − e_{p_i}``: log inverse-propensity weight of each slot.

    ``position_logits`` holds one (log-)propensity per position (0-based), so the weights are
    relative to position 1 in every list, also in lists whose first displayed row is lower:
    weighting them relative to their own first row would down-weight those lists.
    """
    return position_logits[:1] - position_logits[positions]


def log_ratio_to_first(logits, positions, mask):
    """``log(p_first / p_i) = logit_first − logit_i`` within each list.

    ``first`` is the document displayed first (smallest position) in the list, so with
    softmax probabilities ``p`` this is the log of DLA's inverse relevance weights
    ``r̂_first / r̂_i`` (the softmax normaliser cancels in the ratio).
    """
    sentinel = torch.iinfo(positions.dtype).max
    first = positions.masked_fill(~mask, sentinel).argmin(dim=1, keepdim=True)
    return logits.gather(1, first) - logits


def clip_log_weights(log_weight, max_weight):
    """Clip weights at ``max_weight`` (``None``: only guard against float overflow)."""
    cap = _MAX_LOG_WEIGHT if max_weight is None else min(math.log(max_weight), _MAX_LOG_WEIGHT)
    return log_weight.clamp(max=cap)


def weighted_softmax_cross_entropy(logits, log_weight, clicks, mask, sample_weight=None):
    """Listwise softmax cross-entropy with click targets weighted by ``c·w``, batch-normalised.

    ``L = Σ_q Σ_i u_i (−log softmax(logits_q)_i) / Σ_q Σ_i u_i`` with ``u = c · w · s``
    (click, weight ``w = exp(log_weight)``, sample weight ``s``). The weights carry no
    gradient. ``L`` is invariant to the scale of ``u``, so ``u`` is computed relative to its
    largest entry: it stays finite for any finite ``log_weight``. A batch without any weighted
    click gives 0 (with a zero gradient).
    """
    with torch.no_grad():
        active = mask & (clicks > 0)
        if sample_weight is not None:
            active &= sample_weight > 0
        lw = torch.where(active, log_weight, torch.full_like(log_weight, -math.inf))
        shift = lw.max()
        shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
        u = torch.where(active, torch.exp(lw - shift), torch.zeros_like(lw)) * clicks
        if sample_weight is not None:
            u = u * sample_weight
    masked = logits.masked_fill(~mask, torch.finfo(logits.dtype).min / 2)
    log_p = torch.where(mask, torch.log_softmax(masked, dim=1), torch.zeros_like(logits))
    return -(u * log_p).sum() / u.sum().clamp_min(torch.finfo(u.dtype).tiny)
