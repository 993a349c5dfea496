"""Loaders for real data formats and generators of synthetic data with known ground truth."""

from ._fairness import load_fairness_dataset, make_biased_classification
from ._ltr import load_svmlight_ranking, make_click_log, make_ranking_dataset
from ._mnar_implicit import make_mnar_implicit_feedback
from ._mnar_ratings import make_mnar_ratings
from ._recsys import load_coat, load_interactions, load_yahoo_r3
from ._shrinkage import make_shrinkage_trial

__all__: list[str] = [
    "load_coat",
    "load_fairness_dataset",
    "load_interactions",
    "load_svmlight_ranking",
    "load_yahoo_r3",
    "make_biased_classification",
    "make_click_log",
    "make_mnar_implicit_feedback",
    "make_mnar_ratings",
    "make_ranking_dataset",
    "make_shrinkage_trial",
]
