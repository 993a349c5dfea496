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


# -- groups and sample_weight for the inner cross-fitting ---------------------------------
def _grouped_regression(n_groups=12, per_group=10, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), per_group)
    X = np.column_stack([groups, rng.normal(size=(groups.size, 3))])
    y = X[:, 1:] @ [1.0, -0.5, 0.25] + 0.3 * rng.normal(size=groups.size)
    return X, y, groups


class _GroupSpy(Ridge):
    """Ridge that records the group ids (column 0 of X) it is fitted on and predicts for."""

    log = []

    def fit(self, X, y, sample_weight=None):
        self.fit_groups_ = set(np.asarray(X)[:, 0].tolist())
        return super().fit(X, y, sample_weight=sample_weight)

    def predict(self, X):
        _GroupSpy.log.append((self.fit_groups_, set(np.asarray(X)[:, 0].tolist())))
        return super().predict(X)


@pytest.mark.parametrize("routing", [False, True])
def test_groups_keep_each_group_out_of_its_own_calibration_fold(routing):
    # before: fit(X, y, groups=g) raised TypeError, so GroupKFold could not be used
    import sklearn
    from sklearn.model_selection import GroupKFold

    X, y, groups = _grouped_regression()
    _GroupSpy.log = []
    model = DebiasedRegressor(
        _GroupSpy(), corrector=LinearCalibrationCorrector(), cv=GroupKFold(3)
    )
    with sklearn.config_context(enable_metadata_routing=routing):
        model.fit(X, y, groups=groups)
    inner = _GroupSpy.log[:3]  # the three cross-fitting folds, before any later predict
    assert len(inner) == 3
    for fit_groups, predicted_groups in inner:
        assert fit_groups and predicted_groups and not fit_groups & predicted_groups
    assert set().union(*(p for _, p in inner)) == set(groups.tolist())


def test_group_kfold_without_groups_is_an_error_naming_groups():
    from sklearn.model_selection import GroupKFold

    X, y, _ = _grouped_regression()
    with pytest.raises(ValueError, match="groups"):
        DebiasedRegressor(Ridge(), cv=GroupKFold(3)).fit(X, y)


def test_nested_group_cross_validation_routes_groups():
    import sklearn
    from sklearn.model_selection import GroupKFold, cross_validate

    X, y, groups = _grouped_regression()
    model = DebiasedRegressor(Ridge(), corrector=LinearCalibrationCorrector(), cv=GroupKFold(3))
    with sklearn.config_context(enable_metadata_routing=True):
        result = cross_validate(
            model, X, y, cv=GroupKFold(2), params={"groups": groups}, return_estimator=True
        )
    for (train, _), fitted in zip(
        GroupKFold(2).split(X, y, groups), result["estimator"], strict=True
    ):
        by_hand = clone(model).fit(X[train], y[train], groups=groups[train])
        np.testing.assert_allclose(fitted.predict(X), by_hand.predict(X))


def test_sample_weight_reaches_the_base_estimator():
    # before: fit(X, y, sample_weight=w) raised TypeError
    import sklearn

    X, y, _ = _grouped_regression()
    w = np.random.default_rng(0).integers(1, 4, size=len(y)).astype(float)
    model = DebiasedRegressor(Ridge(), corrector=LinearCalibrationCorrector(), cv=KFold(3))
    weighted = clone(model).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(weighted.estimator_.coef_, Ridge().fit(X, y, sample_weight=w).coef_)
    out_of_fold = cross_val_predict(Ridge(), X, y, cv=KFold(3), params={"sample_weight": w})
    expected = LinearCalibrationCorrector().fit(out_of_fold, y)
    assert weighted.corrector_.slope_ == pytest.approx(expected.slope_)
    # routed: the base estimator requests it, as in any scikit-learn meta-estimator
    with sklearn.config_context(enable_metadata_routing=True):
        routed = DebiasedRegressor(
            Ridge().set_fit_request(sample_weight=True),
            corrector=LinearCalibrationCorrector(),
            cv=KFold(3),
        ).fit(X, y, sample_weight=w)
        np.testing.assert_allclose(routed.predict(X), weighted.predict(X))
        with pytest.raises(Exception, match="sample_weight"):
            DebiasedRegressor(Ridge(), cv=KFold(3)).fit(X, y, sample_weight=w)


def test_weighted_cross_validation_with_routing():
    import sklearn
    from sklearn.model_selection import cross_validate

    X, y, _ = _grouped_regression()
    w = np.random.default_rng(1).uniform(0.5, 2.0, size=len(y))
    with sklearn.config_context(enable_metadata_routing=True):
        model = DebiasedRegressor(
            Ridge().set_fit_request(sample_weight=True),
            corrector=LinearCalibrationCorrector(),
            cv=KFold(3),
        ).set_score_request(sample_weight=True)
        result = cross_validate(
            model, X, y, cv=KFold(2), params={"sample_weight": w}, return_estimator=True
        )
    for (train, test), fitted, score in zip(
        KFold(2).split(X), result["estimator"], result["test_score"], strict=True
    ):
        by_hand = clone(model).fit(X[train], y[train], sample_weight=w[train])
        np.testing.assert_allclose(fitted.predict(X), by_hand.predict(X))
        assert score == pytest.approx(by_hand.score(X[test], y[test], sample_weight=w[test]))


def test_unknown_fit_argument_and_empty_x_are_errors_naming_them():
    X, y, _ = _grouped_regression()
    with pytest.raises(TypeError, match="qid"):
        DebiasedRegressor(Ridge()).fit(X, y, qid=y)
    # before: "Cannot have number of splits n_splits=5 greater than ... n_samples=0"
    with pytest.raises(ValueError, match=r"^X is empty"):
        DebiasedRegressor(Ridge()).fit(X[:0], y[:0])
