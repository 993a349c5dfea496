"""Small input validators shared across skultr.

Each raises a ``ValueError`` that names the argument and, for arrays, the first bad entry,
so a user can find the faulty value without reading skultr's code. Parameter types of
public functions are checked earlier by ``validate_params``
(:mod:`skultr.utils._sklearn_compat`); these helpers check values.
"""

import numbers

import numpy as np


def first_index(mask):
    """Index of the first True entry of a boolean array (which has one)."""
    return int(np.flatnonzero(mask)[0])


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def check_int(value, name, *, minimum=1, allow_none=False):
    """``value`` as an ``int`` >= ``minimum`` (bools rejected); ``None`` when allowed."""
    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool | np.bool_)
        or not isinstance(value, numbers.Integral)
        or value < minimum
    ):
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        or_none = " or None" if allow_none else ""
        raise ValueError(f"{name} must be {kind}{or_none}; got {value!r}.")
    return int(value)


def check_real(value, name, *, low=None, strict=False):
    """``value`` as a finite ``float``, at least ``low`` (above it when ``strict``)."""
    if low is None:
        kind = "a finite real number"
    elif low == 0:
        kind = "a positive finite number" if strict else "a non-negative number"
    else:
        kind = f"a finite number {'>' if strict else '>='} {low}"
    ok = _is_real(value) and np.isfinite(value)
    if ok and low is not None:
        ok = value > low if strict else value >= low
    if not ok:
        raise ValueError(f"{name} must be {kind}; got {value!r}.")
    return float(value)


def check_probability(value, name):
    """``value`` as a ``float`` in [0, 1] (bools, NaN and non-numbers rejected)."""
    if not (_is_real(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1]; got {value!r}.")
    return float(value)


def check_1d(values, name, *, n_rows=None, allow_column=False):
    """``values`` as a 1-D array, with ``n_rows`` entries when given.

    ``allow_column`` also accepts an ``(n, 1)`` column (flattened).
    """
    array = np.asarray(values)
    if allow_column and array.ndim == 2 and array.shape[1] == 1:
        array = array.ravel()
    if array.ndim != 1:
        per_row = "per row" if n_rows is None else "per row of X"
        raise ValueError(
            f"{name} must be a 1-D array-like with one entry {per_row}; "
            f"got an array of shape {array.shape}."
        )
    if n_rows is not None and len(array) != n_rows:
        raise ValueError(f"{name} has {len(array)} entries but X has {n_rows} rows.")
    return array


def check_1d_finite(values, name, *, n_rows=None):
    """``values`` as a 1-D float64 array of finite numbers; the first bad entry is named."""
    array = check_1d(values, name, n_rows=n_rows)
    if array.dtype.kind not in "biuf":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"{name} must contain real numbers; got an array of dtype {array.dtype}."
            ) from None
    array = array.astype(np.float64, copy=False)
    not_finite = ~np.isfinite(array)
    if not_finite.any():
        i = first_index(not_finite)
        raise ValueError(f"{name} must be finite; found {array[i]} at index {i}.")
    return array


def check_qid(qid, *, n_rows=None, allow_column=False):
    """Query ids as a 1-D array without NaN (``n_rows`` entries when given)."""
    qid = check_1d(qid, "qid", n_rows=n_rows, allow_column=allow_column)
    if qid.dtype.kind == "f":
        missing = np.isnan(qid)
        if missing.any():
            i = first_index(missing)
            raise ValueError(f"qid must not contain NaN; found NaN at row {i}.")
    return qid


def preview(values, limit=6):
    """The first ``limit`` values, for an error message: ``[0, 1, 2, ...]``."""
    values = list(np.asarray(values).tolist())
    shown = ", ".join(repr(v) for v in values[:limit])
    return f"[{shown}{', ...' if len(values) > limit else ''}]"


def protected_index(attribute, feature_names, n_features):
    """The column position of a protected attribute given by name or by position.

    ``feature_names``: the column names of X (a DataFrame's columns, an estimator's
    ``feature_names_in_``) or None when X has none. One rule for the fairness metrics and
    for FairTTTS, so a column that one of them accepts the other accepts too.
    """
    if isinstance(attribute, str):
        if feature_names is None:
            raise ValueError(
                f"protected_attribute={attribute!r} is a column name but X has no column "
                "names; pass a pandas DataFrame or an integer position."
            )
        where = np.flatnonzero(np.asarray(feature_names, dtype=object) == attribute)
        if where.size == 0:
            raise ValueError(
                f"protected_attribute={attribute!r} is not a column of X; its columns are "
                f"{preview(feature_names)}."
            )
        return int(where[0])
    if not 0 <= attribute < n_features:
        raise ValueError(
            f"protected_attribute={attribute} is out of range for X with {n_features} columns."
        )
    return int(attribute)
