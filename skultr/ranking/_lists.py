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
