"""make_shrinkage_trial: the simulation of Pettersson, Jerzak and Daoud (AAAI 2026)."""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from skultr.datasets import make_shrinkage_trial


def _small(**kwargs):
    params = {"n_samples": 2000, "n_upstream": 2000, "predictor": "ridge", "random_state": 0}
    return make_shrinkage_trial(**(params | kwargs))


def test_shapes_and_contents():
    data = _small(n_features=20, calibration_fraction=0.25)
    assert data.y_pred.shape == data.y.shape == data.treatment.shape == (2000,)
    assert data.X.shape == (2000, 20)
    assert data.X_train.shape == (1500, 20) and data.y_train.shape == (1500,)
    assert data.X_calibration.shape == (500, 20)
    assert data.y_pred_calibration.shape == data.y_calibration.shape == (500,)
    assert set(np.unique(data.treatment)) == {0, 1}
    np.testing.assert_allclose(data.propensity, 1 / (1 + np.exp(-data.confounder)))
    np.testing.assert_allclose(data.y_pred_calibration, data.predictor.predict(data.X_calibration))


def test_seeded_and_fresh_network_per_seed():
    first, again, other = _small(), _small(), _small(random_state=1)
    np.testing.assert_array_equal(first.y_pred, again.y_pred)
    np.testing.assert_array_equal(first.X, again.X)
    assert not np.allclose(first.X[:, 0], other.X[:, 0])


def test_outcome_model_and_shrinkage():
    data = _small(n_samples=20_000, tau=1.5)
    # Y = tau T + C + N(0, 1): the regression of Y on (T, C) recovers (tau, 1), SE ~0.02.
    design = np.column_stack([data.treatment, data.confounder])
    coef = LinearRegression().fit(design, data.y).coef_
    np.testing.assert_allclose(coef, [1.5, 1.0], atol=0.06)
    # The IPW effect on the true outcomes is the trial's sample effect, near tau.
    assert data.sample_ate == pytest.approx(1.5, abs=0.15)
    # Squared-error training shrinks: the calibration slope of predictions on truth is ~0.4,
    # and the naive IPW effect on the predictions is attenuated by the same factor.
    k = np.polyfit(data.y_calibration, data.y_pred_calibration, 1)[0]
    assert 0.2 < k < 0.7
    t, e = data.treatment, data.propensity
    naive = np.mean(t * data.y_pred / e - (1 - t) * data.y_pred / (1 - e))
    assert naive == pytest.approx(k * 1.5, abs=0.25)


def test_custom_predictor_is_cloned():
    base = LinearRegression()
    data = _small(predictor=base, n_features=10)
    assert not hasattr(base, "coef_") and hasattr(data.predictor, "coef_")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_samples": 5}, "'n_samples' parameter"),
        ({"calibration_fraction": 1.5}, "'calibration_fraction' parameter"),
        ({"predictor": "forest"}, "'predictor' parameter"),
        ({"feature_noise": -1.0}, "'feature_noise' parameter"),
        ({"n_upstream": 50, "calibration_fraction": 0.9}, "leaves 5 of the n_upstream=50 units"),
    ],
)
def test_bad_parameters_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _small(**kwargs)
