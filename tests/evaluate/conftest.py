"""Shared fixtures of the otgen.evaluate tests: one torch thread (small nets, two cores)."""
import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)
