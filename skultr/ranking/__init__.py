"""Unbiased learning to rank from click logs: DLA, baselines, click models and click scorers."""

import importlib

from ._pointwise import PointwiseIPWRanker
from ._scoring import click_log_likelihood, ips_dcg_score, make_click_scorer
from ._simulation import CascadeModel, PositionBasedModel, TrustBiasModel

# The torch rankers load on first use, so that the numpy parts (click models, click
# scorers, and make_click_log through them) import without torch.
_TORCH_ESTIMATORS = {
    "DLARanker": "._dla",
    "IPWRanker": "._baselines",
    "NaiveRanker": "._baselines",
}


def __getattr__(name):
    if name in _TORCH_ESTIMATORS:
        value = getattr(importlib.import_module(_TORCH_ESTIMATORS[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_TORCH_ESTIMATORS))


__all__ = [
    "CascadeModel",
    "DLARanker",
    "IPWRanker",
    "NaiveRanker",
    "PointwiseIPWRanker",
    "PositionBasedModel",
    "TrustBiasModel",
    "click_log_likelihood",
    "ips_dcg_score",
    "make_click_scorer",
]
