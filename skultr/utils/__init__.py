"""Helpers shared by several subpackages: discovery of estimators and input validation."""

from .discovery import all_estimators

__all__ = ["all_estimators"]
