"""Tests of the group-fairness metrics and of the scorers reading groups from X."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

from skultr.metrics import (
    demographic_parity_difference,
    disparate_impact_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
    make_fairness_scorer,
    make_fairness_tradeoff_scorer,
)


def random_case(seed, n=400, n_groups=3):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 2, n),
        rng.integers(0, 2, n),
        rng.integers(0, n_groups, n),
        rng.random(n),
    )


def test_hand_computed_values():
    y_true = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    y_pred = np.array([1, 1, 1, 0, 1, 0, 0, 0])
    group = np.array(["a"] * 4 + ["b"] * 4)
    # selection: a 3/4, b 1/4; TPR: a 2/2, b 1/2; FPR: a 1/2, b 0/2
    assert demographic_parity_difference(y_true, y_pred, sensitive_features=group) == 0.5
    assert disparate_impact_ratio(y_true, y_pred, sensitive_features=group) == pytest.approx(1 / 3)
    assert disparate_impact_ratio(
        y_true, y_pred, sensitive_features=group, unprivileged_group="b"
    ) == pytest.approx(1 / 3)
    assert equal_opportunity_difference(y_true, y_pred, sensitive_features=group) == 0.5
    assert equalized_odds_difference(y_true, y_pred, sensitive_features=group) == 0.5
    # favourable label 0 changes the selection rates and the TPRs
    assert demographic_parity_difference(
        y_true, y_pred, sensitive_features=group, pos_label=0
    ) == pytest.approx(0.5)
    assert equal_opportunity_difference(
        y_true, y_pred, sensitive_features=group, pos_label=0
    ) == pytest.approx(0.5)


@pytest.mark.parametrize("seed", range(4))
def test_agree_with_fairlearn(seed):
    fl = pytest.importorskip("fairlearn.metrics")
    y_true, y_pred, group, weight = random_case(seed)
    for kw in ({}, {"sample_weight": weight}):
        assert demographic_parity_difference(
            y_true, y_pred, sensitive_features=group, **kw
        ) == pytest.approx(
            fl.demographic_parity_difference(y_true, y_pred, sensitive_features=group, **kw)
        )
        assert disparate_impact_ratio(
            y_true, y_pred, sensitive_features=group, **kw
        ) == pytest.approx(
            fl.demographic_parity_ratio(y_true, y_pred, sensitive_features=group, **kw)
        )
        assert equal_opportunity_difference(
            y_true, y_pred, sensitive_features=group, **kw
        ) == pytest.approx(
            fl.equal_opportunity_difference(y_true, y_pred, sensitive_features=group, **kw)
        )
        for agg in ("worst_case", "mean"):
            assert equalized_odds_difference(
                y_true, y_pred, sensitive_features=group, agg=agg, **kw
            ) == pytest.approx(
                fl.equalized_odds_difference(
                    y_true, y_pred, sensitive_features=group, agg=agg, **kw
                )
            )


@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(0, 2)), min_size=1, max_size=60
    ),
    st.permutations(range(3)),
)
def test_bounds_and_invariance_to_group_labels(rows, relabel):
    y_true, y_pred, group = (np.array(col) for col in zip(*rows, strict=True))
    renamed = np.array(relabel)[group]
    for metric in (
        demographic_parity_difference,
        equal_opportunity_difference,
        equalized_odds_difference,
    ):
        value = metric(y_true, y_pred, sensitive_features=group)
        assert np.isnan(value) or 0.0 <= value <= 1.0
        other = metric(y_true, y_pred, sensitive_features=renamed)
        assert (np.isnan(value) and np.isnan(other)) or value == other
    ratio = disparate_impact_ratio(y_true, y_pred, sensitive_features=group)
    assert np.isnan(ratio) or 0.0 <= ratio <= 1.0


def test_undefined_rates_and_single_group():
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([1, 0, 1, 0])
    group = np.array([0, 0, 1, 1])
    # group 0 has no positive: its TPR is undefined and left out
    assert np.isnan(equal_opportunity_difference(y_true, y_pred, sensitive_features=group))
    assert np.isnan(demographic_parity_difference(y_true, y_pred, sensitive_features=np.zeros(4)))
    assert np.isinf(
        disparate_impact_ratio(
            None, np.array([1, 1, 0, 0]), sensitive_features=group, unprivileged_group=0
        )
    )


def test_bad_input():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        demographic_parity_difference(None, [1, 0, 1], sensitive_features=[0, 1])
    with pytest.raises(ValueError, match="does not occur"):
        disparate_impact_ratio(None, [1, 0], sensitive_features=[0, 1], unprivileged_group=5)
    with pytest.raises(ValueError, match="agg"):
        equalized_odds_difference([1, 0], [1, 0], sensitive_features=[0, 1], agg="max")
    with pytest.raises(ValueError, match="metric must be one of"):
        make_fairness_scorer("accuracy", protected_attribute=0)
    with pytest.raises(TypeError, match="protected_attribute"):
        make_fairness_scorer("demographic_parity_difference", protected_attribute=1.5)
    with pytest.raises(ValueError, match="fairness_weight"):
        make_fairness_tradeoff_scorer(protected_attribute=0, fairness_weight=-1)


def test_scorers_read_the_protected_column():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.integers(0, 2, 200), rng.normal(size=200)])
    y = (X[:, 1] + X[:, 0] > 0.5).astype(int)
    model = LogisticRegression().fit(X, y)
    pred = model.predict(X)
    dp = demographic_parity_difference(y, pred, sensitive_features=X[:, 0])
    assert make_fairness_scorer("demographic_parity_difference", protected_attribute=0)(
        model, X, y
    ) == pytest.approx(-dp)
    di = disparate_impact_ratio(y, pred, sensitive_features=X[:, 0])
    assert make_fairness_scorer("disparate_impact_ratio", protected_attribute=0)(
        model, X, y
    ) == pytest.approx(di)
    tradeoff = make_fairness_tradeoff_scorer(protected_attribute=0, fairness_weight=2.0)
    assert tradeoff(model, X, y) == pytest.approx((pred == y).mean() - 2 * dp)
    # a continuous column binarised at a threshold
    binarised = make_fairness_scorer(
        "demographic_parity_difference", protected_attribute=1, protected_threshold=0.0
    )
    expected = demographic_parity_difference(y, pred, sensitive_features=X[:, 1] > 0)
    assert binarised(model, X, y) == pytest.approx(-expected)


def test_scorers_with_dataframes_and_grid_search():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"sex": rng.integers(0, 2, 300), "x": rng.normal(size=300)})
    y = (frame["x"] + frame["sex"] > 0.5).astype(int).to_numpy()
    scorer = make_fairness_scorer("demographic_parity_difference", protected_attribute="sex")
    search = GridSearchCV(
        DummyClassifier(), {"strategy": ["most_frequent", "stratified"]}, scoring=scorer, cv=3
    ).fit(frame, y)
    # predicting one class for everyone has no parity gap
    assert search.best_params_ == {"strategy": "most_frequent"}
    assert search.best_score_ == 0.0
    with pytest.raises(ValueError, match="'age' is not a column of X"):
        make_fairness_scorer("demographic_parity_difference", protected_attribute="age")(
            search.best_estimator_, frame, y
        )
    with pytest.raises(ValueError, match="no column names"):
        scorer(search.best_estimator_, frame.to_numpy(), y)
