"""PopularityPropensity: relative item popularity among the clicks, θ_i = (n_i / max n)^η."""

import pickle
import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone

from skultr.propensity import PopularityPropensity


def test_formula_with_repeats_and_an_unclicked_item():
    X = np.array([[0, 0], [1, 0], [2, 0], [3, 0], [0, 1], [0, 1], [4, 2]])
    est = PopularityPropensity(eta=0.5, n_items=4).fit(X)
    # item 1 is clicked twice by the same user: one click; item 3 has none
    np.testing.assert_array_equal(est.item_counts_, [4, 1, 1, 0])
    np.testing.assert_allclose(est.propensity_, [1.0, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(est.predict([[9, 1], [0, 3]]), [0.5, 0.5])
    assert est.n_items_ == 4 and est.n_features_in_ == 2


@pytest.mark.parametrize("eta", [0.25, 1.0, 2.0])
def test_eta_is_the_exponent(eta):
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.integers(0, 50, 400), rng.integers(0, 20, 400)])
    est = PopularityPropensity(eta=eta).fit(X)
    counts = est.item_counts_
    np.testing.assert_allclose(est.propensity_, (np.maximum(counts, 1) / counts.max()) ** eta)
    assert est.propensity_.max() == 1.0 and np.all(est.propensity_ > 0)


def test_y_selects_the_clicks():
    X = np.array([[0, 0], [1, 0], [2, 1], [3, 1]])
    est = PopularityPropensity().fit(X, [1, 1, 0, 1])
    np.testing.assert_array_equal(est.item_counts_, [2, 1])


def test_propensities_track_true_item_exposure():
    """On simulated MNAR clicks the popularity estimate ranks items like their true exposure.

    The counts mix exposure with relevance, so agreement is partial: Spearman > 0.6 here.
    """
    from scipy.stats import spearmanr

    from skultr.datasets import make_mnar_implicit_feedback

    data = make_mnar_implicit_feedback(n_users=1000, n_items=200, random_state=0)
    est = PopularityPropensity(n_items=200).fit(data.X)
    assert spearmanr(est.propensity_, data.exposure.mean(axis=0)).statistic > 0.6


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        ([[0, -1]], None, r"X\[:, 1\].*-1"),
        ([[0, 1]], [-1], "non-negative"),
        ([[0, 1]], [0], "at least one click"),
        ([[0, 5]], None, "item id 5"),
    ],
)
def test_bad_input(X, y, match):
    with pytest.raises(ValueError, match=match):
        PopularityPropensity(n_items=3).fit(X, y)


def test_invalid_eta_and_unknown_item_at_predict():
    with pytest.raises(ValueError, match="eta"):
        PopularityPropensity(eta=0).fit([[0, 0]])
    est = PopularityPropensity().fit([[0, 0], [1, 1]])
    with pytest.raises(ValueError, match="item id 2"):
        est.predict([[0, 2]])


def test_clone_and_pickle():
    est = PopularityPropensity(eta=0.3).fit([[0, 0], [1, 0], [1, 1]])
    assert clone(est).get_params() == {"eta": 0.3, "n_items": None, "id_columns": ("user", "item")}
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).propensity_, est.propensity_)


def test_module_does_not_import_torch():
    code = (
        "import sys; from skultr.propensity import PopularityPropensity; "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
