"""Training and prediction over data larger than memory: Dask DataFrames and shards.

skultr integrates with the engines users already run rather than scheduling work itself
(see the "Scaling out" page of the documentation):

- search and cross-validation on a cluster: scikit-learn's own ``GridSearchCV`` /
  ``cross_validate`` under ``joblib.parallel_backend("dask")``, nothing from here;
- out-of-core training: :func:`partial_fit_partitions` feeds the partitions of a Dask
  DataFrame (or any iterable of pandas DataFrames, such as the row groups of a Parquet
  dataset) to an estimator's ``partial_fit``, one partition in memory at a time;
- counting estimators (:class:`~skultr.propensity.RandomizationPropensity`,
  :class:`~skultr.propensity.PopularityPropensity`): :func:`fit_by_counts` counts each
  partition on its worker and reduces the counts with Dask, so only counts travel;
- prediction: :func:`predict_partitions` maps a fitted estimator's method over the
  partitions on the workers.

Dask is imported only by these functions (the ``distributed`` extra:
``pip install "skultr[distributed]"``).
"""

from functools import partial
from numbers import Integral

import numpy as np

from skultr.utils._sklearn_compat import HasMethods, Interval, validate_params

__all__ = ["fit_by_counts", "partial_fit_partitions", "predict_partitions"]


@validate_params(
    {
        "estimator": [HasMethods(["partial_fit"])],
        "frame": [HasMethods(["to_delayed"]), HasMethods(["__iter__"]), callable],
        "y": [str, None],
        "qid": [str, None],
        "n_passes": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=False,
)
def partial_fit_partitions(estimator, frame, *, y=None, qid="qid", n_passes=1, **fit_params):
    """Train ``estimator`` partition by partition with ``partial_fit``.

    Each partition is computed (on the cluster, when ``frame`` is a Dask DataFrame under a
    ``dask.distributed`` client; the next partition is computed while the estimator trains
    on the current one) and passed to ``estimator.partial_fit`` as a pandas DataFrame, so
    the caller's peak memory is about two partitions plus the model, whatever the size of
    the data. ``dask_ml.wrappers.Incremental`` cannot do this for skultr's estimators: it
    passes the same ``fit`` arguments to every block, while a ranker needs each block's
    own ``qid`` and ``position``, which here travel as columns of the partition.

    Parameters
    ----------
    estimator : estimator with ``partial_fit``
        Changed in place and returned. A ranker reads its ``qid`` and ``position`` columns
        from each partition; a recommender its ``id_columns``.
    frame : dask.dataframe.DataFrame, iterable of pandas.DataFrame, or callable
        The log, one row per displayed document (ranking) or per pair (recommendation): a
        Dask DataFrame, a sequence of pandas DataFrames, or a callable that returns an
        iterable of them and is called once per pass (a generator function that reads
        one Parquet row group at a time). A one-shot iterator with ``n_passes > 1`` is a
        ``ValueError``: its second pass would be empty.
    y : str or None, default=None
        Name of the target column (clicks, feedback), removed from the features and passed
        as ``partial_fit``'s ``y``. ``None``: no target (implicit-feedback pairs).
    qid : str or None, default="qid"
        Column of the list of each row, for estimators that take ``qid``. A list must lie
        in one partition (its rows form one listwise loss term): a list found in two
        partitions is a ``ValueError`` naming it and both partitions, raised before the
        second one is trained on. ``None`` or a column that is absent: not checked.
    n_passes : int, default=1
        Passes over the partitions; each partition of each pass is one ``partial_fit``
        call (one epoch on that partition for the engine's estimators).
    **fit_params
        Further keyword arguments of every ``partial_fit`` call.

    Returns
    -------
    estimator
        The trained estimator.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from skultr.datasets import make_click_log, make_ranking_dataset
    >>> from skultr.distributed import partial_fit_partitions
    >>> from skultr.ranking import DLARanker
    >>> X, y, qid = make_ranking_dataset(20, n_features=5, random_state=0)
    >>> log = make_click_log(X, y, qid, n_sessions=200, random_state=0)
    >>> frame = pd.DataFrame(log.X, columns=list("abcde")).assign(
    ...     qid=log.qid, position=log.position, click=log.clicks)
    >>> # stand-in for dd.read_parquet(...) partitioned by session
    >>> parts = [frame[frame.qid % 4 == k] for k in range(4)]
    >>> ranker = DLARanker(hidden_layer_sizes=(8,), device="cpu", random_state=0)
    >>> ranker = partial_fit_partitions(ranker, parts, y="click")
    >>> ranker.n_iter_
    4
    """
    if n_passes > 1 and not callable(frame) and iter(frame) is frame:
        raise ValueError(
            "frame is a one-shot iterator, so a second pass would see no partition: pass a "
            "list, a Dask DataFrame, or a function that returns a fresh iterator per pass."
        )
    for _ in range(int(n_passes)):
        lists = _ListTracker(qid)
        for index, part in _partitions(frame):
            lists.check(part, index)
            if y is None:
                estimator.partial_fit(part, **fit_params)
                continue
            if y not in part.columns:
                raise ValueError(
                    f"y={y!r} is not a column of partition {index}; its columns are "
                    f"{list(part.columns)[:10]}."
                )
            estimator.partial_fit(part.drop(columns=[y]), part[y].to_numpy(), **fit_params)
    return estimator


@validate_params(
    {
        "estimator": [HasMethods(["fit"])],
        "frame": [HasMethods(["to_delayed"])],
        "y": [str, None],
        "columns": [dict, None],
    },
    prefer_skip_nested_validation=False,
)
def fit_by_counts(estimator, frame, *, y=None, columns=None):
    """Fit a counting estimator by map-reduce over the partitions of a Dask DataFrame.

    Only counts come back to the client, and the result equals ``fit`` on the
    concatenated partitions exactly, whatever the partitioning. For estimators whose
    statistics are counts, each reduced its own way (the estimator names it by a private
    method):

    - counts that add up over partitions, :class:`~skultr.propensity.RandomizationPropensity`
      (method ``_merge_counts``): a clone of ``estimator`` counts each partition with
      ``partial_fit`` on its worker, and the counts are summed (a list may even be split);
    - counts of distinct clicks, :class:`~skultr.propensity.PopularityPropensity` (method
      ``_fit_from_catalogue``): each partition's ids are validated on its worker, Dask drops
      the clicked (user, item) pairs repeated across partitions and counts each item's
      users, and only these per-item counts and the distinct user and item ids (the
      catalogues) reach the client.

    Any other estimator is a ``TypeError`` that points to :func:`partial_fit_partitions`.
    A bad partition is a ``ValueError`` of ``fit``'s message prefixed with
    ``"partition {i}: "``.

    Parameters
    ----------
    estimator : estimator
        Unfitted or fitted (refitted from scratch); changed in place and returned.
    frame : dask.dataframe.DataFrame
        The log as ``fit`` reads a DataFrame ``X``, plus the ``y`` column: features,
        ``qid`` and ``position`` columns (ranking), or the two id columns (pairs).
    y : str or None, default=None
        Name of the target column (clicks; pairs with ``y > 0`` are clicks for
        ``PopularityPropensity``). ``None``: no target, every pair is a click (pair
        estimators only; ``RandomizationPropensity`` requires it).
    columns : dict or None, default=None
        Further ``fit`` arguments read from columns, ``{argument: column}`` (for example
        ``{"production_position": "production"}`` for ``intervention="swap"``); those
        columns are removed from the features. ``PopularityPropensity`` takes none.

    Returns
    -------
    estimator
        Fitted.

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> import pandas as pd
    >>> from skultr.distributed import fit_by_counts
    >>> from skultr.propensity import PopularityPropensity
    >>> log = pd.DataFrame({"user": [0, 1, 2, 0, 0, 1], "item": [0, 0, 0, 1, 0, 2],
    ...                     "click": [1, 1, 1, 1, 1, 0]})
    >>> est = fit_by_counts(PopularityPropensity(), dd.from_pandas(log, npartitions=2),
    ...                     y="click")
    >>> est.item_counts_.tolist(), est.propensity_.round(3).tolist()
    ([3, 1, 0], [1.0, 0.577, 0.577])
    """
    if hasattr(estimator, "_fit_from_catalogue"):
        return _fit_distinct_clicks(estimator, frame, y, columns)
    if not hasattr(estimator, "_merge_counts"):
        raise TypeError(
            f"{type(estimator).__name__} is not fitted from counts (fit_by_counts fits "
            "RandomizationPropensity and PopularityPropensity); train it with "
            "partial_fit_partitions instead."
        )
    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} counts clicks: pass y, the name of the click column."
        )
    import dask
    from sklearn.base import clone

    columns = dict(columns or {})
    template = clone(estimator)
    counted = [
        dask.delayed(_count_partition)(template, part, y, columns, index)
        for index, part in enumerate(frame.to_delayed())
    ]
    parts = dask.compute(*counted)
    return estimator._merge_counts(list(parts))


def _count_partition(template, part, y, columns, index):
    import warnings

    from sklearn.base import clone

    missing = [c for c in (y, *columns.values()) if c not in part.columns]
    if missing:
        raise ValueError(f"partition {index} has no column {missing[0]!r}.")
    arguments = {name: part[column].to_numpy() for name, column in columns.items()}
    try:
        with warnings.catch_warnings():  # a partition without a click is fine here
            warnings.simplefilter("ignore")
            return clone(template).partial_fit(
                part.drop(columns=[y, *columns.values()]), part[y].to_numpy(), **arguments
            )
    except ValueError as exc:
        raise ValueError(f"partition {index}: {exc}") from exc


def _fit_distinct_clicks(estimator, frame, y, columns):
    """``fit_by_counts`` of an estimator counting the distinct users who clicked each item."""
    import dask
    import pandas as pd
    from sklearn.base import clone

    from skultr.utils._interactions import _pair_columns

    if columns:
        raise ValueError(
            f"{type(estimator).__name__}.fit takes no further arguments; got columns={columns!r}."
        )
    estimator._validate_params()
    id_columns = estimator._id_columns()
    meta = frame._meta
    if y is not None and y not in meta.columns:
        raise ValueError(
            f"y={y!r} is not a column of frame; its columns are {list(meta.columns)}."
        )
    X_meta = meta if y is None else meta.drop(columns=[y])
    _pair_columns(X_meta, id_columns)  # fit's error for columns that are not two id columns
    names = list(X_meta.columns)
    user_name, item_name = id_columns if all(c in names for c in id_columns) else names
    dtypes = {
        key: np.int64 if getattr(X_meta[name].dtype, "kind", "O") in "if" else object
        for key, name in (("user", user_name), ("item", item_name))
    }
    pairs_meta = pd.DataFrame(
        {key: pd.Series([], dtype=dtype) for key, dtype in dtypes.items()}
        | {"click": pd.Series([], dtype=bool)}
    )
    pairs = frame.map_partitions(  # a clone travels: not the arrays of an earlier fit
        _validated_pairs, clone(estimator), y, dtypes, meta=pairs_meta, enforce_metadata=False
    )
    n_out = max(1, int(frame.npartitions))
    clicked = pairs[pairs["click"]][["user", "item"]].drop_duplicates(split_out=n_out)
    users, items, counts = dask.compute(
        pairs["user"].drop_duplicates(split_out=1),
        pairs["item"].drop_duplicates(split_out=1),
        clicked["item"].value_counts(split_out=1),
    )
    users, items = users.to_numpy(dtype=object), items.to_numpy(dtype=object)
    size = max(users.size, items.size)
    catalogue = pd.DataFrame(  # every distinct id, in the log's columns
        {
            user_name: np.resize(users, size) if users.size else users,
            item_name: np.resize(items, size) if items.size else items,
        },
        columns=names,
        dtype=object,
    )
    return estimator._fit_from_catalogue(
        catalogue, counts.index.to_numpy(dtype=object), counts.to_numpy()
    )


def _validated_pairs(part, estimator, y, dtypes, partition_info=None):
    """A partition's (user, item) ids validated as ``fit`` does, and whether each is a click."""
    import pandas as pd

    from skultr.utils._interactions import check_interactions

    users = items = np.zeros(0, dtype=np.int64)
    clicked = np.zeros(0, dtype=bool)
    if len(part):  # an empty partition adds nothing (fit refuses only an empty log)
        try:
            users, items, feedback = check_interactions(
                part if y is None else part.drop(columns=[y]),
                None if y is None else part[y].to_numpy(),
                n_items=estimator.n_items,
                id_columns=estimator._id_columns(),
            )
            clicked = estimator._clicked(feedback)
        except ValueError as exc:
            index = partition_info["number"] if partition_info else "?"
            raise ValueError(f"partition {index}: {exc}") from exc
        if clicked is None:
            clicked = np.ones(len(part), dtype=bool)
    return pd.DataFrame(
        {
            "user": pd.Series(users, dtype=dtypes["user"]),
            "item": pd.Series(items, dtype=dtypes["item"]),
            "click": pd.Series(clicked, dtype=bool),
        }
    )


@validate_params(
    {
        "estimator": [HasMethods(["get_params"])],
        "frame": [HasMethods(["map_partitions"])],
        "method": [str],
        "n": [Interval(Integral, 1, None, closed="left")],
        "exclude_seen": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def predict_partitions(estimator, frame, method="predict", *, n=10, exclude_seen=True):
    """``estimator.<method>`` of every partition of a Dask DataFrame, on the workers.

    Parameters
    ----------
    estimator : fitted estimator
        Shipped to the workers (it pickles without any device handle; a model trained on a
        GPU loads on CPU-only workers).
    frame : dask.dataframe.DataFrame or dask.dataframe.Series
        Rows to score; a ranker ignores its ``qid`` / ``position`` columns, a recommender
        reads its ``id_columns``. For ``method="recommend"``: the users, as a Series or as
        the recommender's user column (``id_columns[0]``) of a DataFrame.
    method : str, default="predict"
        A method returning one value per row (``predict``, ``transform`` of a corrector
        with one output, ``decision_function``), ``predict_proba`` (then a DataFrame
        with one column per class), or a recommender's ``recommend``.
    n, exclude_seen : int, bool, default=10, True
        Arguments of ``recommend`` (ignored by the other methods).

    Returns
    -------
    dask.dataframe.Series or dask.dataframe.DataFrame
        Lazy, aligned with ``frame``'s partitions and index. ``recommend`` gives one row per
        user with columns ``item_1 .. item_n`` (best first) and ``score_1 .. score_n``.

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> import pandas as pd
    >>> from skultr.distributed import predict_partitions
    >>> from skultr.recommendation import BPRRecommender
    >>> clicks = pd.DataFrame({"user": [0, 0, 1, 1, 2, 2], "item": [0, 1, 1, 2, 0, 2]})
    >>> model = BPRRecommender(n_factors=2, max_epochs=2, random_state=0).fit(clicks)
    >>> users = dd.from_pandas(pd.Series([0, 1, 2], name="user"), npartitions=2)
    >>> top = predict_partitions(model, users, "recommend", n=1).compute()
    >>> list(top.columns), len(top)
    (['item_1', 'score_1'], 3)
    """
    import pandas as pd

    if not hasattr(estimator, method):
        raise ValueError(f"{type(estimator).__name__} has no method {method!r}.")
    classes = getattr(estimator, "classes_", None)

    def apply(part):
        out = np.asarray(getattr(estimator, method)(part))
        if out.ndim == 2:
            return pd.DataFrame(out, index=part.index, columns=_columns(out.shape[1], classes))
        return pd.Series(out, index=part.index, name=method)

    if method == "recommend":
        apply = partial(_recommend_partition, estimator, n=n, exclude_seen=exclude_seen)
    # recommend's metadata from no users (made-up ones would be unknown to the model)
    meta = apply(frame._meta if method == "recommend" else frame._meta_nonempty).iloc[:0]
    return frame.map_partitions(apply, meta=meta)


def _recommend_partition(estimator, part, *, n, exclude_seen):
    """``recommend`` of one partition's users, as a DataFrame indexed like them."""
    import pandas as pd

    if isinstance(part, pd.DataFrame):
        column = estimator._id_columns()[0]
        if column not in part.columns:
            raise ValueError(
                f"recommend reads the users from the column {column!r} (the recommender's "
                f"id_columns[0]); the frame has {list(part.columns)}."
            )
        part = part[column]
    if len(part) == 0:  # an empty partition (or Dask's metadata of the frame)
        items = np.empty((0, min(n, estimator.n_items_)), dtype=estimator.item_ids_.dtype)
        scores = np.empty(items.shape)
    else:
        items, scores = estimator.recommend(part.to_numpy(), n=n, exclude_seen=exclude_seen)
    width = items.shape[1]
    columns = {f"item_{j + 1}": items[:, j] for j in range(width)}
    columns.update({f"score_{j + 1}": scores[:, j] for j in range(width)})
    return pd.DataFrame(columns, index=part.index)


def _columns(n, classes):
    if classes is not None and len(classes) == n:
        return [str(c) for c in classes]
    return [str(k) for k in range(n)]


def _partitions(frame):
    """``(index, pandas partition)`` pairs, computing the next one while the caller works."""
    if hasattr(frame, "to_delayed") and hasattr(frame, "npartitions"):
        parts = frame.to_delayed()
        client = _client()
        if client is None:
            for index, part in enumerate(parts):
                yield index, part.compute()
            return
        future = client.compute(parts[0]) if parts else None
        for index in range(len(parts)):
            current = future
            future = client.compute(parts[index + 1]) if index + 1 < len(parts) else None
            yield index, current.result()
        return
    if callable(frame):
        frame = frame()
    for index, part in enumerate(frame):
        if not hasattr(part, "columns"):
            raise TypeError(
                f"partition {index} is a {type(part).__name__}; frame must be a Dask "
                "DataFrame or an iterable of pandas DataFrames."
            )
        yield index, part


def _client():
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:  # no client: the default scheduler computes locally
        return None


class _ListTracker:
    """The lists seen in earlier partitions (sorted, with their partition), to refuse a split.

    Memory: 12 bytes per list (an int64 key or the list id, and its partition); each
    partition costs a search and an insertion into the sorted arrays.
    """

    def __init__(self, column):
        self.column = column
        self.seen = None
        self.where = np.zeros(0, dtype=np.int32)

    def check(self, part, index):
        if self.column is None or self.column not in part.columns:
            return
        ids = np.unique(part[self.column].to_numpy())
        if self.seen is None:
            self.seen, self.where = ids, np.full(ids.shape[0], index, dtype=np.int32)
            return
        try:
            at = np.searchsorted(self.seen, ids)
        except TypeError as exc:
            raise ValueError(
                f"the {self.column!r} column of partition {index} has ids of another type "
                f"({ids.dtype}) than the earlier partitions ({self.seen.dtype})."
            ) from exc
        inside = at < self.seen.shape[0]
        found = np.zeros(ids.shape[0], dtype=bool)
        found[inside] = self.seen[at[inside]] == ids[inside]
        if found.any():
            first = int(np.flatnonzero(found)[0])
            value = ids[first].item() if hasattr(ids[first], "item") else ids[first]
            raise ValueError(
                f"list {self.column}={value!r} is split across partitions "
                f"{int(self.where[at[first]])} and {index}: a list's rows form one term of "
                "the listwise loss and must lie in one partition (repartition by the list, "
                f"for example frame.shuffle(on={self.column!r}), before training)."
            )
        self.seen = np.insert(self.seen, at, ids)
        self.where = np.insert(self.where, at, np.int32(index))
