"""Loaders of recommendation data with a missing-at-random test set: Coat, Yahoo! R3, triplets.

Nothing here ships data. Coat is read from a local folder (``data_home`` or ``SKULTR_DATA``);
Yahoo! R3 may not be redistributed (Yahoo! Webscope data sharing agreement), so its loader only
parses files the user obtained and points to.
"""

import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from skultr.utils._sklearn_compat import validate_params

from ._home import _data_root

_COAT_FOLDER = ("recsys", "coat")
_COAT_SHAPE = (290, 300)
_YAHOO_FILES = (
    "ydata-ymusic-rating-study-v1_0-train.txt",
    "ydata-ymusic-rating-study-v1_0-test.txt",
)

_COAT_DESCR = """Coat shopping ratings (Schnabel et al., ICML 2016).

290 users x 300 coats, ratings 1-5. The training set (6,960 ratings, 24 per user) was rated
by users on items they chose themselves: missing not at random. The test set (4,640 ratings,
16 per user) was rated on items drawn at random: missing at random, an unbiased test set.
``propensities`` are the original authors' estimates of P(rated) for each user x item cell.
Binarise as the literature does: rating >= 4 (Rel-MF line of work) or >= 3 (kernel-balancing
line of work). Reported licence at the source: CC BY-NC 4.0 (check before redistribution).
"""

_YAHOO_DESCR = """Yahoo! R3 music ratings (Marlin and Zemel, RecSys 2009), Webscope release.

15,400 users x 1,000 songs, ratings 1-5. Training: 311,704 ratings that users chose to give
(missing not at random). Test: 54,000 ratings from 5,400 users on 10 songs each drawn at
random (missing at random). Ids are shifted to start at 0. The data may not be redistributed:
obtain it from Yahoo! Webscope under its data sharing agreement.
"""


def _read_dense_ratings(path, shape):
    matrix = np.loadtxt(path, dtype=np.float64)
    if matrix.shape != shape:
        raise ValueError(f"{path} holds a matrix of shape {matrix.shape}; expected {shape}.")
    return matrix


def _dense_to_pairs(matrix):
    users, items = np.nonzero(matrix)
    X = np.column_stack([users, items]).astype(np.int64)
    return X, matrix[users, items].astype(np.int64)


@validate_params(
    {"data_home": [str, os.PathLike, None]},
    prefer_skip_nested_validation=True,
)
def load_coat(data_home=None):
    """Load the Coat ratings: a self-selected training set and a random (MAR) test set.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder holding ``recsys/coat/{train,test,propensities}.ascii`` (dense 290 x 300 text
        matrices, 0 = not rated). Defaults to the ``SKULTR_DATA`` environment variable.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``X_train`` (6960, 2) and ``X_test`` (4640, 2) int64 arrays of (user, item) ids,
        ``y_train`` / ``y_test`` the raw ratings 1..5 (int64; binarise them yourself),
        ``propensities`` (290, 300) float array of the original authors' estimates (``None``
        when the file is absent), ``n_users`` (290), ``n_items`` (300), ``DESCR``.

    Raises
    ------
    FileNotFoundError
        When neither ``data_home`` nor ``SKULTR_DATA`` is set, or a rating file is missing.

    Examples
    --------
    >>> from skultr.datasets import load_coat
    >>> coat = load_coat()  # doctest: +SKIP
    >>> coat.X_train.shape, coat.X_test.shape, (coat.y_test >= 4).mean().round(3)  # doctest: +SKIP
    ((6960, 2), (4640, 2), 0.185)
    """
    folder = _data_root(data_home, "<folder>/recsys/coat/*.ascii").joinpath(*_COAT_FOLDER)
    parts = {}
    for name in ("train", "test"):
        path = folder / f"{name}.ascii"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} does not exist; data_home (or SKULTR_DATA) must point at a folder "
                "laid out as <folder>/recsys/coat/{train,test}.ascii."
            )
        parts[name] = _dense_to_pairs(_read_dense_ratings(path, _COAT_SHAPE))
    propensity_path = folder / "propensities.ascii"
    propensities = (
        _read_dense_ratings(propensity_path, _COAT_SHAPE) if propensity_path.is_file() else None
    )
    return Bunch(
        X_train=parts["train"][0],
        y_train=parts["train"][1],
        X_test=parts["test"][0],
        y_test=parts["test"][1],
        propensities=propensities,
        n_users=_COAT_SHAPE[0],
        n_items=_COAT_SHAPE[1],
        DESCR=_COAT_DESCR,
    )


@validate_params(
    {"path": [str, os.PathLike], "sep": [str, None], "one_based": ["boolean"], "comments": [str]},
    prefer_skip_nested_validation=True,
)
def load_interactions(path, *, sep=None, one_based=False, comments="#"):
    """Read a text file of ``user item [value]`` triplets (or pairs).

    Parameters
    ----------
    path : str or path-like
        The file. Each non-comment line holds a user id, an item id and optionally a value.
    sep : str, default=None
        Column separator; ``None`` splits on any whitespace.
    one_based : bool, default=False
        Ids start at 1 in the file: subtract 1 so they start at 0.
    comments : str, default="#"
        Lines starting with this are skipped.

    Returns
    -------
    X : ndarray of shape (n, 2), dtype int64
        (user, item) ids.
    y : ndarray of shape (n,) or None
        The third column as float64, or ``None`` for a two-column file.

    Examples
    --------
    >>> import tempfile, os
    >>> from skultr.datasets import load_interactions
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "ratings.tsv")
    ...     with open(path, "w") as f:
    ...         _ = f.write("1\\t3\\t5\\n2\\t1\\t4\\n")
    ...     X, y = load_interactions(path, sep="\\t", one_based=True)
    >>> X.tolist(), y.tolist()
    ([[0, 2], [1, 0]], [5.0, 4.0])
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist.")
    table = np.loadtxt(path, delimiter=sep, comments=comments, ndmin=2, dtype=np.float64)
    if table.shape[0] == 0:
        raise ValueError(f"{path} holds no interaction.")
    if table.shape[1] not in (2, 3):
        raise ValueError(
            f"{path} must have 2 or 3 columns (user, item[, value]); got {table.shape[1]}."
        )
    ids = table[:, :2]
    bad = ids != np.round(ids)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise ValueError(f"{path}: line {row + 1} has a non-integer id: {ids[row].tolist()}.")
    X = ids.astype(np.int64) - (1 if one_based else 0)
    if (X < 0).any():
        row = int(np.flatnonzero((X < 0).any(axis=1))[0])
        base = "1" if one_based else "0"
        raise ValueError(f"{path}: line {row + 1} has an id below {base}: {ids[row].tolist()}.")
    y = table[:, 2].copy() if table.shape[1] == 3 else None
    return X, y


@validate_params(
    {"path": [str, os.PathLike]},
    prefer_skip_nested_validation=True,
)
def load_yahoo_r3(path):
    """Parse the Yahoo! R3 music ratings from files you obtained yourself.

    skultr does not ship or download Yahoo! R3: its licence forbids redistribution. Request it
    from Yahoo! Webscope ("R3 - Yahoo! Music ratings for user selected and randomly selected
    songs") and pass the folder that holds its two rating files.

    Parameters
    ----------
    path : str or path-like
        Folder holding ``ydata-ymusic-rating-study-v1_0-train.txt`` and
        ``ydata-ymusic-rating-study-v1_0-test.txt`` (tab-separated ``user item rating``,
        1-based ids).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``X_train``, ``y_train`` (self-selected ratings), ``X_test``, ``y_test`` (ratings of
        random songs), with 0-based int64 ids and int64 ratings 1..5; ``n_users``, ``n_items``
        (the largest id in either file, plus one); ``DESCR``.

    Examples
    --------
    >>> from skultr.datasets import load_yahoo_r3
    >>> yahoo = load_yahoo_r3("~/data/yahoo_r3")  # doctest: +SKIP
    >>> yahoo.n_users, yahoo.n_items, yahoo.X_test.shape  # doctest: +SKIP
    (15400, 1000, (54000, 2))
    """
    folder = Path(path).expanduser()
    parts = []
    for name in _YAHOO_FILES:
        file = folder / name
        if not file.is_file():
            raise FileNotFoundError(
                f"{file} does not exist; path must be the folder of the Yahoo! R3 rating "
                f"files {_YAHOO_FILES[0]} and {_YAHOO_FILES[1]} (skultr cannot ship them)."
            )
        X, y = load_interactions(file, one_based=True)
        if y is None:
            raise ValueError(f"{file} has no rating column.")
        parts.append((X, y.astype(np.int64)))
    (X_train, y_train), (X_test, y_test) = parts
    n_users = int(max(X_train[:, 0].max(), X_test[:, 0].max())) + 1
    n_items = int(max(X_train[:, 1].max(), X_test[:, 1].max())) + 1
    return Bunch(
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        n_users=n_users,
        n_items=n_items,
        DESCR=_YAHOO_DESCR,
    )
