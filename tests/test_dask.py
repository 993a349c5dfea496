"""Search and cross-validation on a Dask cluster (issue 14, item 1).

Every estimator family runs ``GridSearchCV(..., n_jobs=-1)`` under joblib's Dask backend on
a real ``dask.distributed.LocalCluster`` of worker **processes**, and gets the
``cv_results_`` of ``n_jobs=1`` (same seeds, same folds), metadata routed through. The
cluster is started once for the module (about 2 s).
"""

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold

from skultr.utils._drop_in import (
    ESTIMATORS,
    classification,
    click_log,
    fit_pairs,
    interactions,
    regression,
    small_instance,
)

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

BY_NAME = dict(ESTIMATORS)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, distributed.Client(cluster) as client:
        yield client


def _estimator(name):
    est = small_instance(name, BY_NAME[name])
    settable = {"device": "cpu", "random_state": 0}
    return est.set_params(**{k: v for k, v in settable.items() if k in est.get_params()})


def _search(name):
    """``(search, X, y, fit_params)`` of a small grid search for the estimator."""
    est = _estimator(name)
    if name == "DLARanker":
        log, frame, _ = click_log()
        return (
            GridSearchCV(est, {"lr": [0.01, 0.05]}, cv=GroupKFold(2)),
            frame,
            log.clicks,
            {"groups": log.qid},
        )
    cv = KFold(2, shuffle=True, random_state=0)
    if name in ("RelMFRecommender", "DebiasedMFRecommender"):
        pairs, y = interactions()
        grid = {"n_factors": [2, 3]} if name == "RelMFRecommender" else {"lr": [0.01, 0.05]}
        return GridSearchCV(est, grid, cv=cv), pairs, y, {}
    if name == "FairTTTSClassifier":
        X, y = classification()
        return GridSearchCV(est, {"random_state": [0, 1]}, cv=cv), X, y, {}
    X, y = regression()
    return GridSearchCV(est, {"cv": [2, 3]}, cv=cv), X, y, {}


def _means(search, X, y, params):
    search.fit(X, y, **params)
    return search.cv_results_["mean_test_score"]


@pytest.mark.parametrize(
    "name",
    [
        "DLARanker",
        "RelMFRecommender",
        "DebiasedMFRecommender",
        "FairTTTSClassifier",
        "DebiasedRegressor",
    ],
)
def test_grid_search_on_a_dask_cluster_equals_one_job(client, name):
    search, X, y, params = _search(name)
    expected = _means(clone(search).set_params(n_jobs=1), X, y, params)
    with joblib.parallel_backend("dask"):
        on_cluster = _means(clone(search).set_params(n_jobs=-1), X, y, params)
    assert np.isfinite(expected).all()
    np.testing.assert_allclose(on_cluster, expected, rtol=1e-12, atol=1e-12)


def test_metadata_is_routed_to_the_workers(client):
    """qid and position reach fit and score on the workers (metadata routing)."""
    log, _, _ = click_log()
    est = _estimator("DLARanker")
    params = {"qid": log.qid, "position": log.position, "groups": log.qid}
    with sklearn.config_context(enable_metadata_routing=True):
        routed = est.set_fit_request(qid=True, position=True).set_score_request(qid=True)
        search = GridSearchCV(routed, {"lr": [0.01, 0.05]}, cv=GroupKFold(2))
        expected = _means(clone(search), log.X, log.clicks, params)
        with joblib.parallel_backend("dask"):
            on_cluster = _means(clone(search).set_params(n_jobs=-1), log.X, log.clicks, params)
    np.testing.assert_allclose(on_cluster, expected, rtol=1e-12, atol=1e-12)


def test_workers_run_torch_on_one_thread_each(client):
    """No oversubscription: a worker process's torch uses one intra-op thread per task."""

    def threads():
        import torch

        return torch.get_num_threads()

    assert set(client.run(threads).values()) == {1}


def test_a_fitted_model_comes_back_from_a_worker_and_predicts_here(client):
    pairs, y = interactions()
    est = _estimator("RelMFRecommender")
    fitted = client.submit(fit_pairs, est, pairs, y).result()
    local = fit_pairs(clone(est), pairs, y)
    np.testing.assert_allclose(fitted.predict(pairs), local.predict(pairs), rtol=1e-12)
    assert fitted.device_ == "cpu"
