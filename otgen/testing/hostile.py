r"""Hostile layouts for OT estimators, with an independent exact truth.

Certificates ``lower <= OT <= upper`` are easy to get right on well-scaled Gaussian clouds and
easy to get wrong on realistic inputs: far-apart clusters (costs spanning 16 orders of
magnitude), tiny or huge scales, p != 2, zero, tiny or duplicated weights and points, float32.
:func:`hostile_layouts` draws such problems; :func:`truth_interval` brackets their exact OT cost
*without* any of otgen's solvers, so users can test their own estimators against it::

    from hypothesis import given, settings
    from otgen.testing import hostile_layouts, truth_interval

    @settings(max_examples=200, deadline=None)
    @given(hostile_layouts())
    def test_my_bounds(problem):
        lo, hi = truth_interval(problem)
        r = my_estimator(problem.x, problem.y, problem.a, problem.b, p=problem.p)
        assert r.lower <= hi and lo <= r.upper

The truth is exact combinatorics, not another LP solver with tolerances:

* weights are *dyadic* (``c_i / 2^K``, zeros allowed) or uniform (``1/n``, ``1/m``): the LP is
  then an assignment problem between copies of the points (``2^K``, or ``lcm(n, m)``, copies),
  solved by ``scipy.optimize.linear_sum_assignment`` on costs of coordinate differences;
  its value is exact for the float cost matrix, which is within :data:`COST_RTOL` of the exact
  costs, so ``[v (1 - COST_RTOL), v (1 + COST_RTOL)]`` brackets the truth;
* in one dimension with p >= 1 any weights are allowed (tiny ones too): the sorted coupling is
  optimal and is evaluated in exact rational arithmetic (``fractions.Fraction``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

#: relative error bound of the float cost matrix used by the assignment truth: cdist from
#: coordinate differences (d <= 8) and one pow are accurate to ~1e-15; 1e-12 leaves room
COST_RTOL = 1e-12
#: default exponents of the cost |x - y|^p
HOSTILE_P = (0.5, 1.0, 1.5, 2.0, 3.0)


@dataclass
class HostileProblem:
    r"""One drawn hostile OT problem: points, weights, exponent, and how to get its truth.

    Attributes
    ----------
    x, y : ndarray (n, d), (m, d)
        The two clouds (float64 or float32).
    a, b : ndarray (n,), (m,)
        Nonnegative weights (zeros allowed).
    p : float
        Exponent of the cost :math:`\|x - y\|^p`.
    kind : {"dyadic", "uniform", "exact-1d"}
        Which independent truth applies (see :func:`truth_interval`).
    denominator : int
        ``2^K`` for dyadic weights (``a = counts / 2^K``).
    description : str
        The layout (clusters, spread, gap, offset).
    counts : tuple of int arrays
        The integer counts of dyadic weights.

    Examples
    --------
    >>> pb = HostileProblem(np.zeros((1, 1)), np.ones((1, 1)), np.ones(1), np.ones(1), 2.0,
    ...                     "uniform")
    >>> truth_interval(pb)[0] <= 1.0 <= truth_interval(pb)[1]
    True

    References
    ----------
    N. J. Higham. Accuracy and Stability of Numerical Algorithms, SIAM 2002 (the rounding
    model the layouts stress).
    """

    x: np.ndarray
    y: np.ndarray
    a: np.ndarray
    b: np.ndarray
    p: float
    kind: str                      # "dyadic", "uniform" or "exact-1d"
    denominator: int = 0           # 2^K for dyadic weights
    description: str = ""
    counts: tuple = field(default=(), repr=False)

    @property
    def d(self) -> int:
        return self.x.shape[1]

    def __repr__(self) -> str:
        return (f"HostileProblem({self.description}; n={len(self.x)}, m={len(self.y)}, "
                f"d={self.d}, p={self.p:g}, weights={self.kind}, dtype={self.x.dtype})")


def _cost(x, y, p):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if p == 2:
        return cdist(x, y, "sqeuclidean")
    return cdist(x, y, "euclidean") ** p


def _assignment_value(x, y, rx, ry, p) -> float:
    """Optimal assignment between x repeated rx[i] times and y repeated ry[j] times."""
    X = np.repeat(np.asarray(x, np.float64), rx, axis=0)
    Y = np.repeat(np.asarray(y, np.float64), ry, axis=0)
    C = _cost(X, Y, p)
    r, c = linear_sum_assignment(C)
    return math.fsum(C[r, c].tolist())


def _exact_1d(x, y, a, b, p) -> tuple[float, float]:
    """Sorted coupling in Fractions: exact masses, costs exact for integer p, else to 4 ulps."""
    xs = sorted(zip(np.asarray(x, np.float64)[:, 0].tolist(), np.asarray(a).tolist()))
    ys = sorted(zip(np.asarray(y, np.float64)[:, 0].tolist(), np.asarray(b).tolist()))
    A = [Fraction(w) for _, w in xs]
    B = [Fraction(w) for _, w in ys]
    ratio = sum(A) / sum(B)
    B = [w * ratio for w in B]
    lo = hi = Fraction(0)
    i = j = 0
    ra, rb = A[0], B[0]
    while i < len(A) and j < len(B):
        t = min(ra, rb)
        if t > 0:
            diff = abs(Fraction(xs[i][0]) - Fraction(ys[j][0]))
            if float(p).is_integer():
                c_lo = c_hi = diff ** int(p)
            else:
                c = float(diff) ** p
                c_lo = Fraction(c) * Fraction(1 - 8 * 2 ** -53)
                c_hi = Fraction(c) * Fraction(1 + 8 * 2 ** -53)
            lo += t * c_lo
            hi += t * c_hi
        ra, rb = ra - t, rb - t
        if ra == 0:
            i += 1
            ra = A[i] if i < len(A) else 0
        if rb == 0:
            j += 1
            rb = B[j] if j < len(B) else 0
    return _outward(lo, hi)


def _outward(lo: Fraction, hi: Fraction) -> tuple[float, float]:
    """Floats that bracket [lo, hi]."""
    f_lo, f_hi = float(lo), float(hi)
    f_lo = math.nextafter(f_lo, -math.inf) if Fraction(f_lo) > lo else f_lo
    f_hi = math.nextafter(f_hi, math.inf) if Fraction(f_hi) < hi else f_hi
    return f_lo, f_hi


def truth_interval(problem: HostileProblem) -> tuple[float, float]:
    r"""An interval that contains the exact OT cost :math:`\min_\pi \sum \pi_{ij}
    \|x_i - y_j\|^p` of the problem (its float inputs taken as exact numbers).

    Computed without otgen: exact rational arithmetic in 1-D (p >= 1), otherwise the
    assignment problem of the expanded point sets (see the module docstring).

    Parameters
    ----------
    problem : HostileProblem
        A problem drawn by :func:`hostile_layouts` (or built by hand with a matching ``kind``).

    Returns
    -------
    (float, float)
        ``(lo, hi)`` with ``lo <= OT <= hi``; relative width about 2e-12 (assignment truth)
        or a few ulps (1-D).

    Examples
    --------
    >>> pb = HostileProblem(np.array([[0.0], [1.0]]), np.array([[2.0], [3.0]]),
    ...                     np.array([0.5, 0.5]), np.array([0.5, 0.5]), 2.0, "exact-1d")
    >>> truth_interval(pb)
    (4.0, 4.0)

    References
    ----------
    H. W. Kuhn. The Hungarian method for the assignment problem. Naval Res. Logist. 1955;
    D. F. Crouse. On implementing 2D rectangular assignment algorithms. IEEE TAES 52 (2016)
    (scipy's ``linear_sum_assignment``).  F. Santambrogio. Optimal Transport for Applied
    Mathematicians, 2015, Ch. 2 (optimality of the sorted coupling in 1-D).
    """
    x, y, p = problem.x, problem.y, problem.p
    if problem.kind == "exact-1d":
        return _exact_1d(x, y, problem.a, problem.b, p)
    if problem.kind == "dyadic":
        ca, cb = problem.counts
        v = Fraction(_assignment_value(x, y, ca, cb, p)) / problem.denominator
    else:  # uniform: every a_i = fl(1/n), every b_j = fl(1/m); OT = n a_1 OT(1/n, 1/m)
        n, m = len(x), len(y)
        L = n * m // math.gcd(n, m)
        v = (Fraction(_assignment_value(x, y, np.full(n, L // n), np.full(m, L // m), p)) / L
             * n * Fraction(float(problem.a[0])))
    # the float sum (fsum: one rounding) and the float costs (COST_RTOL) are the only errors
    rel = Fraction(COST_RTOL) + Fraction(2 ** -50)
    return _outward(v * (1 - rel), v * (1 + rel))


@st.composite
def hostile_layouts(draw, *, max_points: int = 12, max_dim: int = 3, p_values=HOSTILE_P,
                    allow_float32: bool = True, max_copies: int = 64,
                    min_dim: int = 1) -> HostileProblem:
    """Draw a numerically hostile OT problem (see the module docstring).

    Layout: 1-3 clusters of spread ``s = 10^e`` (e in [-9, 9]) whose centres are
    ``10^2 .. 10^8`` spreads apart, both clouds spread over the clusters with different counts
    (so mass must cross), optionally translated far from the origin, with duplicated points,
    n != m, and float32 coordinates.  Weights: dyadic with zeros, uniform, or (d = 1, p >= 1)
    arbitrary with zeros and tiny positive values down to 1e-200 of the total.

    Parameters
    ----------
    max_points : int
        Largest n and m.
    max_dim : int
        Largest dimension d.
    p_values : sequence of float
        Exponents to draw from (default 0.5, 1, 1.5, 2, 3).
    allow_float32 : bool
        Also draw float32 coordinates.
    max_copies : int
        Largest number of point copies of the assignment truth (2^K for dyadic weights).
    min_dim : int
        Smallest dimension d.

    Returns
    -------
    hypothesis strategy of HostileProblem

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5, deadline=None)
    ... @given(hostile_layouts(max_points=4))
    ... def check(pb):
    ...     lo, hi = truth_interval(pb)
    ...     assert 0 <= lo <= hi
    >>> check()

    References
    ----------
    B. Schmitzer. A sparse multiscale algorithm for dense optimal transport. JMIV 2016
    (far-apart clusters as the hard case for dual potentials).
    """
    p = float(draw(st.sampled_from(p_values)))
    d = draw(st.integers(min_dim, max(min_dim, max_dim)))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    spread = 10.0 ** draw(st.integers(-9, 9))
    n_clusters = draw(st.integers(1, 3))
    gap = 10.0 ** draw(st.integers(2, 8)) * spread
    base = draw(st.sampled_from([0.0, 1e3, 1e6])) * spread
    n = draw(st.integers(1, max_points))
    m = draw(st.integers(1, max_points))
    x, y = _clustered_clouds(rng, n, m, d, n_clusters, gap, spread, base)
    if draw(st.booleans()):  # duplicated points, within a cloud and across the two clouds
        x[rng.integers(0, n, size=n // 3)] = x[0]
        y[0] = x[rng.integers(0, n)]
    kind, a, b, den, counts = _draw_weights(draw, rng, n, m, d, p, max_copies)
    dtype = np.float32 if allow_float32 and draw(st.booleans()) else np.float64
    x, y = x.astype(dtype), y.astype(dtype)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        x, y = x.astype(np.float64), y.astype(np.float64)
    desc = (f"{n_clusters} cluster(s), spread 1e{int(round(math.log10(spread)))}, gap "
            f"{gap / spread:.0e} spreads, offset {base / spread:.0e}")
    return HostileProblem(x, y, a, b, p, kind, den, desc, counts)


def _clustered_clouds(rng, n, m, d, n_clusters, gap, spread, base):
    """Two clouds over the same clusters (centres ``gap`` apart along a random direction,
    Gaussian spread), different counts per cluster, translated by ``base`` spreads."""
    direction = rng.standard_normal(d)
    direction /= np.linalg.norm(direction)
    centres = np.array([k * gap * direction for k in range(n_clusters)])
    shift = base * rng.standard_normal(d)

    def cloud(k):
        lab = rng.integers(0, n_clusters, size=k)
        return centres[lab] + spread * rng.standard_normal((k, d)) + shift

    return cloud(n), cloud(m)


def _draw_weights(draw, rng, n, m, d, p, max_copies):
    """(kind, a, b, denominator, counts): dyadic (zeros likely), uniform, or -- in 1-D with
    p >= 1, where the truth is exact for any weights -- wild weights with tiny values."""
    kind = draw(st.sampled_from(["dyadic", "uniform"]
                                + (["exact-1d"] if d == 1 and p >= 1 else [])))
    if kind == "uniform" and n * m // math.gcd(n, m) <= 4 * max_copies:
        return kind, np.full(n, 1.0 / n), np.full(m, 1.0 / m), 0, ()
    if kind == "exact-1d":
        return kind, _wild_weights(rng, n, draw), _wild_weights(rng, m, draw), 0, ()
    # dyadic (also for uniform weights whose assignment would need too many copies)
    den = 2 ** (draw(st.integers(0, int(math.log2(max_copies)))) if kind == "dyadic" else 0)
    ca, cb = _dyadic_counts(rng, n, den), _dyadic_counts(rng, m, den)
    return "dyadic", ca / den, cb / den, den, (ca, cb)


def _dyadic_counts(rng, k: int, total: int) -> np.ndarray:
    """Nonnegative integers summing to ``total`` (zeros likely), at least one positive."""
    cuts = np.sort(rng.integers(0, total + 1, size=k - 1))
    counts = np.diff(np.concatenate([[0], cuts, [total]]))
    return counts.astype(np.int64)


def _wild_weights(rng, k: int, draw) -> np.ndarray:
    """Weights with exact zeros and tiny positive values (down to 1e-200 of the largest)."""
    w = rng.random(k) + 0.01
    tiny = rng.random(k) < 0.3
    w[tiny] = 10.0 ** -draw(st.sampled_from([20, 60, 160, 200]))
    zero = rng.random(k) < 0.2
    w[zero] = 0.0
    if not np.any(w > 0):
        w[0] = 1.0
    return w / w.sum()
