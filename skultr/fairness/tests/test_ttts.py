"""Tests of the TTTS engine and TTTSClassifier."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.ensemble import (
    AdaBoostClassifier,
    ExtraTreesClassifier,
    RandomForestClassifier,
)
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV
from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier

from skultr.fairness import TTTSClassifier
from skultr.fairness._ttts import _round_down_float32

HEURISTICS = ["fixed", "depth", "agreement", "confidence", "distance"]


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=300, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    X[:, 0] *= 1000.0  # one wide feature, as in raw tabular data
    return X, y


@pytest.fixture(scope="module")
def forest(data):
    X, y = data
    return RandomForestClassifier(n_estimators=7, max_depth=6, random_state=0).fit(X, y)


# -- the method's defining properties ---------------------------------------------------
@pytest.mark.parametrize(
    "base",
    [
        DecisionTreeClassifier(random_state=0),
        ExtraTreeClassifier(random_state=0),
        RandomForestClassifier(n_estimators=10, random_state=0),
        ExtraTreesClassifier(n_estimators=10, random_state=0),
    ],
    ids=lambda est: type(est).__name__,
)
@pytest.mark.parametrize("heuristic", HEURISTICS)
def test_p_max_zero_reproduces_the_estimator_exactly(data, base, heuristic):
    # p = 0 everywhere: the exact engine must give the estimator's predict_proba bitwise
    X, y = data
    base = clone(base).fit(X, y)
    ttts = TTTSClassifier(base, heuristic=heuristic, p_max=0.0).fit(X, y)
    np.testing.assert_array_equal(ttts.predict_proba(X), base.predict_proba(X))
    np.testing.assert_array_equal(ttts.predict(X), base.predict(X))


@pytest.mark.parametrize("heuristic", HEURISTICS)
def test_exact_equals_monte_carlo_mean(data, forest, heuristic):
    # The Monte-Carlo average of S paths per tree converges to the exact expectation.
    # Its per-class standard error is at most 0.5 / sqrt(S * n_trees); the bound
    # 4 / sqrt(S) is 8 of those for one tree, and the error must also shrink with S.
    X, y = data
    kwargs = {"heuristic": heuristic, "p_max": 0.3, "distance_scale": "node_std"}
    exact = TTTSClassifier(forest, **kwargs).fit(X, y).predict_proba(X)
    errors = {}
    for S in (16, 1024):
        mc = TTTSClassifier(
            forest, method="monte_carlo", n_simulations=S, random_state=0, **kwargs
        ).fit(X, y)
        errors[S] = np.abs(mc.predict_proba(X) - exact)
        assert errors[S].max() < 4 / np.sqrt(S)
    assert errors[1024].mean() < errors[16].mean() / 4


def test_exact_mode_on_a_stump_matches_the_formula():
    # one split on x0 at t: P(left) = 1 - p for x <= t, p otherwise,
    # with p = max(p_max - |x - t| / s, 0)
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1])
    stump = DecisionTreeClassifier(max_depth=1).fit(X, y)
    t = stump.tree_.threshold[0]
    ttts = TTTSClassifier(stump, heuristic="distance", p_max=0.4).fit(X, y)
    x = np.array([[1.2], [1.5], [1.7], [2.5]])
    p = np.maximum(0.4 - np.abs(x[:, 0] - t) / abs(t), 0.0)  # scale = max|t| = t
    expected_p1 = np.where(x[:, 0] <= t, p, 1 - p)
    np.testing.assert_allclose(ttts.predict_proba(x)[:, 1], expected_p1, rtol=1e-6)


def test_heuristic_formulas_on_a_stump():
    X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]])
    y = np.array([0, 0, 0, 1, 1, 0])
    stump = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X, y)
    t = stump.tree_.threshold[0]
    x = np.array([[t - 0.2]])  # natural branch: left
    left = stump.tree_.value[1, 0]
    right = stump.tree_.value[2, 0]

    def p1(p):  # class-1 probability for flip probability p at the root
        return (1 - p) * left[1] / left.sum() + p * right[1] / right.sum()

    def fitted(**kwargs):
        return TTTSClassifier(stump, **kwargs).fit(X, y).predict_proba(x)[0, 1]

    assert fitted(heuristic="fixed", p_max=0.3) == pytest.approx(p1(0.3), rel=1e-6)
    # the root has depth 0, so the depth heuristic never flips a stump
    assert fitted(heuristic="depth", p_max=0.3) == pytest.approx(p1(0.0), rel=1e-6)
    majority = stump.tree_.value[0, 0].max() / stump.tree_.value[0, 0].sum()
    agreement = min(1 - majority, 0.45)
    assert fitted(heuristic="agreement", p_max=0.45) == pytest.approx(p1(agreement), rel=1e-6)
    sigma = X[:, 0].std()
    p_conf = max(0.5 - abs(x[0, 0] - X[:, 0].mean()) / sigma, 0)
    assert fitted(heuristic="confidence", p_max=0.5) == pytest.approx(p1(p_conf), rel=1e-5)
    p_std = max(0.5 - 0.2 / sigma, 0)
    assert fitted(p_max=0.5, distance_scale="node_std") == pytest.approx(p1(p_std), rel=1e-5)


def test_natural_branch_is_decided_exactly_at_float32_edges():
    # thresholds sit between float32 values; x values just around them must go exactly
    # where sklearn sends them
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3)).astype(np.float32).astype(np.float64)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    tree = DecisionTreeClassifier(random_state=0).fit(X, y)
    t = tree.tree_.threshold[tree.tree_.feature >= 0]
    f = tree.tree_.feature[tree.tree_.feature >= 0]
    probe = np.repeat(X[:1], 3 * t.size, axis=0)
    down = _round_down_float32(t).astype(np.float64)
    up = np.nextafter(down.astype(np.float32), np.float32(np.inf)).astype(np.float64)
    for k, (feature, values) in enumerate(((f, down), (f, up), (f, t))):
        probe[k * t.size + np.arange(t.size), feature] = values
    ttts = TTTSClassifier(tree, p_max=0.0).fit(X, y)
    np.testing.assert_array_equal(ttts.predict_proba(probe), tree.predict_proba(probe))


def test_round_down_float32():
    values = np.array([0.1, -0.1, 1.0, 1e-40, 3.4e38, -2.5])
    rounded = _round_down_float32(values)
    assert np.all(rounded.astype(np.float64) <= values)
    above = np.nextafter(rounded, np.float32(np.inf)).astype(np.float64)
    assert np.all(above > values)


def test_decision_path_reach_is_a_probability_flow(data, forest):
    X, y = data
    ttts = TTTSClassifier(forest, heuristic="fixed", p_max=0.2).fit(X[:20], y[:20])
    reach, ptr = ttts.decision_path(X[:20])
    reach = reach.toarray()
    assert ptr.shape == (len(forest.estimators_) + 1,)
    for k, est in enumerate(forest.estimators_):
        tree_reach = reach[:, ptr[k] : ptr[k + 1]]
        leaves = est.tree_.children_left == -1
        np.testing.assert_allclose(tree_reach[:, 0], 1.0)
        np.testing.assert_allclose(tree_reach[:, leaves].sum(axis=1), 1.0, rtol=1e-5)
        left = est.tree_.children_left
        right = est.tree_.children_right
        internal = ~leaves
        np.testing.assert_allclose(
            tree_reach[:, internal],
            tree_reach[:, left[internal]] + tree_reach[:, right[internal]],
            rtol=1e-5,
            atol=1e-7,
        )


def test_pruning_bound_holds_for_three_classes(data, forest):
    # the renormalised bound M(x) max(p, 1 - p) does not depend on two classes
    X, y = data
    exact = TTTSClassifier(forest, heuristic="fixed", p_max=0.1).fit(X, y)
    pruned = clone(exact).set_params(prune_tol=1e-2).fit(X, y)
    full = exact.predict_proba(X[:10])
    approx, bound = pruned.predict_proba(X[:10], return_bound=True)
    assert bound.max() > 0
    assert np.all(np.abs(approx - full) <= bound + 1e-12)
    np.testing.assert_allclose(approx.sum(axis=1), 1.0, atol=1e-5)


def test_single_leaf_trees():
    X = np.arange(10.0).reshape(-1, 1)
    y = np.zeros(10, dtype=int)
    y[0] = 1
    tree = DecisionTreeClassifier(max_depth=0 or None, min_samples_split=20).fit(X, y)
    assert tree.tree_.node_count == 1
    for method in ("exact", "monte_carlo"):
        ttts = TTTSClassifier(tree, method=method, random_state=0).fit(X, y)
        np.testing.assert_allclose(ttts.predict_proba(X), tree.predict_proba(X))


# -- estimator plumbing ------------------------------------------------------------------
def test_fitted_and_frozen_estimators_are_used_as_is(data, forest):
    X, y = data
    assert TTTSClassifier(forest).fit(X, y).estimator_ is forest
    frozen = FrozenEstimator(forest)
    assert TTTSClassifier(frozen).fit(X, y).estimator_ is frozen
    unfitted = RandomForestClassifier(n_estimators=3, random_state=0)
    ttts = TTTSClassifier(unfitted).fit(X, y)
    assert ttts.estimator_ is not unfitted
    assert not hasattr(unfitted, "estimators_")


def test_grid_search_over_p_max_never_refits_a_frozen_forest(data, forest):
    X, y = data
    before = [est.tree_.node_count for est in forest.estimators_]
    frozen = FrozenEstimator(forest)
    search = GridSearchCV(TTTSClassifier(frozen), {"p_max": [0.0, 0.1, 0.3]}, cv=3).fit(X, y)
    assert search.best_estimator_.estimator_ is frozen
    assert [est.tree_.node_count for est in forest.estimators_] == before


def test_frozen_unfitted_estimator_is_an_error(data):
    X, y = data
    with pytest.raises(NotFittedError, match="FrozenEstimator around an unfitted"):
        TTTSClassifier(FrozenEstimator(DecisionTreeClassifier())).fit(X, y)


def test_unsupported_estimator_is_a_type_error(data):
    X, y = data
    with pytest.raises(TypeError, match="DecisionTreeClassifier, RandomForestClassifier"):
        TTTSClassifier(AdaBoostClassifier()).fit(X, y)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"p_max": 0.6}, "p_max"),
        ({"p_max": -0.1}, "p_max"),
        ({"heuristic": "nope"}, "heuristic"),
        ({"n_simulations": 0}, "n_simulations"),
        ({"distance_scale": "global"}, "distance_scale"),
    ],
)
def test_bad_parameters(data, forest, params, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        TTTSClassifier(forest, **params).fit(X, y)


def test_feature_mismatch_with_a_fitted_estimator(data, forest):
    X, y = data
    with pytest.raises(ValueError, match="expects 6"):
        TTTSClassifier(forest).fit(X[:, :4], y)


def test_monte_carlo_is_reproducible_with_a_seed_and_pickles(data, forest):
    X, y = data
    mc = TTTSClassifier(forest, method="monte_carlo", n_simulations=5, random_state=3).fit(X, y)
    first = mc.predict_proba(X[:30])
    np.testing.assert_array_equal(first, mc.predict_proba(X[:30]))
    restored = pickle.loads(pickle.dumps(mc))
    np.testing.assert_array_equal(first, restored.predict_proba(X[:30]))
    other = clone(mc).set_params(random_state=4).fit(X, y).predict_proba(X[:30])
    assert not np.array_equal(first, other)


def test_dataframe_input_keeps_feature_names(data, forest):
    pd = pytest.importorskip("pandas")
    X, y = data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    tree = DecisionTreeClassifier(max_depth=4, random_state=0).fit(frame, y)
    ttts = TTTSClassifier(tree).fit(frame, y)
    assert list(ttts.feature_names_in_) == list(frame.columns)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        np.testing.assert_allclose(ttts.predict_proba(frame), ttts.predict_proba(X))
    with pytest.raises(ValueError, match="feature names"):
        TTTSClassifier(tree).fit(frame.rename(columns={"f0": "zz"}), y)


# -- sample_weight and degenerate targets -------------------------------------------------
def _weighted_and_repeated(data, n=120):
    X, y = data[0][:n], data[1][:n]
    w = np.random.default_rng(0).integers(0, 4, size=n)
    return X, y, w, np.repeat(X, w, axis=0), np.repeat(y, w)


@pytest.mark.parametrize(
    "params",
    [
        {"heuristic": "confidence"},
        {"heuristic": "distance", "distance_scale": "node_std"},
        {"heuristic": "agreement"},
    ],
    ids=["confidence", "node_std", "agreement"],
)
def test_integer_sample_weight_equals_repeated_rows(data, params):
    # before: fit(X, y, sample_weight=w) raised TypeError
    X, y, w, X_rep, y_rep = _weighted_and_repeated(data)
    tree = DecisionTreeClassifier(random_state=0)  # all features at every split: deterministic
    weighted = TTTSClassifier(tree, **params).fit(X, y, sample_weight=w)
    repeated = TTTSClassifier(tree, **params).fit(X_rep, y_rep)
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-6)
    # the weights reach the tree trained inside, and the node statistics of a fitted one
    fitted = clone(tree).fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(weighted.estimator_.tree_.value, fitted.tree_.value)
    prefit = TTTSClassifier(fitted, **params).fit(X, y, sample_weight=w)
    as_repeated = TTTSClassifier(fitted, **params).fit(X_rep, y_rep)
    np.testing.assert_allclose(prefit.predict_proba(X), as_repeated.predict_proba(X), atol=1e-6)


def test_sample_weight_is_validated(data):
    X, y = data
    with pytest.raises(ValueError, match="sample_weight"):
        TTTSClassifier(DecisionTreeClassifier()).fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="sample_weight"):
        TTTSClassifier(DecisionTreeClassifier()).fit(X, y, sample_weight=np.ones(3))


def test_sample_weight_is_routed_in_cross_validation(data):
    import sklearn
    from sklearn.model_selection import KFold, cross_validate

    X, y, w, X_rep, y_rep = _weighted_and_repeated(data, n=300)
    est = TTTSClassifier(DecisionTreeClassifier(random_state=0), heuristic="confidence")
    with sklearn.config_context(enable_metadata_routing=True):
        # as for any scikit-learn classifier, score takes sample_weight too: say whether
        routed = clone(est).set_fit_request(sample_weight=True)
        routed = routed.set_score_request(sample_weight=True)
        result = cross_validate(
            routed, X, y, cv=KFold(3), params={"sample_weight": w}, return_estimator=True
        )
    for (train, test), fitted, score in zip(
        KFold(3).split(X), result["estimator"], result["test_score"], strict=True
    ):
        by_hand = clone(est).fit(X[train], y[train], sample_weight=w[train])
        np.testing.assert_array_equal(fitted.predict_proba(X), by_hand.predict_proba(X))
        assert score == by_hand.score(X[test], y[test], sample_weight=w[test])


def test_a_single_class_is_an_error_naming_y(data):
    # before: a one-class model that predicts that class everywhere, silently
    X, _ = data
    with pytest.raises(ValueError, match=r"y has only one class \(0\)"):
        TTTSClassifier(DecisionTreeClassifier()).fit(X, np.zeros(len(X), int))
    one_class = DecisionTreeClassifier().fit(X, np.ones(len(X), int))
    with pytest.raises(ValueError, match=r"classes_ hold only one class \(1\)"):
        TTTSClassifier(one_class).fit(X, np.ones(len(X), int))
