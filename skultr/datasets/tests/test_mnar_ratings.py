"""make_mnar_ratings: the semi-synthetic MNAR explicit-rating generator and its ground truth."""

import numpy as np
import pytest

from skultr.datasets import make_mnar_ratings


def test_shapes_and_consistency():
    data = make_mnar_ratings(80, 60, n_factors=3, n_mar_per_user=5, random_state=0)
    assert data.ratings.shape == data.propensities.shape == data.observed.shape == (80, 60)
    assert data.user_features.shape == (80, 3) and data.item_features.shape == (60, 3)
    # X lists exactly the observed cells, with their ratings
    assert len(data.X) == data.observed.sum()
    assert data.observed[data.X[:, 0], data.X[:, 1]].all()
    np.testing.assert_array_equal(data.y, data.ratings[data.X[:, 0], data.X[:, 1]])
    assert data.X_mar.shape == (80 * 5, 2)
    np.testing.assert_array_equal(np.bincount(data.X_mar[:, 0]), np.full(80, 5))
    np.testing.assert_array_equal(data.y_mar, data.ratings[data.X_mar[:, 0], data.X_mar[:, 1]])
    assert set(np.unique(data.ratings)) == {1, 2, 3, 4, 5}


def test_rating_shares_density_and_self_selection():
    data = make_mnar_ratings(300, 200, density=0.05, random_state=0)
    shares = np.bincount(data.ratings.ravel(), minlength=6)[1:] / data.ratings.size
    np.testing.assert_allclose(shares, [0.40, 0.20, 0.20, 0.13, 0.07], atol=0.005)
    assert data.propensities.mean() == pytest.approx(0.05, rel=1e-3)
    assert len(data.X) / data.ratings.size == pytest.approx(0.05, rel=0.05)
    # missing not at random: the observed ratings are higher than the MAR sample's
    assert data.y.mean() > data.y_mar.mean() + 0.5
    # with no selection at all the data are missing completely at random
    flat = make_mnar_ratings(300, 200, rating_selection=0.0, feature_selection=0.0, random_state=0)
    np.testing.assert_allclose(flat.propensities, 0.05)
    assert abs(flat.y.mean() - flat.ratings.mean()) < 0.1


def test_feature_selection_depends_on_affinity():
    data = make_mnar_ratings(200, 150, rating_selection=0.0, feature_selection=1.0, random_state=0)
    affinity = data.user_features @ data.item_features.T
    assert np.corrcoef(np.log(data.propensities).ravel(), affinity.ravel())[0, 1] > 0.99


def test_reproducible():
    a = make_mnar_ratings(50, 40, random_state=3)
    b = make_mnar_ratings(50, 40, random_state=3)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.ratings, b.ratings)
    c = make_mnar_ratings(50, 40, random_state=4)
    assert not np.array_equal(a.ratings, c.ratings)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_users": 0}, "n_users must be a positive integer; got 0"),
        ({"density": 1.5}, r"density must be a number in \(0, 1\); got 1.5"),
        ({"rating_selection": -1}, "rating_selection must be a non-negative number"),
        ({"noise": float("nan")}, "noise must be a non-negative number"),
        ({"n_mar_per_user": 100}, r"n_mar_per_user must lie in \[0, n_items=40\]"),
    ],
)
def test_bad_parameters(kwargs, match):
    params = {"n_users": 30, "n_items": 40, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_mnar_ratings(**params)


def test_no_mar_sample():
    data = make_mnar_ratings(20, 10, n_mar_per_user=0, random_state=0)
    assert data.X_mar.shape == (0, 2) and data.y_mar.shape == (0,)
