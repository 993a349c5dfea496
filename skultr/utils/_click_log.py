"""Validation of click-log side arrays (``qid``, ``position``, clicks), free of torch.

Shared by the rankers of :mod:`skultr.ranking` and the position-propensity estimators of
:mod:`skultr.propensity`, which must stay importable without torch.
"""

import numpy as np

from skultr.utils._validation import check_1d, check_qid

# --------------------------------------------------------------------------------------------
# Side arrays: DataFrame columns, qid, position, clicks
# --------------------------------------------------------------------------------------------

FRAME_COLUMNS = ("qid", "position")


class ClickLogWarning(UserWarning):
    """A click log that fits, but from which (part of) the model cannot be learned."""


def split_frame_columns(X, qid, position):
    """Take ``qid`` / ``position`` columns out of a pandas DataFrame ``X`` (XGBoost style).

    Returns ``(X_without_them, qid, position)``. The one convention of every ranker, position
    propensity estimator and ranking scorer: an argument given explicitly (or routed as
    metadata) is used; otherwise the column of a DataFrame ``X``. When both are given they
    must hold the same values (a ``Pipeline`` may route the ids and also pass the column
    through); if they differ it is a ValueError naming the first differing row, so the two
    cannot silently disagree.
    """
    columns = getattr(X, "columns", None)
    if columns is None or not hasattr(X, "drop"):
        return X, qid, position
    found = [name for name in FRAME_COLUMNS if name in columns]
    if not found:
        return X, qid, position
    given = {"qid": qid, "position": position}
    for name in found:
        column = X[name].to_numpy()
        if given[name] is not None:
            _check_same(name, given[name], column)
        else:
            given[name] = column
    return X.drop(columns=found), given["qid"], given["position"]


def _check_same(name, argument, column):
    argument = np.asarray(argument)
    if argument.ndim == 2 and argument.shape[1] == 1:
        argument = argument.ravel()
    if argument.shape != column.shape:
        raise ValueError(
            f"{name} was given both as a column of X and as the {name}= argument (or routed "
            f"metadata), with {argument.shape[0] if argument.ndim else 1} and {len(column)} "
            "entries; give it only once."
        )
    try:
        differ = argument != column
        differ = np.asarray(differ, dtype=bool).reshape(-1)
    except (TypeError, ValueError):
        differ = np.array([a != c for a, c in zip(argument, column, strict=True)], dtype=bool)
    if differ.any():
        i = int(np.flatnonzero(differ)[0])
        raise ValueError(
            f"{name} was given both as a column of X and as the {name}= argument (or routed "
            f"metadata), and the two differ (first at row {i}: {column[i]!r} in the column, "
            f"{argument[i]!r} in the argument); give it only once."
        )


_MISSING_QID = (
    "{who} got no qid and {n_rows} rows, more than one list can hold ({limit}): without "
    "qid all rows would be taken for one list{dropped}. Pass the list (session) id of each "
    "row, either\n"
    "- as an argument: {call}, or in a Pipeline / GridSearchCV / cross_validate through "
    "metadata routing: sklearn.set_config(enable_metadata_routing=True) and "
    "{request}, then pass qid=..., position=... to the outer fit; or\n"
    "- as columns named 'qid' and 'position' of a pandas DataFrame X. Transformers in front "
    'must leave them untouched and named: ColumnTransformer([("scale", StandardScaler(), '
    'feature_columns)], remainder="passthrough", verbose_feature_names_out=False)'
    ".set_output(transform=\"pandas\") (see the User Guide, 'Pipelines')."
)


def check_qid_given(qid, n_rows, max_position, who, *, method="fit"):
    """Raise when there is no ``qid`` and more rows than one list of ``max_position`` holds.

    Without ``qid`` every row is taken to be in one list, which is only right for a log
    of one list; with more rows than ``max_position`` it would silently fit (or score) a
    whole log, or a cross-validation fold, as one list.
    """
    if qid is not None or n_rows <= max_position:
        return
    if method == "score":
        call, request = f"{who.split('.')[0]}.score(X, y, qid=qid)", "set_score_request(qid=True)"
        dropped = ""
    else:
        call = f"{method}(X, y, qid=qid, position=position)"
        request = "set_fit_request(qid=True, position=True)"
        dropped = f" and the rows beyond position {max_position} dropped"
    raise ValueError(
        _MISSING_QID.format(
            who=who,
            n_rows=n_rows,
            limit=f"max_position={max_position}",
            dropped=dropped,
            call=call,
            request=request,
        )
    )


def drop_frame_columns(X):
    """``X`` without its ``qid`` / ``position`` columns (for predict on the training frame)."""
    columns = getattr(X, "columns", None)
    if columns is None or not hasattr(X, "drop"):
        return X
    found = [name for name in FRAME_COLUMNS if name in columns]
    return X.drop(columns=found) if found else X


def check_x_finite(X):
    """Raise a ValueError naming the first row of ``X`` with a NaN or an infinity."""
    bad = ~np.isfinite(X)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise ValueError(
            f"X must not contain NaN or infinity; found {X[row, column]} at row {row}, "
            f"column {column}."
        )


def check_clicks(y, n_rows, name="y"):
    """Clicks as an int8 array of 0/1; the first row with another value is named (as is the
    argument, ``name``)."""
    y = check_1d(y, name, n_rows=n_rows, allow_column=True)
    if y.dtype.kind not in "biuf":
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"Unknown label type: {name} must hold clicks 0 or 1; got an array of dtype "
                f"{y.dtype}."
            ) from None
    bad = ~((y == 0) | (y == 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} must hold clicks 0 or 1 (one per displayed document); got {y[i]!r} at "
            f"row {i}."
        )
    return y.astype(np.int8)


def list_codes(qid, n_rows):
    """Dense list index of each row (lists numbered in sorted ``qid`` order), and their count.

    ``qid=None`` puts every row in one list (callers first reject a missing ``qid`` on more
    rows than one list holds, with :func:`check_qid_given`).
    """
    if qid is None:
        return np.zeros(n_rows, dtype=np.int64), int(n_rows > 0)
    qid = check_qid(qid, n_rows=n_rows, allow_column=True)
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
    position = check_1d(position, "position", n_rows=n_rows, allow_column=True)
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


def check_position_propensity(
    values,
    displayed,
    *,
    what="propensity",
    n_positions=None,
    reference=True,
    probability=False,
    complete=False,
):
    """A position-bias propensity vector (entry ``k - 1`` for position ``k``), validated.

    Every ``displayed`` position (1-based) needs a positive, finite value, and so does
    position 1 when it is the ``reference`` of the weights ``p_1 / p_k``; a position that is
    never displayed may be missing or ``NaN``, but a value given there must not be zero,
    negative or infinite. With ``n_positions`` the vector is cut or padded with ``NaN`` to
    that length. ``probability=True``: the values are examination probabilities, so a
    value above 1 is an error too. ``complete=True``: a displayed position beyond the
    vector is an error (otherwise the caller leaves such rows out). The one check of a
    position propensity, shared by the rankers, the click scorers and off-policy
    evaluation.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or len(array) == 0:
        raise ValueError(
            f"{what} must be 1-D with one entry per position (1, 2, ...); got shape {array.shape}."
        )
    if n_positions is not None:
        array = np.r_[array[:n_positions], np.full(max(n_positions - len(array), 0), np.nan)]
    displayed = np.asarray(displayed, dtype=np.int64)
    if complete and displayed.size and displayed.max() > len(array):
        raise ValueError(
            f"{what} has no value for logged position {displayed.max()}; it has {len(array)} "
            "entries: give the examination probability of every position shown."
        )
    needed = np.zeros(len(array), dtype=bool)
    needed[displayed[(displayed >= 1) & (displayed <= len(array))] - 1] = True
    needed[0] |= reference
    valid = np.isfinite(array) & (array > 0)
    if probability:
        valid &= array <= 1
    bad = (needed & ~valid) | (~np.isnan(array) & ~valid)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        if i == 0 and reference and np.isnan(array[0]):
            raise ValueError(
                f"{what} has no value at position 1, the reference of the inverse-propensity "
                "weights p_1 / p_k (was no training row displayed at position 1?): pass the "
                "positions as displayed (1 = top), or give the propensities."
            )
        where = (
            "position 1 and every displayed position" if reference else "every displayed position"
        )
        rule = "lie in (0, 1]" if probability else "be positive and finite"
        raise ValueError(f"{what} must {rule} at {where}; got {array[i]} at position {i + 1}.")
    return array
