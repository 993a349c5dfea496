"""Linear calibration correction (LCC) of shrunken ML predictions."""

from ._base import _BaseCorrector

__all__ = ["LinearCalibrationCorrector"]


class LinearCalibrationCorrector(_BaseCorrector):
    """Undo the shrinkage of ML predictions by inverting their calibration line.

    A model trained with squared error pulls its predictions towards the mean. On a
    calibration split with predictions ``y_pred`` and true values ``y``, the linear
    calibration correction (LCC) regresses the *predictions on the truth*,
    ``y_pred = m + k y``, and inverts the line: ``(y_pred - m) / k``. Effects estimated on
    the corrected predictions are no longer attenuated by the factor ``k``.

    The corrector takes one column of predictions, not a feature matrix: ``fit(y_pred, y)``
    with 1-D arrays is the natural call, and an array of shape ``(n_samples, 1)`` is
    accepted too, so the corrector also works where scikit-learn expects ``X``.

    Read more in the :ref:`User Guide <calibration>`.

    Attributes
    ----------
    slope_ : float
        ``k``, the OLS slope of the calibration predictions on the true values.
    intercept_ : float
        ``m``, the OLS intercept of that regression.
    sigma_ : float
        Standard deviation of the calibration residuals ``y_pred - y`` (a diagnostic here;
        the spread :class:`TweedieCorrector` uses).
    calibration_range_ : tuple of float
        Smallest and largest calibration prediction; :meth:`transform` warns when more than
        1% of the predictions fall outside it, or any lies beyond it by more than 10% of its
        width.
    n_calibration_ : int
        Number of calibration pairs.
    n_features_in_ : int
        Always 1.
    feature_names_in_ : ndarray of shape (1,)
        Name of the prediction column, when ``y_pred`` was a one-column DataFrame.

    See Also
    --------
    TweedieCorrector : The correction that needs no linear calibration model.
    DebiasedRegressor : A regressor whose predictions are corrected by cross-fitting.

    Notes
    -----
    The model (Pettersson, Jerzak and Daoud, Prop. 1 and 2) is

    .. math::

        E[\\hat Y \\mid Y, T] = k Y + m, \\qquad k > 0,

    with the treatment ``T`` acting on the prediction only through the outcome. Then a
    difference in means of ``\\hat Y`` estimates ``k \\tau`` instead of ``\\tau``, and with
    ``(\\hat k, \\hat m)`` the OLS fit of ``\\hat Y`` on ``Y`` in the calibration split,

    .. math::

        \\hat Y_{LCC} = (\\hat Y - \\hat m) / \\hat k

    has ``E[\\hat Y_{LCC} \\mid Y] = Y``. The direction matters: regressing ``Y`` on ``\\hat Y``
    gives a slope near 1 for a predictor fitted by least squares and corrects nothing.

    Fitting raises a ``ValueError`` for fewer than 10 calibration pairs, constant predictions
    or truths, NaN or inf, and a slope ``k <= 0``; it warns (:class:`CalibrationWarning`) for
    ``k < 0.2``, where dividing by ``k`` amplifies noise.

    References
    ----------
    .. [1] M. Pettersson, C. T. Jerzak and A. Daoud, "Debiasing Machine Learning Predictions
       for Causal Inference Without Additional Ground Truth Data: 'One Map, Many Trials' in
       Satellite-Driven Poverty Analysis", AAAI 2026. arXiv:2508.01341.

    Examples
    --------
    >>> import numpy as np
    >>> from skultr.calibration import LinearCalibrationCorrector
    >>> y = np.linspace(-2, 2, 41)
    >>> y_pred = 0.5 * y + 1.0  # predictions shrunk by half, shifted by 1
    >>> corrector = LinearCalibrationCorrector().fit(y_pred, y)
    >>> round(corrector.slope_, 3), round(corrector.intercept_, 3)
    (0.5, 1.0)
    >>> corrector.transform([0.0, 1.0, 2.0])
    array([-2.,  0.,  2.])
    """

    _parameter_constraints: dict = {}

    def __init__(self):
        pass

    def _fit_arrays(self, z, y):
        self._fit_calibration_diagnostics(z, y)
        return self

    def _correct(self, z):
        return (z - self.intercept_) / self.slope_
