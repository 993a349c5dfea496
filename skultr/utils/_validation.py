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


def _column_schema(X):
    """``(names or None, dtypes)`` of the columns of ``X`` (a DataFrame or an array)."""
    if hasattr(X, "columns") and hasattr(X, "dtypes"):  # a DataFrame
        return [str(name) for name in X.columns], [str(dtype) for dtype in X.dtypes]
    if not (hasattr(X, "dtype") and hasattr(X, "shape")):  # lists: numpy's reading of them
        X = np.asarray(X)
    n_columns = X.shape[1] if len(X.shape) == 2 else 1
    return None, [str(X.dtype)] * n_columns


def check_shard_columns(estimator, X, *, fresh, schema=None, where=None):
    """A ``partial_fit`` shard must have the columns of the model's first data.

    The first call of a model (``fresh``: a ``fit``, or the first ``partial_fit``) records
    the number, names and dtypes of the columns of ``X`` as shard 1; each later call is
    the next shard, and a shard whose columns differ raises a ``ValueError`` that names the
    shard and the first column that differs. A dtype counts too: shards read from files
    may come back with other types (``int64`` ids, then ``object`` ones, which would be new
    ids), and casting is the caller's choice. The record lives in ``_shard_columns``.

    ``schema``: ``(names, dtypes)`` already read from the shard (``X`` is then unused), as
    when the shard was read on a Dask worker; ``where``: the shard's name in the message
    (default ``"<Estimator>.partial_fit: shard <n>"``).
    """
    names, dtypes = _column_schema(X) if schema is None else schema
    if fresh:
        estimator._shard_columns = (1, names, dtypes)
        return
    if not hasattr(estimator, "_shard_columns"):  # a model saved before the record existed
        return
    shard, first_names, first_dtypes = estimator._shard_columns
    shard += 1
    where = where or f"{type(estimator).__name__}.partial_fit: shard {shard}"
    if len(dtypes) != len(first_dtypes):
        name = type(estimator).__name__
        detail = ""
        if names is not None and first_names is not None:
            missing = [n for n in first_names if n not in names]
            extra = [n for n in names if n not in first_names]
            detail = "".join(
                f"; {label}: {preview(found)}"
                for label, found in (("missing", missing), ("not in the first", extra))
                if found
            )
        raise ValueError(
            f"{where}: X has {len(dtypes)} features, but {name} is expecting "
            f"{len(first_dtypes)} features as input (the columns of the first shard{detail}). "
            "Every shard must have the columns of the first."
        )
    if (names is None) != (first_names is None):
        raise ValueError(
            f"{where} "
            + (
                f"has no column names; the first shard's were {preview(first_names)}"
                if names is None
                else f"has column names {preview(names)}; the first shard had none"
            )
            + ". Pass every shard the same way (all DataFrames or all arrays)."
        )
    for i, (dtype, first_dtype) in enumerate(zip(dtypes, first_dtypes, strict=True)):
        label = f"column {i}" if names is None else f"column {i} ({names[i]!r})"
        if names is not None and names[i] != first_names[i]:
            raise ValueError(
                f"{where}: column {i} is {names[i]!r}; the first shard's column {i} was "
                f"{first_names[i]!r}. Every shard must have the columns of the first, in "
                "the same order."
            )
        if dtype != first_dtype:
            raise ValueError(
                f"{where}: {label} has dtype {dtype}; the first shard's had {first_dtype}. "
                "Cast the shard to the first shard's dtypes (DataFrame.astype)."
            )
    estimator._shard_columns = (shard, first_names, first_dtypes)
