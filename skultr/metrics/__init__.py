"""Metrics and scorers: grouped ranking metrics (nDCG, DCG, ERR, MAP) with per-row ``qid``."""

from ._ranking import average_precision_score, dcg_score, err_score, ndcg_score
from ._scorer import make_ranking_scorer

__all__ = [
    "average_precision_score",
    "dcg_score",
    "err_score",
    "make_ranking_scorer",
    "ndcg_score",
]
