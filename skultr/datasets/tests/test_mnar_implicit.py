"""make_mnar_implicit_feedback: clicks Y = O · R with known relevance γ and exposure θ."""

import numpy as np
import pytest

from skultr.datasets import make_mnar_implicit_feedback


def test_shapes_and_consistency():
    data = make_mnar_implicit_feedback(n_users=60, n_items=40, n_test_items=5, random_state=0)
    assert data.relevance.shape == data.exposure.shape == data.clicks.shape == (60, 40)
    assert data.X.dtype == np.int64 and data.X.shape[1] == 2
    assert data.clicks.sum() == len(data.X) == len(data.y)
    assert data.clicks[data.X[:, 0], data.X[:, 1]].all()
    assert data.X_test.shape == (300, 2) and data.y_test.shape == (300,)
    # test items: n_test_items distinct items per user
    for user in range(60):
        assert len(np.unique(data.X_test[data.X_test[:, 0] == user, 1])) == 5
    np.testing.assert_allclose(
        data.relevance_test, data.relevance[data.X_test[:, 0], data.X_test[:, 1]]
    )
    assert set(np.unique(data.y_test)) <= {0, 1}
    assert np.all((data.exposure > 0) & (data.exposure <= 1))
    assert np.all((data.relevance > 0) & (data.relevance < 1))


def test_click_rate_is_exposure_times_relevance():
    """Y = O · R with independent draws: mean clicks = mean(θ γ) within 4 standard errors."""
    data = make_mnar_implicit_feedback(n_users=2000, n_items=100, random_state=1)
    p = data.exposure * data.relevance
    se = np.sqrt((p * (1 - p)).sum()) / p.size
    assert abs(data.clicks.mean() - p.mean()) < 4 * se
    # and the MAR test labels follow relevance, not exposure
    se_test = np.sqrt((data.relevance_test * (1 - data.relevance_test)).sum()) / len(data.y_test)
    assert abs(data.y_test.mean() - data.relevance_test.mean()) < 4 * se_test


def test_popularity_spread_and_power_control_the_exposure_bias():
    flat = make_mnar_implicit_feedback(
        n_users=200, n_items=100, popularity_spread=0.0, random_state=2
    )
    skewed = make_mnar_implicit_feedback(
        n_users=200, n_items=100, popularity_spread=2.0, exposure_power=2.0, random_state=2
    )
    assert flat.exposure.mean(axis=0).std() < 0.02 < skewed.exposure.mean(axis=0).std()
    assert skewed.exposure.min() < 0.01


def test_reproducible():
    a = make_mnar_implicit_feedback(n_users=30, n_items=20, random_state=5)
    b = make_mnar_implicit_feedback(n_users=30, n_items=20, random_state=5)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.X_test, b.X_test)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_users": 0}, "n_users"),
        ({"n_items": 2.5}, "n_items"),
        ({"n_test_items": 50}, "exceeds n_items"),
        ({"popularity_spread": -1}, "popularity_spread"),
        ({"exposure_power": 0}, "exposure_power"),
        ({"relevance_scale": np.nan}, "relevance_scale"),
    ],
)
def test_bad_parameters(kwargs, match):
    params = {"n_users": 10, "n_items": 20, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_mnar_implicit_feedback(**params)
