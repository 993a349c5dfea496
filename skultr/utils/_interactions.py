"""The (user, item) contract of recommendation data: validation of id pairs, feedback and
propensities. Torch-free, so that :mod:`skultr.metrics` and :mod:`skultr.propensity` use it
without importing the recommenders. Public through :mod:`skultr.recommendation`.
"""

import inspect
import numbers
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp

from skultr.utils._sklearn_compat import validate_params
from skultr.utils._validation import check_int, first_index

_AGGREGATIONS = ("max", "mean", "sum")


# A DataFrame ``X`` with columns of these names is read by name (in any column order); the
# ``id_columns`` parameter of every pair estimator changes them.
DEFAULT_ID_COLUMNS = ("user", "item")


def check_id_columns(id_columns):
    """Validate an ``id_columns`` parameter: the names of the user and the item column."""
    if (
        isinstance(id_columns, str)
        or not isinstance(id_columns, tuple | list)
        or len(id_columns) != 2
        or id_columns[0] == id_columns[1]
    ):
        raise ValueError(
            "id_columns must be a pair of two different column names (user column, item "
            f"column), for example ('user_id', 'item_id'); got {id_columns!r}."
        )
    return tuple(id_columns)


def _id_repr(ids, i):
    """``repr`` of the id ``ids[i]`` as the user wrote it (a plain int, a str...)."""
    value = ids[i]
    return repr(value.item() if isinstance(value, np.generic) else value)


def _is_missing(value):
    return value is None or value != value or type(value).__name__ in ("NAType", "NaTType")


def _as_id_array(values, name):
    """Validate a 1-D array of ids: non-negative integers, or other hashable ids (strings...).

    Integer ids (integral floats included) come back as int64 (as an object array when they
    exceed int64); any other ids as an object array. Missing values (NaN, None), booleans,
    complex numbers, negative integers and non-integral floats are rejected, naming the first
    bad entry.
    """
    array = np.asarray(values)
    if array.ndim != 1:
        array = array.reshape(-1)
    kind = array.dtype.kind
    if kind in "bc" or kind not in "iufUSO":
        raise ValueError(
            f"{name} must hold ids (non-negative integers, strings or other hashable values); "
            f"got an array of dtype {array.dtype}."
        )
    if kind == "f":
        bad = ~np.isfinite(array) | (array != np.round(array))
        if bad.any():
            i = first_index(bad)
            raise ValueError(
                f"{name} must hold ids (non-negative integers, strings or other hashable "
                f"values); entry {i} is {array[i].item()!r}."
            )
        if array.size and np.abs(array).max() >= 2**53:
            raise ValueError(
                f"{name} holds float ids beyond 2**53, which floats cannot represent exactly; "
                "pass them as integers or strings."
            )
    if kind == "u" and array.size and array.max() > np.iinfo(np.int64).max:
        array = np.array([int(v) for v in array], dtype=object)
        kind = "O"
    if kind in "US":
        array = array.astype(object)
        kind = "O"
    if kind == "O":
        array = _check_object_ids(array, name)
        if array.dtype == object:
            return array
    if array.size and array.min() < 0:
        i = first_index(array < 0)
        raise ValueError(
            f"{name} must hold non-negative integer ids (or strings); entry {i} is "
            f"{array[i].item()!r}."
        )
    return array.astype(np.int64, copy=False)


def _check_object_ids(array, name):
    """Object ids: reject missing, boolean and unhashable entries; integers become int64."""
    all_integers = True
    for i, value in enumerate(array):
        if isinstance(value, (bool, np.bool_)) or _is_missing(value):
            raise ValueError(
                f"{name} must hold ids (non-negative integers, strings or other hashable "
                f"values); entry {i} is {value!r}."
            )
        try:
            hash(value)
        except TypeError:
            raise ValueError(
                f"{name} must hold hashable ids; entry {i} is a {type(value).__name__}."
            ) from None
        if isinstance(value, (float, np.floating)):
            if not np.isfinite(value) or value != round(value):
                raise ValueError(
                    f"{name} must hold ids (non-negative integers, strings or other hashable "
                    f"values); entry {i} is {value!r}."
                )
        elif not isinstance(value, numbers.Integral):
            all_integers = False
    if not all_integers:
        kinds = {type(v).__name__ for v in array if not isinstance(v, str)}
        if kinds and any(isinstance(v, str) for v in array):
            i = next(j for j, v in enumerate(array) if not isinstance(v, str))
            raise ValueError(
                f"{name} mixes id types: entry {i} is {array[i]!r} ({type(array[i]).__name__}) "
                "among string ids; use one type for all ids."
            )
        return array
    as_int = [int(v) for v in array]
    if as_int and min(as_int) < 0:
        i = next(j for j, v in enumerate(as_int) if v < 0)
        raise ValueError(
            f"{name} must hold non-negative integer ids (or strings); entry {i} is {as_int[i]!r}."
        )
    if not as_int or max(as_int) <= np.iinfo(np.int64).max:
        return np.asarray(as_int, dtype=np.int64)
    return np.array(as_int + [None], dtype=object)[:-1]


def _pair_columns(X, id_columns=DEFAULT_ID_COLUMNS, fitted_names=None):
    """Split ``X`` into its user and item columns, and the DataFrame's column names.

    A DataFrame with the two columns named in ``id_columns`` (default ``"user"`` and
    ``"item"``) is read by name, in any order. One with other names is read by position
    (user first) in ``fit``; afterwards (``fitted_names``, the names seen in ``fit``) it must
    have the same two names and is read by them, in any order. One of the ``id_columns``
    names without the other is ambiguous and rejected, as is any width other than two.
    """
    user_name, item_name = id_columns
    if hasattr(X, "iloc") and hasattr(X, "columns"):
        columns = list(X.columns)
        if X.shape[1] != 2:
            raise ValueError(
                "X must have exactly two columns (user id, item id); "
                f"got a DataFrame with {X.shape[1]} columns {columns[:6]}."
            )
        names = None
        if all(isinstance(c, str) for c in columns):
            names = np.asarray(columns, dtype=object)
        present = [c in columns for c in (user_name, item_name)]
        if all(present):
            return X[user_name].to_numpy(), X[item_name].to_numpy(), names
        if any(present):
            raise ValueError(
                f"X is a DataFrame with columns {columns}: name the two columns "
                f"{user_name!r} and {item_name!r} (they are then read by name, in any order; "
                "the id_columns parameter sets other names), or give neither name (they "
                "are then read by position, user first)."
            )
        if fitted_names is not None:
            fitted = list(fitted_names)
            if sorted(map(str, columns)) != sorted(map(str, fitted)):
                raise ValueError(
                    f"X has columns {columns}, but the estimator was fitted on columns "
                    f"{fitted} (read as user, item): the feature names must be the same."
                )
            return X[fitted[0]].to_numpy(), X[fitted[1]].to_numpy(), names
        return X.iloc[:, 0].to_numpy(), X.iloc[:, 1].to_numpy(), names
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
    return array[:, 0], array[:, 1], None


@validate_params(
    {
        "X": ["array-like", "sparse matrix"],
        "y": ["array-like", None],
        "n_users": [Integral, None],
        "n_items": [Integral, None],
        "y_name": [str],
        "id_columns": [tuple, list],
        "_fitted_names": "no_validation",
    },
    prefer_skip_nested_validation=True,
)
def check_interactions(
    X,
    y=None,
    *,
    n_users=None,
    n_items=None,
    y_name="y",
    id_columns=DEFAULT_ID_COLUMNS,
    _fitted_names=None,
):
    """Validate (user, item) pairs and their feedback.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_pairs, 2)
        User ids in the first column, item ids in the second; a DataFrame with columns
        named ``"user"`` and ``"item"`` is read by name, in any column order (one without
        these names by position). Ids are non-negative integers of any size (integral
        floats are accepted) or other hashable values such as strings.
    y : array-like of shape (n_pairs,), default=None
        Feedback of each pair (clicks or ratings); must be finite.
    n_users, n_items : int, default=None
        Declared catalogue sizes: ids must then be integers below them.
    y_name : str, default="y"
        Name of ``y`` in error messages.
    id_columns : pair of str, default=("user", "item")
        Names of the user and the item column of a DataFrame ``X``.

    Returns
    -------
    users, items : ndarray of shape (n_pairs,)
        The ids: int64 for integer ids, an object array otherwise.
    y : ndarray of shape (n_pairs,), dtype float64, or None

    Examples
    --------
    >>> from skultr.recommendation import check_interactions
    >>> users, items, y = check_interactions([[0, 2], [1, 0]], [1, 0])
    >>> users.tolist(), items.tolist(), y.tolist()
    ([0, 1], [2, 0], [1.0, 0.0])
    """
    n_users = check_int(n_users, "n_users", allow_none=True)
    n_items = check_int(n_items, "n_items", allow_none=True)
    user_col, item_col, _ = _pair_columns(X, check_id_columns(id_columns), _fitted_names)
    if user_col.shape[0] == 0:
        raise ValueError("X is empty: at least one (user, item) pair is required.")
    users = _as_id_array(user_col, "X[:, 0] (user ids)")
    items = _as_id_array(item_col, "X[:, 1] (item ids)")
    for ids, size, what, size_name in (
        (users, n_users, "user", "n_users"),
        (items, n_items, "item", "n_items"),
    ):
        if size is not None:
            _check_in_catalogue(ids, size, what, size_name)
    if y is None:
        return users, items, None
    return users, items, _check_feedback(y, users.shape[0], y_name)


def _check_in_catalogue(ids, size, what, size_name):
    if ids.dtype == object:
        raise ValueError(
            f"{size_name}={size} declares a catalogue of integer ids 0..{size - 1}, but the "
            f"{what} ids are not integers (entry 0 is {ids[0]!r}); leave {size_name}=None "
            "to map any ids."
        )
    if ids.max() >= size:
        i = first_index(ids >= size)
        raise ValueError(
            f"{what} id {ids[i]} (row {i}) is out of range for {size_name}={size}: "
            f"ids must lie in [0, {size - 1}]."
        )


def _check_feedback(y, n, y_name):
    y = np.asarray(y)
    if y.ndim != 1:
        y = np.squeeze(y) if y.ndim == 2 and 1 in y.shape else y
        if y.ndim != 1:
            raise ValueError(f"{y_name} must be 1-D with one value per pair; got shape {y.shape}.")
    if y.shape[0] != n:
        raise ValueError(f"{y_name} has {y.shape[0]} entries but X has {n} (user, item) pairs.")
    try:
        y = y.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{y_name} must hold numeric feedback; got an array of dtype {y.dtype}."
        ) from None
    if not np.isfinite(y).all():
        i = first_index(~np.isfinite(y))
        raise ValueError(f"{y_name} must be finite; entry {i} is {y[i].item()!r}.")
    return y


def index_ids(ids, size=None):
    """The catalogue of some validated ids and the index of each in it.

    ``size`` given: the catalogue is ``0 .. size - 1`` and an id is its own index. Otherwise
    the catalogue is the sorted distinct ids (ascending integers, or strings in lexical
    order), so that integer ids ``0 .. n - 1`` are their own indices and fitted tables
    (factors, propensities) are in id order.

    Returns
    -------
    catalogue : ndarray of shape (n_distinct,)
    codes : ndarray of shape (n,), int64
    """
    if size is not None:
        return np.arange(size, dtype=np.int64), np.asarray(ids, dtype=np.int64)
    try:
        unique, inverse = np.unique(ids, return_inverse=True)
    except TypeError:
        raise ValueError(
            "ids of different types cannot be ordered into one catalogue; use one type for "
            f"all ids (found {sorted({type(v).__name__ for v in ids})})."
        ) from None
    return unique, inverse.reshape(-1).astype(np.int64)


def lookup_ids(ids, catalogue):
    """Index of each id in a sorted ``catalogue`` (see :func:`index_ids`); ``-1`` if unknown."""
    ids = np.asarray(ids)
    codes = np.full(ids.shape[0], -1, dtype=np.int64)
    if ids.size == 0 or catalogue.size == 0:
        return codes
    numeric = catalogue.dtype != object and ids.dtype != object
    if numeric and catalogue[0] == 0 and catalogue[-1] == catalogue.size - 1:
        known = (ids >= 0) & (ids < catalogue.size)  # ids 0 .. n - 1 are their own index
        codes[known] = ids[known]
        return codes
    try:
        position = np.minimum(np.searchsorted(catalogue, ids), catalogue.size - 1)
        found = catalogue[position] == ids
    except TypeError:  # ids of another type than the catalogue's: compare one by one
        index = {value: i for i, value in enumerate(catalogue.tolist())}
        return np.fromiter(
            (index.get(v, -1) for v in ids.tolist()), dtype=np.int64, count=ids.size
        )
    found = np.asarray(found, dtype=bool)
    codes[found] = position[found]
    return codes


class _PairEstimatorMixin:
    """The (user, item) id contract of every estimator that takes pairs.

    ``_fit_pairs`` validates the training pairs, fixes the catalogue (``user_ids_``,
    ``item_ids_``, ``n_users_``, ``n_items_``) and returns the pairs as catalogue indices;
    ``_encode_pairs`` maps new pairs to the same indices (``-1`` for unknown ids, or an
    error naming the first one).
    """

    def _id_columns(self):
        return check_id_columns(getattr(self, "id_columns", DEFAULT_ID_COLUMNS))

    def _fit_pairs(self, X, y=None, *, n_users=None, n_items=None, y_name="y"):
        id_columns = self._id_columns()
        users, items, y = check_interactions(
            X, y, n_users=n_users, n_items=n_items, y_name=y_name, id_columns=id_columns
        )
        user_col, _, names = _pair_columns(X, id_columns)
        if names is not None:
            self.feature_names_in_ = names
            # the names in the order they were read: (user column, item column)
            read_by_name = all(c in list(names) for c in id_columns)
            self._id_names = tuple(id_columns) if read_by_name else tuple(names)
        else:
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            self._id_names = None
        self.user_ids_, users = index_ids(users, n_users)
        self.item_ids_, items = index_ids(items, n_items)
        self.n_users_ = int(self.user_ids_.size)
        self.n_items_ = int(self.item_ids_.size)
        self.n_features_in_ = 2
        return users, items, y

    def _raw_pairs(self, X, y=None):
        """The raw (user, item) ids of new pairs ``X``, read as in ``fit`` (and ``y``)."""
        return check_interactions(
            X, y, id_columns=self._id_columns(), _fitted_names=getattr(self, "_id_names", None)
        )

    def _encode_pairs(self, X, y=None, *, unknown_users="error", unknown_items="error"):
        """Indices of the pairs of ``X`` (and validated ``y``); ``"mark"``: ``-1`` if unknown."""
        users, items, y = self._raw_pairs(X, y)
        return (
            self._encode_ids(users, "user", unknown_users),
            self._encode_ids(items, "item", unknown_items),
            y,
        )

    def _encode_ids(self, ids, what, unknown="error"):
        catalogue = self.user_ids_ if what == "user" else self.item_ids_
        codes = lookup_ids(ids, catalogue)
        if unknown == "error" and (codes < 0).any():
            i = first_index(codes < 0)
            raise ValueError(
                f"{what} id {_id_repr(ids, i)} (entry {i}) was not in the training catalogue of "
                f"{catalogue.size} {what}s; {type(self).__name__} has no parameters for it."
            )
        return codes


@validate_params(
    {"users": ["array-like"], "items": ["array-like"], "y": ["array-like", None], "how": [str]},
    prefer_skip_nested_validation=True,
)
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


@validate_params(
    {"values": ["array-like", Real], "name": [str]},
    prefer_skip_nested_validation=True,
)
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
        i = first_index(bad)
        where = tuple(int(j) for j in np.unravel_index(i, array.shape)) if array.ndim > 1 else i
        raise ValueError(
            f"{name} must hold probabilities in (0, 1]; entry {where} is {flat[i].item()!r}."
        )
    return array


@validate_params(
    {
        "users": ["array-like"],
        "items": ["array-like"],
        "values": ["array-like", None],
        "shape": [tuple],
    },
    prefer_skip_nested_validation=True,
)
def interaction_matrix(users, items, values=None, *, shape):
    """Build the sparse ``n_users x n_items`` matrix of some pairs (repeats are summed).

    Parameters
    ----------
    users, items : array-like of int of shape (n_pairs,)
        Row (user index) and column (item index) of each pair, in ``0 .. n - 1``.
    values : array-like of shape (n_pairs,), default=None
        Value of each pair; ``None`` puts 1 in every pair's cell.
    shape : (int, int)
        ``(n_users, n_items)``, the shape of the matrix.

    Returns
    -------
    matrix : scipy.sparse.csr_matrix of float64
        The matrix of shape ``shape``; the values of repeated pairs are summed into one
        cell.

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


def resolve_propensity(
    spec,
    users,
    items,
    *,
    fit=True,
    fit_y=None,
    predict_y=None,
    fit_params=None,
    n_users=None,
    n_items=None,
    name="propensity",
):
    """The propensity of each (user, item) pair from a ``propensity=`` specification.

    The one rule of every estimator that takes ``propensity=`` (the Rel-MF family,
    :class:`~skultr.recommendation.DebiasedMFRecommender`, :func:`~skultr.metrics.
    make_ips_scorer`):

    - an estimator (an object with ``predict``): with ``fit=True`` it is cloned, given the
      caller's *declared* catalogue (``n_users`` / ``n_items``) only where its own parameter
      is ``None`` (a value the user set is kept), fitted on the pairs (with ``fit_y`` and
      ``fit_params`` when given) and asked for the propensity of each pair; with
      ``fit=False`` it is used as fitted. A ``predict`` that takes ``y`` (naive Bayes) gets
      ``predict_y``. The ids given to it are the caller's raw ids.
    - an array: one propensity per integer item id (shape ``(n_items,)``) or per pair of ids
      (shape ``(n_users, n_items)``), indexed by id; with a declared catalogue its shape must
      match it.

    Returns
    -------
    theta : ndarray of shape (n_pairs,)
        Validated propensities in (0, 1].
    estimator : estimator or None
        The (fitted) estimator, ``None`` for an array.
    table : ndarray or None
        The validated array, ``None`` for an estimator.
    """
    users = np.asarray(users)
    items = np.asarray(items)
    n = users.shape[0]
    if hasattr(spec, "predict"):
        X = np.empty((n, 2), dtype=object if object in (users.dtype, items.dtype) else np.int64)
        X[:, 0], X[:, 1] = users, items
        estimator = spec
        if fit:
            from sklearn.base import clone

            estimator = clone(spec)
            own = estimator.get_params()
            declared = {"n_users": n_users, "n_items": n_items}
            estimator.set_params(
                **{
                    k: v
                    for k, v in declared.items()
                    if v is not None and k in own and own[k] is None
                }
            )
            # Only the fit parameters this estimator's fit takes (mar_y is naive Bayes's).
            accepted = inspect.signature(estimator.fit).parameters
            takes_any = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
            kwargs = {
                k: v
                for k, v in (fit_params or {}).items()
                if v is not None and (takes_any or k in accepted)
            }
            if fit_y is None:
                estimator.fit(X, **kwargs)
            else:
                estimator.fit(X, fit_y, **kwargs)
        what = f"{name} (the predictions of {type(estimator).__name__})"
        takes_y = "y" in inspect.signature(estimator.predict).parameters
        values = estimator.predict(X, predict_y) if takes_y else estimator.predict(X)
        theta = check_propensity(np.asarray(values).reshape(-1), name=what)
        if theta.shape != (n,):
            raise ValueError(f"{what} must hold one value per pair ({n}); got {theta.size}.")
        return theta, estimator, None
    table = check_propensity(spec, name=name)
    if table.ndim not in (1, 2):
        raise ValueError(
            f"{name} must be an array of shape (n_items,) or (n_users, n_items), or an "
            f"estimator with fit and predict; got an array of shape {table.shape}."
        )
    ids = (items,) if table.ndim == 1 else (users, items)
    sizes = (n_items,) if table.ndim == 1 else (n_users, n_items)
    labels = ("item",) if table.ndim == 1 else ("user", "item")
    for axis, (id_array, size, what) in enumerate(zip(ids, sizes, labels, strict=True)):
        if id_array.dtype == object:
            raise ValueError(
                f"an array {name} is indexed by integer {what} id, but the {what} ids are not "
                "integers: pass an estimator (such as PopularityPropensity) instead."
            )
        if size is not None and table.shape[axis] != size:
            raise ValueError(
                f"{name} has shape {table.shape}, which does not match the declared "
                f"catalogue (n_{what}s={size}) on axis {axis}."
            )
        if id_array.max() >= table.shape[axis]:
            i = first_index(id_array >= table.shape[axis])
            raise ValueError(
                f"{name} has shape {table.shape}: one entry per {what} id, but {what} id "
                f"{id_array[i]} (pair {i}) is beyond it. Give one entry per id 0..max id "
                "(or declare n_users / n_items)."
            )
    return table[tuple(ids)].reshape(-1), None, table
