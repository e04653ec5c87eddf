"""What every benchmark records next to its numbers: the machine and the library versions."""
from __future__ import annotations

import os
import platform
import resource
import subprocess
from pathlib import Path

import numpy as np


def machine_info() -> dict:
    """CPU, memory, thread settings and the versions of every library a benchmark compares."""
    import geomloss
    import ot
    import scipy
    import torch

    import otgen

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        mem = None
    try:
        import pykeops
        keops = pykeops.__version__
    except Exception as exc:  # noqa: BLE001 - optional, report why it is missing
        keops = f"not importable ({type(exc).__name__})"
    return {"python": platform.python_version(), "platform": platform.platform(),
            "machine": platform.machine(), "cpu": cpu, "cpu_count": os.cpu_count(),
            "cpu_affinity": sorted(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity") else None,
            "memory_gb": mem, "torch_threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "otgen": getattr(otgen, "__version__", "unknown"), "numpy": np.__version__,
            "scipy": scipy.__version__, "pot": ot.__version__, "geomloss": geomloss.__version__,
            "pykeops": keops, "torch": torch.__version__,
            "cuda": bool(torch.cuda.is_available()), "gpu": bool(torch.cuda.is_available())}


def versions_line(info: dict) -> str:
    """One markdown line naming the machine and versions."""
    return (f"Machine: {info['cpu_count']} CPUs ({info['machine']}, {info['platform']}), "
            f"torch threads {info['torch_threads']}, CUDA {info['cuda']}. Versions: "
            + ", ".join(f"{k} {info[k]}" for k in ("otgen", "torch", "pot", "geomloss", "pykeops",
                                                     "numpy", "scipy", "python")))


def fit_exponent(points):
    """Least-squares slope of log t vs log n over (n, t) points; None below 2 distinct sizes."""
    pts = [(n, t) for n, t in points if t > 0]
    if len({n for n, _ in pts}) < 2:
        return None
    ln, lt = np.log([n for n, _ in pts]), np.log([t for _, t in pts])
    return float(np.polyfit(ln, lt, 1)[0])


def predict(points, n):
    """Time at size ``n`` extrapolated from the largest measured (n, t) with the fitted exponent
    (at least 1; 2 until two sizes are measured)."""
    if not points:
        return 0.0
    n0, t0 = max(points)
    k = fit_exponent(points)
    k = 2.0 if k is None else max(k, 1.0)
    return t0 * (n / n0) ** k


def git_commit() -> str:
    """The otgen commit a row was measured with ("" outside a git checkout)."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=Path(__file__).resolve().parent).stdout.strip()
    except OSError:
        return ""


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (``ru_maxrss``; Linux: KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
