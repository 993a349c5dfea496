"""The scikit-learn contract of the correctors.

scikit-learn's common checks skip the correctors (they take one column of predictions, tagged
like IsotonicRegression: ``one_d_array=True, two_d_array=False``), so the parts of the
contract that apply are tested here; DebiasedRegressor runs the common checks with each
corrector inside (tests/test_common.py and test_debiased.py).
"""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.utils import get_tags

from skultr.calibration import CalibrationWarning, LinearCalibrationCorrector, TweedieCorrector
from skultr.utils._sklearn_compat import set_output_keeps_series_index

CORRECTORS = [
    LinearCalibrationCorrector(),
    TweedieCorrector(),
    TweedieCorrector(bandwidth="silverman"),
    TweedieCorrector(bandwidth=0.3),
]
IDS = ["lcc", "tweedie", "tweedie-silverman", "tweedie-h0.3"]


def _calibration_pairs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y_pred = rng.normal(size=n)
    return y_pred, y_pred + rng.normal(scale=0.8, size=n)


@pytest.fixture(params=CORRECTORS, ids=IDS)
def corrector(request):
    return clone(request.param)


def test_tags_and_type(corrector):
    tags = get_tags(corrector)
    assert tags.input_tags.one_d_array and not tags.input_tags.two_d_array
    assert is_regressor(corrector)


def test_clone_and_params_round_trip(corrector):
    params = corrector.get_params()
    twin = clone(corrector)
    assert twin.get_params() == params
    assert twin.set_params(**params) is twin


def test_not_fitted_raises(corrector):
    with pytest.raises(NotFittedError):
        corrector.transform([0.0, 1.0])


def test_fit_returns_self_and_fitted_attributes(corrector):
    y_pred, y = _calibration_pairs()
    assert corrector.fit(y_pred, y) is corrector
    assert corrector.n_features_in_ == 1
    assert corrector.n_calibration_ == y.shape[0]
    assert corrector.slope_ > 0 and corrector.sigma_ > 0
    assert corrector.calibration_range_ == (y_pred.min(), y_pred.max())


def test_shapes_and_containers(corrector):
    y_pred, y = _calibration_pairs()
    corrector.fit(y_pred, y)
    expected = corrector.transform(y_pred)
    assert expected.shape == (300,)
    np.testing.assert_allclose(corrector.predict(y_pred), expected)
    # (n, 1) in -> (n, 1) out for transform; predict is always 1-D.
    column = corrector.transform(y_pred.reshape(-1, 1))
    assert column.shape == (300, 1)
    assert corrector.predict(y_pred.reshape(-1, 1)).shape == (300,)
    np.testing.assert_allclose(corrector.transform(list(y_pred)), expected)
    np.testing.assert_allclose(corrector.transform(pd.Series(y_pred)), expected)
    np.testing.assert_allclose(corrector.fit_transform(y_pred, y), expected)


def test_one_column_dataframe_keeps_its_name(corrector):
    y_pred, y = _calibration_pairs()
    frame = pd.DataFrame({"wealth_hat": y_pred})
    corrector.fit(frame, y)
    assert list(corrector.feature_names_in_) == ["wealth_hat"]
    assert corrector.transform(frame).shape == (300, 1)


def test_fit_is_idempotent_and_deterministic(corrector):
    y_pred, y = _calibration_pairs()
    first = clone(corrector).fit(y_pred, y).transform(y_pred)
    again = corrector.fit(y_pred[::-1], y[::-1]).fit(y_pred, y).transform(y_pred)
    np.testing.assert_allclose(first, again)


def test_each_prediction_is_corrected_on_its_own(corrector):
    """Subset and order invariance (the default density comes from the calibration data)."""
    y_pred, y = _calibration_pairs()
    corrector.fit(y_pred, y)
    full = corrector.transform(y_pred)
    np.testing.assert_allclose(corrector.transform(y_pred[:7]), full[:7])
    order = np.random.default_rng(1).permutation(300)
    np.testing.assert_allclose(corrector.transform(y_pred[order]), full[order])


def test_pickle_round_trip(corrector):
    y_pred, y = _calibration_pairs()
    corrector.fit(y_pred, y)
    restored = pickle.loads(pickle.dumps(corrector))
    np.testing.assert_array_equal(restored.transform(y_pred), corrector.transform(y_pred))


def test_readonly_and_float32_input(corrector):
    y_pred, y = _calibration_pairs()
    y_pred = y_pred.astype(np.float32)
    y_pred.setflags(write=False)
    corrector.fit(y_pred, y)
    assert corrector.transform(y_pred).dtype == np.float64


def test_input_arrays_are_not_modified(corrector):
    y_pred, y = _calibration_pairs()
    before = (y_pred.copy(), y.copy())
    corrector.fit(y_pred, y).transform(y_pred)
    np.testing.assert_array_equal(y_pred, before[0])
    np.testing.assert_array_equal(y, before[1])


def test_multi_column_input_is_rejected(corrector):
    y_pred, y = _calibration_pairs()
    with pytest.raises(
        ValueError, match=r"y_pred must hold one prediction per sample.*\(300, 2\)"
    ):
        corrector.fit(np.column_stack([y_pred, y_pred]), y)
    corrector.fit(y_pred, y)
    with pytest.raises(ValueError, match="y_pred must hold one prediction"):
        corrector.transform(np.column_stack([y_pred, y_pred]))


@pytest.mark.parametrize(
    "make_input, message",
    [
        (lambda p, y: (p[:-1], y), "y_pred and y must have the same length; got 299 "),
        (lambda p, y: (np.r_[np.nan, p[1:]], y), "y_pred must contain finite.*NaN at position 0"),
        (lambda p, y: (p, np.r_[y[:5], np.inf, y[6:]]), "Input y contains infinity"),
        (lambda p, y: (p[:1], y[:1]), "y_pred has 1 sample"),
        (lambda p, y: (p[:9], y[:9]), "at least 10 calibration pairs"),
        (lambda p, y: (np.full_like(p, 2.0), y), "y_pred is constant"),
        (lambda p, y: (p, np.zeros_like(y)), "y is constant"),
        (lambda p, y: (p.astype(str).astype(object) + "x", y), "could not convert|numeric"),
    ],
    ids=["length", "nan", "inf", "one-sample", "too-few", "constant-pred", "constant-y", "text"],
)
def test_bad_calibration_input_names_the_argument(corrector, make_input, message):
    y_pred, y = _calibration_pairs()
    with pytest.raises(ValueError, match=message):
        corrector.fit(*make_input(y_pred, y))


def test_bad_prediction_input_names_the_argument(corrector):
    corrector.fit(*_calibration_pairs())
    with pytest.raises(ValueError, match="y_pred must contain finite.*inf at position 1"):
        corrector.transform([0.0, np.inf])


def test_weak_slope_warns(corrector):
    rng = np.random.default_rng(0)
    y = rng.normal(size=500)
    y_pred = 0.1 * y + rng.normal(scale=0.05, size=500)
    with pytest.warns(CalibrationWarning, match="slope k=0.1"):
        corrector.fit(y_pred, y)


def test_predictions_outside_calibration_range_warn(corrector):
    corrector.fit(*_calibration_pairs())
    with pytest.warns(CalibrationWarning, match="2 of 3 predictions lie outside"):
        corrector.transform([0.0, -20.0, 20.0])


def test_non_positive_slope():
    y_pred, y = _calibration_pairs()
    with pytest.raises(ValueError, match="slope k of y_pred on y must be positive"):
        LinearCalibrationCorrector().fit(y_pred, -y)
    # Tweedie's correction does not divide by k: it is still defined, so it warns.
    with pytest.warns(CalibrationWarning, match="carry no usable signal"):
        TweedieCorrector().fit(y_pred, -y)


def test_invalid_hyperparameters_are_named():
    y_pred, y = _calibration_pairs()
    with pytest.raises(ValueError, match="'bandwidth' parameter"):
        TweedieCorrector(bandwidth=-1.0).fit(y_pred, y)
    with pytest.raises(ValueError, match="'density_sample' parameter"):
        TweedieCorrector(density_sample="trial").fit(y_pred, y)


def test_boolean_truth_is_zero_one(corrector):
    # before: numpy's "boolean subtract" TypeError from inside the calibration regression
    rng = np.random.default_rng(0)
    truth = rng.uniform(size=300) < 0.4
    y_pred = np.clip(0.5 * truth + 0.25 + 0.1 * rng.normal(size=300), 0, 1)
    as_bool = clone(corrector).fit(y_pred, truth)
    as_float = clone(corrector).fit(y_pred, truth.astype(float))
    np.testing.assert_array_equal(as_bool.transform(y_pred), as_float.transform(y_pred))
    assert as_bool.slope_ == as_float.slope_ and as_bool.sigma_ == as_float.sigma_
    np.testing.assert_array_equal(
        clone(corrector).fit(y_pred, pd.Series(truth)).transform(y_pred),
        as_float.transform(y_pred),
    )


def test_feature_names_out_follow_isotonic_regression(corrector):
    # before: no get_feature_names_out (and so no set_output)
    y_pred, y = _calibration_pairs()
    corrector.fit(y_pred, y)
    name = type(corrector).__name__.lower() + "0"
    np.testing.assert_array_equal(corrector.get_feature_names_out(), [name])
    assert corrector.get_feature_names_out(["x0"]).tolist() == [name]
    with pytest.raises(ValueError, match="input_features"):
        corrector.get_feature_names_out(["a", "b"])
    frame = pd.DataFrame({"wealth_hat": y_pred})
    corrector.fit(frame, y)
    assert corrector.get_feature_names_out(["wealth_hat"]).tolist() == [name]
    with pytest.raises(ValueError, match="input_features"):
        corrector.get_feature_names_out(["other"])


def test_set_output_pandas(corrector):
    y_pred, y = _calibration_pairs()
    expected = clone(corrector).fit(y_pred, y).transform(y_pred)
    fitted = corrector.set_output(transform="pandas").fit(y_pred, y)
    for given in (y_pred, y_pred.reshape(-1, 1), pd.Series(y_pred, index=np.arange(300) + 7)):
        out = fitted.transform(given)
        assert isinstance(out, pd.DataFrame) and out.shape == (300, 1)
        assert out.columns.tolist() == fitted.get_feature_names_out().tolist()
        np.testing.assert_allclose(out.iloc[:, 0].to_numpy(), expected)
    if set_output_keeps_series_index():  # scikit-learn >= 1.7; 1.6 resets a Series' index
        assert out.index.tolist() == (np.arange(300) + 7).tolist()
    assert isinstance(fitted.fit_transform(y_pred, y), pd.DataFrame)
    # predict stays a 1-D array, as for every regressor
    assert isinstance(fitted.predict(y_pred), np.ndarray)
    corrector.set_output(transform="default")
    assert isinstance(corrector.transform(y_pred), np.ndarray)
