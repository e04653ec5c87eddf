"""How many torch / OpenMP threads to use: the cores actually free, not the cores that exist.

OpenMP worker threads spin while they wait for work.  On a machine whose cores are already busy
(other jobs, other ranks), a process that starts one thread per core oversubscribes it and its
threads spin instead of computing: `otgen audit` of a digits run took 4.4x its idle time beside
two single-threaded busy loops on 2 cores, where a fair share would be 2x.  The rule here:

* an explicit ``--threads`` / ``threads=`` wins;
* else ``OMP_NUM_THREADS`` when set (the user's or the scheduler's choice);
* else the cores this process may run on (``os.sched_getaffinity``: cgroup / taskset limits)
  minus the load already on them (the 1-minute load average, rounded), at least 1.

The decision is made once per command, at its start, so the load of otgen itself is not
counted.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

import torch


def available_cores() -> int:
    """Cores this process may run on (affinity mask, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def env_threads() -> int | None:
    """``OMP_NUM_THREADS`` as a positive int, or None when unset or not a positive int."""
    raw = os.environ.get("OMP_NUM_THREADS", "").strip()
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value >= 1 else None


def free_cores(cores: int | None = None, load: float | None = None) -> int:
    """Cores left after the current load: ``round(cores - load)``, between 1 and ``cores``."""
    cores = available_cores() if cores is None else cores
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    return max(1, min(cores, round(cores - load)))


def default_threads(threads: int | None = None) -> int:
    """The thread count for one otgen command (see the module docstring)."""
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
        return threads
    env = env_threads()
    return env if env is not None else free_cores()


@contextmanager
def torch_threads(threads: int | None):
    """Run a block with ``torch.set_num_threads(threads)`` (None: unchanged), then restore."""
    if threads is None:
        yield
        return
    threads = default_threads(threads)
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)
