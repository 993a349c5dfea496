"""Correct ML predictions used as outcomes for their shrinkage, and estimate treatment effects.

A model trained with squared error shrinks its predictions towards the mean, so effects
estimated on them are attenuated. :class:`LinearCalibrationCorrector` and
:class:`TweedieCorrector` are fitted on a calibration split of predictions and true values
and correct new predictions; :class:`DebiasedRegressor` wraps a regressor with cross-fitted
correction; :func:`average_treatment_effect` estimates effects with intervals that cover the
correction's own uncertainty (Pettersson, Jerzak and Daoud, AAAI 2026).
"""

from ._ate import ATEResult, average_treatment_effect
from ._base import CalibrationWarning
from ._debiased import DebiasedRegressor
from ._display import EffectRecoveryDisplay
from ._linear import LinearCalibrationCorrector
from ._tweedie import TweedieCorrector

__all__ = [
    "ATEResult",
    "CalibrationWarning",
    "DebiasedRegressor",
    "EffectRecoveryDisplay",
    "LinearCalibrationCorrector",
    "TweedieCorrector",
    "average_treatment_effect",
]
