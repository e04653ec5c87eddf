"""What every benchmark records next to its numbers: the machine and the library versions."""
from __future__ import annotations

import os
import platform

import numpy as np


def machine_info() -> dict:
    """CPU, platform, thread settings and the versions of every library a benchmark compares."""
    import geomloss
    import ot
    import scipy
    import torch

    import otgen

    try:
        import pykeops
        keops = pykeops.__version__
    except Exception as exc:  # noqa: BLE001 - optional, report why it is missing
        keops = f"not importable ({type(exc).__name__})"
    return {"python": platform.python_version(), "platform": platform.platform(),
            "machine": platform.machine(), "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else None, "torch_threads": torch.get_num_threads(), "numpy": np.__version__,
            "scipy": scipy.__version__, "pot": ot.__version__, "geomloss": geomloss.__version__,
            "pykeops": keops, "torch": torch.__version__,
            "otgen": getattr(otgen, "__version__", "unknown"),
            "cuda": bool(torch.cuda.is_available())}


def versions_line(info: dict) -> str:
    """One markdown line naming the machine and versions."""
    return (f"Machine: {info['cpu_count']} CPUs ({info['machine']}, {info['platform']}), "
            f"torch threads {info['torch_threads']}, CUDA {info['cuda']}. Versions: "
            + ", ".join(f"{k} {info[k]}" for k in ("otgen", "torch", "pot", "geomloss", "pykeops",
                                                     "numpy", "scipy", "python")))
