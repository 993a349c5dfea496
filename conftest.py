"""Repository-wide pytest configuration: hypothesis profiles and the ``gpu`` marker."""

import os

import pytest
from hypothesis import HealthCheck, settings

# "ci" is bounded and derandomised so CI runs are reproducible and fast; "dev" explores more.
settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("SKULTR_HYPOTHESIS_PROFILE", "ci"))


def _cuda_available():
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        return False
    return torch.cuda.is_available()


def _importable(name):
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def pytest_collection_modifyitems(config, items):
    # Docstring examples of the plotting displays need matplotlib, an optional dependency.
    if not _importable("matplotlib"):
        skip_mpl = pytest.mark.skip(reason="needs matplotlib, which is not installed")
        for item in items:
            if isinstance(item, pytest.DoctestItem) and "Display" in item.name:
                item.add_marker(skip_mpl)
    if _cuda_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device; none is available")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
