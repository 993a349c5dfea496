"""Loaders for real data formats and generators of synthetic data with known ground truth."""

from ._shrinkage import make_shrinkage_trial

__all__: list[str] = [
    "make_shrinkage_trial",
]
