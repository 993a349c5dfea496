"""Reusable propensity estimators: the probability that a feedback signal could be observed."""

from ._popularity import PopularityPropensity
from ._position import RandomizationPropensity, RegressionEMPropensity

__all__ = [
    "PopularityPropensity",
    "RandomizationPropensity",
    "RegressionEMPropensity",
]
