"""Pickled estimators record the skultr (and torch) versions and refuse to load under others
(issue 14, bad input: workers with different versions must give an error, not a silently
different model)."""

import pickle
import warnings

import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold

import skultr
from skultr.utils import (
    InconsistentVersionError,
    InconsistentVersionWarning,
    all_estimators,
    allow_version_mismatch,
)
from skultr.utils._drop_in import ESTIMATORS, fit_pairs, interactions, regression, small_instance

PUBLIC = all_estimators()


@pytest.mark.parametrize("name, cls", PUBLIC, ids=[name for name, _ in PUBLIC])
def test_every_public_estimator_records_and_checks_the_versions(name, cls, monkeypatch):
    est = small_instance(name, cls) if name in dict(ESTIMATORS) else cls()
    state = est.__getstate__()
    versions = state["_skultr_versions"]
    assert versions["skultr"] == skultr.__version__
    blob = pickle.dumps(est)
    assert type(pickle.loads(blob)) is cls  # same versions: loads silently

    monkeypatch.setattr(skultr, "__version__", "9.9.9")
    with pytest.raises(InconsistentVersionError, match=r"This \w+ was pickled with skultr"):
        pickle.loads(blob)
    with allow_version_mismatch(), pytest.warns(InconsistentVersionWarning, match="9.9.9"):
        assert type(pickle.loads(blob)) is cls


def _load_state(cls, state):
    """``pickle.loads`` of an estimator whose pickled state is ``state``."""
    est = cls.__new__(cls)
    est.__setstate__(dict(state))
    return est


def test_a_fitted_torch_model_names_both_versions_and_loads_on_another_build():
    import torch

    cls = dict(ESTIMATORS)["RelMFRecommender"]
    est = small_instance("RelMFRecommender", cls).set_params(max_epochs=1, device="cpu")
    fit_pairs(est, *interactions())
    state = est.__getstate__()
    release = torch.__version__.split("+")[0]
    assert state["_skultr_versions"] == {"skultr": skultr.__version__, "torch": release}

    built_elsewhere = {
        **state,
        "_skultr_versions": {"skultr": skultr.__version__, "torch": release},
    }
    assert _load_state(cls, built_elsewhere).n_items_ == est.n_items_
    older = {**state, "_skultr_versions": {"skultr": skultr.__version__, "torch": "1.0.0"}}
    with pytest.raises(InconsistentVersionError) as info:
        _load_state(cls, older)
    assert info.value.pickled["torch"] == "1.0.0"
    assert info.value.loaded["torch"] == release
    assert f"torch {release}" in str(info.value)
    assert "torch 1.0.0" in str(info.value)
    again = pickle.loads(pickle.dumps(info.value))  # errors travel from workers
    assert (str(again), again.pickled, again.loaded) == (
        str(info.value),
        info.value.pickled,
        info.value.loaded,
    )


def test_a_pickle_without_versions_is_an_error_and_the_escape_hatches():
    est = small_instance("DebiasedRegressor", dict(ESTIMATORS)["DebiasedRegressor"])
    state = est.__getstate__()
    del state["_skultr_versions"]
    with pytest.raises(InconsistentVersionError, match="recorded no version"):
        clone(est).__setstate__(dict(state))
    with allow_version_mismatch():
        with pytest.warns(InconsistentVersionWarning):
            clone(est).__setstate__(dict(state))
        with allow_version_mismatch():  # nested: still allowed after the inner one ends
            pass
        with pytest.warns(InconsistentVersionWarning):
            clone(est).__setstate__(dict(state))
    with pytest.raises(InconsistentVersionError):  # the context is over
        clone(est).__setstate__(dict(state))


def test_the_environment_variable_allows_a_mismatch(monkeypatch):
    est = small_instance("DebiasedRegressor", dict(ESTIMATORS)["DebiasedRegressor"])
    state = est.__getstate__()
    state["_skultr_versions"] = {"skultr": "0.0.1"}
    monkeypatch.setenv("SKULTR_ALLOW_VERSION_MISMATCH", "1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clone(est).__setstate__(dict(state))
    assert any(issubclass(w.category, InconsistentVersionWarning) for w in caught)
    monkeypatch.setenv("SKULTR_ALLOW_VERSION_MISMATCH", "0")
    with pytest.raises(InconsistentVersionError):
        clone(est).__setstate__(dict(state))


def _set_version(version):
    import skultr

    skultr.__version__ = version
    return version


def test_a_dask_worker_with_another_skultr_is_the_error_dask_gives():
    distributed = pytest.importorskip("distributed")
    joblib = pytest.importorskip("joblib")
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None
    )
    with cluster, distributed.Client(cluster) as client:
        # two threads: with one, joblib would run the search here, not on the worker
        client.run(_set_version, "0.0.1")  # the worker process runs an "older" skultr
        X, y = regression()
        est = small_instance("DebiasedRegressor", dict(ESTIMATORS)["DebiasedRegressor"])
        search = GridSearchCV(est, {"cv": [2, 3]}, cv=KFold(2), n_jobs=-1)
        with joblib.parallel_backend("dask"), pytest.raises(InconsistentVersionError) as info:
            search.fit(X, y)
        assert "was pickled with skultr" in str(info.value)
        assert "loaded with skultr 0.0.1" in str(info.value)
