"""A plot of estimated against true treatment effects, for several estimators."""

import numpy as np

__all__ = ["EffectRecoveryDisplay"]


def _slope_through_data(true_effects, estimates):
    """OLS slope of the estimates on the true effects (1 means no attenuation)."""
    centered = true_effects - true_effects.mean()
    return float(np.dot(centered, estimates - estimates.mean()) / np.dot(centered, centered))


def _as_effects(values, name, n):
    array = np.asarray(values, dtype=float).ravel()
    if array.shape[0] != n:
        raise ValueError(
            f"{name} must have one value per true effect ({n}); got {array.shape[0]}."
        )
    return array


class EffectRecoveryDisplay:
    """Estimated against true treatment effects: how far each estimator is attenuated.

    One marker series per estimator (naive, LCC, Tweedie, ...) over trials with different
    true effects ``tau``, the identity line, and in the legend each estimator's slope of
    ``tau_hat`` on ``tau`` (1: unbiased; below 1: attenuated) and mean absolute error.
    Create it with :meth:`from_estimates`.

    Read more in the :ref:`User Guide <calibration>`.

    Parameters
    ----------
    true_effects : array-like of shape (n_trials,)
        The true effect of each trial.
    estimates : dict of str to array-like of shape (n_trials,)
        Estimated effects per estimator name.
    intervals : dict of str to array-like of shape (n_trials, 2), default=None
        Confidence intervals per estimator name (any subset of ``estimates``).

    Attributes
    ----------
    slopes_ : dict of str to float
        Slope of the estimates on the true effects, per estimator.
    mean_absolute_errors_ : dict of str to float
        Mean absolute error of the estimates, per estimator.
    ax_ : matplotlib Axes
        The axes of the plot.
    figure_ : matplotlib Figure
        The figure of the plot.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skultr.calibration import EffectRecoveryDisplay
    >>> tau = [-1.0, 0.0, 1.0]
    >>> display = EffectRecoveryDisplay.from_estimates(
    ...     tau, {"naive": [-0.5, 0.0, 0.5], "corrected": [-1.0, 0.1, 1.0]})
    >>> display.slopes_["naive"]
    0.5
    """

    def __init__(self, *, true_effects, estimates, intervals=None):
        self.true_effects = true_effects
        self.estimates = estimates
        self.intervals = intervals

    def plot(self, ax=None, *, identity_line=True):
        """Draw the plot.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.
        identity_line : bool, default=True
            Draw the line ``tau_hat = tau`` of an unbiased estimator.

        Returns
        -------
        display : EffectRecoveryDisplay
            The display, with ``ax_``, ``figure_``, ``slopes_`` and
            ``mean_absolute_errors_`` set.
        """
        import matplotlib.pyplot as plt

        tau = np.asarray(self.true_effects, dtype=float).ravel()
        if ax is None:
            _, ax = plt.subplots()
        intervals = self.intervals or {}
        unknown = sorted(set(intervals) - set(self.estimates))
        if unknown:
            raise ValueError(f"intervals names estimators without estimates: {unknown}.")

        self.slopes_, self.mean_absolute_errors_ = {}, {}
        for name, values in self.estimates.items():
            estimate = _as_effects(values, f"estimates[{name!r}]", tau.shape[0])
            slope = _slope_through_data(tau, estimate)
            mae = float(np.mean(np.abs(estimate - tau)))
            self.slopes_[name], self.mean_absolute_errors_[name] = slope, mae
            label = f"{name} (slope {slope:.3f}, MAE {mae:.3f})"
            if name in intervals:
                bounds = np.asarray(intervals[name], dtype=float).reshape(-1, 2)
                error = np.abs(bounds - estimate[:, None]).T
                ax.errorbar(tau, estimate, yerr=error, fmt="o", ms=3, capsize=2, label=label)
            else:
                ax.plot(tau, estimate, "o", ms=3, label=label)
        if identity_line:
            limits = [tau.min(), tau.max()]
            ax.plot(limits, limits, "k--", lw=1, label="truth")
        ax.set_xlabel("true effect $\\tau$")
        ax.set_ylabel("estimated effect $\\hat\\tau$")
        ax.legend(loc="upper left", fontsize="small")
        self.ax_, self.figure_ = ax, ax.figure
        return self

    @classmethod
    def from_estimates(cls, true_effects, estimates, *, intervals=None, ax=None):
        """Plot estimated against true effects.

        Parameters
        ----------
        true_effects : array-like of shape (n_trials,)
            The true effect of each trial.
        estimates : dict of str to array-like of shape (n_trials,)
            Estimated effects per estimator name.
        intervals : dict of str to array-like of shape (n_trials, 2), default=None
            Confidence intervals per estimator name.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.

        Returns
        -------
        display : EffectRecoveryDisplay
            The drawn display.
        """
        display = cls(true_effects=true_effects, estimates=estimates, intervals=intervals)
        return display.plot(ax=ax)
