"""Metrics and scorers: grouped ranking metrics with per-row ``qid``, recommendation top-k metrics,
fairness metrics.

**Conventions of the ranking and recommendation metrics.** A list metric leaves two questions
open: how to order documents the model scores alike, and what a list without any relevant
document is worth. Every list metric of this module -- :func:`ndcg_score`, :func:`dcg_score`,
:func:`err_score`, :func:`average_precision_score`, :func:`recall_at_k_score`,
:func:`precision_at_k_score` and :func:`f1_at_k_score`, and the scorers built on them -- answers
both the same way, with the same parameter and default. This is the one place they are stated.

``ties="average"`` (default): tied scores are averaged over all their orderings.
    Documents (items) with equal scores have no defined order, so the metric is the exact mean
    over every ordering of each block of tied scores, i.e. its expectation when ties are broken
    uniformly at random. A constant scorer gets the expected value of a random ranking, the
    result does not depend on the row order, and nDCG/DCG agree with
    :func:`sklearn.metrics.ndcg_score` / :func:`sklearn.metrics.dcg_score`
    (``ignore_ties=False``). Each metric computes the mean in closed form, with no sampling:
    DCG a block's mean gain times the discounts of its ranks; Recall@k and Precision@k
    ``a * s / n`` expected hits from a block of ``n`` items holding ``a`` relevant ones with
    ``s`` of its ranks in the top ``k`` (fractional when a block straddles the cut-off); AP
    the formula of McSherry and Najork (2008); ERR a stable recursion over each block's
    documents, ``O(n * min(n, k))`` for a block of ``n`` (quadratic in the size of a tie block
    only when ``k=None``). ``ties="pessimistic"`` ranks the less relevant documents first
    within tied scores instead: the worst value the scores allow, for a model that should get
    no credit for what it cannot separate.

``no_relevant="skip"`` (default): lists without a relevant document are left out.
    A list (query, session, user) whose documents all have ``y_true == 0`` gets the same value
    whatever the ranking (0, or 0 / 0), so it says nothing about the model. By default the
    metric is the mean over the lists with at least one relevant document, and ``nan`` with an
    :class:`~sklearn.exceptions.UndefinedMetricWarning` when there is none.
    ``no_relevant="zero"`` keeps such lists at 0 (the mean over all lists, as
    :func:`sklearn.metrics.ndcg_score` does; an unbiased IPS estimate of DCG needs it). The
    normalised metrics also accept ``"one"``; :func:`dcg_score` does not (it is not
    normalised). :func:`f1_at_k_score` applies the choice to both of its averages.

The ROC AUC of :func:`make_recommendation_scorer` counts a tied (relevant, non-relevant) pair
as 1/2, the same average over orderings. The click-based IPS estimators
(:func:`ips_dcg_at_k_score`, :func:`ips_recall_at_k_score`) state in their own docstrings
which lists they average over, as their unbiasedness dictates.

>>> from skultr.metrics import average_precision_score, recall_at_k_score
>>> y_true, constant, qid = [1, 0, 0, 0], [0.5, 0.5, 0.5, 0.5], [0, 0, 1, 1]
>>> recall_at_k_score(y_true, constant, qid=qid, k=1)  # 1 relevant of 2 tied, 1 slot
0.5
>>> recall_at_k_score(y_true, constant, qid=qid, k=1, ties="pessimistic")
0.0
>>> average_precision_score(y_true, constant, qid=qid)  # (1 + 1/2) / 2; list 1 skipped
0.75
>>> average_precision_score(y_true, constant, qid=qid, no_relevant="zero")
0.375
"""

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
from ._ope import ope_ranking_metric, ope_recommendation_metric
from ._ope_scorer import make_ope_scorer
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
    "make_ope_scorer",
    "make_ranking_scorer",
    "make_recommendation_scorer",
    "ndcg_score",
    "ope_ranking_metric",
    "ope_recommendation_metric",
    "precision_at_k_score",
    "recall_at_k_score",
]
