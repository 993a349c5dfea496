"""Unbiased learning to rank from click logs: DLA, baselines, click models and click scorers."""

from ._baselines import IPWRanker, NaiveRanker
from ._dla import DLARanker
from ._scoring import click_log_likelihood, ips_dcg_score, make_click_scorer
from ._simulation import CascadeModel, PositionBasedModel, TrustBiasModel

__all__ = [
    "CascadeModel",
    "DLARanker",
    "IPWRanker",
    "NaiveRanker",
    "PositionBasedModel",
    "TrustBiasModel",
    "click_log_likelihood",
    "ips_dcg_score",
    "make_click_scorer",
]
