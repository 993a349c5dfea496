"""Reusable propensity estimators: the probability that a feedback signal could be observed."""

from ._kernel_balancing import KernelBalancingPropensity, weighted_mmd
from ._mnar_baselines import LogisticPropensity, NaiveBayesPropensity
from ._popularity import PopularityPropensity
from ._position import RandomizationPropensity, RegressionEMPropensity

__all__ = [
    "KernelBalancingPropensity",
    "LogisticPropensity",
    "NaiveBayesPropensity",
    "PopularityPropensity",
    "RandomizationPropensity",
    "RegressionEMPropensity",
    "weighted_mmd",
]
