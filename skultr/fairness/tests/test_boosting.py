"""TTTS and FairTTTS on gradient-boosted trees, groups, Pipelines and the alpha search."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    AdaBoostClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from skultr.datasets import make_biased_classification
from skultr.fairness import FairTTTSClassifier, TTTSClassifier, tune_fairttts_alpha
from skultr.fairness._ttts._kernel import ENGINE_VARIABLE
from skultr.metrics import demographic_parity_difference


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """HistGradientBoosting's OpenMP threads only slow these small fits down."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def data():
    X, y = make_biased_classification(1500, random_state=0)
    X_test, y_test = make_biased_classification(1500, random_state=1)
    return X, y, X_test, y_test


@pytest.fixture(scope="module")
def hgb(data):
    X, y, _, _ = data
    return HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(X, y)


def fair(estimator, **kwargs):
    kwargs = {"protected_attribute": 0, "unprivileged_value": 0, **kwargs}
    return FairTTTSClassifier(estimator, **kwargs)


# -- the compiled booster is the booster ------------------------------------------------
@pytest.mark.parametrize(
    "model",
    [
        HistGradientBoostingClassifier(max_iter=20, random_state=0),
        GradientBoostingClassifier(n_estimators=15, random_state=0),
        GradientBoostingClassifier(n_estimators=10, init=LogisticRegression(), random_state=0),
        GradientBoostingClassifier(n_estimators=10, init="zero", random_state=0),
    ],
)
def test_without_flips_the_raw_score_is_the_boosters(model):
    """p = 0: every row follows its natural path, E[F] is the booster's decision_function
    (histogram booster: with missing values, and thresholds equal to data values)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 4)).round(2)  # repeated values: thresholds hit data values
    y = (X[:, 0] + X[:, 1] + rng.normal(scale=0.5, size=600) > 0).astype(int)
    if isinstance(model, HistGradientBoostingClassifier):
        X[::5, 1] = np.nan
        X[::7, 2] = np.nan
    model.fit(X, y)
    ttts = TTTSClassifier(model, p_max=0.0).fit(X, y)
    np.testing.assert_allclose(ttts.decision_function(X), model.decision_function(X), atol=1e-12)
    np.testing.assert_allclose(ttts.predict_proba(X), model.predict_proba(X), atol=1e-12)
    np.testing.assert_array_equal(ttts.predict(X), model.predict(X))


def test_exact_is_the_monte_carlo_limit_in_logit_space(data, hgb):
    """E[F] = b + sum_t E[f_t]: R independent single-path simulations (one path per tree)
    average to the exact value within 4 sample standard errors, 4 sd / sqrt(R)."""
    X, y, X_test, _ = data
    rows = X_test[:60]
    model = fair(hgb, heuristic="fixed", p_max=0.1).fit(X, y)
    exact = model.decision_function(rows)
    R = 400
    draws = np.array(
        [
            model.set_params(
                method="monte_carlo", n_simulations=1, random_state=r
            ).decision_function(rows)
            for r in range(R)
        ]
    )
    sd = draws.std(axis=0, ddof=1)
    assert np.all(sd > 0)
    assert np.all(np.abs(draws.mean(axis=0) - exact) <= 4 * sd / np.sqrt(R))
    # the Monte-Carlo mode with S = R paths per tree: the same bound
    mc = model.set_params(n_simulations=R, random_state=0).decision_function(rows)
    assert np.all(np.abs(mc - exact) <= 4 * sd / np.sqrt(R))
    # probabilities: sigmoid of the (simulated) expected logit
    np.testing.assert_allclose(model.predict_proba(rows)[:, 1], 1 / (1 + np.exp(-mc)))


def test_numpy_engine_and_kernel_agree_on_boosters(data, hgb, monkeypatch):
    X, y, X_test, _ = data
    model = fair(hgb).fit(X, y)
    kernel = model.decision_function(X_test[:200])
    monkeypatch.setenv(ENGINE_VARIABLE, "numpy")
    np.testing.assert_allclose(model.decision_function(X_test[:200]), kernel, atol=1e-9)


def test_fairttts_on_hgb_reduces_the_parity_gap(data, hgb):
    X, y, X_test, y_test = data
    base_pred = hgb.predict(X_test)
    model = fair(hgb).fit(X, y)
    assert model.protected_nodes_.shape[0] > 0
    pred = model.predict(X_test)
    groups = X_test[:, 0]
    base_gap = demographic_parity_difference(y_test, base_pred, sensitive_features=groups)
    gap = demographic_parity_difference(y_test, pred, sensitive_features=groups)
    assert gap < 0.6 * base_gap  # about 0.41 -> 0.17 on this data
    # the unprivileged group gains favourable predictions, the privileged keeps its own
    assert pred[groups == 0].mean() > base_pred[groups == 0].mean()
    np.testing.assert_array_equal(pred[groups == 1], model.predict(X_test[groups == 1]))


def test_favorable_class_zero_pushes_the_raw_score_down(data, hgb):
    X, y, X_test, _ = data
    unpriv = X_test[:, 0] == 0
    base = TTTSClassifier(hgb).fit(X, y).decision_function(X_test)
    up = fair(hgb, pos_label=1).fit(X, y).decision_function(X_test)
    assert np.mean(up[unpriv] - base[unpriv]) > 0.05
    np.testing.assert_allclose(up[~unpriv], base[~unpriv])
    # favourable class 0, unprivileged group 1: group 1 heads to the higher raw score at
    # the protected nodes, which is now the worse child, so its raw score goes down
    down = fair(hgb, pos_label=0, unprivileged_value=1).fit(X, y).decision_function(X_test)
    assert np.mean(down[~unpriv] - base[~unpriv]) < -0.05
    np.testing.assert_allclose(down[unpriv], base[unpriv])


# -- Pipeline, sample_weight ----------------------------------------------------------------
def test_pipeline_last_step_and_routed_sample_weight(data):
    X, y, X_test, _ = data
    weight = np.random.default_rng(0).uniform(0.2, 2.0, size=y.shape[0])
    pipe = make_pipeline(StandardScaler(), HistGradientBoostingClassifier(max_iter=20))
    model = fair(pipe, heuristic="fixed").fit(X, y, sample_weight=weight)
    # the pipeline was fitted with the weights routed to its last step
    reference = clone(pipe).fit(X, y, histgradientboostingclassifier__sample_weight=weight)
    np.testing.assert_allclose(
        model.estimator_.decision_function(X_test), reference.decision_function(X_test)
    )
    unweighted = fair(pipe, heuristic="fixed").fit(X, y)
    assert not np.allclose(model.predict_proba(X_test), unweighted.predict_proba(X_test))
    # the protected input column 0 is the scaler's output x0 in the trees
    assert model.protected_nodes_.shape[0] > 0
    # same as FairTTTS on the booster applied to the scaled data
    scaled = model.estimator_[:-1].transform
    direct = fair(model.estimator_[-1], heuristic="fixed")
    direct.set_params(unprivileged_value=float(scaled(np.zeros((1, X.shape[1])))[0, 0]))
    direct.fit(scaled(X), y)
    np.testing.assert_allclose(
        model.predict_proba(X_test), direct.predict_proba(scaled(X_test)), atol=1e-12
    )


def test_pipeline_that_drops_the_protected_column_is_an_error(data):
    X, y, _, _ = data
    drop = ColumnTransformer([("keep", "passthrough", [1, 2, 3])])
    pipe = Pipeline([("drop", drop), ("hgb", HistGradientBoostingClassifier(max_iter=5))])
    with pytest.raises(ValueError, match="protected column 'x0' of X is not among"):
        fair(pipe).fit(X, y)


# -- groups -------------------------------------------------------------------------------
def _three_groups(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 3, size=n).astype(float)
    second = rng.integers(0, 2, size=n).astype(float)
    merit = rng.normal(size=(n, 2))
    logit = merit.sum(axis=1) + 1.2 * (group - 1) + 0.6 * second
    y = (logit + rng.normal(scale=0.5, size=n) > 0).astype(int)
    return np.column_stack([group, second, merit]), y


def test_multi_valued_and_intersectional_groups():
    X, y = _three_groups()
    hgb = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
    multi = fair(hgb, unprivileged_value=[0, 1]).fit(X, y)
    np.testing.assert_array_equal(multi._unprivileged_mask(X), X[:, 0] < 2)
    base = hgb.predict(X)
    pred = multi.predict(X)
    assert pred[X[:, 0] == 0].mean() > base[X[:, 0] == 0].mean()
    inter = FairTTTSClassifier(
        hgb, protected_attribute=[0, 1], unprivileged_value=[(0, 0), (1, 0)]
    ).fit(X, y)
    mask = inter._unprivileged_mask(X)
    np.testing.assert_array_equal(mask, (X[:, 0] < 2) & (X[:, 1] == 0))
    features = hgb._predictors
    split_on = {
        int(node["feature_idx"])
        for (p,) in features
        for node in p.nodes[~p.nodes["is_leaf"].astype(bool)]
    }
    assert {0, 1} <= split_on
    tree_nodes = inter.protected_nodes_
    source = inter._booster.source_feature[
        inter._forest.n_nodes_ptr[tree_nodes[:, 0]] + tree_nodes[:, 1]
    ]
    assert set(source.tolist()) == {0, 1}
    # only the unprivileged rows move
    np.testing.assert_allclose(
        inter.decision_function(X[~mask]),
        TTTSClassifier(hgb).fit(X, y).decision_function(X[~mask]),
    )
    with pytest.raises(ValueError, match="tuple of 2 values"):
        FairTTTSClassifier(hgb, protected_attribute=[0, 1], unprivileged_value=0).fit(X, y)
    with pytest.raises(ValueError, match="matches no row"):
        FairTTTSClassifier(hgb, protected_attribute=[0, 1], unprivileged_value=(5, 0)).fit(X, y)


def test_small_group_warning_names_the_group():
    X, y = _three_groups(400)
    X[:12, 0] = 7.0  # a fourth group of 12 rows
    with pytest.warns(UserWarning, match=r"protected group \(x0=7\) has only 12 rows"):
        fair(HistGradientBoostingClassifier(max_iter=5), unprivileged_value=[0]).fit(X, y)


# -- the alpha search -----------------------------------------------------------------------
def test_tune_alpha_meets_the_gap_target(data):
    X, y, X_test, y_test = data
    model = fair(HistGradientBoostingClassifier(max_iter=20, random_state=0), flip_cap=1.0)
    result = tune_fairttts_alpha(model, X, y, alphas=[1, 3, 9], max_gap=0.15, cv=3)
    assert result.target_met and result.mean_gap[result.alphas == result.alpha][0] <= 0.15
    assert result.mean_gap[0] > 0.3  # alpha = 1 (plain TTTS) misses the target
    assert result.estimator.alpha == result.alpha
    with pytest.warns(UserWarning, match="No alpha"):
        tune_fairttts_alpha(model, X, y, alphas=[1], max_gap=0.01, cv=2)
    with pytest.raises(ValueError, match="alphas must be"):
        tune_fairttts_alpha(model, X, y, alphas=[0.5], max_gap=0.1)


# -- bad input ----------------------------------------------------------------------------
def test_unsupported_and_multiclass_boosters_are_type_errors(data):
    X, y, _, _ = data
    with pytest.raises(TypeError, match="HistGradientBoostingClassifier, GradientBoosting"):
        fair(AdaBoostClassifier()).fit(X, y)
    y3 = np.arange(y.shape[0]) % 3
    with pytest.raises(TypeError, match="binary classification only; the fitted model has 3"):
        fair(HistGradientBoostingClassifier(max_iter=3)).fit(X, y3)


def test_booster_bad_options(data):
    X, y, _, _ = data
    hgb = HistGradientBoostingClassifier(max_iter=3)
    with pytest.raises(ValueError, match="not available for gradient-boosted trees"):
        fair(hgb, heuristic="agreement").fit(X, y)
    with pytest.raises(ValueError, match="return_bound=True is not available"):
        fair(hgb).fit(X, y).predict_proba(X, return_bound=True)
    X_nan = X.copy()
    X_nan[3, 0] = np.nan
    with pytest.raises(ValueError, match="missing value \\(NaN\\) at row 3"):
        fair(hgb).fit(X_nan, y)
    cat = HistGradientBoostingClassifier(max_iter=3, categorical_features=[1])
    X_cat = X.copy()
    X_cat[:, 1] = np.arange(X.shape[0]) % 4
    with pytest.raises(ValueError, match="categorical splits is not supported"):
        fair(cat).fit(X_cat, y)
