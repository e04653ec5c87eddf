"""The checks behind ``otgen verify``: every claim otgen makes, tested on embedded data.

A check is a function ``f(seed) -> Check``.  Modules register their checks in :data:`REGISTRY`
(estimator self-checks in :mod:`.estimators`); :func:`run_checks` runs them all.
"""
from .core import REGISTRY, Check, format_table, register, run_checks

__all__ = ["Check", "REGISTRY", "register", "run_checks", "format_table"]
