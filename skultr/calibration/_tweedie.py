"""Tweedie correction of shrunken ML predictions under a Berkson error model."""

import warnings
from numbers import Real

import numpy as np
from sklearn.utils.validation import check_is_fitted

from skultr.utils._sklearn_compat import Interval, StrOptions

from ._base import CalibrationWarning, _BaseCorrector
from ._kde_score import bandwidth_rule, evaluate_score_table, kde_score_table

__all__ = ["TweedieCorrector"]

# Below this many points the kernel density of the predictions is a rough guess.
_SMALL_DENSITY_SAMPLE = 100


class TweedieCorrector(_BaseCorrector):
    """Undo the shrinkage of ML predictions with Tweedie's formula.

    Under a Berkson error model, the truth scatters around the prediction,
    ``Y = y_pred + eps`` with ``eps`` independent of ``y_pred``. Tweedie's formula, run in
    reverse, then gives outcomes whose conditional mean given the truth *is* the truth:
    ``y_pred - sigma^2 * d/dz log p(z)`` at ``z = y_pred``, with ``sigma`` the spread of the
    calibration residuals and ``p`` the density of the predictions. Predictions in the tails
    are pushed outwards, predictions at a mode stay where they are. Unlike
    :class:`LinearCalibrationCorrector` this needs no linear model of the predictions.

    The density score is that of a Gaussian kernel density estimate, computed in closed form
    on a fine grid (binned, O(n) for n predictions: ten million take well under a second).

    ``fit(y_pred, y)`` with 1-D arrays is the natural call; an array of shape
    ``(n_samples, 1)`` is accepted too, so the corrector also works where scikit-learn
    expects ``X``.

    Read more in the :ref:`User Guide <calibration>`.

    Parameters
    ----------
    bandwidth : {"scott", "silverman"} or float, default="scott"
        Bandwidth ``h`` of the Gaussian kernel density estimate of the predictions.
        ``"scott"``: ``sd(z) m^(-1/5)`` for ``m`` points (as in :class:`scipy.stats.gaussian_kde`
        and the authors' code); ``"silverman"``: ``0.9 min(sd, IQR/1.349) m^(-1/5)``, smaller
        and robust to heavy tails. A float is the bandwidth itself, in the units of the
        predictions.
    density_sample : {"calibration", "transform"}, default="calibration"
        Which predictions the density ``p`` is estimated from. ``"calibration"``: the
        calibration predictions seen in ``fit``; each prediction is then corrected on its
        own. ``"transform"``: the predictions passed to :meth:`transform` (for instance a
        whole prediction map), so a prediction's correction depends on the others passed
        with it; larger samples give a sharper density estimate and no prediction falls
        outside the range of the density sample.
    score_method : {"kde", "deconvolved"}, default="kde"
        How the score ``d/dz log p(z)`` is estimated from the kernel density estimate.
        ``"kde"``: the score of the KDE itself (the authors' choice). The KDE is the density
        of ``y_pred`` blurred by the kernel, so its score is too flat, by a factor of about
        ``Var(y_pred) / (Var(y_pred) + h^2)``, and the correction falls short (a slope of
        0.93 to 0.98 instead of 1 with 400 to 2,000 points). ``"deconvolved"``: the KDE score
        divided by ``1 + h^2 s'(z)``, which removes that blur to first order (exactly for a
        Gaussian density). Use it with ``density_sample="transform"``; on predictions
        outside the density sample it over-corrects (see the User Guide).

    Attributes
    ----------
    sigma_ : float
        ``sigma``, the standard deviation (``ddof=0``) of the calibration residuals
        ``y_pred - y``.
    slope_ : float
        ``k``, the OLS slope of the calibration predictions on the true values (a
        diagnostic: ``k`` near 1 means little shrinkage, a small ``k`` a strong correction).
    intercept_ : float
        ``m``, the OLS intercept of that regression.
    bandwidth_ : float or None
        Bandwidth of the kernel density estimate fitted on the calibration predictions;
        None with ``density_sample="transform"``.
    calibration_range_ : tuple of float
        Smallest and largest calibration prediction (see Notes for the out-of-range warning).
    n_calibration_ : int
        Number of calibration pairs.
    n_features_in_ : int
        Always 1.
    feature_names_in_ : ndarray of shape (1,)
        Name of the prediction column, when ``y_pred`` was a one-column DataFrame.

    See Also
    --------
    LinearCalibrationCorrector : The correction that inverts a linear calibration line.
    DebiasedRegressor : A regressor whose predictions are corrected by cross-fitting.

    Notes
    -----
    The model (Pettersson, Jerzak and Daoud, Prop. 3 to 5) is a Berkson error

    .. math::

        Y = \\hat Y + \\varepsilon, \\qquad \\varepsilon \\perp \\hat Y,
        \\qquad \\varepsilon \\sim N(0, \\sigma^2),

    under which ``p_Y`` is ``p_{\\hat Y}`` blurred by ``N(0, \\sigma^2)``, and

    .. math::

        \\tilde Y = \\hat Y - \\sigma^2 \\frac{d}{d\\hat y} \\log p_{\\hat Y}(\\hat Y)

    satisfies ``E[\\tilde Y | Y] = Y``, so any mean contrast of ``\\tilde Y`` (difference in
    means, IPW, Hajek) estimates the effect on ``Y``. Note the minus sign: this is Tweedie's
    formula ``E[\\mu | z] = z + \\sigma^2 l'(z)`` (Efron, 2011) used in the reverse direction.
    ``\\sigma`` is the standard deviation of the calibration residuals and the score
    ``s(z) = d/dz \\log p(z)`` that of a Gaussian KDE with bandwidth ``h`` on the density
    sample ``x_1..x_m``, in closed form:

    .. math::

        s(z) = \\frac{\\sum_i w_i(z) (x_i - z)}{h^2 \\sum_i w_i(z)}, \\qquad
        w_i(z) = \\exp(-(z - x_i)^2 / (2 h^2)).

    The sample is binned on a grid of 32 points per bandwidth and ``s`` interpolated
    linearly (error about ``1e-3 / h``); beyond the grid the kernel sums over the mass near
    the sample's extremes are evaluated exactly. If ``p_{\\hat Y}`` is Gaussian the
    correction is linear in ``\\hat Y`` and equals :class:`LinearCalibrationCorrector`
    (Prop. 4), up to the KDE's blur, which flattens the score by
    ``Var(\\hat Y) / (Var(\\hat Y) + h^2)``. ``score_method="deconvolved"`` removes the
    blur to first order: with ``E_w`` and ``Var_w`` the mean and variance of the sample
    under the weights ``w_i(z)``,

    .. math::

        s_{dec}(z) = \\frac{s(z)}{1 + h^2 s'(z)}
        = \\frac{E_w[x] - z}{\\max(\\mathrm{Var}_w[x], h^2 / 4)},

    exact when ``p_{\\hat Y}`` is Gaussian (the KDE is the density of ``\\hat Y + h Z``,
    whose score is ``E[s_{\\hat Y}(\\hat Y) | \\hat Y + h Z]``).

    The correction is linear in the score, so for any mean-contrast estimator
    ``\\hat\\tau(\\tilde Y) = \\hat\\tau(\\hat Y) - \\sigma^2 \\hat\\tau(s(\\hat Y))``.

    Fitting raises a ``ValueError`` for fewer than 10 calibration pairs, constant predictions
    or truths, NaN or inf, and a calibration slope ``k <= 0``; it warns
    (:class:`CalibrationWarning`) for ``k < 0.2`` and for a density sample of fewer than 100
    points. :meth:`transform` warns when more than 1% of the predictions fall outside the
    calibration range, or any lies beyond it by more than 10% of its width (a few outside
    are expected from sampling alone): far from the density sample the KDE score grows like
    ``-(z - x_{max}) / h^2`` and the correction is a steep extrapolation.

    References
    ----------
    .. [1] M. Pettersson, C. T. Jerzak and A. Daoud, "Debiasing Machine Learning Predictions
       for Causal Inference Without Additional Ground Truth Data: 'One Map, Many Trials' in
       Satellite-Driven Poverty Analysis", AAAI 2026. arXiv:2508.01341.
    .. [2] B. Efron, "Tweedie's Formula and Selection Bias", Journal of the American
       Statistical Association 106 (2011), 1602-1614.

    Examples
    --------
    >>> import numpy as np
    >>> from skultr.calibration import TweedieCorrector
    >>> rng = np.random.default_rng(0)
    >>> y_pred = rng.normal(size=2000)             # shrunken predictions
    >>> y = y_pred + rng.normal(size=2000)         # the truth scatters around them
    >>> corrector = TweedieCorrector().fit(y_pred, y)
    >>> round(corrector.sigma_, 2)
    1.0
    >>> corrected = corrector.transform(y_pred)
    >>> bool(corrected.std() > y_pred.std())      # the shrinkage is undone
    True
    """

    _parameter_constraints: dict = {
        "bandwidth": [
            StrOptions({"scott", "silverman"}),
            Interval(Real, 0, None, closed="neither"),
        ],
        "density_sample": [StrOptions({"calibration", "transform"})],
        "score_method": [StrOptions({"kde", "deconvolved"})],
    }

    def __init__(self, *, bandwidth="scott", density_sample="calibration", score_method="kde"):
        self.bandwidth = bandwidth
        self.density_sample = density_sample
        self.score_method = score_method

    def _fit_arrays(self, z, y):
        self._fit_calibration_diagnostics(z, y)
        if self.density_sample == "calibration":
            self.bandwidth_ = self._bandwidth_for(z)
            self._score_table = self._score_table_for(z, self.bandwidth_)
        else:
            self.bandwidth_ = None
            self._score_table = None
        return self

    def _bandwidth_for(self, sample):
        if sample.shape[0] < _SMALL_DENSITY_SAMPLE:
            warnings.warn(
                f"The density of the predictions is estimated from {sample.shape[0]} points "
                f"(fewer than {_SMALL_DENSITY_SAMPLE}); the Tweedie correction will be noisy.",
                CalibrationWarning,
                stacklevel=5,
            )
        h = bandwidth_rule(sample, self.bandwidth)
        if not h > 0:
            raise ValueError(
                "The kernel bandwidth of the predictions is zero: y_pred has too few distinct "
                f"values ({np.unique(sample).size}) for a density estimate."
            )
        return h

    def _score(self, z):
        if self.density_sample == "calibration":
            return evaluate_score_table(self._score_table, z, self.bandwidth_)
        if z.shape[0] < 2 or np.ptp(z) == 0:
            raise ValueError(
                "With density_sample='transform' the density is estimated from the "
                "predictions passed to transform, so y_pred needs at least two distinct "
                f"values; got {z.shape[0]} prediction(s) with {np.unique(z).size} distinct."
            )
        h = self._bandwidth_for(z)
        return evaluate_score_table(self._score_table_for(z, h), z, h)

    def _score_table_for(self, sample, h):
        return kde_score_table(sample, h, deconvolve=self.score_method == "deconvolved")

    def _correct(self, z):
        return z - self.sigma_**2 * self._score(z)

    def _handle_non_positive_slope(self, k):
        # The correction does not use k, so it is still defined: warn instead of failing.
        warnings.warn(
            f"The calibration slope k of y_pred on y is {k:.4g} <= 0: the predictions do not "
            "increase with the truth and carry no usable signal; the correction is "
            "meaningless.",
            CalibrationWarning,
            stacklevel=6,
        )

    def _corrects_from_calibration_only(self):
        # With density_sample="transform" every prediction lies inside its density sample.
        return self.density_sample == "calibration"

    def density_score(self, y_pred):
        """The estimated score ``d/dz log p(z)`` of the prediction density, at ``y_pred``.

        ``transform(y_pred)`` equals ``y_pred - sigma_**2 * density_score(y_pred)``.

        Parameters
        ----------
        y_pred : array-like of shape (n_samples,) or (n_samples, 1)
            Points at which to evaluate the score.

        Returns
        -------
        score : ndarray of shape (n_samples,)
            The score at each point.
        """
        check_is_fitted(self)
        z, _ = self._validate_predictions(y_pred)
        return self._score(z)
