"""Metrics and scorers: grouped ranking metrics with per-row ``qid``, recommendation top-k metrics,
fairness metrics."""

from ._fairness import (
    demographic_parity_difference,
    disparate_impact_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
    make_fairness_scorer,
    make_fairness_tradeoff_scorer,
)
from ._ips import (
    ips_dcg_at_k_score,
    ips_pointwise_loss,
    ips_recall_at_k_score,
    make_ips_scorer,
)
from ._ranking import average_precision_score, dcg_score, err_score, ndcg_score
from ._recommendation import (
    f1_at_k_score,
    make_recommendation_scorer,
    precision_at_k_score,
    recall_at_k_score,
)
from ._scorer import make_ranking_scorer

__all__ = [
    "average_precision_score",
    "dcg_score",
    "demographic_parity_difference",
    "disparate_impact_ratio",
    "equal_opportunity_difference",
    "equalized_odds_difference",
    "err_score",
    "f1_at_k_score",
    "ips_dcg_at_k_score",
    "ips_pointwise_loss",
    "ips_recall_at_k_score",
    "make_fairness_scorer",
    "make_fairness_tradeoff_scorer",
    "make_ips_scorer",
    "make_ranking_scorer",
    "make_recommendation_scorer",
    "ndcg_score",
    "precision_at_k_score",
    "recall_at_k_score",
]
