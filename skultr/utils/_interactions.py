"""The (user, item) contract of recommendation data: validation of id pairs, feedback and
propensities. Torch-free, so that :mod:`skultr.metrics` and :mod:`skultr.propensity` use it
without importing the recommenders. Public through :mod:`skultr.recommendation`.
"""

import numbers

import numpy as np
import scipy.sparse as sp

_AGGREGATIONS = ("max", "mean", "sum")


def _first(mask):
    return int(np.flatnonzero(mask)[0])


def _check_catalogue_size(value, name):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer or None; got {value!r}.")
    return int(value)


def _as_id_array(values, name):
    """Validate a 1-D array of ids: integral, finite and non-negative. Returns int64."""
    array = np.asarray(values)
    if array.dtype.kind == "b" or array.dtype.kind not in "iuf":
        raise ValueError(
            f"{name} must hold non-negative integer ids; got an array of dtype {array.dtype}."
        )
    if array.dtype.kind == "f":
        bad = ~np.isfinite(array) | (array != np.round(array))
        if bad.any():
            i = _first(bad)
            raise ValueError(
                f"{name} must hold non-negative integer ids; entry {i} is {array[i].item()!r}."
            )
    if array.size and array.min() < 0:
        i = _first(array < 0)
        raise ValueError(
            f"{name} must hold non-negative integer ids; entry {i} is {array[i].item()!r}."
        )
    return array.astype(np.int64, copy=False)


def _pair_columns(X):
    """Split ``X`` into its user and item columns (DataFrame: the first two columns)."""
    if hasattr(X, "iloc") and hasattr(X, "columns"):
        if X.shape[1] != 2:
            raise ValueError(
                "X must have exactly two columns (user id, item id); "
                f"got a DataFrame with {X.shape[1]} columns."
            )
        return X.iloc[:, 0].to_numpy(), X.iloc[:, 1].to_numpy()
    if sp.issparse(X):
        raise ValueError(
            "X must be a dense (n, 2) array of (user id, item id) pairs, not a sparse matrix; "
            "for a user x item matrix use its nonzero coordinates: np.column_stack(M.nonzero())."
        )
    array = np.asarray(X)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(
            "X must be an array of shape (n_pairs, 2) holding (user id, item id) pairs; "
            f"got shape {array.shape}."
        )
    return array[:, 0], array[:, 1]


def check_interactions(X, y=None, *, n_users=None, n_items=None, y_name="y"):
    """Validate (user, item) pairs and their feedback.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_pairs, 2)
        User ids in the first column, item ids in the second: non-negative integers (floats
        are accepted when they are integral).
    y : array-like of shape (n_pairs,), default=None
        Feedback of each pair (clicks or ratings); must be finite.
    n_users, n_items : int, default=None
        Declared catalogue sizes; ids must then be below them.
    y_name : str, default="y"
        Name of ``y`` in error messages.

    Returns
    -------
    users, items : ndarray of shape (n_pairs,), dtype int64
    y : ndarray of shape (n_pairs,), dtype float64, or None

    Examples
    --------
    >>> from skultr.recommendation import check_interactions
    >>> users, items, y = check_interactions([[0, 2], [1, 0]], [1, 0])
    >>> users.tolist(), items.tolist(), y.tolist()
    ([0, 1], [2, 0], [1.0, 0.0])
    """
    n_users = _check_catalogue_size(n_users, "n_users")
    n_items = _check_catalogue_size(n_items, "n_items")
    user_col, item_col = _pair_columns(X)
    if user_col.shape[0] == 0:
        raise ValueError("X is empty: at least one (user, item) pair is required.")
    users = _as_id_array(user_col, "X[:, 0] (user ids)")
    items = _as_id_array(item_col, "X[:, 1] (item ids)")
    for ids, size, what, size_name in (
        (users, n_users, "user", "n_users"),
        (items, n_items, "item", "n_items"),
    ):
        if size is not None and ids.max() >= size:
            i = _first(ids >= size)
            raise ValueError(
                f"{what} id {ids[i]} (row {i}) is out of range for {size_name}={size}: "
                f"ids must lie in [0, {size - 1}]."
            )
    if y is None:
        return users, items, None
    y = np.asarray(y)
    if y.ndim != 1:
        y = np.squeeze(y) if y.ndim == 2 and 1 in y.shape else y
        if y.ndim != 1:
            raise ValueError(f"{y_name} must be 1-D with one value per pair; got shape {y.shape}.")
    if y.shape[0] != users.shape[0]:
        raise ValueError(
            f"{y_name} has {y.shape[0]} entries but X has {users.shape[0]} (user, item) pairs."
        )
    try:
        y = y.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{y_name} must hold numeric feedback; got an array of dtype {y.dtype}."
        ) from None
    if not np.isfinite(y).all():
        i = _first(~np.isfinite(y))
        raise ValueError(f"{y_name} must be finite; entry {i} is {y[i].item()!r}.")
    return users, items, y


def aggregate_duplicates(users, items, y=None, *, how="max"):
    """Merge repeated (user, item) pairs into one row each.

    Parameters
    ----------
    users, items : ndarray of shape (n_pairs,)
        Validated ids (see :func:`check_interactions`).
    y : ndarray of shape (n_pairs,), default=None
        Feedback to aggregate over the repeats of a pair.
    how : {"max", "mean", "sum"}, default="max"
        ``"max"`` for clicks (a pair is clicked if any of its rows is), ``"mean"`` for ratings,
        ``"sum"`` for counts.

    Returns
    -------
    users, items : ndarray of shape (n_unique,)
        The distinct pairs, sorted by user then item.
    y : ndarray of shape (n_unique,) or None
    n_duplicates : int
        How many rows were merged away (``n_pairs - n_unique``).

    Examples
    --------
    >>> import numpy as np
    >>> from skultr.recommendation import aggregate_duplicates
    >>> u, i, y, n = aggregate_duplicates(np.array([0, 0, 1]), np.array([1, 1, 0]),
    ...                                   np.array([2.0, 4.0, 5.0]), how="mean")
    >>> u.tolist(), i.tolist(), y.tolist(), n
    ([0, 1], [1, 0], [3.0, 5.0], 1)
    """
    if how not in _AGGREGATIONS:
        raise ValueError(f"how must be one of {_AGGREGATIONS}; got {how!r}.")
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    n_items = int(items.max()) + 1 if items.size else 1
    key = users * n_items + items
    unique_key, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    out_users, out_items = np.divmod(unique_key, n_items)
    n_duplicates = int(key.size - unique_key.size)
    if y is None:
        return out_users, out_items, None, n_duplicates
    y = np.asarray(y, dtype=np.float64)
    if how == "max":
        out_y = np.full(unique_key.size, -np.inf)
        np.maximum.at(out_y, inverse, y)
    else:
        out_y = np.bincount(inverse, weights=y, minlength=unique_key.size)
        if how == "mean":
            out_y = out_y / counts
    return out_users, out_items, out_y, n_duplicates


def check_propensity(values, *, name="propensity"):
    """Validate propensities: finite numbers in (0, 1].

    Parameters
    ----------
    values : array-like
        Probabilities of observation.
    name : str, default="propensity"
        Name of the argument in error messages.

    Returns
    -------
    propensity : ndarray of float64, same shape as ``values``

    Examples
    --------
    >>> from skultr.recommendation import check_propensity
    >>> check_propensity([0.5, 1.0]).tolist()
    [0.5, 1.0]
    """
    array = np.asarray(values)
    try:
        array = array.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must hold probabilities in (0, 1]; got an array of dtype {array.dtype}."
        ) from None
    flat = array.ravel()
    bad = ~(np.isfinite(flat) & (flat > 0) & (flat <= 1))
    if bad.any():
        i = _first(bad)
        where = tuple(int(j) for j in np.unravel_index(i, array.shape)) if array.ndim > 1 else i
        raise ValueError(
            f"{name} must hold probabilities in (0, 1]; entry {where} is {flat[i].item()!r}."
        )
    return array


def interaction_matrix(users, items, values=None, *, shape):
    """Build the sparse ``n_users x n_items`` matrix of some pairs (repeats are summed).

    Examples
    --------
    >>> from skultr.recommendation import interaction_matrix
    >>> interaction_matrix([0, 1], [1, 1], shape=(2, 3)).toarray()
    array([[0., 1., 0.],
           [0., 1., 0.]])
    """
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    data = np.ones(users.shape[0]) if values is None else np.asarray(values, dtype=np.float64)
    matrix = sp.csr_matrix((data, (users, items)), shape=shape, dtype=np.float64)
    matrix.sum_duplicates()
    return matrix
