"""Recommenders that learn from missing-not-at-random feedback, and the (user, item) contract."""

from ._baselines_implicit import BPRRecommender, ImplicitMFRecommender, WMFRecommender
from ._data import aggregate_duplicates, check_interactions, check_propensity, interaction_matrix
from ._debiased import DebiasedMFRecommender
from ._relmf import RelMFRecommender

__all__ = [
    "BPRRecommender",
    "DebiasedMFRecommender",
    "ImplicitMFRecommender",
    "RelMFRecommender",
    "WMFRecommender",
    "aggregate_duplicates",
    "check_interactions",
    "check_propensity",
    "interaction_matrix",
]
