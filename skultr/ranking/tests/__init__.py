"""Tests of skultr.ranking."""

import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def single_torch_thread():
    """Train with one intra-op thread, restored afterwards.

    The models in these tests are small: a second thread gains nothing, and on a busy
    machine torch's thread pool makes them many times slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
