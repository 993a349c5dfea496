"""Reusable propensity estimators: the probability that a feedback signal could be observed."""

from ._position import RandomizationPropensity, RegressionEMPropensity

__all__ = [
    "RandomizationPropensity",
    "RegressionEMPropensity",
]
