"""skultr: scikit-learn-compatible estimators that learn without bias from biased data.

Subpackages are imported on first access, so ``import skultr`` stays cheap and does not
load torch until a neural estimator is used.
"""

import importlib

__version__ = "0.1.0.dev0"

_SUBPACKAGES = (
    "calibration",
    "datasets",
    "fairness",
    "metrics",
    "propensity",
    "ranking",
    "recommendation",
    "utils",
)

__all__ = ["__version__", *_SUBPACKAGES]


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
