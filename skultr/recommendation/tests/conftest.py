"""Fixtures shared by the tests of skultr.recommendation."""

import pytest


@pytest.fixture(scope="module", autouse=True)
def single_torch_thread():
    """Train with one intra-op thread, restored afterwards (small models, busy machines)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
