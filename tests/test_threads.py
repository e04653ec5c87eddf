"""The thread policy: explicit > OMP_NUM_THREADS > free cores (affinity minus load)."""
import os

import pytest
import torch

from otgen._threads import (available_cores, default_threads, env_threads, free_cores,
                            torch_threads)


@pytest.mark.parametrize("cores,load,want", [(2, 0.0, 2), (2, 0.6, 1), (2, 2.0, 1),
                                             (2, 7.5, 1), (8, 2.4, 6), (8, 0.5, 8)])
def test_free_cores_is_cores_minus_load_at_least_one(cores, load, want):
    assert free_cores(cores, load) == want


def test_explicit_beats_environment_beats_load(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_threads(5) == 5
    assert env_threads() == 3 and default_threads() == 3
    for bad in ("0", "-2", "many", ""):
        monkeypatch.setenv("OMP_NUM_THREADS", bad)
        assert env_threads() is None
        assert 1 <= default_threads() <= available_cores()


def test_available_cores_follows_the_affinity_mask():
    if hasattr(os, "sched_getaffinity"):
        assert available_cores() == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_thread_counts_are_named(bad):
    with pytest.raises(ValueError, match="threads must be"):
        default_threads(bad)


def test_torch_threads_restores_the_previous_count():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
