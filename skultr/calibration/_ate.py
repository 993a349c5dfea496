"""Average treatment effects on (corrected) outcomes, with standard errors and intervals."""

import warnings
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
from scipy.stats import norm
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions, validate_params
from sklearn.utils.validation import check_array, check_is_fitted

from ._base import CalibrationWarning, _BaseCorrector, check_finite
from ._linear import LinearCalibrationCorrector
from ._tweedie import TweedieCorrector

__all__ = ["ATEResult", "average_treatment_effect"]

# A bootstrap replicate with an empty arm is drawn again, at most this many times.
_MAX_REDRAWS = 100


@dataclass(frozen=True)
class ATEResult:
    """An average treatment effect with its standard error and confidence interval.

    Returned by :func:`average_treatment_effect`.

    Attributes
    ----------
    estimate : float
        The point estimate ``tau_hat``.
    standard_error : float
        Its standard error (the standard deviation of the bootstrap estimates, or the
        influence-function and delta-method standard error for ``ci="normal"``).
    confidence_interval : tuple of float
        Lower and upper end of the interval.
    confidence_level : float
        Nominal coverage of the interval, e.g. 0.95.
    method : str
        The mean-contrast estimator: ``"difference"``, ``"ipw"`` or ``"hajek"``.
    ci : str
        How the interval was computed: ``"bootstrap"`` (percentile) or ``"normal"``.
    n_treated, n_control : int
        Number of treated and control units.
    bootstrap_estimates : ndarray of shape (n_bootstrap,) or None
        The bootstrap replicates of the estimate (None for ``ci="normal"``).

    Examples
    --------
    >>> from skultr.calibration import ATEResult
    >>> result = ATEResult(1.0, 0.1, (0.8, 1.2), 0.95, "difference", "normal", 50, 50)
    >>> result.confidence_interval
    (0.8, 1.2)
    """

    estimate: float
    standard_error: float
    confidence_interval: tuple
    confidence_level: float
    method: str
    ci: str
    n_treated: int
    n_control: int
    bootstrap_estimates: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __repr__(self):
        low, high = self.confidence_interval
        return (
            f"ATEResult(estimate={self.estimate:.4g}, standard_error={self.standard_error:.3g}, "
            f"confidence_interval=({low:.4g}, {high:.4g}), "
            f"confidence_level={self.confidence_level:g}, method={self.method!r}, "
            f"ci={self.ci!r})"
        )


# ------------------------------------------------------------------- estimators
def _mean_contrast(y, treated, propensity, method):
    """tau_hat of outcomes ``y`` by a difference in means, IPW or the Hajek estimator."""
    if method == "difference":
        return float(y[treated].mean() - y[~treated].mean())
    if method == "ipw":
        return float(np.mean(np.where(treated, y / propensity, -y / (1.0 - propensity))))
    weight = np.where(treated, 1.0 / propensity, 1.0 / (1.0 - propensity))
    return float(
        np.average(y[treated], weights=weight[treated])
        - np.average(y[~treated], weights=weight[~treated])
    )


def _influence_standard_error(y, treated, propensity, method):
    """Standard error of ``_mean_contrast`` from its influence function (outcomes fixed)."""
    n = y.shape[0]
    if method == "difference":
        y1, y0 = y[treated], y[~treated]
        return float(np.sqrt(y1.var(ddof=1) / y1.size + y0.var(ddof=1) / y0.size))
    if method == "ipw":
        terms = np.where(treated, y / propensity, -y / (1.0 - propensity))
        return float(terms.std(ddof=1) / np.sqrt(n))
    w1 = np.where(treated, 1.0 / propensity, 0.0)
    w0 = np.where(treated, 0.0, 1.0 / (1.0 - propensity))
    mu1, mu0 = np.average(y, weights=w1), np.average(y, weights=w0)
    influence = w1 * (y - mu1) / w1.mean() - w0 * (y - mu0) / w0.mean()
    return float(np.sqrt(np.sum(influence**2)) / n)


def _linear_correction_variance(corrector, z, treated, propensity, method, z_cal, y_cal):
    """Delta-method variance of tau_hat((z - m) / k) from the sandwich covariance of (m, k).

    tau_hat is linear in the outcomes: tau_hat = (tau_hat(z) - m tau_hat(1)) / k, so
    d tau_hat / dm = -tau_hat(1) / k and d tau_hat / dk = -tau_hat / k.
    """
    k, m = corrector.slope_, corrector.intercept_
    design = np.column_stack([np.ones_like(y_cal), y_cal])
    residual = z_cal - m - k * y_cal
    bread = np.linalg.inv(design.T @ design)
    covariance = bread @ ((design * residual[:, None] ** 2).T @ design) @ bread
    tau = _mean_contrast((z - m) / k, treated, propensity, method)
    tau_of_one = _mean_contrast(np.ones_like(z), treated, propensity, method)
    gradient = np.array([-tau_of_one / k, -tau / k])
    return float(gradient @ covariance @ gradient)


def _tweedie_correction_variance(corrector, z, treated, propensity, method, z_cal, y_cal):
    """Delta-method variance of tau_hat(z) - sigma^2 tau_hat(s(z)) from that of sigma^2.

    d tau_hat / d sigma^2 = -tau_hat(s); Var(sigma_hat^2) = Var((r - r_bar)^2) / n_cal for
    the calibration residuals r. The density score s is held fixed.
    """
    residual = z_cal - y_cal
    var_sigma2 = np.var((residual - residual.mean()) ** 2, ddof=1) / residual.shape[0]
    tau_of_score = _mean_contrast(corrector._score(z), treated, propensity, method)
    return float(tau_of_score**2 * var_sigma2)


_CORRECTION_VARIANCES = (
    (LinearCalibrationCorrector, _linear_correction_variance),
    (TweedieCorrector, _tweedie_correction_variance),
)


# ------------------------------------------------------------------- validation
def _as_1d_float(values, name):
    array = check_array(
        values, ensure_2d=False, dtype=np.float64, ensure_all_finite=False, input_name=name
    )
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got an array of shape {array.shape}.")
    check_finite(array, name)
    return array


def _validate_treatment(treatment, n):
    t = check_array(treatment, ensure_2d=False, dtype=None, input_name="treatment")
    if t.ndim != 1:
        raise ValueError(f"treatment must be 1-D; got an array of shape {t.shape}.")
    if t.shape[0] != n:
        raise ValueError(
            f"y and treatment must have the same length; got {n} outcomes and "
            f"{t.shape[0]} treatment values."
        )
    bad = np.flatnonzero(~np.isin(t, (0, 1)))
    if bad.size:
        raise ValueError(
            "treatment must contain only 0 and 1 (or booleans); found "
            f"{t[bad[0]].item()!r} at position {bad[0]}."
        )
    treated = t.astype(bool)
    n_treated = int(treated.sum())
    if min(n_treated, n - n_treated) < 2:
        raise ValueError(
            "treatment needs at least 2 treated and 2 control units; found "
            f"{n_treated} treated and {n - n_treated} control."
        )
    return treated


def _validate_propensity(propensity, method, n):
    if method == "difference":
        if propensity is not None:
            warnings.warn(
                "propensity is ignored by method='difference'; use method='ipw' or "
                "'hajek' to weight by it.",
                UserWarning,
                stacklevel=4,
            )
        return None
    if propensity is None:
        raise ValueError(
            f"method={method!r} needs propensity, each unit's probability of treatment; got None."
        )
    e = _as_1d_float(propensity, "propensity")
    if e.shape[0] != n:
        raise ValueError(
            f"y and propensity must have the same length; got {n} outcomes and "
            f"{e.shape[0]} propensities."
        )
    bad = np.flatnonzero((e <= 0) | (e >= 1))
    if bad.size:
        raise ValueError(
            "propensity must lie strictly between 0 and 1; found "
            f"{float(e[bad[0]])!r} at position {bad[0]} (clip it, e.g. to [0.01, 0.99])."
        )
    return e


def _prepare_corrector(corrector, y_pred_calibration, y_calibration):
    """The corrector to use and the calibration pairs to resample (None if not given)."""
    given = (y_pred_calibration is not None, y_calibration is not None)
    if given[0] != given[1]:
        missing = "y_calibration" if given[0] else "y_pred_calibration"
        raise ValueError(
            f"y_pred_calibration and y_calibration must be given together; {missing} is None."
        )
    if corrector is None:
        if given[0]:
            raise ValueError(
                "Calibration data are given but corrector is None; pass the corrector "
                "(e.g. TweedieCorrector()) to fit on them."
            )
        return None, None
    if not given[0]:
        check_is_fitted(
            corrector,
            msg=(
                "corrector is not fitted and no calibration data are given: pass "
                "y_pred_calibration and y_calibration, or a fitted corrector."
            ),
        )
        return corrector, None
    z_cal = _as_1d_float(y_pred_calibration, "y_pred_calibration")
    y_cal = _as_1d_float(y_calibration, "y_calibration")
    if z_cal.shape[0] != y_cal.shape[0]:
        raise ValueError(
            "y_pred_calibration and y_calibration must have the same length; got "
            f"{z_cal.shape[0]} and {y_cal.shape[0]}."
        )
    return clone(corrector).fit(z_cal, y_cal), (z_cal, y_cal)


# ------------------------------------------------------------------- intervals
def _resample_units(rng, treated):
    """Bootstrap row indices that keep at least one unit in each arm."""
    n = treated.shape[0]
    for _ in range(_MAX_REDRAWS):
        rows = rng.randint(0, n, size=n)
        n_treated = np.count_nonzero(treated[rows])
        if 0 < n_treated < n:
            return rows
    raise ValueError(  # pragma: no cover - needs a nearly one-armed trial
        f"The bootstrap drew an empty treatment arm {_MAX_REDRAWS} times in a row; use "
        "ci='normal' for so unbalanced a trial."
    )


def _refit(corrector, z_cal, y_cal):
    # skultr's correctors skip the input validation their arrays have already passed.
    if isinstance(corrector, _BaseCorrector):
        return clone(corrector)._fit_arrays(z_cal, y_cal)
    return clone(corrector).fit(z_cal, y_cal)


def _apply(corrector, z):
    if isinstance(corrector, _BaseCorrector):
        return corrector._correct(z)
    return np.ravel(corrector.transform(z))


def _bootstrap_estimates(y, treated, propensity, method, corrector, calibration, n_bootstrap, rng):
    estimates = np.empty(n_bootstrap)
    fixed_score = None
    if isinstance(corrector, TweedieCorrector) and corrector.density_sample == "transform":
        # A resample repeats units, and a repeated unit inflates the kernel density at itself
        # (its own kernel counts twice), which flattens the score and biases the replicate:
        # the trial's score is computed once and resampled with the units; sigma is refitted.
        fixed_score = corrector._score(y)
    with warnings.catch_warnings():
        # The warnings of the full-sample fit have been shown once already.
        warnings.simplefilter("ignore", CalibrationWarning)
        for b in range(n_bootstrap):
            rows = _resample_units(rng, treated)
            outcome = y[rows]
            if corrector is not None:
                fitted = corrector
                if calibration is not None:
                    z_cal, y_cal = calibration
                    pairs = rng.randint(0, z_cal.shape[0], size=z_cal.shape[0])
                    fitted = _refit(corrector, z_cal[pairs], y_cal[pairs])
                if fixed_score is None:
                    outcome = _apply(fitted, outcome)
                else:
                    outcome = outcome - fitted.sigma_**2 * fixed_score[rows]
            e = None if propensity is None else propensity[rows]
            estimates[b] = _mean_contrast(outcome, treated[rows], e, method)
    return estimates


def _normal_standard_error(y, outcome, treated, propensity, method, corrector, calibration):
    variance = _influence_standard_error(outcome, treated, propensity, method) ** 2
    if corrector is None or calibration is None:
        return float(np.sqrt(variance))
    for kind, correction_variance in _CORRECTION_VARIANCES:
        if isinstance(corrector, kind):
            variance += correction_variance(
                corrector, y, treated, propensity, method, *calibration
            )
            return float(np.sqrt(variance))
    warnings.warn(
        f"ci='normal' has no formula for the uncertainty of a {type(corrector).__name__}; "
        "the interval treats the correction as known. Use ci='bootstrap' to include it.",
        CalibrationWarning,
        stacklevel=4,
    )
    return float(np.sqrt(variance))


@validate_params(
    {
        "y": ["array-like"],
        "treatment": ["array-like"],
        "propensity": ["array-like", None],
        "method": [StrOptions({"difference", "ipw", "hajek"})],
        "corrector": [HasMethods(["fit", "transform"]), None],
        "y_pred_calibration": ["array-like", None],
        "y_calibration": ["array-like", None],
        "ci": [StrOptions({"bootstrap", "normal"})],
        "n_bootstrap": [Interval(Integral, 10, None, closed="left")],
        "confidence_level": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=False,
)
def average_treatment_effect(
    y,
    treatment,
    *,
    propensity=None,
    method="difference",
    corrector=None,
    y_pred_calibration=None,
    y_calibration=None,
    ci="bootstrap",
    n_bootstrap=1000,
    confidence_level=0.95,
    random_state=None,
):
    """Average treatment effect of a binary treatment, optionally on corrected predictions.

    With ``corrector`` and calibration pairs, ``y`` holds ML predictions: the corrector is
    fitted on ``(y_pred_calibration, y_calibration)``, the predictions are corrected and the
    effect is estimated on the corrected outcomes. The bootstrap then resamples the trial
    units *and* the calibration pairs, refitting the corrector each time, so its interval
    covers the uncertainty of the correction too.

    Read more in the :ref:`User Guide <calibration>`.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Outcomes of the trial units: predictions when ``corrector`` is given.
    treatment : array-like of shape (n_samples,)
        1 (or True) for treated units, 0 (or False) for controls.
    propensity : array-like of shape (n_samples,), default=None
        Probability of treatment of each unit, strictly between 0 and 1; needed by
        ``method="ipw"`` and ``"hajek"``.
    method : {"difference", "ipw", "hajek"}, default="difference"
        The mean-contrast estimator: difference in means, inverse propensity weighting
        (Horvitz-Thompson), or its normalised (Hajek) form.
    corrector : corrector, default=None
        A :class:`TweedieCorrector` or :class:`LinearCalibrationCorrector` (or any object
        with ``fit(y_pred, y)`` and ``transform(y_pred)``). Unfitted with calibration data
        (it is cloned and fitted), or already fitted without; in the latter case intervals
        treat the correction as known. None: ``y`` is used as it is.
    y_pred_calibration, y_calibration : array-like of shape (n_calibration,), default=None
        Calibration pairs (predictions and true values) to fit ``corrector`` on.
    ci : {"bootstrap", "normal"}, default="bootstrap"
        ``"bootstrap"``: percentile interval over ``n_bootstrap`` resamples. ``"normal"``:
        ``estimate +- z * standard_error``, with the influence-function standard error of
        the estimator plus, for the two skultr correctors, a delta-method term for their
        estimated parameters (``k`` and ``m``; ``sigma^2``, the density score held fixed).
    n_bootstrap : int, default=1000
        Number of bootstrap resamples.
    confidence_level : float, default=0.95
        Nominal coverage of the interval.
    random_state : int, RandomState instance or None, default=None
        Seed of the bootstrap.

    Returns
    -------
    result : ATEResult
        The estimate, its standard error and confidence interval.

    Notes
    -----
    With ``T`` the treatment, ``e`` the propensity and ``Y`` the (corrected) outcome:

    .. math::

        \\hat\\tau_{diff} = \\bar Y_{T=1} - \\bar Y_{T=0}, \\qquad
        \\hat\\tau_{ipw} = \\frac{1}{n} \\sum_i \\left(\\frac{T_i Y_i}{e_i}
        - \\frac{(1 - T_i) Y_i}{1 - e_i}\\right),

    and ``\\hat\\tau_{hajek}`` the difference of the ``1/e``- and ``1/(1-e)``-weighted means.
    All three are linear in the outcomes, so with the Tweedie correction
    ``\\hat\\tau(\\tilde Y) = \\hat\\tau(\\hat Y) - \\sigma^2 \\hat\\tau(s(\\hat Y))``.

    References
    ----------
    .. [1] M. Pettersson, C. T. Jerzak and A. Daoud, "Debiasing Machine Learning Predictions
       for Causal Inference Without Additional Ground Truth Data: 'One Map, Many Trials' in
       Satellite-Driven Poverty Analysis", AAAI 2026. arXiv:2508.01341.

    Examples
    --------
    >>> import numpy as np
    >>> from skultr.calibration import average_treatment_effect
    >>> y = np.array([1.0, 2.0, 3.0, 4.0, 2.0, 3.0, 4.0, 5.0])
    >>> treatment = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    >>> result = average_treatment_effect(y, treatment, ci="normal")
    >>> result.estimate
    1.0
    >>> [round(end, 2) for end in result.confidence_interval]
    [-0.79, 2.79]
    """
    y = _as_1d_float(y, "y")
    treated = _validate_treatment(treatment, y.shape[0])
    propensity = _validate_propensity(propensity, method, y.shape[0])
    corrector, calibration = _prepare_corrector(corrector, y_pred_calibration, y_calibration)
    if corrector is not None and calibration is None:
        warnings.warn(
            "The corrector is used as fitted: the interval treats the correction as known. "
            "Pass y_pred_calibration and y_calibration to include its uncertainty.",
            CalibrationWarning,
            stacklevel=3,
        )

    outcome = y if corrector is None else np.ravel(corrector.transform(y))
    estimate = _mean_contrast(outcome, treated, propensity, method)
    alpha = 1.0 - confidence_level

    bootstrap = None
    if ci == "bootstrap":
        bootstrap = _bootstrap_estimates(
            y,
            treated,
            propensity,
            method,
            corrector,
            calibration,
            n_bootstrap,
            check_random_state(random_state),
        )
        standard_error = float(bootstrap.std(ddof=1))
        low, high = np.quantile(bootstrap, [alpha / 2, 1 - alpha / 2])
    else:
        standard_error = _normal_standard_error(
            y, outcome, treated, propensity, method, corrector, calibration
        )
        half_width = norm.ppf(1 - alpha / 2) * standard_error
        low, high = estimate - half_width, estimate + half_width

    return ATEResult(
        estimate=estimate,
        standard_error=standard_error,
        confidence_interval=(float(low), float(high)),
        confidence_level=float(confidence_level),
        method=method,
        ci=ci,
        n_treated=int(treated.sum()),
        n_control=int((~treated).sum()),
        bootstrap_estimates=bootstrap,
    )
