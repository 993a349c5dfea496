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
from sklearn.utils.validation import _check_sample_weight

# --------------------------------------------------------------------------------------------
# Side arrays: DataFrame columns, qid, position, clicks
# --------------------------------------------------------------------------------------------

FRAME_COLUMNS = ("qid", "position")


def split_frame_columns(X, qid, position):
    """Take ``qid`` / ``position`` columns out of a pandas DataFrame ``X`` (XGBoost style).

    Returns ``(X_without_them, qid, position)``. Giving both the column and the argument is
    an error, so the two cannot silently disagree.
    """
    columns = getattr(X, "columns", None)
    if columns is None or not hasattr(X, "drop"):
        return X, qid, position
    found = [name for name in FRAME_COLUMNS if name in columns]
    if not found:
        return X, qid, position
    given = {"qid": qid, "position": position}
    for name in found:
        if given[name] is not None:
            raise ValueError(
                f"{name} was given both as a column of X and as the {name}= argument; "
                "give it only once."
            )
        given[name] = X[name].to_numpy()
    return X.drop(columns=found), given["qid"], given["position"]


def drop_frame_columns(X):
    """``X`` without its ``qid`` / ``position`` columns (for predict on the training frame)."""
    columns = getattr(X, "columns", None)
    if columns is None or not hasattr(X, "drop"):
        return X
    found = [name for name in FRAME_COLUMNS if name in columns]
    return X.drop(columns=found) if found else X


def _as_1d(name, values, n_rows):
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array.ravel()
    if array.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D with one entry per row of X; got shape {array.shape}."
        )
    if len(array) != n_rows:
        raise ValueError(f"{name} has {len(array)} entries but X has {n_rows} rows.")
    return array


def check_x_finite(X):
    """Raise a ValueError naming the first row of ``X`` with a NaN or an infinity."""
    bad = ~np.isfinite(X)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise ValueError(
            f"X must not contain NaN or infinity; found {X[row, column]} at row {row}, "
            f"column {column}."
        )


def check_clicks(y, n_rows):
    """Clicks as an int8 array of 0/1; the first row with another value is named."""
    y = _as_1d("y", y, n_rows)
    if y.dtype.kind not in "biuf":
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"Unknown label type: y must hold clicks 0 or 1; got an array of dtype {y.dtype}."
            ) from None
    bad = ~((y == 0) | (y == 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"y must hold clicks 0 or 1 (one per displayed document); got {y[i]!r} at row {i}."
        )
    return y.astype(np.int8)


def list_codes(qid, n_rows):
    """Dense list index of each row (lists numbered in sorted ``qid`` order), and their count.

    ``qid=None`` puts every row in one list.
    """
    if qid is None:
        return np.zeros(n_rows, dtype=np.int64), int(n_rows > 0)
    qid = _as_1d("qid", qid, n_rows)
    if qid.dtype.kind == "f":
        missing = np.isnan(qid)
        if missing.any():
            raise ValueError(
                f"qid must not contain NaN; found NaN at row {int(np.flatnonzero(missing)[0])}."
            )
    try:
        unique, codes = np.unique(qid, return_inverse=True)
    except TypeError as exc:
        raise ValueError(f"qid values must be mutually comparable (sortable): {exc}") from None
    return codes.reshape(-1).astype(np.int64), len(unique)


def check_positions(position, codes, n_lists):
    """1-based integer positions, unique within each list; ``None`` = the row order of each list.

    Raises a ValueError naming the first offending row for positions below 1, non-integer
    positions and positions repeated inside a list.
    """
    n_rows = len(codes)
    if position is None:
        # The rows of each list are taken to be in displayed order (XGBoost's convention).
        order = np.argsort(codes, kind="stable")
        starts = np.searchsorted(codes[order], np.arange(n_lists))
        rank = np.empty(n_rows, dtype=np.int64)
        rank[order] = np.arange(n_rows) - starts[codes[order]]
        return rank + 1
    position = _as_1d("position", position, n_rows)
    if position.dtype.kind == "b" or position.dtype.kind not in "iuf":
        raise ValueError(
            f"position must hold integers >= 1 (1 = top of the list); got an array of dtype "
            f"{position.dtype}."
        )
    if position.dtype.kind == "f":
        bad = ~np.isfinite(position) | (position != np.round(position))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"position must hold integers; got {position[i]} at row {i}.")
    position = position.astype(np.int64)
    if n_rows and position.min() < 1:
        i = int(np.flatnonzero(position < 1)[0])
        raise ValueError(
            f"position must be >= 1 (1 = top of the list); got {position[i]} at row {i}."
        )
    order = np.lexsort((np.arange(n_rows), position, codes))
    repeated = (codes[order][1:] == codes[order][:-1]) & (
        position[order][1:] == position[order][:-1]
    )
    if repeated.any():
        i = int(order[1:][repeated].min())
        raise ValueError(
            f"position must not repeat within a list; row {i} repeats position {position[i]} "
            "of an earlier row of the same qid."
        )
    return position


# --------------------------------------------------------------------------------------------
# Padded tensors
# --------------------------------------------------------------------------------------------


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


def log_ratio_to_first(logits, positions, mask):
    """``log(p_first / p_i) = logit_first − logit_i`` within each list.

    ``first`` is the document displayed first (smallest position) in the list, so with
    softmax probabilities ``p`` this is the log of DLA's inverse weights ``p_1 / p_i``
    (the softmax normaliser cancels in the ratio).
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
