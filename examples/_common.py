"""Shared helper of the examples: where each script writes its figure."""
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")


def out_path(name: str) -> Path:
    """``$OTGEN_EXAMPLES_OUT/name`` (default ``examples/_out/name``), directory created."""
    default = Path(__file__).resolve().parent / "_out"
    d = Path(os.environ.get("OTGEN_EXAMPLES_OUT") or default)
    d.mkdir(parents=True, exist_ok=True)
    return d / name
