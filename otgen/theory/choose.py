"""``method="auto"``: the regime map from problem size to estimator.

The rule (measured on 2 CPU cores, see docs/benchmarks.md):

1. ``d == 1`` and ``p >= 1``: ``"1d"`` -- exact by sorting, O(n log n), any n.
2. ``n * m <= EXACT_MAX_ENTRIES`` (about 3,000 x 3,000), or ``tol == 0``: ``"exact"`` -- the
   dense network simplex takes a few seconds at most and its interval has zero width.
3. on a CUDA device: ``"sinkhorn"`` (eps refined until the certified gap is <= ``tol``,
   default 1e-2; backend ``auto``: dense up to 2.5e7 entries, multiscale for d <= 3 and
   p in {1, 2} from n * m >= 1e9, KeOps reductions otherwise).
4. p = 2, d <= 3 and ``n * m >= QUANTIZED_MIN_PAIRS`` (about 63,000 x 63,000):
   ``"quantized"`` -- the OT between clusters of 4**k points, refined into a coupling (upper
   bound) and its potential extended and c-transformed over all pairs (lower bound); 4x finer
   clusters until the certified gap is <= ``tol`` (:mod:`otgen.theory.quantized`).  Measured on
   2 cores, Gaussian clouds: n = 100,000 in 15 s (the sparse solver: 167 s), n = 1,000,000
   in 146 s with a 0.17% interval and 2.1 GB peak memory.
5. otherwise ``"sparse"``: a coarse-to-fine start (:mod:`otgen.theory.coarse_to_fine`), then
   network simplex on a sparse graph grown by column generation, stopped once the certified
   relative gap is <= ``tol`` (default 1e-2); O((n + m) k) memory.  On six data families at
   n = 20,000 it is 10x-20x faster than ``ot.emd2`` in d = 2 (docs/benchmarks-families.md).

If the requested tol cannot be met the estimator warns and sets ``converged=False``.
``"gaussian"`` and ``"sliced"`` are never chosen automatically: their intervals are certified
but usually wide; ask for them explicitly when a closed form or a slice average is what you want.
"""
from __future__ import annotations

from .quantized import quantized_applies

#: largest n * m solved by the dense network simplex in "auto"
EXACT_MAX_ENTRIES = 1e7
#: from this n * m on (p = 2, d <= 3), "auto" picks "quantized": the first size at which its
#: clusters hold 4 points (FIRST_CLUSTERS = 16,000 clusters)
QUANTIZED_MIN_PAIRS = 4.096e9
#: largest n * m for which method="exact" builds the dense cost matrix (3.2 GB in float64, as
#: ot.emd needs); beyond, "exact" runs the sparse column-generation solver to optimality
DENSE_EXACT_MAX = 4.1e8


def choose_method(n: int, m: int, d: int, p: float, tol=None, device=None) -> str:
    """Return the method ``wasserstein(..., method="auto")`` uses for this problem."""
    if d == 1 and p >= 1:
        return "1d"
    if n * m <= EXACT_MAX_ENTRIES or tol == 0:
        return "exact"
    if device is not None and getattr(device, "type", str(device)).startswith("cuda"):
        return "sinkhorn"
    if quantized_applies(p, d) and n * m >= QUANTIZED_MIN_PAIRS:
        return "quantized"
    return "sparse"
