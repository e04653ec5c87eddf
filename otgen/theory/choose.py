"""``method="auto"``: the regime map from problem size to estimator.

The rule (measured on 2 CPU cores, see docs/benchmarks.md):

1. ``d == 1`` and ``p >= 1``: ``"1d"`` -- exact by sorting, O(n log n), any n.
2. ``n * m <= EXACT_MAX_ENTRIES`` (about 3,000 x 3,000): ``"exact"`` -- the network simplex
   takes at most a few seconds there and its interval has zero width, so it meets every tol.
3. otherwise ``"sinkhorn"`` with eps refined until the certified relative gap is <= ``tol``
   (default 1e-2); if it cannot get there it warns and sets ``converged=False``.

``"gaussian"`` and ``"sliced"`` are never chosen automatically: their intervals are certified
but usually wide; ask for them explicitly when a closed form or a slice average is what you want.
"""
from __future__ import annotations

#: largest n * m solved exactly by "auto"
EXACT_MAX_ENTRIES = 1e7


def choose_method(n: int, m: int, d: int, p: float, tol=None) -> str:
    """Return the method ``wasserstein(..., method="auto")`` uses for this problem."""
    if d == 1 and p >= 1:
        return "1d"
    if n * m <= EXACT_MAX_ENTRIES or tol == 0:
        return "exact"
    return "sinkhorn"
