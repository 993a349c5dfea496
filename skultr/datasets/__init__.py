"""Loaders for real data formats and generators of synthetic data with known ground truth."""

__all__: list[str] = []
