"""DebiasedRegressor: cross-fitting, frozen models, Pipelines and grid search."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import GridSearchCV, KFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skultr.calibration import DebiasedRegressor, LinearCalibrationCorrector, TweedieCorrector
from skultr.datasets import make_shrinkage_trial

pytestmark = pytest.mark.filterwarnings("ignore::skultr.calibration.CalibrationWarning")


@pytest.fixture(scope="module")
def trial():
    return make_shrinkage_trial(3000, n_upstream=3000, tau=2.0, predictor="ridge", random_state=0)


def _upstream(data):
    return np.vstack([data.X_train, data.X_calibration]), np.r_[data.y_train, data.y_calibration]


def _ipw(values, data):
    t, e = data.treatment, data.propensity
    return np.mean(t * values / e - (1 - t) * values / (1 - e))


@pytest.mark.parametrize("corrector", [None, LinearCalibrationCorrector()], ids=["tweedie", "lcc"])
def test_corrected_predictions_remove_the_attenuation(trial, corrector):
    X, y = _upstream(trial)
    model = DebiasedRegressor(Ridge(), corrector=corrector).fit(X, y)
    naive = _ipw(model.estimator_.predict(trial.X), trial)
    corrected = _ipw(model.predict(trial.X), trial)
    # tau = 2; the ridge model shrinks by k ~ 0.45. With 3,000 trial units the IPW effect of
    # the corrected predictions has a standard error of ~0.15.
    assert naive < 1.3
    assert corrected == pytest.approx(2.0, abs=0.4)


def test_cross_fitting_calibrates_on_out_of_fold_predictions(trial):
    X, y = _upstream(trial)
    model = DebiasedRegressor(Ridge(alpha=3.0), cv=KFold(4)).fit(X, y)
    out_of_fold = cross_val_predict(Ridge(alpha=3.0), X, y, cv=KFold(4))
    expected = TweedieCorrector().fit(out_of_fold, y)
    assert model.corrector_.sigma_ == pytest.approx(expected.sigma_)
    assert model.corrector_.n_calibration_ == y.shape[0]
    # The base model is refitted on all rows.
    np.testing.assert_allclose(model.estimator_.coef_, Ridge(alpha=3.0).fit(X, y).coef_)
    np.testing.assert_allclose(
        model.predict(trial.X), expected.transform(model.estimator_.predict(trial.X))
    )


def test_frozen_model_is_calibrated_on_the_data_given_to_fit(trial):
    base = Ridge().fit(trial.X_train, trial.y_train)
    model = DebiasedRegressor(FrozenEstimator(base)).fit(trial.X_calibration, trial.y_calibration)
    assert model.estimator_.estimator is base  # not refitted, not cloned
    expected = TweedieCorrector().fit(base.predict(trial.X_calibration), trial.y_calibration)
    np.testing.assert_allclose(
        model.predict(trial.X), expected.transform(base.predict(trial.X)), rtol=1e-12
    )


def test_works_inside_a_pipeline_and_around_one(trial):
    X, y = _upstream(trial)
    outer = make_pipeline(StandardScaler(), DebiasedRegressor(Ridge())).fit(X, y)
    inner = DebiasedRegressor(make_pipeline(StandardScaler(), Ridge())).fit(X, y)
    # Outside, the scaler is fitted once on all rows; inside, once per fold (differences ~1e-4).
    np.testing.assert_allclose(outer.predict(trial.X), inner.predict(trial.X), atol=1e-3)


def test_grid_search_over_base_model_and_corrector(trial):
    X, y = _upstream(trial)
    search = GridSearchCV(
        DebiasedRegressor(Ridge(), cv=3),
        {
            "estimator__alpha": [0.1, 100.0],
            "corrector": [LinearCalibrationCorrector(), TweedieCorrector()],
        },
        cv=3,
    ).fit(X[:1200], y[:1200])
    assert set(search.best_params_) == {"estimator__alpha", "corrector"}
    assert search.best_estimator_.predict(trial.X[:5]).shape == (5,)


def test_corrector_is_cloned_and_base_model_left_unfitted(trial):
    X, y = _upstream(trial)
    corrector, base = TweedieCorrector(bandwidth="silverman"), Ridge()
    model = DebiasedRegressor(base, corrector=corrector).fit(X, y)
    assert model.corrector_ is not corrector and not hasattr(corrector, "sigma_")
    assert not hasattr(base, "coef_")
    assert clone(model).get_params()["corrector__bandwidth"] == "silverman"


def test_bad_input():
    X = np.random.default_rng(0).normal(size=(30, 2))
    model = DebiasedRegressor(LinearRegression()).fit(X, X[:, 0] + 0.1 * X[:, 1])
    with pytest.raises(ValueError, match="Reshape your data"):
        model.predict(X[:, 0])
    with pytest.raises(ValueError, match="X has 3 features, but DebiasedRegressor is expecting 2"):
        model.predict(np.ones((2, 3)))
    with pytest.raises(ValueError, match="'corrector' parameter"):
        DebiasedRegressor(LinearRegression(), corrector="tweedie").fit(X, X[:, 0])
    with pytest.raises(ValueError, match="at least 10 calibration pairs"):
        DebiasedRegressor(LinearRegression(), cv=2).fit(X[:8], X[:8, 0] + X[:8, 1])
