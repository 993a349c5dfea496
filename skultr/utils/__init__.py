"""Helpers shared by several subpackages: discovery of estimators, input validation, and
the version check of pickled estimators."""

from ._versions import InconsistentVersionError, InconsistentVersionWarning, allow_version_mismatch
from .discovery import all_estimators

__all__ = [
    "InconsistentVersionError",
    "InconsistentVersionWarning",
    "all_estimators",
    "allow_version_mismatch",
]
