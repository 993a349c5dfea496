"""Every ``partial_fit`` shard must have the columns of the first (issue 13, bad input).

A shard whose columns differ in number, names or dtype is a ``ValueError`` naming the shard
(numbered from 1 in the order of the calls since the model started) and the first column
that differs, raised before anything changes; the next good shard continues the count.
"""

import inspect
import warnings

import numpy as np
import pandas as pd
import pytest

from skultr._torch import TorchMLPRegressor
from skultr.utils._drop_in import ESTIMATORS, click_log, family_of, interactions, small_instance

INCREMENTAL = [
    (name, cls)
    for name, cls in ESTIMATORS
    if hasattr(cls, "partial_fit") and "max_epochs" in inspect.signature(cls).parameters
] + [("TorchMLPRegressor", TorchMLPRegressor)]  # the engine's reference model (private)


def _instance(name, cls):
    if cls is TorchMLPRegressor:
        return TorchMLPRegressor(hidden_layer_sizes=(4,), device="cpu", random_state=0)
    est = small_instance(name, cls).set_params(device="cpu", random_state=0)
    # partial_fit needs the catalogue declared (the debiased losses are over it)
    if family_of(cls) == "pair_propensity" or name == "DebiasedMFRecommender":
        est.set_params(n_users=30, n_items=20)  # that of interactions()
    if name == "DebiasedMFRecommender":  # the default AKBDR in 2 steps a shard, not 15
        est.set_params(batch_size=128)
    return est


def _shard(cls, seed=0):
    """``(X, kwargs)`` of one shard as a DataFrame, for the estimator's family."""
    family = None if cls is TorchMLPRegressor else family_of(cls)
    if family == "click_ranker":
        log, frame, _ = click_log()
        return frame, {"y": log.clicks}
    if "Recommender" in cls.__name__ or family == "pair_propensity":
        pairs, y = interactions(seed=seed)
        return pd.DataFrame({"user": pairs[:, 0], "item": pairs[:, 1]}), {"y": y}
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    return X, {"y": X.to_numpy() @ [1.0, -1.0, 0.5]}


def _partial_fit(est, X, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.partial_fit(X, **kwargs)


def test_the_incremental_estimators_are_found():
    names = {name for name, _ in INCREMENTAL}
    assert {"DLARanker", "BPRRecommender", "RelMFRecommender", "TorchMLPRegressor"} <= names


def _changed(X, how):
    last = X.columns[-1] if X.columns[-1] not in ("qid", "position") else X.columns[0]
    if how == "count":
        return X.drop(columns=[last]), "X has {n} features, but .* is expecting {m} features"
    if how == "name":
        i = list(X.columns).index(last)
        return X.rename(columns={last: "renamed"}), rf"column {i} is 'renamed'"
    if how == "dtype":
        column = X[last]
        to = "float32" if column.dtype.kind == "f" else "str"
        return X.assign(**{last: column.astype(to)}), rf"\({last!r}\) has dtype"
    return X.drop(columns=["qid", "position"], errors="ignore").to_numpy(), "has no column names"


@pytest.mark.parametrize("how", ["count", "name", "dtype", "array"])
@pytest.mark.parametrize(("name", "cls"), INCREMENTAL, ids=[n for n, _ in INCREMENTAL])
def test_a_shard_with_other_columns_is_an_error_naming_it(name, cls, how):
    X, kwargs = _shard(cls)
    est = _instance(name, cls)
    _partial_fit(est, X, kwargs)
    _partial_fit(est, X, kwargs)
    n_iter = est.n_iter_
    bad, message = _changed(X, how)
    n = bad.shape[1] - (2 if "Ranker" in name else 0)  # qid and position are not features
    message = message.format(n=n, m=n + 1)
    if how == "array" and "qid" in X:  # the list columns as arguments
        kwargs = {**kwargs, "qid": X["qid"].to_numpy(), "position": X["position"].to_numpy()}
    with pytest.raises(ValueError, match=rf"{name}\.partial_fit: shard 3.*{message}"):
        _partial_fit(est, bad, kwargs)
    assert est.n_iter_ == n_iter
    _partial_fit(est, X, kwargs)  # the good shard is shard 3
    assert est._shard_columns[0] == 3


def test_ids_read_as_strings_in_a_later_shard_are_not_new_users():
    """The silent case: int ids, then the same ids as strings, would be new catalogue rows."""
    from skultr.recommendation import BPRRecommender

    X, kwargs = _shard(BPRRecommender)
    est = BPRRecommender(max_epochs=1, device="cpu", random_state=0).partial_fit(X, **kwargs)
    n_users = est.n_users_
    with pytest.raises(ValueError, match=r"shard 2: column 0 \('user'\) has dtype (object|str)"):
        est.partial_fit(X.astype({"user": str}), **kwargs)
    assert est.n_users_ == n_users
