"""Accuracy-fairness trade-off of FairTTTS over its amplification ``alpha``."""

import numpy as np
from sklearn.metrics import accuracy_score
from sklearn.utils.validation import check_is_fitted

from skultr.metrics import (
    demographic_parity_difference,
    equal_opportunity_difference,
    equalized_odds_difference,
)
from skultr.utils._sklearn_compat import check_matplotlib_support

from ._fairttts import FairTTTSClassifier, proba_at_alpha
from ._ttts import _unwrap

__all__ = ["FairnessTradeoffDisplay"]

_GAPS = {
    "demographic_parity_difference": demographic_parity_difference,
    "equal_opportunity_difference": equal_opportunity_difference,
    "equalized_odds_difference": equalized_odds_difference,
}


class FairnessTradeoffDisplay:
    """Accuracy against a fairness gap for several values of FairTTTS's ``alpha``.

    Build it with :meth:`from_estimator`; the constructor stores precomputed numbers.

    Parameters
    ----------
    alphas : array-like of shape (n_alphas,)
        Amplification values.
    accuracy : array-like of shape (n_alphas,)
        Accuracy at each ``alpha``.
    fairness : array-like of shape (n_alphas,)
        Fairness gap at each ``alpha`` (lower is fairer).
    base_accuracy, base_fairness : float or None, default=None
        The wrapped estimator's own accuracy and gap, drawn as a reference point.
    metric : str, default="demographic_parity_difference"
        Name of the gap, used for the axis label.
    name : str or None, default=None
        Legend label of the curve.

    Attributes
    ----------
    ax_ : matplotlib Axes
        Axes of the plot.
    figure_ : matplotlib Figure
        Figure of the plot.
    line_ : matplotlib Line2D
        The trade-off curve.

    Examples
    --------
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skultr.datasets import make_biased_classification
    >>> from skultr.fairness import FairTTTSClassifier, FairnessTradeoffDisplay
    >>> X, y = make_biased_classification(600, random_state=0)
    >>> tree = DecisionTreeClassifier(min_samples_leaf=10, random_state=0).fit(X, y)
    >>> fair = FairTTTSClassifier(tree, protected_attribute=0, unprivileged_value=0).fit(X, y)
    >>> display = FairnessTradeoffDisplay.from_estimator(fair, X, y, alphas=[1, 5], plot=False)
    >>> bool(display.fairness[1] < display.fairness[0])
    True
    """

    def __init__(
        self,
        *,
        alphas,
        accuracy,
        fairness,
        base_accuracy=None,
        base_fairness=None,
        metric="demographic_parity_difference",
        name=None,
    ):
        self.alphas = np.asarray(alphas, dtype=float)
        self.accuracy = np.asarray(accuracy, dtype=float)
        self.fairness = np.asarray(fairness, dtype=float)
        self.base_accuracy = base_accuracy
        self.base_fairness = base_fairness
        self.metric = metric
        self.name = name

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        alphas=(1.0, 2.0, 3.0, 5.0, 9.0),
        metric="demographic_parity_difference",
        name=None,
        ax=None,
        plot=True,
    ):
        """Evaluate a fitted :class:`FairTTTSClassifier` over ``alphas`` on ``(X, y)``.

        ``alpha`` only enters prediction, so the fitted trees and statistics are reused
        for every value; groups are the estimator's unprivileged rows versus the rest.

        Parameters
        ----------
        estimator : FairTTTSClassifier
            A fitted FairTTTS post-processor.
        X : array-like of shape (n_samples, n_features)
            Evaluation data (with the protected column).
        y : array-like of shape (n_samples,)
            True labels.
        alphas : array-like of float >= 1, default=(1, 2, 3, 5, 9)
            Amplification values to evaluate.
        metric : {"demographic_parity_difference", "equal_opportunity_difference", \
                "equalized_odds_difference"}, default="demographic_parity_difference"
            Fairness gap on the y axis, computed for ``estimator.pos_label``.
        name : str or None, default=None
            Legend label; defaults to the wrapped estimator's class name.
        ax : matplotlib Axes, default=None
            Axes to draw on (``plot=True``).
        plot : bool, default=True
            Draw the plot (needs matplotlib); ``False`` only computes the numbers.

        Returns
        -------
        display : FairnessTradeoffDisplay
            The display, plotted when ``plot=True``.
        """
        if not isinstance(estimator, FairTTTSClassifier):
            raise TypeError(
                f"estimator must be a fitted FairTTTSClassifier; got {type(estimator).__name__}."
            )
        check_is_fitted(estimator)
        if metric not in _GAPS:
            raise ValueError(f"metric must be one of {sorted(_GAPS)}; got {metric!r}.")
        alphas = np.asarray(alphas, dtype=float)
        if alphas.ndim != 1 or alphas.size == 0 or np.any(alphas < 1):
            raise ValueError(f"alphas must be a non-empty list of values >= 1; got {alphas}.")
        gap = _GAPS[metric]
        X_checked, _ = estimator._validate_X_predict(X)
        groups = estimator._unprivileged_mask(X_checked)
        y = np.asarray(y)
        pos = estimator._pos_label
        classes = estimator.classes_
        accuracy, fairness = [], []
        for alpha in alphas:
            proba = proba_at_alpha(estimator, X, alpha)
            pred = classes[np.argmax(proba, axis=1)]
            accuracy.append(accuracy_score(y, pred))
            fairness.append(gap(y, pred, sensitive_features=groups, pos_label=pos))
        base_pred = estimator.estimator_.predict(X)
        display = cls(
            alphas=alphas,
            accuracy=accuracy,
            fairness=fairness,
            base_accuracy=accuracy_score(y, base_pred),
            base_fairness=gap(y, base_pred, sensitive_features=groups, pos_label=pos),
            metric=metric,
            name=name or type(_unwrap(estimator.estimator_)).__name__,
        )
        if plot:
            display.plot(ax=ax)
        return display

    def plot(self, ax=None, *, name=None, annotate=True, **kwargs):
        """Draw the trade-off curve.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when ``None``.
        name : str or None, default=None
            Legend label; defaults to the display's ``name``.
        annotate : bool, default=True
            Write each ``alpha`` next to its point.
        **kwargs
            Passed to ``ax.plot`` for the curve.

        Returns
        -------
        display : FairnessTradeoffDisplay
            Self, with ``ax_``, ``figure_`` and ``line_`` set.
        """
        check_matplotlib_support("FairnessTradeoffDisplay.plot")
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        label = name or self.name or "FairTTTS"
        style = {"marker": "o", "label": f"{label} + FairTTTS", **kwargs}
        (self.line_,) = ax.plot(self.accuracy, self.fairness, **style)
        if annotate:
            for alpha, acc, gap in zip(self.alphas, self.accuracy, self.fairness, strict=True):
                ax.annotate(f"α={alpha:g}", (acc, gap), textcoords="offset points", xytext=(4, 4))
        if self.base_accuracy is not None and self.base_fairness is not None:
            ax.plot(
                [self.base_accuracy],
                [self.base_fairness],
                marker="s",
                linestyle="none",
                color="black",
                label=f"{label} (base)",
            )
        ax.set_xlabel("accuracy")
        ax.set_ylabel(self.metric.replace("_", " "))
        ax.legend()
        self.ax_ = ax
        self.figure_ = ax.figure
        return self
