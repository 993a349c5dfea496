"""Tests of the trade-off display and of the demo."""

import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier

from skultr.datasets import make_biased_classification
from skultr.fairness import FairnessTradeoffDisplay, FairTTTSClassifier, TTTSClassifier
from skultr.fairness._demo import run_demo


@pytest.fixture(scope="module")
def fitted():
    X, y = make_biased_classification(1500, random_state=1)
    tree = DecisionTreeClassifier(min_samples_leaf=20, random_state=0).fit(X, y)
    return FairTTTSClassifier(tree, protected_attribute=0, unprivileged_value=0).fit(X, y), X, y


def test_display_numbers_match_the_estimator(fitted):
    post, X, y = fitted
    display = FairnessTradeoffDisplay.from_estimator(post, X, y, alphas=[1, 9], plot=False)
    pred = post.predict(X)  # alpha = 9 is the fitted value
    assert display.accuracy[1] == pytest.approx((pred == y).mean())
    assert display.base_accuracy == pytest.approx((post.estimator_.predict(X) == y).mean())
    assert display.fairness[1] < display.fairness[0] < display.base_fairness
    assert display.name == "DecisionTreeClassifier"


def test_display_plot(fitted):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    post, X, y = fitted
    display = FairnessTradeoffDisplay.from_estimator(post, X, y, alphas=[1, 3, 9])
    assert display.line_.get_xdata().shape == (3,)
    assert display.ax_.get_xlabel() == "accuracy"
    assert "demographic parity" in display.ax_.get_ylabel()
    matplotlib.pyplot.close(display.figure_)


def test_display_bad_input(fitted):
    post, X, y = fitted
    with pytest.raises(TypeError, match="FairTTTSClassifier"):
        FairnessTradeoffDisplay.from_estimator(
            TTTSClassifier(post.estimator_).fit(X, y), X, y, plot=False
        )
    with pytest.raises(ValueError, match="alphas"):
        FairnessTradeoffDisplay.from_estimator(post, X, y, alphas=[0.5], plot=False)
    with pytest.raises(ValueError, match="metric"):
        FairnessTradeoffDisplay.from_estimator(post, X, y, metric="accuracy", plot=False)


def test_quick_demo(capsys):
    results = run_demo(quick=True)
    out = capsys.readouterr().out
    assert "DP diff" in out
    gaps = np.array(results["demographic_parity_difference"])
    assert gaps[-1] < 0.7 * results["base"]["demographic_parity_difference"]
    assert len(results["accuracy"]) == len(results["alphas"])
