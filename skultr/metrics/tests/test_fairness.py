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
        y_true, y_pred, sensitive_features=group, unprivileged_value="b"
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
            None, np.array([1, 1, 0, 0]), sensitive_features=group, unprivileged_value=0
        )
    )


def test_bad_input():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        demographic_parity_difference(None, [1, 0, 1], sensitive_features=[0, 1])
    with pytest.raises(ValueError, match="does not occur"):
        disparate_impact_ratio(None, [1, 0], sensitive_features=[0, 1], unprivileged_value=5)
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


# --------------------------------------------------------------------------------------
# Input validation: no "perfectly fair" 0.0 from inputs the metrics cannot read (issue 11)
GROUPS4 = np.array(["a", "a", "b", "b"])
ALL_METRICS = [
    demographic_parity_difference,
    disparate_impact_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
]


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_probabilities_in_y_pred_are_rejected(metric):
    # before: every rate was 0 (no probability equals 1), so the gap was 0.0, "fair"
    y_true = np.array([1, 0, 1, 0])
    with pytest.raises(ValueError, match=r"y_pred .*class labels.*0\.9 at row 0"):
        metric(y_true, np.array([0.9, 0.2, 0.3, 0.1]), sensitive_features=GROUPS4)
    with pytest.raises(ValueError, match=r"y_pred must be 1-D"):
        metric(y_true, np.full((4, 2), 0.5), sensitive_features=GROUPS4)


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_string_labels_need_their_pos_label(metric):
    # before: pos_label=1 matched no string label, every rate was 0 and the gap 0.0
    y_true = np.array(["yes", "no", "yes", "no"])
    y_pred = np.array(["yes", "yes", "no", "no"])
    with pytest.raises(ValueError, match=r"pos_label=1 is not one of the labels"):
        metric(y_true, y_pred, sensitive_features=GROUPS4)
    value = metric(y_true, y_pred, sensitive_features=GROUPS4, pos_label="yes")
    numeric = metric(
        (y_true == "yes").astype(int), (y_pred == "yes").astype(int), sensitive_features=GROUPS4
    )
    assert value == numeric


def test_labels_must_be_binary():
    with pytest.raises(ValueError, match=r"y_pred must hold binary labels; found 3"):
        demographic_parity_difference(None, [0, 1, 2, 1], sensitive_features=GROUPS4)
    with pytest.raises(ValueError, match=r"y_true must hold binary labels"):
        equal_opportunity_difference([0, 1, 2, 1], [0, 1, 1, 1], sensitive_features=GROUPS4)
    with pytest.raises(ValueError, match=r"y_pred .*missing value \(nan\) at row 1"):
        demographic_parity_difference(None, [1.0, np.nan, 0.0, 1.0], sensitive_features=GROUPS4)
    # a constant prediction of the other label is fine: nobody is selected
    assert demographic_parity_difference(None, [0, 0, 0, 0], sensitive_features=GROUPS4) == 0.0
    assert demographic_parity_difference(
        None, [True, False, False, False], sensitive_features=GROUPS4
    ) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "groups, row",
    [
        (np.array([0.0, 1.0, np.nan, 1.0]), 2),
        (np.array(["a", None, "b", "b"], dtype=object), 1),
        (np.array(["a", "a", "b", float("nan")], dtype=object), 3),
    ],
)
@pytest.mark.parametrize("metric", ALL_METRICS)
def test_missing_group_is_rejected(metric, groups, row):
    # before: NaN (or None) became a group of its own
    with pytest.raises(ValueError, match=rf"sensitive_features .*missing.* at row {row}"):
        metric([1, 0, 1, 0], [1, 0, 0, 1], sensitive_features=groups)


def test_undefined_rate_gives_nan_and_a_warning():
    from sklearn.exceptions import UndefinedMetricWarning

    # group b has no negative row: its FPR is undefined. Before: worst_case returned the
    # TPR gap alone (0.0 here, "perfectly fair") while agg="mean" returned NaN.
    y_true = np.array([1, 0, 1, 1])
    y_pred = np.array([1, 1, 1, 1])
    for agg in ("worst_case", "mean"):
        with pytest.warns(UndefinedMetricWarning, match=r"false positive rate.*'b'"):
            value = equalized_odds_difference(y_true, y_pred, sensitive_features=GROUPS4, agg=agg)
        assert np.isnan(value)
    # group a has no positive row: equal opportunity is undefined too
    with pytest.warns(UndefinedMetricWarning, match=r"true positive rate.*'a'"):
        value = equal_opportunity_difference(
            [0, 0, 1, 1], [1, 0, 1, 0], sensitive_features=GROUPS4
        )
    assert np.isnan(value)
    with pytest.warns(UndefinedMetricWarning, match=r"one group"):
        assert np.isnan(
            demographic_parity_difference(None, [1, 0, 1, 0], sensitive_features=[0, 0, 0, 0])
        )


def test_tradeoff_scorer_does_not_count_an_undefined_gap_as_fair():
    from sklearn.exceptions import UndefinedMetricWarning

    # before: a NaN gap counted as 0, i.e. "perfectly fair"
    X = np.array([[0, 1.0], [0, 2.0], [0, 3.0], [0, 4.0]])
    y = np.array([0, 1, 1, 1])
    model = DummyClassifier(strategy="most_frequent").fit(X, y)
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(make_fairness_tradeoff_scorer(protected_attribute=0)(model, X, y))


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_empty_input_is_an_error_naming_the_argument(metric):
    # before: "Sample weights must contain at least one non-zero number", naming nothing
    # the selection-rate metrics read y_pred only, the others y_true and y_pred
    reads_y_true = metric not in (demographic_parity_difference, disparate_impact_ratio)
    expected = r"^y_true and y_pred are empty" if reads_y_true else r"^y_pred is empty"
    for weight in (None, []):
        with pytest.raises(ValueError, match=expected):
            metric([], [], sensitive_features=[], sample_weight=weight)
    if not reads_y_true:
        with pytest.raises(ValueError, match=expected):
            metric(None, [], sensitive_features=[])


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_all_zero_sample_weight_is_an_error_naming_it(metric):
    # before: sklearn's "Sample weights must contain ...", naming no argument
    with pytest.raises(ValueError, match=r"^sample_weight .*non-zero"):
        metric([0, 1], [0, 1], sensitive_features=[0, 1], sample_weight=[0.0, 0.0])
    # before: a negative weight was accepted and gave rates outside [0, 1]
    with pytest.raises(ValueError, match=r"[Nn]egative values .*sample_weight"):
        metric([0, 1, 1], [0, 1, 1], sensitive_features=[0, 1, 1], sample_weight=[1.0, -1.0, 3])
