"""Recommenders that learn from missing-not-at-random feedback, and the (user, item) contract."""

from ._data import aggregate_duplicates, check_interactions, check_propensity, interaction_matrix

__all__ = [
    "aggregate_duplicates",
    "check_interactions",
    "check_propensity",
    "interaction_matrix",
]
