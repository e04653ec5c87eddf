"""Test-session settings shared by every test folder.

Under pytest-xdist (``-n 2``) each worker would start one torch / OpenMP thread per core, so two
workers oversubscribe a 2-core machine and their threads spin instead of computing (measured:
``test_sinkhorn_adaptive_interval`` took 5.6 s alone, 251 s beside a KeOps test in the other
worker).  Each worker gets its share of the cores instead; ``OMP_NUM_THREADS`` also reaches
the subprocesses the CLI and DDP tests start (otgen's commands respect it, otgen/_threads.py).
"""
import os

import torch

_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    try:
        _CORES = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        _CORES = os.cpu_count() or 1
    _THREADS = max(1, _CORES // _WORKERS)
    os.environ.setdefault("OMP_NUM_THREADS", str(_THREADS))
    torch.set_num_threads(_THREADS)
