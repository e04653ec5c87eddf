"""Shared fixtures for the otgen.models tests: tiny data, one CPU thread per test."""
import pytest
import torch

from otgen.models import gaussian_mixture


@pytest.fixture(autouse=True)
def one_thread():
    """Small nets on two cores under `pytest -n 2`: one torch thread each avoids
    oversubscription (10x slower otherwise); restored after each test."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.fixture(scope="session")
def mix2d():
    return gaussian_mixture(200, 60, k=4, std=0.1, seed=3)
