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


# -- out-of-core training from Dask collections (issue 14, item 2) ---------------------


def _click_frame():
    import pandas as pd

    log, frame, columns = click_log()
    frame = frame.assign(click=log.clicks)
    lists = np.unique(log.qid)
    parts = [frame[np.isin(frame["qid"], chunk)] for chunk in np.array_split(lists, 4)]
    return parts, pd.concat(parts)


def _ranker():
    return _estimator("DLARanker")


def test_partial_fit_partitions_of_a_dask_frame_equals_partial_fit_per_partition(client):
    import dask.dataframe as dd

    from skultr.distributed import partial_fit_partitions

    parts, _ = _click_frame()
    frame = dd.concat([dd.from_pandas(part, npartitions=1) for part in parts])
    streamed = partial_fit_partitions(_ranker(), frame, y="click", n_passes=2)
    manual = _ranker()
    for _ in range(2):
        for part in parts:
            manual.partial_fit(part.drop(columns=["click"]), part["click"].to_numpy())
    assert streamed.n_iter_ == manual.n_iter_ == 8
    whole = parts[0].drop(columns=["click"])
    np.testing.assert_array_equal(streamed.predict(whole), manual.predict(whole))


def test_partial_fit_partitions_reads_parquet_shards(client, tmp_path):
    import dask.dataframe as dd

    from skultr.distributed import partial_fit_partitions, predict_partitions

    parts, whole = _click_frame()
    for k, part in enumerate(parts):
        part.to_parquet(tmp_path / f"part-{k}.parquet", index=False)
    frame = dd.read_parquet(str(tmp_path / "*.parquet"))
    assert frame.npartitions == len(parts)
    from_files = partial_fit_partitions(_ranker(), frame, y="click")
    from_memory = partial_fit_partitions(_ranker(), parts, y="click")
    X = whole.drop(columns=["click"])
    np.testing.assert_array_equal(from_files.predict(X), from_memory.predict(X))
    scores = predict_partitions(from_files, frame.drop(columns=["click"])).compute()
    np.testing.assert_allclose(scores.to_numpy(), from_files.predict(X), rtol=1e-6)


def test_a_list_split_across_partitions_is_an_error_naming_it():
    from skultr.distributed import partial_fit_partitions

    parts, _ = _click_frame()
    moved = parts[2].iloc[:1]  # the first row of a list of partition 2 is partition 0
    parts = [moved, parts[1], parts[2].iloc[1:], parts[3]]
    qid = int(moved["qid"].iloc[0])
    ranker = _ranker()
    with pytest.raises(ValueError, match=rf"list qid={qid!r} is split across partitions 0 and 2"):
        partial_fit_partitions(ranker, parts, y="click")
    assert ranker.n_iter_ == 2  # partitions 0 and 1 were trained on, not partition 2


def test_partial_fit_partitions_of_a_recommender_and_bad_arguments():
    import pandas as pd

    from skultr.distributed import partial_fit_partitions

    pairs, y = interactions()
    frame = pd.DataFrame({"user": pairs[:, 0], "item": pairs[:, 1]})
    est = _estimator("BPRRecommender").set_params(n_users=30, n_items=20)
    est = partial_fit_partitions(est, [frame.iloc[:100], frame.iloc[100:]])
    assert est.n_iter_ == 2 and est.n_users_ == 30
    with pytest.raises(ValueError, match="one-shot iterator"):
        partial_fit_partitions(est, iter([frame]), n_passes=2)
    with pytest.raises(ValueError, match="y='rating' is not a column of partition 0"):
        partial_fit_partitions(est, [frame], y="rating")
    with pytest.raises(TypeError, match="'estimator' parameter .* must be an object implementing"):
        partial_fit_partitions(_estimator("FairTTTSClassifier"), [frame])


@pytest.mark.parametrize("intervention", ["shuffle", "swap"])
def test_fit_by_counts_on_the_workers_equals_fit(client, intervention):
    import dask.dataframe as dd
    import pandas as pd

    from skultr.datasets import make_click_log, make_ranking_dataset
    from skultr.distributed import fit_by_counts
    from skultr.propensity import RandomizationPropensity

    X, y, qid = make_ranking_dataset(30, n_features=5, random_state=0)
    log = make_click_log(X, y, qid, n_sessions=600, intervention=intervention, random_state=0)
    frame = pd.DataFrame(log.X, columns=list("abcde")).assign(
        qid=log.qid, position=log.position, click=log.clicks
    )
    extra, columns = {}, None
    if intervention == "swap":
        frame["production"] = log.production_position
        extra, columns = (
            {"production_position": log.production_position},
            {"production_position": "production"},
        )
    whole = RandomizationPropensity(intervention=intervention).fit(
        log.X, log.clicks, qid=log.qid, position=log.position, **extra
    )
    # row blocks: lists are split across partitions, which counts allow
    est = RandomizationPropensity(intervention=intervention)
    est = fit_by_counts(est, dd.from_pandas(frame, npartitions=5), y="click", columns=columns)
    np.testing.assert_array_equal(est.clicks_, whole.clicks_)
    np.testing.assert_array_equal(est.impressions_, whole.impressions_)
    np.testing.assert_allclose(est.propensity_, whole.propensity_, rtol=1e-12)
    assert list(est.feature_names_in_) == list("abcde")


def test_fit_by_counts_refuses_an_estimator_without_counts(client):
    import dask.dataframe as dd

    from skultr.distributed import fit_by_counts

    parts, whole = _click_frame()
    with pytest.raises(TypeError, match="partial_fit_partitions instead"):
        fit_by_counts(_ranker(), dd.from_pandas(whole, npartitions=2), y="click")


def _pair_log(ids, y):
    """A log of 3 partitions of 40 rows: the click (3, 5) is in partitions 0 and 2, items 13
    and 14 are only unclicked (or absent, with ``y=None``); ``ids`` is "int", "float",
    "str" (columns named by ``id_columns``) or "declared" (``n_items=20``)."""
    import pandas as pd

    from skultr.propensity import PopularityPropensity

    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 20, 120), rng.integers(0, 13, 120)
    click = rng.integers(0, 3, 120)
    items[[10, 50]], click[[10, 50]] = [13, 14], 0
    users[[0, 100]], items[[0, 100]], click[[0, 100]] = 3, 5, 1
    est = PopularityPropensity(eta=0.7)
    names = ("user", "item")
    if ids == "str":
        users, items = [f"u{u}" for u in users], [f"i{i}" for i in items]
        names = ("visitor", "product")
        est.set_params(id_columns=names)
    elif ids == "float":
        users, items = users.astype(float), items.astype(float)
    elif ids == "declared":
        est.set_params(n_items=20)
    frame = pd.DataFrame({"click": click, names[1]: items, names[0]: users})
    if y is None:
        frame = frame[frame.click > 0].drop(columns="click").reset_index(drop=True)
    return est, frame


@pytest.mark.parametrize("y", ["click", None])
@pytest.mark.parametrize("ids", ["int", "float", "str", "declared"])
def test_fit_by_counts_of_popularity_equals_fit(client, ids, y):
    import dask.dataframe as dd

    from skultr.distributed import fit_by_counts

    est, frame = _pair_log(ids, y)
    X = frame if y is None else frame.drop(columns=y)
    whole = clone(est).fit(X, None if y is None else frame[y])
    parts = dd.from_pandas(frame, npartitions=3, sort=False)
    assert parts.npartitions == 3
    # the same click in two partitions: a sum of per-partition counts would count it twice
    first, last = parts.partitions[0].compute(), parts.partitions[2].compute()
    cols = list(est.id_columns)
    assert len(first[cols].merge(last[cols])) > 0
    est = fit_by_counts(est, parts, y=y)
    for name in ("item_counts_", "propensity_", "item_ids_", "user_ids_", "feature_names_in_"):
        np.testing.assert_array_equal(getattr(est, name), getattr(whole, name), err_msg=name)
        assert getattr(est, name).dtype == getattr(whole, name).dtype, name
    assert (est.n_users_, est.n_items_, est.n_features_in_) == (
        whole.n_users_,
        whole.n_items_,
        whole.n_features_in_,
    )
    assert (whole.item_counts_ == 0).any() == (y is not None or ids == "declared")
    np.testing.assert_array_equal(est.predict(X), whole.predict(X))


@pytest.mark.parametrize(
    "column, value",
    [("item", -1), ("user", np.nan), ("click", -1.0), ("item", 2.5)],
)
def test_fit_by_counts_of_popularity_names_the_bad_partition(client, column, value):
    import dask.dataframe as dd

    from skultr.distributed import fit_by_counts
    from skultr.propensity import PopularityPropensity, RandomizationPropensity

    _, frame = _pair_log("int", "click")
    frame = frame.astype(float)
    frame.loc[95, column] = value  # in partition 2 (rows 80 to 119)
    alone = frame.iloc[80:]
    with pytest.raises(ValueError) as from_fit:
        PopularityPropensity().fit(alone.drop(columns="click"), alone["click"])
    parts = dd.from_pandas(frame, npartitions=3, sort=False)
    with pytest.raises(ValueError) as on_workers:
        fit_by_counts(PopularityPropensity(), parts, y="click")
    assert str(on_workers.value) == f"partition 2: {from_fit.value}"
    with pytest.raises(ValueError, match="takes no further arguments"):
        fit_by_counts(PopularityPropensity(), parts, y="click", columns={"sample_weight": "w"})
    with pytest.raises(ValueError, match="pass y, the name of the click column"):
        fit_by_counts(RandomizationPropensity(), parts)


def test_recommend_maps_over_the_partitions_of_users(client):
    import dask.dataframe as dd
    import pandas as pd

    from skultr.distributed import predict_partitions

    pairs, y = interactions()
    frame = pd.DataFrame({"visitor": [f"u{u}" for u in pairs[:, 0]], "item": pairs[:, 1]})
    est = _estimator("RelMFRecommender").set_params(id_columns=("visitor", "item"))
    est.fit(frame, y)
    users = np.array([f"u{u}" for u in range(30)])
    expected_items, expected_scores = est.recommend(users, n=3)
    for lazy in (
        dd.from_pandas(pd.Series(users, name="visitor"), npartitions=3),
        dd.from_pandas(pd.DataFrame({"visitor": users, "other": 0}), npartitions=3),
    ):
        top = predict_partitions(est, lazy, "recommend", n=3).compute()
        assert list(top.columns) == ["item_1", "item_2", "item_3", "score_1", "score_2", "score_3"]
        np.testing.assert_array_equal(top[["item_1", "item_2", "item_3"]], expected_items)
        np.testing.assert_allclose(top[["score_1", "score_2", "score_3"]], expected_scores)
    wrong = dd.from_pandas(pd.DataFrame({"user": users}), npartitions=2)
    with pytest.raises(ValueError, match="column 'visitor'"):
        predict_partitions(est, wrong, "recommend").compute()
