"""Renamed parameters (issue "One engine, one vocabulary", item 5).

For every rename: the old name still works, warns with a ``FutureWarning`` naming both names
and the release that removes it, and gives the same result as the new name; the new name
does not warn; passing both is an error. The hidden old parameters keep ``clone`` and
``get_params`` working.
"""

import contextlib
import inspect
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier

from skultr.datasets import (
    make_biased_classification,
    make_mnar_implicit_feedback,
    make_mnar_ratings,
)
from skultr.fairness import FairTTTSClassifier
from skultr.metrics import (
    ips_dcg_at_k_score,
    ips_pointwise_loss,
    ips_recall_at_k_score,
    make_ips_scorer,
)
from skultr.propensity import KernelBalancingPropensity
from skultr.recommendation import (
    BPRRecommender,
    DebiasedMFRecommender,
    ImplicitMFRecommender,
    RelMFRecommender,
    WMFRecommender,
)
from skultr.utils._deprecation import REMOVED_IN, clip_to_max_weight

CPU = {"device": "cpu", "random_state": 0}


def _message(old, new):
    return rf"`{old}` was deprecated in .* and will be removed in {REMOVED_IN}.*`{new}`"


def _warns_renamed(old, new):
    return pytest.warns(FutureWarning, match=_message(old, new))


@contextlib.contextmanager
def no_future_warning():
    """Fail on any FutureWarning raised inside."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        yield


# -- data ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clicks():
    return make_mnar_implicit_feedback(n_users=60, n_items=40, random_state=0)


@pytest.fixture(scope="module")
def ratings():
    data = make_mnar_ratings(60, 50, density=0.1, random_state=0)
    data.yb = (data.y >= 4).astype(float)
    return data


@pytest.fixture(scope="module")
def fairness_data():
    X, y = make_biased_classification(400, bias=1.0, random_state=0)
    forest = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0).fit(X, y)
    return X, y, forest


# -- estimator parameters: (estimator class, old, new, old value, new value) ---------------
ESTIMATOR_RENAMES = [
    (RelMFRecommender, "reg", "weight_decay", 2.0, 2.0),
    (ImplicitMFRecommender, "reg", "weight_decay", 2.0, 2.0),
    (WMFRecommender, "reg", "weight_decay", 2.0, 2.0),
    (BPRRecommender, "reg", "weight_decay", 0.1, 0.1),
    # a propensity floor of 0.5 is a weight cap of 2 (some clicks are capped, see below)
    (RelMFRecommender, "clip", "max_weight", 0.5, 2.0),
]


def _recommender(cls, **params):
    return cls(n_factors=3, max_epochs=2, **CPU, **params)


@pytest.mark.parametrize(
    "cls, old, new, old_value, new_value",
    ESTIMATOR_RENAMES,
    ids=[f"{c.__name__}-{o}" for c, o, *_ in ESTIMATOR_RENAMES],
)
def test_recommender_renamed_parameter(clicks, cls, old, new, old_value, new_value):
    with no_future_warning():
        expected = _recommender(cls, **{new: new_value}).fit(clicks.X)
    with _warns_renamed(old, new):
        got = _recommender(cls, **{old: old_value}).fit(clicks.X)
    np.testing.assert_array_equal(got.user_factors_, expected.user_factors_)
    np.testing.assert_array_equal(got.item_factors_, expected.item_factors_)
    if new == "max_weight":
        assert got.n_clipped_ == expected.n_clipped_ > 0
    # the deprecated parameter is read in fit, never written back
    assert got.get_params()[old] == old_value
    assert got.get_params()[new] == cls().get_params()[new]
    with pytest.raises(ValueError, match=f"both `{old}`"):
        _recommender(cls, **{old: old_value, new: new_value + 1}).fit(clicks.X)


def test_fairttts_favorable_class_is_pos_label(fairness_data):
    X, y, forest = fairness_data
    common = {"protected_attribute": 0, "unprivileged_value": 0, "random_state": 0}
    with no_future_warning():
        expected = FairTTTSClassifier(forest, pos_label=0, **common).fit(X, y)
    with _warns_renamed("favorable_class", "pos_label"):
        got = FairTTTSClassifier(forest, favorable_class=0, **common).fit(X, y)
    np.testing.assert_array_equal(got.predict_proba(X), expected.predict_proba(X))
    # the favourable class matters: pos_label=1 gives other probabilities
    other = FairTTTSClassifier(forest, **common).fit(X, y)
    assert not np.allclose(other.predict_proba(X), expected.predict_proba(X))
    with pytest.raises(ValueError, match="both `favorable_class`"):
        FairTTTSClassifier(forest, favorable_class=0, pos_label=0, **common).fit(X, y)


def _kernel_balancing(**params):
    return KernelBalancingPropensity(max_epochs=2, n_centers=3, **CPU, **params)


def _fit_kb(est, data, **fit_params):
    return est.fit(
        data.X,
        user_features=data.user_features,
        item_features=data.item_features,
        **fit_params,
    )


def test_kernel_balancing_C_is_balance_tol(ratings):
    with no_future_warning():
        expected = _fit_kb(_kernel_balancing(balance_tol=0.05), ratings)
    with _warns_renamed("C", "balance_tol"):
        got = _fit_kb(_kernel_balancing(C=0.05), ratings)
    np.testing.assert_array_equal(got.weights_, expected.weights_)
    assert got.C == 0.05 and got.balance_tol == 0.001  # parameters left as given
    with pytest.raises(ValueError, match="both `C`"):
        _fit_kb(_kernel_balancing(C=0.05, balance_tol=0.01), ratings)


def test_debiased_mf_balancing_settings_with_C(ratings):
    params = {"method": "ips", "n_factors": 2, "max_epochs": 2, "batch_size": 64, **CPU}
    with no_future_warning():
        expected = DebiasedMFRecommender(
            balancing=KernelBalancingPropensity(centers="random", balance_tol=0.05), **params
        ).fit(ratings.X, ratings.yb)
    with _warns_renamed("C", "balance_tol"):
        got = DebiasedMFRecommender(
            balancing=KernelBalancingPropensity(centers="random", C=0.05), **params
        ).fit(ratings.X, ratings.yb)
    np.testing.assert_array_equal(got.predict(ratings.X), expected.predict(ratings.X))


def test_kernel_balancing_base_propensity_is_sample_propensity(ratings):
    p = np.random.default_rng(0).uniform(0.05, 0.5, size=len(ratings.X))
    with no_future_warning():
        expected = _fit_kb(_kernel_balancing(), ratings, sample_propensity=p)
        expected_pred = expected.predict(ratings.X, sample_propensity=p)
    with _warns_renamed("base_propensity", "sample_propensity"):
        got = _fit_kb(_kernel_balancing(), ratings, base_propensity=p)
    np.testing.assert_array_equal(got.weights_, expected.weights_)
    with _warns_renamed("base_propensity", "sample_propensity"):
        pred = expected.predict(ratings.X, base_propensity=p)
    np.testing.assert_array_equal(pred, expected_pred)
    with pytest.raises(ValueError, match="both `base_propensity`"):
        _fit_kb(_kernel_balancing(), ratings, base_propensity=p, sample_propensity=p)


def test_sample_propensity_is_routed_as_fit_metadata(ratings):
    """``set_fit_request`` knows the new name (the old one still exists for direct calls)."""
    from sklearn import config_context
    from sklearn.utils.metadata_routing import get_routing_for_object

    with config_context(enable_metadata_routing=True):
        est = clone(_kernel_balancing().set_fit_request(sample_propensity=True))
        assert get_routing_for_object(est).fit.requests["sample_propensity"] is True


# -- functions -----------------------------------------------------------------------------
IPS_ROWS = {
    "y_true": [1, 0, 1, 0, 1, 1],
    "y_score": [0.9, 0.5, 0.1, 0.8, 0.7, 0.3],
    "propensity": [0.5, 1.0, 0.1, 1.0, 0.25, 0.05],
}
QID = [0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize(
    "func, kwargs",
    [
        (ips_dcg_at_k_score, {"qid": QID, "k": 2}),
        (ips_recall_at_k_score, {"qid": QID, "k": 1}),
        (ips_pointwise_loss, {}),
    ],
    ids=["ips_dcg_at_k_score", "ips_recall_at_k_score", "ips_pointwise_loss"],
)
@pytest.mark.parametrize("clip", [0.0, 0.2, 0.3])
def test_ips_metric_clip_is_max_weight(func, kwargs, clip):
    y_true, y_score, theta = IPS_ROWS.values()
    with no_future_warning():
        expected = func(
            y_true, y_score, propensity=theta, max_weight=clip_to_max_weight(clip), **kwargs
        )
    with _warns_renamed("clip", "max_weight"):
        got = func(y_true, y_score, propensity=theta, clip=clip, **kwargs)
    assert got == expected
    # the old definition: each click weighted by 1 / max(θ, clip)
    with no_future_warning():
        floored = func(
            np.asarray(y_true) / np.maximum(theta, clip), y_score, propensity=1.0, **kwargs
        )
    assert got == pytest.approx(floored, rel=1e-12)
    with pytest.raises(ValueError, match="both `clip`"):
        func(y_true, y_score, propensity=theta, clip=clip, max_weight=3.0, **kwargs)


def test_make_ips_scorer_clip_is_max_weight(clicks):
    model = RelMFRecommender(n_factors=3, max_epochs=2, **CPU).fit(clicks.X)
    theta = np.linspace(0.05, 1.0, clicks.X[:, 1].max() + 1)
    with no_future_warning():
        expected = make_ips_scorer("dcg", propensity=theta, k=5, max_weight=5.0)
    with _warns_renamed("clip", "max_weight"):
        got = make_ips_scorer("dcg", propensity=theta, k=5, clip=0.2)
    assert got.max_weight == expected.max_weight == 5.0
    held_out = clicks.X_test[:200]
    assert got(model, held_out) == expected(model, held_out)


def test_clip_to_max_weight():
    assert clip_to_max_weight(0) is None
    assert clip_to_max_weight(0.5) == 2.0
    # 1 / max(θ, c) == min(1 / θ, 1 / c) exactly: the old and new weights agree bit for bit
    theta = np.linspace(0.01, 1.0, 997)
    for c in (0.03, 0.1, 0.3, 0.7):
        np.testing.assert_array_equal(
            1.0 / np.maximum(theta, c), np.minimum(1.0 / theta, clip_to_max_weight(c))
        )


# -- scikit-learn plumbing -----------------------------------------------------------------
@pytest.mark.parametrize(
    "est, old",
    [
        (RelMFRecommender(reg=2.0, clip=0.1), ["reg", "clip"]),
        (WMFRecommender(reg=2.0), ["reg"]),
        (BPRRecommender(reg=0.1), ["reg"]),
        (ImplicitMFRecommender(reg=2.0), ["reg"]),
        (KernelBalancingPropensity(C=0.05), ["C"]),
        (
            FairTTTSClassifier(
                RandomForestClassifier(),
                protected_attribute=0,
                unprivileged_value=0,
                favorable_class=0,
            ),
            ["favorable_class"],
        ),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, list) else "-".join(v),
)
def test_clone_and_get_params_keep_the_hidden_old_parameter(est, old):
    with no_future_warning():  # constructing, cloning and get_params never warn
        params = est.get_params(deep=False)
        copy = clone(est)
        assert copy.get_params(deep=False).keys() == params.keys()
        for name in old:
            assert copy.get_params()[name] == params[name]
            assert params[name] != "deprecated"
            assert inspect.signature(type(est)).parameters[name].default == "deprecated"
            copy.set_params(**{name: "deprecated"})
            assert copy.get_params()[name] == "deprecated"


def test_disparate_impact_ratio_unprivileged_group_is_unprivileged_value():
    from skultr.metrics import disparate_impact_ratio

    y_pred = [1, 1, 1, 0, 1, 0, 0, 0]
    groups = ["a", "a", "a", "a", "b", "b", "b", "b"]
    with no_future_warning():
        expected = disparate_impact_ratio(
            None, y_pred, sensitive_features=groups, unprivileged_value="b"
        )
    with _warns_renamed("unprivileged_group", "unprivileged_value"):
        got = disparate_impact_ratio(
            None, y_pred, sensitive_features=groups, unprivileged_group="b"
        )
    assert got == expected == 1 / 3
    with pytest.raises(ValueError, match="both `unprivileged_group`"):
        disparate_impact_ratio(
            None,
            y_pred,
            sensitive_features=groups,
            unprivileged_group="b",
            unprivileged_value="a",
        )
