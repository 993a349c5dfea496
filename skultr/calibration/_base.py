"""What both calibration correctors share: input checks, the calibration regression, warnings."""

import warnings
from abc import abstractmethod

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from skultr.utils._sklearn_compat import _fit_context
from skultr.utils._versions import VersionedPickleMixin

# Fewer calibration pairs than this cannot estimate a slope and a spread with any reliability.
MIN_CALIBRATION_SAMPLES = 10
# Below this calibration slope k the correction divides by a small number and amplifies noise
# (the same threshold as the authors' package).
WEAK_SLOPE = 0.2
# Predictions outside the calibration range warn when they are more than this share of the
# predictions, or lie farther beyond it than this share of its width.
OUTSIDE_SHARE = 0.01
OUTSIDE_DISTANCE = 0.1


class CalibrationWarning(UserWarning):
    """A correction was computed, but under conditions that make it unreliable.

    Raised for weak calibration slopes, predictions outside the range seen at calibration,
    small calibration samples and intervals that cannot cover the correction's uncertainty.

    Examples
    --------
    >>> import warnings
    >>> from skultr.calibration import CalibrationWarning
    >>> with warnings.catch_warnings():  # silence them in a block that expects them
    ...     warnings.simplefilter("ignore", CalibrationWarning)
    """


class _NonPositiveSlopeError(ValueError):
    """The calibration slope is not positive, so the linear correction is undefined.

    A ``ValueError`` for users; :func:`average_treatment_effect` catches it to count the
    bootstrap resamples of the calibration pairs that hit it.
    """


def _first_non_finite(values):
    """Index and kind ("NaN" or "inf") of the first non-finite entry of a 1-D float array."""
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size == 0:
        return None
    index = int(bad[0])
    return index, ("NaN" if np.isnan(values[index]) else "inf")


def check_finite(values, name):
    """Raise a ValueError that names ``name`` and the first NaN or inf of ``values``."""
    found = _first_non_finite(values)
    if found is not None:
        index, kind = found
        raise ValueError(
            f"{name} must contain finite numbers only; found {kind} at position {index}."
        )


def _length(values):
    try:
        return len(values)
    except TypeError:
        return None


def as_prediction_column(y_pred):
    """Return ``y_pred`` as an input of shape (n, 1) and whether it came in 1-D."""
    ndim = getattr(y_pred, "ndim", None)
    if ndim is None:
        ndim = np.ndim(y_pred)
    if ndim == 1:
        return np.asarray(y_pred).reshape(-1, 1), True
    return y_pred, False


def linear_calibration(y_pred, y):
    """OLS of the predictions on the truth, ``y_pred = m + k y``: returns ``(k, m)``."""
    y_centered = y - y.mean()
    with np.errstate(divide="ignore", invalid="ignore"):  # constant y: k is NaN, see callers
        k = float(np.dot(y_centered, y_pred - y_pred.mean()) / np.dot(y_centered, y_centered))
    m = float(y_pred.mean() - k * y.mean())
    return k, m


class _BaseCorrector(RegressorMixin, TransformerMixin, VersionedPickleMixin, BaseEstimator):
    """Base of the correctors of ML predictions fitted on calibration pairs.

    Subclasses implement ``_fit_arrays(z, y)`` on validated 1-D calibration predictions
    ``z`` and truths ``y``, and ``_correct(z)`` on validated 1-D predictions.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # One column of predictions, not a feature matrix: like IsotonicRegression, the
        # natural input is 1-D (an (n, 1) array is accepted too). scikit-learn's common
        # checks build multi-column X and therefore skip estimators with these tags; the
        # contract is tested in skultr/calibration/tests/test_corrector_api.py and through
        # DebiasedRegressor, which passes the common checks with either corrector inside.
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, y_pred, y):
        """Fit the corrector on calibration pairs of predictions and true values.

        Parameters
        ----------
        y_pred : array-like of shape (n_samples,) or (n_samples, 1)
            Predictions on the calibration split.
        y : array-like of shape (n_samples,)
            True values on the calibration split.

        Returns
        -------
        self : object
            The fitted corrector.
        """
        z, y = self._validate_calibration_pairs(y_pred, y)
        self._fit_arrays(z, y)
        return self

    # ----------------------------------------------------------------- validation
    def _validate_calibration_pairs(self, y_pred, y):
        column, _ = as_prediction_column(y_pred)
        n_pred, n_true = _length(column), _length(y)
        if y is not None and None not in (n_pred, n_true) and n_pred != n_true:
            raise ValueError(
                "y_pred and y must have the same length; got "
                f"{n_pred} predictions and {n_true} true values."
            )
        self._check_one_column(column)
        if np.asarray(y).dtype == bool:
            # a boolean truth is 0/1 (numpy cannot subtract booleans in the regression)
            y = np.asarray(y, dtype=np.float64)
        column, y = validate_data(
            self, column, y, dtype=np.float64, ensure_all_finite=False, y_numeric=True
        )
        z = column[:, 0]
        check_finite(z, "y_pred")
        if z.shape[0] < MIN_CALIBRATION_SAMPLES:
            raise ValueError(
                f"y_pred has {z.shape[0]} sample(s); at least {MIN_CALIBRATION_SAMPLES} "
                "calibration pairs are needed."
            )
        for values, name in ((z, "y_pred"), (y, "y")):
            if np.ptp(values) == 0:
                raise ValueError(
                    f"{name} is constant (every value is {values[0]!r}); the calibration "
                    "needs predictions and true values that vary."
                )
        return z, np.asarray(y, dtype=np.float64)

    def _validate_predictions(self, y_pred):
        column, was_1d = as_prediction_column(y_pred)
        self._check_one_column(column)
        column = validate_data(
            self, column, reset=False, dtype=np.float64, ensure_all_finite=False
        )
        z = column[:, 0]
        check_finite(z, "y_pred")
        return z, was_1d

    @staticmethod
    def _check_one_column(column):
        shape = getattr(column, "shape", None)
        if shape is None:
            shape = np.shape(column)
        if len(shape) == 2 and shape[1] != 1:
            raise ValueError(
                "y_pred must hold one prediction per sample: a 1-D array or an array of "
                f"shape (n_samples, 1); got shape {tuple(shape)}."
            )

    # ---------------------------------------------------------- shared diagnostics
    def _fit_calibration_diagnostics(self, z, y):
        """Set ``slope_``, ``intercept_``, ``sigma_`` and the calibration range."""
        k, m = linear_calibration(z, y)
        if not k > 0:  # NaN too (a constant y, possible in a bootstrap resample)
            self._handle_non_positive_slope(k)
        elif k < WEAK_SLOPE:
            warnings.warn(
                f"The calibration slope k={k:.3g} is below {WEAK_SLOPE}: the predictions are "
                "weakly related to the truth and the correction will amplify noise.",
                CalibrationWarning,
                stacklevel=5,
            )
        self.slope_ = k
        self.intercept_ = m
        self.sigma_ = float(np.std(z - y))
        self.calibration_range_ = (float(z.min()), float(z.max()))
        self.n_calibration_ = int(z.shape[0])

    def _handle_non_positive_slope(self, k):
        raise _NonPositiveSlopeError(
            "The calibration slope k of y_pred on y must be positive (predictions that "
            f"increase with the truth); found k={k:.4g}. The predictions carry no usable "
            "signal about y."
        )

    def _corrects_from_calibration_only(self):
        """Whether the correction of a prediction depends on the calibration data alone."""
        return True

    def _warn_outside_calibration_range(self, z):
        """Warn when predictions leave the calibration range more than sampling explains.

        New predictions from the calibration distribution exceed the calibration extremes
        now and then (about 2 in n_calibration + 1); a share above ``OUTSIDE_SHARE`` or a
        distance beyond the range of more than ``OUTSIDE_DISTANCE`` times its width points
        to a shift between calibration and use.
        """
        if z.shape[0] == 0:
            return
        low, high = self.calibration_range_
        beyond = np.maximum(low - z, z - high)
        outside = int(np.count_nonzero(beyond > 0))
        farthest = float(beyond.max())
        if outside > OUTSIDE_SHARE * z.shape[0] or farthest > OUTSIDE_DISTANCE * (high - low):
            warnings.warn(
                f"{outside} of {z.shape[0]} predictions lie outside the range seen at "
                f"calibration [{low:.4g}, {high:.4g}] (the farthest by {farthest:.3g}); "
                "their correction is an extrapolation.",
                CalibrationWarning,
                stacklevel=4,
            )

    # -------------------------------------------------------------- public methods
    @abstractmethod
    def _fit_arrays(self, z, y):
        """Fit on validated 1-D calibration predictions ``z`` and truths ``y``."""

    @abstractmethod
    def _correct(self, z):
        """Corrected outcomes for validated 1-D predictions ``z``."""

    def transform(self, y_pred):
        """Correct predictions.

        Parameters
        ----------
        y_pred : array-like of shape (n_samples,) or (n_samples, 1)
            Predictions of the model that was calibrated.

        Returns
        -------
        y_corrected : ndarray of shape (n_samples,) or (n_samples, 1)
            Corrected predictions, in the shape ``y_pred`` came in.
        """
        check_is_fitted(self)
        z, was_1d = self._validate_predictions(y_pred)
        if self._corrects_from_calibration_only():
            self._warn_outside_calibration_range(z)
        corrected = self._correct(z)
        return corrected if was_1d else corrected.reshape(-1, 1)

    def get_feature_names_out(self, input_features=None):
        """Name of the corrected column, for :meth:`set_output` and ``ColumnTransformer``.

        As for :class:`~sklearn.isotonic.IsotonicRegression`, the other transformer of one
        column: the lowercased class name followed by 0, e.g.
        ``"linearcalibrationcorrector0"``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Name of the input column, checked against the one seen in ``fit`` (if any); the
            output name does not depend on it.

        Returns
        -------
        feature_names_out : ndarray of str objects of shape (1,)
            The name of the corrected column.
        """
        check_is_fitted(self, "n_features_in_")
        if input_features is not None:
            given = np.asarray(input_features, dtype=object).ravel()
            seen = getattr(self, "feature_names_in_", None)
            if given.shape[0] != 1:
                raise ValueError(
                    "input_features must name the one prediction column; got "
                    f"{given.shape[0]} names."
                )
            if seen is not None and given[0] != seen[0]:
                raise ValueError(
                    f"input_features={list(given)} is not the column seen in fit, {list(seen)}."
                )
        return np.asarray([f"{type(self).__name__.lower()}0"], dtype=object)

    def predict(self, y_pred):
        """Correct predictions (the same as :meth:`transform`, always 1-D).

        Parameters
        ----------
        y_pred : array-like of shape (n_samples,) or (n_samples, 1)
            Predictions of the model that was calibrated.

        Returns
        -------
        y_corrected : ndarray of shape (n_samples,)
            Corrected predictions.
        """
        return np.ravel(self.transform(y_pred))
