"""Learning-to-rank data: an SVMlight loader, a synthetic graded-relevance generator with a
known ground truth, and a click-log simulator that turns labelled lists into user sessions.
"""

import numbers
import os
from numbers import Integral, Real

import numpy as np
from scipy.special import ndtri
from sklearn.datasets import load_svmlight_file
from sklearn.utils import Bunch, check_random_state

from skultr.utils._sklearn_compat import HasMethods, validate_params
from skultr.utils._validation import check_int

# Share of documents at grades 0, 1, 2, 3, 4 in make_ranking_dataset (before the noise):
# most documents are irrelevant and few are perfect, as in web-search collections.
_GRADE_SHARES = (0.45, 0.27, 0.15, 0.09, 0.04)


# --------------------------------------------------------------------------------------------
# Loader
# --------------------------------------------------------------------------------------------


def _side_file(path, side, suffix, what):
    """Resolve a side file argument: ``"auto"`` looks for ``path + suffix``."""
    if side is None:
        return None
    if isinstance(side, str) and side == "auto":
        candidate = os.fspath(path) + suffix
        return candidate if os.path.exists(candidate) else None
    if not os.path.exists(side):
        raise ValueError(f"{what} {os.fspath(side)!r} does not exist.")
    return side


def _read_integers(path, what):
    values = np.loadtxt(path, dtype=np.float64, ndmin=1)
    if values.ndim != 1:
        raise ValueError(f"{what} {os.fspath(path)!r} must hold one integer per line.")
    bad = values != np.round(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{what} {os.fspath(path)!r} must hold integers; got {values[i]} on line {i + 1}."
        )
    return values.astype(np.int64)


@validate_params(
    {
        "path": [str, os.PathLike],
        "n_features": [Integral, None],
        "dtype": "no_validation",
        "dense": ["boolean"],
        "query_file": [str, os.PathLike, None],
        "position_file": [str, os.PathLike, None],
        "position_start": [Integral],
        "return_position": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_svmlight_ranking(
    path,
    *,
    n_features=None,
    dtype=np.float64,
    dense=True,
    query_file="auto",
    position_file="auto",
    position_start=0,
    return_position=False,
):
    """Load a learning-to-rank file in SVMlight / LETOR format: features, grades and query ids.

    The query of each row comes from the ``qid:`` tokens of the file when it has them, and
    otherwise from a LightGBM-style group file (``path + ".query"``: one list size per line,
    in row order). A LightGBM-style ``.position`` side file gives the displayed position of
    each row in a production ranking.

    Parameters
    ----------
    path : str or path-like
        The SVMlight file (``label [qid:N] index:value ... [# comment]``).
    n_features : int, optional
        Number of feature columns; by default the highest index found in the file.
    dtype : numpy dtype, default=np.float64
        Dtype of ``X``.
    dense : bool, default=True
        Return ``X`` as a dense array (the neural rankers need one); ``False`` keeps the CSR
        matrix of :func:`sklearn.datasets.load_svmlight_file`.
    query_file : "auto", path or None, default="auto"
        Group-size file. ``"auto"`` uses ``path + ".query"`` when the file has no ``qid:``
        tokens and the group file exists. ``None`` never reads one.
    position_file : "auto", path or None, default="auto"
        Position side file, read when ``return_position=True``: one integer per row.
        ``"auto"`` means ``path + ".position"``.
    position_start : int, default=0
        The number the position file gives to the top position: 0 in LightGBM's examples,
        1 for 1-based files. Returned positions are always 1-based.
    return_position : bool, default=False
        Also return the positions (raises if there is no position file).

    Returns
    -------
    X : ndarray or CSR matrix of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Relevance grades.
    qid : ndarray of int64 of shape (n_samples,)
        Query id of each row (the ``qid:`` values, or ``0 .. n_queries - 1`` from a group
        file).
    position : ndarray of int64 of shape (n_samples,)
        Only when ``return_position=True``: 1-based displayed position of each row.

    Raises
    ------
    ValueError
        If the file has no query ids and no group file is found, if the group sizes do not
        add up to the number of rows, or if the position file does not match.

    Examples
    --------
    >>> import tempfile, os
    >>> from skultr.datasets import load_svmlight_ranking
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "train.txt")
    >>> with open(path, "w") as f:
    ...     _ = f.write("2 1:0.5 3:1.0\\n0 2:0.1\\n1 1:0.2\\n")
    >>> with open(path + ".query", "w") as f:
    ...     _ = f.write("2\\n1\\n")
    >>> X, y, qid = load_svmlight_ranking(path)
    >>> X.shape, y.tolist(), qid.tolist()
    ((3, 3), [2.0, 0.0, 1.0], [0, 0, 1])
    """
    if not os.path.exists(path):
        raise ValueError(f"path {os.fspath(path)!r} does not exist.")
    X, y, qid = load_svmlight_file(
        os.fspath(path), n_features=n_features, dtype=dtype, query_id=True
    )
    n_rows = X.shape[0]
    has_qid = n_rows > 0 and bool(np.any(qid != 0))
    group_path = None if has_qid else _side_file(path, query_file, ".query", "query_file")
    if group_path is not None:
        sizes = _read_integers(group_path, "query_file")
        if (sizes < 1).any() or sizes.sum() != n_rows:
            raise ValueError(
                f"the group sizes in query_file {os.fspath(group_path)!r} add up to "
                f"{int(sizes.sum())} rows (and must all be >= 1), but {os.fspath(path)!r} "
                f"has {n_rows} rows."
            )
        qid = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    elif not has_qid:
        raise ValueError(
            f"{os.fspath(path)!r} has no qid: tokens and no group file was found "
            f"(looked for {os.fspath(path) + '.query'!r}); pass query_file=..."
        )
    qid = np.asarray(qid, dtype=np.int64)
    if dense:
        X = X.toarray()
    if not return_position:
        return X, y, qid
    position_path = _side_file(path, position_file, ".position", "position_file")
    if position_path is None:
        raise ValueError(
            f"return_position=True but no position file was found for {os.fspath(path)!r} "
            f"(looked for {os.fspath(path) + '.position'!r}); pass position_file=..."
        )
    position = _read_integers(position_path, "position_file") - int(position_start) + 1
    if len(position) != n_rows:
        raise ValueError(
            f"position_file {os.fspath(position_path)!r} has {len(position)} lines but "
            f"{os.fspath(path)!r} has {n_rows} rows."
        )
    if (position < 1).any():
        i = int(np.flatnonzero(position < 1)[0])
        raise ValueError(
            f"position_file {os.fspath(position_path)!r} line {i + 1} is below "
            f"position_start={position_start}."
        )
    return X, y, qid, position


# --------------------------------------------------------------------------------------------
# Synthetic data with a known relevance function
# --------------------------------------------------------------------------------------------


def true_relevance_utility(X):
    """The hidden utility behind :func:`make_ranking_dataset`'s grades (before noise).

    ``u(x) = x_0 + 0.8 x_1 − 0.6 x_2 + 0.4 x_3 + 1.2 sin(2 x_0) + 0.8 x_1 x_2 − 0.7 |x_4|``
    on the first five features; the remaining features carry no signal. Linear models
    capture only part of it.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] < 5:
        raise ValueError(f"X must be 2-D with at least 5 features; got shape {X.shape}.")
    x0, x1, x2, x3, x4 = X[:, :5].T
    return (
        x0
        + 0.8 * x1
        - 0.6 * x2
        + 0.4 * x3
        + 1.2 * np.sin(2.0 * x0)
        + 0.8 * x1 * x2
        - 0.7 * np.abs(x4)
    )


@validate_params(
    {
        "n_queries": [Integral],
        "n_documents": [Integral, tuple, list],
        "n_features": [Integral],
        "noise": [Real],
        "query_shift": [Real],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_ranking_dataset(
    n_queries=500,
    *,
    n_documents=(10, 30),
    n_features=10,
    noise=0.3,
    query_shift=0.5,
    random_state=None,
):
    """Synthetic ranking lists with graded relevance 0-4 from a known nonlinear function.

    Each query draws a shift ``μ_q ~ N(0, query_shift²)`` of its documents' features (so
    queries differ in how many relevant documents they have); each document has features
    ``x = μ_q + N(0, I)``. Its grade discretises the standardised utility
    :func:`true_relevance_utility` plus ``N(0, noise²)`` at fixed quantiles, so that about
    45/27/15/9/4 % of the documents get grades 0/1/2/3/4.

    Parameters
    ----------
    n_queries : int, default=500
        Number of queries (lists), with ids ``0 .. n_queries - 1`` in ``qid``.
    n_documents : int or (int, int), default=(10, 30)
        Documents per query: a fixed number or an inclusive range drawn uniformly.
    n_features : int, default=10
        At least 5; features beyond the fifth are noise.
    noise : float, default=0.3
        Standard deviation of the label noise, in units of the utility's standard deviation.
    query_shift : float, default=0.5
        Standard deviation of each query's feature shift ``μ_q`` (drawn per feature); ``0``
        gives queries with the same feature distribution.
    random_state : int, RandomState instance or None, default=None
        Seed of the list sizes, the features and the label noise: the same seed gives the
        same data.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Grades 0-4 (float).
    qid : ndarray of int64 of shape (n_samples,)
        Query id of each row, ``0 .. n_queries - 1``, rows of a query contiguous.

    Examples
    --------
    >>> from skultr.datasets import make_ranking_dataset
    >>> X, y, qid = make_ranking_dataset(50, n_documents=10, random_state=0)
    >>> X.shape, sorted(set(y.tolist())), len(set(qid.tolist()))
    ((500, 10), [0.0, 1.0, 2.0, 3.0, 4.0], 50)
    """
    n_queries = check_int(n_queries, "n_queries")
    n_features = check_int(n_features, "n_features", minimum=5)
    if isinstance(n_documents, numbers.Integral) and not isinstance(n_documents, bool):
        low = high = check_int(n_documents, "n_documents")
    else:
        try:
            low, high = (check_int(v, "n_documents") for v in n_documents)
        except (TypeError, ValueError):
            raise ValueError(
                f"n_documents must be an int >= 1 or a pair (low, high); got {n_documents!r}."
            ) from None
        if low > high:
            raise ValueError(f"n_documents range must have low <= high; got {n_documents!r}.")
    for name, value in (("noise", noise), ("query_shift", query_shift)):
        if not (isinstance(value, numbers.Real) and np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0; got {value!r}.")
    rng = check_random_state(random_state)
    sizes = rng.randint(low, high + 1, size=n_queries)
    qid = np.repeat(np.arange(n_queries, dtype=np.int64), sizes)
    shift = query_shift * rng.normal(size=(n_queries, n_features))
    X = shift[qid] + rng.normal(size=(len(qid), n_features))
    utility = true_relevance_utility(X)
    utility = (utility - utility.mean()) / utility.std()
    noisy = (utility + noise * rng.normal(size=len(qid))) / np.sqrt(1.0 + noise**2)
    thresholds = ndtri(np.cumsum(_GRADE_SHARES)[:-1])
    y = np.digitize(noisy, thresholds).astype(np.float64)
    return X, y, qid


# --------------------------------------------------------------------------------------------
# Click logs
# --------------------------------------------------------------------------------------------

_INTERVENTIONS = (None, "shuffle", "swap")


def resolve_click_model(click_model):
    """A click model instance from a name ("pbm", "cascade", "trust") or an instance.

    The click models are the public numpy classes of :mod:`skultr.ranking`, imported here on
    first use (:mod:`skultr.ranking` loads torch only with its rankers).
    """
    from skultr.ranking import CascadeModel, PositionBasedModel, TrustBiasModel

    by_name = {"pbm": PositionBasedModel, "cascade": CascadeModel, "trust": TrustBiasModel}
    if isinstance(click_model, str):
        if click_model not in by_name:
            raise ValueError(
                f"click_model must be one of {sorted(by_name)} or a click model instance; "
                f"got {click_model!r}."
            )
        return by_name[click_model]()
    if not callable(getattr(click_model, "sample", None)):
        raise ValueError(
            "click_model must be a name or an object with a sample(relevance, random_state) "
            f"method; got {click_model!r}."
        )
    return click_model


def _linear_production_scores(X, y, group, n_queries, rng, fraction=0.01, min_queries=5):
    """Scores of a ridge regression fitted on a small random sample of the labelled queries.

    This mimics the DLA paper's production ranker, an SVMrank trained on 1% of the data.
    """
    n_fit = min(n_queries, max(min_queries, int(round(fraction * n_queries))))
    chosen = np.zeros(n_queries, dtype=bool)
    chosen[rng.choice(n_queries, size=n_fit, replace=False)] = True
    rows = chosen[group]
    Xf = np.column_stack([X[rows], np.ones(rows.sum())])
    coef = np.linalg.solve(Xf.T @ Xf + np.eye(Xf.shape[1]), Xf.T @ y[rows])
    return X @ coef[:-1] + coef[-1]


def _top_k_table(scores, group, n_queries, top_k):
    """``(n_queries, top_k)`` row indices of each query's best documents, ``-1`` padded."""
    order = np.lexsort((np.arange(len(scores)), -scores, group))
    sorted_group = group[order]
    starts = np.searchsorted(sorted_group, np.arange(n_queries))
    rank = np.arange(len(order)) - starts[sorted_group]
    keep = rank < top_k
    table = np.full((n_queries, top_k), -1, dtype=np.int64)
    table[sorted_group[keep], rank[keep]] = order[keep]
    return table


def _apply_intervention(shown_rows, intervention, rng):
    """Reorder each session's list; returns the new rows and the production rank of each slot."""
    n_sessions, top_k = shown_rows.shape
    production_rank = np.broadcast_to(np.arange(1, top_k + 1), shown_rows.shape).copy()
    valid = shown_rows >= 0
    if intervention is None:
        return shown_rows, production_rank
    if intervention == "shuffle":
        keys = np.where(valid, rng.random_sample(shown_rows.shape), np.inf)
        perm = np.argsort(keys, axis=1, kind="stable")
    else:  # "swap": exchange position 1 with a uniformly drawn position k of the list
        length = valid.sum(axis=1)
        k = (rng.random_sample(n_sessions) * length).astype(np.int64)
        perm = np.broadcast_to(np.arange(top_k), shown_rows.shape).copy()
        sessions = np.arange(n_sessions)
        perm[sessions, 0] = k
        perm[sessions, k] = 0
    return (
        np.take_along_axis(shown_rows, perm, axis=1),
        np.take_along_axis(production_rank, perm, axis=1),
    )


@validate_params(
    {
        "X": ["array-like"],
        "y": ["array-like"],
        "qid": ["array-like"],
        "scores": ["array-like", str],
        "score_noise": [Real],
        "n_sessions": [Integral],
        "click_model": [str, HasMethods(["sample", "propensity"])],
        "top_k": [Integral],
        "intervention": [str, None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_click_log(
    X,
    y,
    qid,
    *,
    scores="linear",
    score_noise=0.0,
    n_sessions=10_000,
    click_model="pbm",
    top_k=10,
    intervention=None,
    random_state=None,
):
    """Simulate a click log: users issue queries, see a production ranking and click.

    Each session draws a query uniformly at random (with replacement), shows its ``top_k``
    documents ordered by the production ``scores`` (optionally randomised by an
    ``intervention``) and samples clicks from ``click_model`` given the true grades ``y``.
    This follows the simulation protocol of the DLA paper (Ai et al., SIGIR 2018), except
    that the sessions form a fixed log, as a real one would.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features of the labelled documents.
    y : array-like of shape (n_samples,)
        True relevance grades (0 .. ``max_grade`` of the click model).
    qid : array-like of shape (n_samples,)
        Query of each document (any order).
    scores : array-like of shape (n_samples,) or "linear", default="linear"
        Production ranker scores (higher = shown earlier). ``"linear"`` fits a ridge
        regression of ``y`` on a random 1% of the queries (at least 5), like the paper's
        SVMrank trained on 1% of the data.
    score_noise : float, default=0.0
        Standard deviation of Gaussian noise added once to each document's production score,
        in units of the scores' standard deviation: a weaker production ranker, under which
        similar documents land at more varied positions. That variation is what lets DLA and
        regression EM tell position from relevance without interventions; with a
        deterministic ranker of the features they need more sessions to converge.
    n_sessions : int, default=10_000
        Number of sessions; each shows one query's list (at most ``top_k`` rows).
    click_model : {"pbm", "cascade", "trust"} or click model instance, default="pbm"
        :class:`~skultr.ranking.PositionBasedModel` (η = 1),
        :class:`~skultr.ranking.CascadeModel`, :class:`~skultr.ranking.TrustBiasModel`, or an
        instance such as ``PositionBasedModel(eta=2)``.
    top_k : int, default=10
        Number of displayed positions.
    intervention : {None, "shuffle", "swap"}, default=None
        Result randomisation: ``"shuffle"`` shows the top ``top_k`` in a uniformly random
        order (RandTop); ``"swap"`` exchanges position 1 with a uniformly drawn position of
        the list (RandPair / swap interventions, Joachims et al. 2017; drawing position 1
        leaves the list unchanged). Used to estimate propensities, see
        :class:`skultr.propensity.RandomizationPropensity`.
    random_state : int, RandomState instance or None, default=None
        Seed of the production ranker's training sample and noise, the session queries,
        the interventions and the clicks: the same seed gives the same log.

    Returns
    -------
    log : :class:`~sklearn.utils.Bunch`
        One entry per displayed document, sessions in order:

        - ``X`` (rows of the input ``X``), ``clicks`` (int8 0/1), ``qid`` (session id
          ``0 .. n_sessions - 1``), ``position`` (1-based displayed position);
        - ``relevance`` (true grade), ``row`` (index into the input), ``query`` (the input
          ``qid`` of the session), ``production_position`` (1-based rank under ``scores``;
          differs from ``position`` only under an intervention);
        - ``propensity``: the click model's true examination curve relative to position 1
          (length ``top_k``), or ``None`` for the cascade model;
        - ``click_model``: the click model instance.

    Examples
    --------
    >>> from skultr.datasets import make_click_log, make_ranking_dataset
    >>> X, y, qid = make_ranking_dataset(100, random_state=0)
    >>> log = make_click_log(X, y, qid, n_sessions=1000, random_state=0)
    >>> log.X.shape, int(log.position.max()), len(set(log.qid.tolist()))
    ((10000, 10), 10, 1000)
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array; got shape {X.shape}.")
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    qid = np.asarray(qid).reshape(-1)
    if not (len(X) == len(y) == len(qid)):
        raise ValueError(
            f"X, y and qid must have the same length; got {len(X)}, {len(y)} and {len(qid)}."
        )
    if len(X) == 0:
        raise ValueError("X is empty; at least one labelled document is needed.")
    n_sessions = check_int(n_sessions, "n_sessions")
    top_k = check_int(top_k, "top_k")
    if intervention not in _INTERVENTIONS:
        raise ValueError(f"intervention must be one of {_INTERVENTIONS}; got {intervention!r}.")
    model = resolve_click_model(click_model)
    rng = check_random_state(random_state)
    queries, group = np.unique(qid, return_inverse=True)
    group = group.reshape(-1)
    n_queries = len(queries)
    if isinstance(scores, str):
        if scores != "linear":
            raise ValueError(f"scores must be an array or 'linear'; got {scores!r}.")
        scores = _linear_production_scores(
            np.asarray(X, dtype=np.float64), y, group, n_queries, rng
        )
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(scores) != len(y):
        raise ValueError(f"scores has {len(scores)} entries but X has {len(y)} rows.")
    if not np.isfinite(scores).all():
        i = int(np.flatnonzero(~np.isfinite(scores))[0])
        raise ValueError(f"scores must be finite; got {scores[i]} at row {i}.")
    if not (
        isinstance(score_noise, numbers.Real) and np.isfinite(score_noise) and score_noise >= 0
    ):
        raise ValueError(f"score_noise must be a finite number >= 0; got {score_noise!r}.")
    if score_noise > 0:
        scores = scores + score_noise * scores.std() * rng.normal(size=len(scores))

    table = _top_k_table(scores, group, n_queries, top_k)
    session_query = rng.randint(n_queries, size=n_sessions)
    shown, production_rank = _apply_intervention(table[session_query], intervention, rng)
    valid = shown >= 0
    relevance = np.where(valid, y[np.maximum(shown, 0)], np.nan)
    clicks = model.sample(relevance, rng)

    session, slot = np.nonzero(valid)
    rows = shown[session, slot]
    return Bunch(
        X=X[rows],
        clicks=clicks[session, slot].astype(np.int8),
        qid=session.astype(np.int64),
        position=(slot + 1).astype(np.int64),
        relevance=y[rows],
        row=rows,
        query=queries[session_query[session]],
        production_position=production_rank[session, slot].astype(np.int64),
        propensity=model.propensity(top_k),
        click_model=model,
    )
