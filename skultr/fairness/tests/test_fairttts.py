"""Tests of FairTTTSClassifier: the properties the method exists for, and its contract."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import AdaBoostClassifier, RandomForestClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.tree import DecisionTreeClassifier

from skultr.datasets import make_biased_classification
from skultr.fairness import FairTTTSClassifier, TTTSClassifier
from skultr.metrics import demographic_parity_difference, make_fairness_scorer

ALPHAS = [1.0, 2.0, 3.0, 4.0, 5.0, 9.0]


@pytest.fixture(scope="module")
def biased():
    X, y = make_biased_classification(3000, bias=1.0, random_state=0)
    return train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def forest(biased):
    X_train, _, y_train, _ = biased
    return RandomForestClassifier(n_estimators=30, min_samples_leaf=5, random_state=0).fit(
        X_train, y_train
    )


def fair(estimator, **kwargs):
    return FairTTTSClassifier(estimator, protected_attribute=0, unprivileged_value=0, **kwargs)


# -- what the method is for ----------------------------------------------------------------
@pytest.mark.parametrize("model", ["tree", "forest"])
def test_parity_gap_shrinks_as_alpha_grows(biased, forest, model):
    # planted bias: the base model's demographic parity gap is large; FairTTTS reduces
    # it monotonically in alpha (up to 0.005 of noise from hard labels) until the
    # amplified flip hits its cap 0.5 (alpha * 0.1 >= 0.5), after which it is flat
    X_train, X_test, y_train, _ = biased
    if model == "tree":
        base = DecisionTreeClassifier(min_samples_leaf=20, random_state=0).fit(X_train, y_train)
    else:
        base = forest
    group = X_test[:, 0]
    base_gap = demographic_parity_difference(None, base.predict(X_test), sensitive_features=group)
    post = fair(FrozenEstimator(base)).fit(X_train, y_train)
    gaps = [
        demographic_parity_difference(
            None,
            post.classes_[post._proba(X_test, alpha=a).argmax(axis=1)],
            sensitive_features=group,
        )
        for a in ALPHAS
    ]
    assert base_gap > 0.3
    assert np.all(np.diff(gaps) <= 0.005), gaps
    assert gaps[-1] < 0.6 * base_gap
    assert gaps[-1] == pytest.approx(gaps[ALPHAS.index(5.0)])


def test_alpha_one_equals_ttts(biased, forest):
    X_train, X_test, y_train, _ = biased
    assert len(fair(forest).fit(X_train, y_train).protected_nodes_) > 0
    ttts = TTTSClassifier(forest).fit(X_train, y_train).predict_proba(X_test)
    one = fair(forest, alpha=1.0).fit(X_train, y_train).predict_proba(X_test)
    np.testing.assert_array_equal(one, ttts)


def test_without_protected_splits_any_alpha_equals_ttts(biased):
    X_train, X_test, y_train, _ = biased
    # a tree that never splits on column 0 (the group): trained without it, then the
    # column indices shifted back by one
    tree = DecisionTreeClassifier(max_depth=6, random_state=0).fit(X_train[:, 1:], y_train)
    tree.tree_.feature[tree.tree_.feature >= 0] += 1
    tree.n_features_in_ = X_train.shape[1]
    post = fair(tree, alpha=9.0).fit(X_train, y_train)
    assert len(post.protected_nodes_) == 0
    for alpha in (1.0, 9.0):
        np.testing.assert_array_equal(
            fair(tree, alpha=alpha).fit(X_train, y_train).predict_proba(X_test),
            TTTSClassifier(tree).fit(X_train, y_train).predict_proba(X_test),
        )


def test_p_max_zero_equals_the_base_model(biased, forest):
    X_train, X_test, y_train, _ = biased
    post = fair(forest, p_max=0.0).fit(X_train, y_train)
    np.testing.assert_array_equal(post.predict_proba(X_test), forest.predict_proba(X_test))
    np.testing.assert_array_equal(post.predict(X_test), forest.predict(X_test))


def test_exact_equals_monte_carlo_mean_with_amplification(biased, forest):
    X_train, X_test, y_train, _ = biased
    exact = fair(forest).fit(X_train, y_train).predict_proba(X_test[:300])
    S = 200
    mc = fair(forest, method="monte_carlo", n_simulations=S, random_state=0).fit(X_train, y_train)
    diff = np.abs(mc.predict_proba(X_test[:300]) - exact)
    assert diff.max() < 4 / np.sqrt(S)
    # 30 trees x 200 paths: standard error <= 0.5 / sqrt(6000) ~ 0.0065
    assert diff.mean() < 0.01


def test_only_unprivileged_rows_heading_to_the_worse_child_are_amplified():
    # a stump on the group column: group 0 (unprivileged) -> left leaf, mostly label 0
    X = np.array([[0.0], [0.0], [0.0], [0.0], [1.0], [1.0], [1.0], [1.0]])
    y = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    stump = DecisionTreeClassifier(max_depth=1).fit(X, y)
    post = FairTTTSClassifier(
        stump, protected_attribute=0, unprivileged_value=0, heuristic="fixed", alpha=3.0
    ).fit(X, y)
    proba = post.predict_proba(np.array([[0.0], [1.0]]))
    # unprivileged: flip to the better (right) child with min(3 * 0.1, 0.5) = 0.3
    assert proba[0, 1] == pytest.approx(0.7 * 0.25 + 0.3 * 0.75, rel=1e-6)
    # privileged: plain TTTS flip 0.1 to the worse child
    assert proba[1, 1] == pytest.approx(0.9 * 0.75 + 0.1 * 0.25, rel=1e-6)
    # favouring class 0 instead reverses which child is worse: now the privileged
    # group's child is the worse one and unprivileged rows are left alone
    other = clone(post).set_params(pos_label=0).fit(X, y)
    assert other.predict_proba(np.array([[0.0]]))[0, 1] == pytest.approx(
        0.9 * 0.25 + 0.1 * 0.75, rel=1e-6
    )


def test_protected_decision_path_reports_the_firing(biased, forest):
    X_train, X_test, y_train, _ = biased
    post = fair(forest).fit(X_train, y_train)
    report = post.protected_decision_path(X_test[:200])
    k = len(post.protected_nodes_)
    assert report.reach.shape == (200, k)
    np.testing.assert_array_equal(report.tree_index, post.protected_nodes_[:, 0])
    unprivileged = X_test[:200, 0] == 0
    # only unprivileged rows fire, and with the cap 0.5 (alpha * p_max = 0.9)
    assert not report.amplified[~unprivileged].any()
    assert report.amplified[unprivileged].any()
    np.testing.assert_allclose(report.flip_probability[report.amplified], 0.5, rtol=1e-6)
    assert np.all(report.firing_rate[~unprivileged] == 0)
    assert np.all(report.firing_rate[unprivileged] >= 0)
    assert report.firing_rate[unprivileged].mean() > 0.05
    # reach agrees with the full reach-probability path
    reach, ptr = post.decision_path(X_test[:200])
    columns = ptr[post.protected_nodes_[:, 0]] + post.protected_nodes_[:, 1]
    np.testing.assert_allclose(report.reach, reach[:, columns].toarray(), rtol=1e-6)


# -- the protected attribute as a column of X ---------------------------------------------
def test_protected_attribute_by_name_in_a_dataframe(biased, forest):
    pd = pytest.importorskip("pandas")
    X_train, X_test, y_train, _ = biased
    columns = ["group", "income", "experience", "score", "age"]
    frame_train = pd.DataFrame(X_train, columns=columns)
    frame_test = pd.DataFrame(X_test, columns=columns)
    tree = DecisionTreeClassifier(min_samples_leaf=20, random_state=0).fit(frame_train, y_train)
    by_name = FairTTTSClassifier(tree, protected_attribute="group", unprivileged_value=0).fit(
        frame_train, y_train
    )
    by_index = FairTTTSClassifier(tree, protected_attribute=0, unprivileged_value=0).fit(
        frame_train, y_train
    )
    assert by_name.protected_index_ == 0
    np.testing.assert_array_equal(
        by_name.predict_proba(frame_test), by_index.predict_proba(frame_test)
    )


def test_threshold_rule_binarises_a_continuous_attribute(biased, forest):
    X_train, X_test, y_train, _ = biased
    # age (column 4) >= 40 privileged: unprivileged = binarised code 0 at threshold 39.5
    post = FairTTTSClassifier(
        forest, protected_attribute=4, protected_threshold=39.5, unprivileged_value=0
    ).fit(X_train, y_train)
    np.testing.assert_array_equal(post._unprivileged_mask(X_test), X_test[:, 4] < 40)
    assert set(post.protected_nodes_[:, 0]) <= set(range(30))
    with pytest.warns(UserWarning, match="No row of X falls in the unprivileged group"):
        FairTTTSClassifier(
            forest, protected_attribute=4, protected_threshold=0.0, unprivileged_value=0
        ).fit(X_train, y_train)


def test_grid_search_over_alpha_with_a_fairness_scorer_keeps_the_forest(biased, forest):
    X_train, X_test, y_train, y_test = biased
    before = [est.tree_.node_count for est in forest.estimators_]
    frozen = FrozenEstimator(forest)
    scorer = make_fairness_scorer("demographic_parity_difference", protected_attribute=0)
    search = GridSearchCV(
        fair(frozen, heuristic="fixed"), {"alpha": [1.0, 5.0]}, scoring=scorer, cv=2
    ).fit(X_test, y_test)
    assert search.best_params_ == {"alpha": 5.0}
    assert search.best_estimator_.estimator_ is frozen
    assert [est.tree_.node_count for est in forest.estimators_] == before


# -- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"protected_attribute": 7}, ValueError, "out of range"),
        ({"protected_attribute": "group"}, ValueError, "no column names"),
        ({"protected_attribute": 1}, ValueError, "must be binary"),
        ({"unprivileged_value": 3}, ValueError, "matches no row"),
        ({"protected_threshold": 0.5, "unprivileged_value": 2}, ValueError, "must be 0 or 1"),
        ({"alpha": 0.5}, ValueError, "alpha"),
        ({"p_max": 0.7}, ValueError, "p_max"),
        ({"p_max": -0.01}, ValueError, "p_max"),
        ({"pos_label": "yes"}, ValueError, "pos_label"),
        ({"estimator": AdaBoostClassifier()}, TypeError, "HistGradientBoostingClassifier"),
    ],
)
def test_bad_input(biased, forest, params, error, match):
    X_train, _, y_train, _ = biased
    kwargs = {"protected_attribute": 0, "unprivileged_value": 0, **params}
    estimator = kwargs.pop("estimator", forest)
    with pytest.raises(error, match=match):
        FairTTTSClassifier(estimator, **kwargs).fit(X_train, y_train)


def test_missing_named_column(biased):
    pd = pytest.importorskip("pandas")
    X_train, _, y_train, _ = biased
    frame = pd.DataFrame(X_train, columns=["g", "a", "b", "c", "d"])
    with pytest.raises(ValueError, match="'sex' is not a column of X"):
        FairTTTSClassifier(
            DecisionTreeClassifier(max_depth=2), protected_attribute="sex", unprivileged_value=0
        ).fit(frame, y_train)


# -- extensions (off by default) ------------------------------------------------------------
def test_flip_cap_one_routes_fully_as_privileged():
    X = np.array([[0.0], [0.0], [0.0], [0.0], [1.0], [1.0], [1.0], [1.0]])
    y = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    stump = DecisionTreeClassifier(max_depth=1).fit(X, y)
    post = FairTTTSClassifier(
        stump,
        protected_attribute=0,
        unprivileged_value=0,
        heuristic="fixed",
        alpha=10.0,
        flip_cap=1.0,
    ).fit(X, y)
    # p' = min(10 * 0.1, 1) = 1: the unprivileged row gets the privileged leaf exactly
    np.testing.assert_allclose(post.predict_proba(np.array([[0.0]])), [[0.25, 0.75]], rtol=1e-6)


def test_amplifying_every_node_reaches_proxies(biased):
    # hide the group from the trees but keep a proxy: the protected column is never split
    # on, so the paper's rule does nothing, while amplified_nodes="all" still closes the gap
    X_train, X_test, y_train, _ = biased
    rng = np.random.default_rng(0)
    proxy = lambda X: X[:, 0] + 0.3 * rng.normal(size=len(X))  # noqa: E731
    Xp_train = np.column_stack([X_train, proxy(X_train)])
    Xp_test = np.column_stack([X_test, proxy(X_test)])
    tree = DecisionTreeClassifier(min_samples_leaf=20, random_state=0)
    tree.fit(np.column_stack([np.zeros(len(X_train)), Xp_train[:, 1:]]), y_train)
    group = X_test[:, 0]

    def gap(**kwargs):
        post = fair(tree, **kwargs).fit(Xp_train, y_train)
        return demographic_parity_difference(None, post.predict(Xp_test), sensitive_features=group)

    base_gap = demographic_parity_difference(None, tree.predict(Xp_test), sensitive_features=group)
    assert len(fair(tree).fit(Xp_train, y_train).protected_nodes_) == 0
    assert gap() == pytest.approx(gap(alpha=1.0))  # faithful rule: same as TTTS
    # measured: 0.307 (base), 0.274 (TTTS), 0.226 (alpha 2), 0.115 (alpha 3)
    gaps = [gap(amplified_nodes="all", alpha=a) for a in (1.0, 2.0, 3.0)]
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 0.5 * base_gap


def test_amplifying_every_node_exact_equals_monte_carlo(biased, forest):
    X_train, X_test, y_train, _ = biased
    kwargs = {"amplified_nodes": "all", "alpha": 2.0}
    exact = fair(forest, **kwargs).fit(X_train, y_train)
    S = 100
    mc = fair(forest, method="monte_carlo", n_simulations=S, random_state=1, **kwargs)
    diff = np.abs(
        mc.fit(X_train, y_train).predict_proba(X_test[:200]) - exact.predict_proba(X_test[:200])
    )
    assert diff.max() < 4 / np.sqrt(S)
    report = exact.protected_decision_path(X_test[:5])
    n_internal = sum((est.tree_.children_left >= 0).sum() for est in forest.estimators_)
    assert report.reach.shape == (5, n_internal)


def test_integer_sample_weight_equals_repeated_rows(biased):
    # before: fit(X, y, sample_weight=w) raised TypeError
    X, _, y, _ = biased
    X, y = X[:400], y[:400]
    w = np.random.default_rng(0).integers(0, 4, size=len(y))
    tree = DecisionTreeClassifier(min_samples_leaf=1, random_state=0)
    for params in ({}, {"heuristic": "confidence"}, {"amplified_nodes": "all", "alpha": 3.0}):
        weighted = fair(tree, **params).fit(X, y, sample_weight=w)
        repeated = fair(tree, **params).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
        np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-6)
    with pytest.raises(ValueError, match="sample_weight"):
        fair(tree).fit(X, y, sample_weight=-np.ones(len(y)))


def test_sample_weight_is_routed_in_weighted_cross_validation(biased):
    import sklearn
    from sklearn.model_selection import StratifiedKFold, cross_validate

    X, _, y, _ = biased
    w = np.random.default_rng(1).uniform(0.5, 2.0, size=len(y))
    est = fair(DecisionTreeClassifier(min_samples_leaf=10, random_state=0))
    cv = StratifiedKFold(3)
    with sklearn.config_context(enable_metadata_routing=True):
        routed = (
            clone(est).set_fit_request(sample_weight=True).set_score_request(sample_weight=False)
        )
        result = cross_validate(
            routed, X, y, cv=cv, params={"sample_weight": w}, return_estimator=True
        )
    for (train, _), fitted in zip(cv.split(X, y), result["estimator"], strict=True):
        by_hand = clone(est).fit(X[train], y[train], sample_weight=w[train])
        np.testing.assert_array_equal(fitted.predict_proba(X), by_hand.predict_proba(X))
        unweighted = clone(est).fit(X[train], y[train])
        assert not np.array_equal(fitted.predict_proba(X), unweighted.predict_proba(X))
