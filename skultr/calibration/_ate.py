"""Average treatment effects on (corrected) outcomes, with standard errors and intervals."""

import warnings
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
from scipy.stats import foldnorm, norm
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted

from skultr.utils._sklearn_compat import HasMethods, Interval, StrOptions, validate_params

from ._base import CalibrationWarning, _BaseCorrector, _NonPositiveSlopeError, check_finite
from ._kde_score import bandwidth_rule
from ._linear import LinearCalibrationCorrector
from ._tweedie import TweedieCorrector

__all__ = ["ATEResult", "average_treatment_effect"]

# A bootstrap replicate with an empty arm is drawn again, at most this many times.
_MAX_REDRAWS = 100
# Above this share of failed bootstrap resamples (a non-positive calibration slope) the
# interval of the remaining ones describes a different estimator: raise instead.
_MAX_FAILED_SHARE = 0.5
# Groups of the delete-a-group jackknife over calibration pairs (ci="normal", Tweedie).
_JACKKNIFE_GROUPS = 100


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
        The bootstrap replicates of the estimate (None for ``ci="normal"``); NaN for the
        failed resamples (see ``n_bootstrap_failed``).
    n_bootstrap_failed : int
        Number of bootstrap resamples whose refitted corrector was undefined (a
        :class:`LinearCalibrationCorrector` on resampled calibration pairs with a
        non-positive slope); the standard error and the interval use the others. 0 for
        ``ci="normal"``.
    bias_bound : float
        The bias the normal interval allows for (``ci="normal"`` with a
        :class:`TweedieCorrector` with ``score_method="kde"`` and calibration data: the
        first-order smoothing bias of its density score); 0 otherwise. The interval is
        ``estimate +- c * standard_error`` with ``c`` the ``confidence_level`` quantile of
        ``|N(bias_bound / standard_error, 1)|`` (1.96 for a 95% interval without bias).

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
    n_bootstrap_failed: int = 0
    bias_bound: float = 0.0

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
    """Delete-a-group jackknife variance of the correction sigma^2 tau_hat(s(z)).

    tau_hat(z - sigma^2 s(z)) = tau_hat(z) - sigma^2 tau_hat(s(z)), and only the second term
    depends on the calibration pairs: both ``sigma^2`` and, with
    ``density_sample="calibration"``, the density score ``s`` are estimated from them. The
    pairs are split into ``G = min(n_cal, 100)`` groups (leave-one-out up to 100 pairs); the
    corrector is refitted without each group and

        Var = (G - 1) / G * sum_g (c_(g) - c_bar)^2,   c = sigma^2 tau_hat(s(z)).

    The trial units and the calibration pairs are independent samples, so this adds to the
    influence-function variance of tau_hat with the correction held fixed. Holding the
    score fixed instead (a delta method for sigma^2 only) left out the score's sampling
    error, the larger part with a small calibration split: 95% intervals covered 0.71 to
    0.85 at n_cal = 100 (see the User Guide).
    """
    n_cal = z_cal.shape[0]
    n_groups = min(n_cal, _JACKKNIFE_GROUPS)
    group = np.arange(n_cal) % n_groups
    # density_sample="transform": the score comes from the trial's predictions, not from
    # the calibration pairs; only sigma^2 is refitted.
    fixed_score = corrector._score(z) if corrector.density_sample == "transform" else None
    corrections = np.empty(n_groups)
    with warnings.catch_warnings():
        # The warnings of the full-sample fit have been shown once already.
        warnings.simplefilter("ignore", CalibrationWarning)
        for g in range(n_groups):
            keep = group != g
            fitted = _refit(corrector, z_cal[keep], y_cal[keep])
            score = fitted._score(z) if fixed_score is None else fixed_score
            corrections[g] = fitted.sigma_**2 * _mean_contrast(score, treated, propensity, method)
    return float((n_groups - 1) / n_groups * np.sum((corrections - corrections.mean()) ** 2))


def _tweedie_smoothing_bias(corrector, z, treated, propensity, method, z_cal):
    """First-order bias of tau_hat from the kernel's blur of the score (``score_method="kde"``).

    The KDE is the density of ``y_pred + h Z``, so its score is too flat: for a Gaussian
    density by exactly ``Var / (Var + h^2)``. The correction ``sigma^2 tau_hat(s)`` then
    falls short by ``sigma^2 tau_hat(s) h^2 / Var`` (``Var`` the variance of the density
    sample): with Scott's rule ``h^2 / Var = m^(-2/5)``, 16% at m = 100 points. The
    deconvolved score removes this to first order, so no bias is allowed for there.
    """
    if corrector.score_method != "kde":
        return 0.0
    if corrector.density_sample == "calibration":
        sample, h = z_cal, corrector.bandwidth_
    else:
        sample = z
        h = bandwidth_rule(z, corrector.bandwidth)
    tau_of_score = _mean_contrast(corrector._score(z), treated, propensity, method)
    return float(abs(corrector.sigma_**2 * tau_of_score) * h**2 / np.var(sample, ddof=1))


def _linear_correction_uncertainty(corrector, z, treated, propensity, method, z_cal, y_cal):
    variance = _linear_correction_variance(corrector, z, treated, propensity, method, z_cal, y_cal)
    return variance, 0.0


def _tweedie_correction_uncertainty(corrector, z, treated, propensity, method, z_cal, y_cal):
    variance = _tweedie_correction_variance(
        corrector, z, treated, propensity, method, z_cal, y_cal
    )
    bias = _tweedie_smoothing_bias(corrector, z, treated, propensity, method, z_cal)
    return variance, bias


# (variance, bias bound) of the correction, for ci="normal"
_CORRECTION_UNCERTAINTIES = (
    (LinearCalibrationCorrector, _linear_correction_uncertainty),
    (TweedieCorrector, _tweedie_correction_uncertainty),
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
                    try:
                        fitted = _refit(corrector, z_cal[pairs], y_cal[pairs])
                    except _NonPositiveSlopeError:
                        # the linear correction (y - m) / k is undefined for this resample
                        estimates[b] = np.nan
                        continue
                if fixed_score is None:
                    outcome = _apply(fitted, outcome)
                else:
                    outcome = outcome - fitted.sigma_**2 * fixed_score[rows]
            e = None if propensity is None else propensity[rows]
            estimates[b] = _mean_contrast(outcome, treated[rows], e, method)
    return estimates


def _check_failed_resamples(bootstrap):
    """Count the failed resamples (NaN): warn, or raise when they are too many."""
    n_failed = int(np.count_nonzero(np.isnan(bootstrap)))
    if n_failed == 0:
        return 0
    n = bootstrap.shape[0]
    message = (
        f"{n_failed} of {n} bootstrap resamples of the calibration pairs have a "
        "non-positive calibration slope, for which the linear correction (y - m) / k is "
        "undefined"
    )
    if n_failed > _MAX_FAILED_SHARE * n or n - n_failed < 2:
        raise ValueError(
            f"{message}: more than {_MAX_FAILED_SHARE:.0%} of them, so the correction is not "
            "identified by these calibration pairs (the predictions are too weakly related "
            "to y_calibration). Use more calibration pairs, a stronger model, or "
            "TweedieCorrector, which needs no slope."
        )
    warnings.warn(
        f"{message}; the standard error and the interval use the other {n - n_failed} "
        "(result.n_bootstrap_failed; their bootstrap_estimates are NaN). The interval is "
        "conditional on a positive slope and may be too narrow: the slope is poorly "
        "determined by the calibration pairs.",
        CalibrationWarning,
        stacklevel=3,
    )
    return n_failed


def _normal_standard_error(y, outcome, treated, propensity, method, corrector, calibration):
    """Standard error of the estimate and a bound on its bias (0 when none is known)."""
    variance = _influence_standard_error(outcome, treated, propensity, method) ** 2
    if corrector is None or calibration is None:
        return float(np.sqrt(variance)), 0.0
    for kind, correction_uncertainty in _CORRECTION_UNCERTAINTIES:
        if isinstance(corrector, kind):
            extra, bias = correction_uncertainty(
                corrector, y, treated, propensity, method, *calibration
            )
            return float(np.sqrt(variance + extra)), bias
    warnings.warn(
        f"ci='normal' has no formula for the uncertainty of a {type(corrector).__name__}; "
        "the interval treats the correction as known. Use ci='bootstrap' to include it.",
        CalibrationWarning,
        stacklevel=4,
    )
    return float(np.sqrt(variance)), 0.0


def _bias_aware_critical_value(confidence_level, bias, standard_error):
    """c with P(|N(b / se, 1)| <= c) = level: the interval +- c se covers for any |bias| <= b.

    Armstrong and Kolesar's fixed-length bias-aware interval; ``norm.ppf(1 - alpha / 2)``
    when ``b = 0``.
    """
    if bias == 0.0 or standard_error == 0.0:
        return float(norm.ppf(0.5 + confidence_level / 2))
    return float(foldnorm.ppf(confidence_level, bias / standard_error))


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
        ``estimate +- c * standard_error``, with the influence-function standard error of
        the estimator plus, for the two skultr correctors, the uncertainty of what they
        estimate from the calibration pairs: a delta-method term for ``k`` and ``m``
        (:class:`LinearCalibrationCorrector`); a delete-a-group jackknife over the
        calibration pairs (at most 100 groups) for ``sigma^2`` *and* the density score
        (:class:`TweedieCorrector`), whose critical value ``c`` also allows for the
        kernel's first-order smoothing bias (``ATEResult.bias_bound``; ``c = 1.96`` at
        95% without it). Measured coverage of the Tweedie interval at 95% (ridge
        predictor, n = 10,000, IPW, 400 trials at n_cal = 100, 200 at n_cal = 1,000):
        0.92 at n_cal = 100 and 0.955 at n_cal = 1,000 (0.795 and 0.895 when the score
        was held fixed; the bootstrap: 0.935 on 200 trials at n_cal = 100). Both fall
        short of nominal with fewer calibration pairs: collect more.
    n_bootstrap : int, default=1000
        Number of bootstrap resamples. With :class:`LinearCalibrationCorrector`, a
        resample of the calibration pairs whose slope is not positive has no correction:
        it is counted (``ATEResult.n_bootstrap_failed``, NaN in ``bootstrap_estimates``),
        a :class:`CalibrationWarning` says how many, and the interval uses the others;
        more than half failed raises a ``ValueError``.
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
    n_failed = 0
    bias_bound = 0.0
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
        n_failed = _check_failed_resamples(bootstrap)
        valid = bootstrap[~np.isnan(bootstrap)]
        standard_error = float(valid.std(ddof=1))
        low, high = np.quantile(valid, [alpha / 2, 1 - alpha / 2])
    else:
        standard_error, bias_bound = _normal_standard_error(
            y, outcome, treated, propensity, method, corrector, calibration
        )
        critical = _bias_aware_critical_value(confidence_level, bias_bound, standard_error)
        half_width = critical * standard_error
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
        n_bootstrap_failed=n_failed,
        bias_bound=bias_bound,
    )
