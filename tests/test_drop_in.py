"""Drop-in scenarios: every public estimator in the everyday uses of sklearn code.

Each scenario ends in the right answer (checked against a reference computed another way)
or in a clear error (its type, and a message naming the argument). Estimators are
discovered from the registry (:func:`skultr.utils.discovery.all_estimators`) and built with
the common checks' small parameters (:mod:`skultr.utils._test_common`); each belongs to a
*family* that says which data it takes, and the family's scenarios run on it. A new
estimator joins without editing this file; one of a new family fails
``test_every_estimator_has_a_family`` until its family is added here.

The bad-input catalogue lives in ``tests/test_bad_input.py``.
"""

import inspect
import warnings

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skultr.utils._drop_in import (
    ESTIMATORS,
    classification,
    click_log,
    family_of,
    fit_pairs,
    interactions,
    regression,
    small_instance,
)

pd = pytest.importorskip("pandas")


def test_every_estimator_has_a_family():
    missing = [name for name, cls in ESTIMATORS if family_of(cls) is None]
    assert not missing, f"add a family (data contract and scenarios) for {missing}"


def _close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=tol, atol=tol)


# ------------------------------------------------------------------------------------------
# Scenarios: click rankers and position propensities (rows are displayed documents)
# ------------------------------------------------------------------------------------------
def _ranker_fit_output(est):
    if hasattr(est, "predict") and hasattr(est, "module_"):
        return None
    return est.propensity_


def _same_fit(a, b, X):
    if hasattr(a, "module_"):
        _close(a.predict(X), b.predict(X))
    else:
        np.testing.assert_allclose(a.propensity_, b.propensity_, equal_nan=True)


def scenario_without_qid_is_an_error(est):
    log, _, _ = click_log()
    with pytest.raises(ValueError, match="qid"):
        clone(est).fit(log.X, log.clicks)


def scenario_scaler_in_front_is_an_error(est):
    log, frame, _ = click_log()
    pipe = make_pipeline(StandardScaler(), clone(est))
    with pytest.raises(ValueError, match="qid"):
        pipe.fit(frame, log.clicks)


def scenario_column_transformer_passthrough(est):
    log, frame, columns = click_log()
    scale = ColumnTransformer(
        [("scale", StandardScaler(), columns)],
        remainder="passthrough",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    pipe = make_pipeline(scale, clone(est)).fit(frame, log.clicks)
    scaled = StandardScaler().fit_transform(log.X)
    reference = clone(est).fit(scaled, log.clicks, qid=log.qid, position=log.position)
    fitted = pipe[-1]
    if hasattr(fitted, "n_lists_"):
        assert fitted.n_lists_ == reference.n_lists_ == len(np.unique(log.qid))
    _same_fit(fitted, reference, scaled)


def scenario_dataframe_side_columns(est):
    log, frame, _ = click_log()
    a = clone(est).fit(frame, log.clicks)
    b = clone(est).fit(log.X, log.clicks, qid=log.qid, position=log.position)
    _same_fit(a, b, log.X)


def scenario_score_without_qid_is_an_error(est):
    log, _, _ = click_log()
    fitted = clone(est).fit(log.X, log.clicks, qid=log.qid, position=log.position)
    with pytest.raises(ValueError, match="qid"):
        fitted.score(log.X, log.clicks)


def scenario_cross_validate_without_routing_on_arrays_is_an_error(est):
    log, _, _ = click_log()
    with pytest.raises(ValueError, match="qid"):
        cross_validate(
            clone(est), log.X, log.clicks, groups=log.qid, cv=GroupKFold(2), error_score="raise"
        )


def scenario_cross_validate_on_dataframe_equals_manual(est):
    log, frame, _ = click_log()
    cv = GroupKFold(2)
    result = cross_validate(clone(est), frame, log.clicks, groups=log.qid, cv=cv)
    for fold, (train, test) in enumerate(cv.split(frame, groups=log.qid)):
        model = clone(est).fit(frame.iloc[train], log.clicks[train])
        expected = model.score(frame.iloc[test], log.clicks[test])
        assert result["test_score"][fold] == pytest.approx(expected, rel=1e-6, abs=1e-9)


def scenario_cross_validate_with_routing_equals_manual(est):
    log, _, _ = click_log()
    cv = GroupKFold(2)
    with sklearn.config_context(enable_metadata_routing=True):
        routed = clone(est).set_fit_request(qid=True, position=True).set_score_request(qid=True)
        result = cross_validate(
            routed,
            log.X,
            log.clicks,
            cv=cv,
            params={"qid": log.qid, "position": log.position, "groups": log.qid},
        )
    for fold, (train, test) in enumerate(cv.split(log.X, groups=log.qid)):
        model = clone(est).fit(
            log.X[train], log.clicks[train], qid=log.qid[train], position=log.position[train]
        )
        expected = model.score(log.X[test], log.clicks[test], qid=log.qid[test])
        assert result["test_score"][fold] == pytest.approx(expected, rel=1e-6, abs=1e-9)


def scenario_grid_search_on_dataframe(est):
    log, frame, _ = click_log()
    grid = {"lr": [0.01, 0.05]} if "lr" in est.get_params() else {"max_weight": [5.0, 10.0]}
    search = GridSearchCV(clone(est), grid, cv=GroupKFold(2))
    search.fit(frame, log.clicks, groups=log.qid)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_estimator_.n_lists_ == len(np.unique(log.qid))


def scenario_columns_in_another_order_is_an_error(est):
    log, frame, columns = click_log()
    fitted = clone(est).fit(frame, log.clicks)
    with pytest.raises(ValueError, match="[Ff]eature names"):
        fitted.predict(frame[columns[::-1]])


def scenario_single_list_without_qid(est):
    log, _, _ = click_log()
    one = log.qid == log.qid[0]
    rows = np.flatnonzero(one)[np.argsort(log.position[one])]
    fitted = clone(est).fit(log.X[rows], log.clicks[rows])
    reference = clone(est).fit(
        log.X[rows], log.clicks[rows], qid=log.qid[rows], position=log.position[rows]
    )
    _same_fit(fitted, reference, log.X)


def scenario_unseen_lists_are_scored(est):
    log, _, _ = click_log()
    fitted = clone(est).fit(log.X, log.clicks, qid=log.qid, position=log.position)
    new = np.random.default_rng(1).normal(size=(7, log.X.shape[1]))
    scores = fitted.predict(new)
    assert scores.shape == (7,) and np.isfinite(scores).all()


RANKER_SCENARIOS = [
    scenario_without_qid_is_an_error,
    scenario_scaler_in_front_is_an_error,
    scenario_column_transformer_passthrough,
    scenario_dataframe_side_columns,
    scenario_score_without_qid_is_an_error,
    scenario_cross_validate_without_routing_on_arrays_is_an_error,
    scenario_cross_validate_on_dataframe_equals_manual,
    scenario_cross_validate_with_routing_equals_manual,
    scenario_grid_search_on_dataframe,
    scenario_columns_in_another_order_is_an_error,
    scenario_single_list_without_qid,
    scenario_unseen_lists_are_scored,
]
POSITION_PROPENSITY_SCENARIOS = [
    scenario_without_qid_is_an_error,
    scenario_scaler_in_front_is_an_error,
    scenario_column_transformer_passthrough,
    scenario_dataframe_side_columns,
    scenario_single_list_without_qid,
]


# ------------------------------------------------------------------------------------------
# Scenarios: recommenders and (user, item) propensity models
# ------------------------------------------------------------------------------------------
def _pair_output(est, X, y=None):
    """Predictions for pairs; a model of the rating alone (naive Bayes) is given ``y``."""
    if "y" in inspect.signature(est.predict).parameters:
        if y is None:
            y = _RATINGS_OF.get(len(X))
        return np.asarray(est.predict(X, y), dtype=float)
    return np.asarray(est.predict(X), dtype=float)


_RATINGS_OF = {}  # the ratings of the pairs of each size (filled by the data builder below)


def _interactions():
    pairs, y = interactions()
    _RATINGS_OF[len(pairs)] = y
    return pairs, y


def _ordered_strings(pairs, user="user-", item="item-"):
    """String ids in the same order as the integer ids (zero-padded), so that the internal
    order of users and items, hence the seeded initialisation, is the same."""
    return np.column_stack(
        [
            np.char.add(user, np.char.zfill(pairs[:, 0].astype(str), 6)),
            np.char.add(item, np.char.zfill(pairs[:, 1].astype(str), 6)),
        ]
    ).astype(object)


def scenario_pairs_columns_by_name(est):
    pairs, y = _interactions()
    frame = pd.DataFrame({"user": pairs[:, 0], "item": pairs[:, 1]})
    a = fit_pairs(clone(est), frame, y)
    b = fit_pairs(clone(est), frame[["item", "user"]], y)
    _close(_pair_output(a, frame), _pair_output(b, frame[["item", "user"]]))
    _close(_pair_output(a, frame), _pair_output(b, frame))
    assert list(b.feature_names_in_) == ["item", "user"]


def scenario_pairs_other_column_names(est):
    pairs, y = _interactions()
    frame = pd.DataFrame({"user_id": pairs[:, 0], "item_id": pairs[:, 1]})
    swapped = frame[["item_id", "user_id"]]
    expected = _pair_output(fit_pairs(clone(est), pairs, y), pairs)
    # named by id_columns: read by name in any order
    named = clone(est).set_params(id_columns=("user_id", "item_id"))
    _close(_pair_output(fit_pairs(named, swapped, y), frame), expected)
    # other names: by position in fit, then by the names of fit, in any order
    fitted = fit_pairs(clone(est), frame, y)
    _close(_pair_output(fitted, swapped), expected)
    with pytest.raises(ValueError, match="columns"):
        _pair_output(fitted, frame.rename(columns={"user_id": "customer"}))


def scenario_pairs_raw_ids_of_any_size_and_type(est):
    pairs, y = _interactions()
    compact = fit_pairs(clone(est), pairs, y)
    expected = _pair_output(compact, pairs)
    huge = pairs.astype(np.int64) * 10**12 + 7
    _close(_pair_output(fit_pairs(clone(est), huge, y), huge), expected)
    strings = _ordered_strings(pairs)
    _close(_pair_output(fit_pairs(clone(est), strings, y), strings), expected)


def scenario_pairs_unseen_user_is_explicit(est):
    pairs, y = _interactions()
    fitted = fit_pairs(clone(est), pairs, y)
    unseen = np.array([[10_000, pairs[0, 1]]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = _pair_output(fitted, unseen, y[:1])
        except ValueError as error:
            assert "user" in str(error)
            return
    assert np.isfinite(out).all()
    if any("user" in str(w.message) for w in caught):
        return  # the documented fallback, announced by a warning about the cold user(s)
    # No error and no warning: right only for a model without a user effect, whose
    # prediction for the item is then the same for every user.
    same_item = pairs[:, 1] == pairs[0, 1]
    seen = _pair_output(fitted, pairs[same_item], np.full(same_item.sum(), y[0]))
    assert np.ptp(seen) == 0 and out[0] == pytest.approx(seen[0]), "a silent cold-user fallback"


def scenario_recommend_raw_ids(est):
    pairs, y = _interactions()
    strings = _ordered_strings(pairs, "u", "i")
    a = fit_pairs(clone(est), pairs, y)
    b = fit_pairs(clone(est), strings, y)
    top_a, scores_a = a.recommend([0, 1], n=5)
    top_b, scores_b = b.recommend(["u000000", "u000001"], n=5)
    _close(scores_a, scores_b)
    expected = np.char.add("i", np.char.zfill(top_a.astype(str), 6))
    np.testing.assert_array_equal(np.asarray(top_b).astype(str), expected)


def scenario_grid_search_without_scoring(est):
    pairs, y = _interactions()
    search = GridSearchCV(
        clone(est), {"random_state": [0, 1]}, cv=KFold(2, shuffle=True, random_state=0)
    )
    search.fit(pairs, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def scenario_cross_validate_default_score_equals_manual(est):
    pairs, y = _interactions()
    cv = KFold(2, shuffle=True, random_state=0)
    result = cross_validate(clone(est), pairs, y, cv=cv)
    for fold, (train, test) in enumerate(cv.split(pairs)):
        model = fit_pairs(clone(est), pairs[train], y[train])
        assert result["test_score"][fold] == pytest.approx(model.score(pairs[test], y[test]))


def scenario_pairs_single_user(est):
    pairs, y = _interactions()
    one = pairs[:, 0] == 0
    try:
        fitted = fit_pairs(clone(est), pairs[one], y[one])
    except ValueError as error:
        assert "user" in str(error) or "y" in str(error)
        return
    assert np.isfinite(_pair_output(fitted, pairs[one], y[one])).all()


RECOMMENDER_SCENARIOS = [
    scenario_pairs_columns_by_name,
    scenario_pairs_other_column_names,
    scenario_pairs_raw_ids_of_any_size_and_type,
    scenario_pairs_unseen_user_is_explicit,
    scenario_recommend_raw_ids,
    scenario_grid_search_without_scoring,
    scenario_cross_validate_default_score_equals_manual,
    scenario_pairs_single_user,
]
PAIR_PROPENSITY_SCENARIOS = [
    scenario_pairs_columns_by_name,
    scenario_pairs_other_column_names,
    scenario_pairs_raw_ids_of_any_size_and_type,
    scenario_pairs_unseen_user_is_explicit,
    scenario_pairs_single_user,
]


# ------------------------------------------------------------------------------------------
# Scenarios: tree post-processors, correctors, the cross-fitted meta-regressor
# ------------------------------------------------------------------------------------------
def scenario_classifier_in_pipeline_with_scaler(est):
    X, y = classification()
    if "protected_attribute" in est.get_params():
        pytest.skip("a scaler in front changes the protected column's threshold")
    pipe = make_pipeline(StandardScaler(), clone(est)).fit(X, y)
    assert set(np.unique(pipe.predict(X))) <= set(np.unique(y))


def scenario_classifier_sample_weight_routed_in_cv(est):
    X, y = classification()
    w = np.random.default_rng(0).integers(1, 3, size=len(y)).astype(float)
    with sklearn.config_context(enable_metadata_routing=True):
        # as for any sklearn classifier, score takes sample_weight too: request it (or not)
        routed = clone(est).set_fit_request(sample_weight=True)
        routed = routed.set_score_request(sample_weight=True)
        result = cross_validate(
            routed, X, y, cv=KFold(2), params={"sample_weight": w}, return_estimator=True
        )
    assert np.isfinite(result["test_score"]).all()
    for (train, _), fitted in zip(KFold(2).split(X), result["estimator"], strict=True):
        manual = clone(est).fit(X[train], y[train], sample_weight=w[train])
        _close(fitted.predict_proba(X), manual.predict_proba(X))
    weighted = clone(est).fit(X, y, sample_weight=w)
    plain = clone(est).fit(X, y)
    assert weighted.predict_proba(X).shape == plain.predict_proba(X).shape


def scenario_classifier_dataframe_columns_in_another_order_is_an_error(est):
    X, y = classification()
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])])
    fitted = clone(est).fit(frame, y)
    with pytest.raises(ValueError, match="[Ff]eature names"):
        fitted.predict(frame[frame.columns[::-1]])


def scenario_classifier_grid_search(est):
    X, y = classification()
    search = GridSearchCV(clone(est), {"random_state": [0, 1]}, cv=2).fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def scenario_corrector_boolean_outcome(est):
    rng = np.random.default_rng(0)
    truth = rng.uniform(size=200) < 0.4
    y_pred = np.clip(truth * 0.5 + 0.25 + 0.1 * rng.normal(size=200), 0, 1)
    a = clone(est).fit(y_pred, truth)
    b = clone(est).fit(y_pred, truth.astype(float))
    _close(a.transform(y_pred), b.transform(y_pred))


def scenario_corrector_pandas_output(est):
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    y_pred = 0.5 * y + 0.3 * rng.normal(size=200)
    fitted = clone(est).set_output(transform="pandas").fit(y_pred, y)
    out = fitted.transform(y_pred)
    assert isinstance(out, pd.DataFrame | pd.Series)
    names = fitted.get_feature_names_out()
    assert len(names) == 1


def scenario_meta_regressor_pipeline_and_groups(est):
    X, y = regression()
    groups = np.repeat(np.arange(12), 10)
    pipe = make_pipeline(StandardScaler(), clone(est)).fit(X, y)
    assert np.isfinite(pipe.predict(X)).all()
    with sklearn.config_context(enable_metadata_routing=True):
        routed = clone(est).set_params(cv=GroupKFold(3))
        search = cross_validate(
            routed, X, y, cv=GroupKFold(2), params={"groups": groups}, error_score="raise"
        )
    assert np.isfinite(search["test_score"]).all()


def scenario_meta_regressor_sample_weight(est):
    X, y = regression()
    w = np.random.default_rng(0).integers(1, 3, size=len(y)).astype(float)
    fitted = clone(est).fit(X, y, sample_weight=w)
    assert np.isfinite(fitted.predict(X)).all()


TREE_SCENARIOS = [
    scenario_classifier_in_pipeline_with_scaler,
    scenario_classifier_sample_weight_routed_in_cv,
    scenario_classifier_dataframe_columns_in_another_order_is_an_error,
    scenario_classifier_grid_search,
]
CORRECTOR_SCENARIOS = [scenario_corrector_boolean_outcome, scenario_corrector_pandas_output]
META_REGRESSOR_SCENARIOS = [
    scenario_meta_regressor_pipeline_and_groups,
    scenario_meta_regressor_sample_weight,
]

SCENARIOS = {
    "click_ranker": RANKER_SCENARIOS,
    "position_propensity": POSITION_PROPENSITY_SCENARIOS,
    "recommender": RECOMMENDER_SCENARIOS,
    "pair_propensity": PAIR_PROPENSITY_SCENARIOS,
    "tree_postprocessor": TREE_SCENARIOS,
    "corrector": CORRECTOR_SCENARIOS,
    "meta_regressor": META_REGRESSOR_SCENARIOS,
}


def _cases():
    for name, cls in ESTIMATORS:
        for scenario in SCENARIOS.get(family_of(cls), []):
            yield pytest.param(name, cls, scenario, id=f"{name}-{scenario.__name__[9:]}")


@pytest.mark.parametrize("name, cls, scenario", list(_cases()))
def test_drop_in(name, cls, scenario):
    scenario(small_instance(name, cls))
