r"""Certified W_2 between very large clouds in low dimension, from an OT between their clusters.

Every exact LP engine measured here grows faster than n^1.8 (``otgen.theory.simplex``), so
a million points cannot go through one.  But a tolerance of 1% does not need the fine LP:

1. **Quantize.**  Both clouds are put in k-d tree order and cut into clusters of ``s``
   consecutive points (weighted centroids, total masses).
2. **Coarse OT.**  The OT between the two sets of centroids is solved by the sparse solver
   (``sparse.solve_sparse``, tolerance ``tol / 4``): its plan :math:`\Pi`
   and potentials :math:`(\bar f, \bar g)`.
3. **Upper bound: refine the coarse plan.**  Each coarse pair (k, l) carries
   :math:`\Pi_{kl}`; inside it the points of cluster k (masses :math:`a_i \Pi_{kl} / A_k`) and
   of cluster l (:math:`b_j \Pi_{kl} / B_l`) are coupled by the north-west corner rule along
   one axis.  That is a coupling of (a, b) with at most ~2 n pairs; its cost is certified by
   ``certificate.plan_value`` (exact integer flows, rounding repaired).  For
   p = 2 it exceeds the coarse optimum by at most the within-cluster variances
   :math:`V_\mu + V_\nu`.
4. **Lower bound: extend the coarse potential.**  The coarse potential becomes a function on
   the plane by its c-transform, :math:`g(y) = \min_k |\bar x_k - y|^2 - \bar f_k` (found
   exactly by the pruned search), smoothed by a soft-min over the 24 coarse neighbours of the
   argmin at the coarse spacing; then :math:`f = g^c` on the fine points by the *certified*
   pruned c-transform (``ctransform.pruned_ctransform``) and the bound is the
   dual value of (f, g), exactly feasible over all n m pairs.

If the certified gap exceeds ``tol``, the clusters are cut 4x smaller and the steps repeat
(at most :data:`MAX_REFINEMENTS` times); the best bounds of all attempts are kept (each is
valid on its own).

Measured (2 cores, x ~ N(0, I), y ~ N(1, I), d = 2): n = m = 1,000,000, clusters of 64 points:
interval [1.9893, 2.0019] (0.63%); see docs/benchmarks-large-n.md for the benchmark row.

References
----------
Q. Mérigot. A multiscale approach to optimal transport. Computer Graphics Forum 30, 2011.
B. Schmitzer. A sparse multiscale algorithm for dense optimal transport. JMIV 56, 2016.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from .._validate import Measures, mass_matched
from .certificate import ExactProblem, PlanValue, dual_value, plan_value
from .certify import default_directions
from .coarse_to_fine import clusters, tree_order
from .ctransform import PRUNED_MAX_DIM, pruned_ctransform, recentred
from .exact import gap_ok, pack_result
from .progress import logger, warn_caller
from .result import SolverOutput
from .sparse import solve_sparse, unpermute

#: clusters per cloud of the first attempt (the coarse sparse solve: ~3 s at 15,625, d = 2)
FIRST_CLUSTERS = 16000
#: each refinement cuts clusters this many times smaller
SHRINK = 4
#: at most this many refinements after the first attempt
MAX_REFINEMENTS = 2
#: when clusters of SHRINK points miss tol, the sparse solver finishes only up to this n m
#: (n = 100,000, d = 2: 167 s; it grows like n^2.3); beyond, the best interval is returned
SPARSE_FALLBACK_MAX_PAIRS = 1.6e10
#: coarse neighbours of the argmin in the soft-min that smooths the extended potential
SOFT_NEIGHBOURS = 24
#: fine neighbours of the plan partner searched for each row's threshold
THRESHOLD_NEIGHBOURS = 16


@dataclass
class _Attempt:
    size: int
    lower: float           # normalized units
    pv: PlanValue          # the certified coupling (tree order): upper bound, support, scale
    f: np.ndarray
    g: np.ndarray


@dataclass
class _Frame:
    """What every attempt shares: the problem in tree order, its search coordinates (centred
    on the bounding box's midpoint, not the mean, so that identical points stay identical;
    never used in a bound) and the axis of the north-west refinement."""

    P: ExactProblem
    xs: np.ndarray
    ys: np.ndarray
    theta: np.ndarray

    @classmethod
    def build(cls, P: ExactProblem) -> "_Frame":
        both = np.concatenate([P.X, P.Y])
        center = (both.min(0) + both.max(0)) / 2
        xs, ys = P.X - center, P.Y - center
        return cls(P, xs, ys, default_directions(xs, ys, n_random=0)[0])


def quantized_applies(p: float, d: int) -> bool:
    """The method needs p = 2 (the pruned c-transform) and d <= PRUNED_MAX_DIM."""
    return p == 2 and 1 <= d <= PRUNED_MAX_DIM


def first_cluster_size(n: int, m: int) -> int:
    """The power of SHRINK giving about FIRST_CLUSTERS clusters for the larger cloud."""
    s = 1
    while max(n, m) / (s * SHRINK) >= FIRST_CLUSTERS:
        s *= SHRINK
    return s


def solve_quantized(mu: Measures, p: float, *, tol: float = 1e-2,
                    cluster_size: int | None = None) -> SolverOutput:
    """Certified OT (p = 2, d <= 3) from the OT between clusters of ``cluster_size`` points,
    refined 4x until the certified relative gap is <= ``tol`` (see the module docstring)."""
    if not quantized_applies(p, mu.d):
        raise ValueError(f"method='quantized' needs p = 2 and 1 <= d <= {PRUNED_MAX_DIM}; got "
                         f"p = {p}, d = {mu.d} (use method='sparse')")
    P0 = ExactProblem.build(mu.x, mu.y, mu.a, mu.b, p)
    ox, oy = tree_order(P0.X), tree_order(P0.Y)
    P = P0.permuted(ox, oy)
    size = cluster_size or first_cluster_size(*P.shape)
    if size == 1 or tol <= 0:  # the coarse problem is the problem itself / an exact solve
        return solve_sparse(mu, p, tol=tol)
    logger.info("quantized: n=%d, m=%d, d=%d, clusters of %d points, tol %.2g",
                *P.shape, mu.d, size, tol)
    frame, best, attempts = _Frame.build(P), None, 0
    while True:
        att = _attempt(frame, size, tol)
        attempts += 1
        best = att if best is None else _merge(best, att)
        upper = best.pv.upper
        logger.info("quantized: clusters of %d points: certified [%.10g, %.10g]", size,
                    P.to_caller_units(best.lower, "down"), P.to_caller_units(upper, "up"))
        done = gap_ok(best.lower, upper, P, best.pv.cost_scale, tol)
        if done or attempts > MAX_REFINEMENTS:
            break
        if size // SHRINK == 1:  # the next level is the fine problem: the sparse solver's
            if P.shape[0] * P.shape[1] > SPARSE_FALLBACK_MAX_PAIRS:
                break  # minutes to hours there (time ~ n^2.3): keep the certified interval
            logger.info("quantized: gap above tol down to clusters of %d points; solving the "
                        "fine problem with the sparse solver", SHRINK)
            return solve_sparse(mu, p, tol=tol)
        size //= SHRINK
    if not done:
        rel = (upper - best.lower) / max(abs(upper), 1e-300)
        warn_caller(f"quantized solver stopped at clusters of {size} points with certified "
                    f"relative gap {rel:.2e} > tol; the returned interval is still certified")
    out = pack_result(P, best.pv, best.lower, best.f, best.g, done, attempts,
                      {"solver": "quantized", "cluster_size": best.size, "attempts": attempts})
    return unpermute(out, ox, oy)


def _attempt(frame: _Frame, size: int, tol: float) -> _Attempt:
    """One coarse solve and the two certified bounds it gives (normalized units)."""
    P, xs, ys = frame.P, frame.xs, frame.ys
    a, b = P.a, P.b_balanced
    cx, wa = clusters(xs, a, size)
    cy, wb = clusters(ys, b, size)
    wb = mass_matched(wb, wa)
    coarse = solve_sparse(Measures(cx, cy, wa, wb, None), 2.0, tol=tol / 4)
    cp = coarse.plan
    i, j, mass = refine_plan(xs, ys, a, b, size, (cp.rows, cp.cols, cp.mass), frame.theta)
    pv = plan_value(P, i, j, mass)
    g = extended_potential(ys, cx, wa, coarse.potentials[0], size, (i, j, mass))
    f = pruned_ctransform(P, g, _thresholds(P, ys, g, pv.i, pv.j))
    lower = max(dual_value(P, f, g), 0.0)  # costs are >= 0: so is every coupling's cost
    return _Attempt(size, lower, pv, f, g)


def _merge(old: _Attempt, new: _Attempt) -> _Attempt:
    """The better bound of each side (both are certified)."""
    lo = old if old.lower >= new.lower else new
    hi = old if old.pv.upper <= new.pv.upper else new
    return _Attempt(new.size, lo.lower, hi.pv, lo.f, lo.g)


def refine_plan(xs, ys, a, b, size: int, coarse, theta):
    r"""A coupling of (a, b) from a coupling of the cluster masses: inside each coarse pair
    (k, l) with mass :math:`\Pi_{kl}`, the north-west corner rule between the points of
    cluster k (masses :math:`a_i \Pi_{kl} / A_k`) and of cluster l
    (:math:`b_j \Pi_{kl} / B_l`), both sorted along ``theta``.  Returns ``(i, j, mass)``
    (float masses: exact feasibility is restored by
    :func:`~otgen.theory.certificate.plan_value`)."""
    ci, cj, cmass = coarse
    ox, fx, sx, nx = _cumulative_fractions(xs, a, size, theta)
    oy, fy, sy, ny = _cumulative_fractions(ys, b, size, theta)
    px, ex = _members(sx[ci], nx[ci])  # positions of each edge's x points, and the edge
    py, ey = _members(sy[cj], ny[cj])
    # the union of both sides' breakpoints in (0, 1] per edge, sorted
    t = np.concatenate([fx[px], fy[py]])
    e = np.concatenate([ex, ey])
    order = np.lexsort((t, e))
    t, e = t[order], e[order]
    keep = np.r_[True, (t[1:] != t[:-1]) | (e[1:] != e[:-1])]
    t, e = t[keep], e[keep]
    lo = np.r_[0.0, t[:-1]]
    lo[np.r_[True, e[1:] != e[:-1]]] = 0.0
    mid = (lo + t) / 2  # each piece (lo, t] of an edge belongs to one x point and one y point
    ii = px[np.searchsorted(2.0 * ex + fx[px], 2.0 * e + mid)]
    jj = py[np.searchsorted(2.0 * ey + fy[py], 2.0 * e + mid)]
    return ox[ii], oy[jj], cmass[e] * (t - lo)


def _cumulative_fractions(z, w, size: int, theta):
    """Within each cluster of ``size`` consecutive points, sorted along ``theta``: the order,
    each point's cumulative mass fraction (the last one exactly 1), the clusters' first
    positions and sizes."""
    label = np.arange(len(z)) // size
    order = np.lexsort((z @ theta, label))
    counts = np.bincount(label)
    start = np.r_[0, np.cumsum(counts)[:-1]]
    cs = np.cumsum(w[order])
    base = np.r_[0.0, cs][start]
    total = np.bincount(label, w)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = (cs - base[label]) / total[label]
    frac[start + counts - 1] = 1.0
    return order, np.nan_to_num(frac, nan=1.0), start, counts


def _members(first, count):
    """For edges whose points are positions first[e] .. first[e] + count[e] - 1: every
    position and its edge, edge by edge."""
    edge = np.repeat(np.arange(len(first)), count)
    offset = np.arange(len(edge)) - np.repeat(np.cumsum(count) - count, count)
    return np.repeat(first, count) + offset, edge


def extended_potential(ys, cx, wa, fc, size: int, fine_plan) -> np.ndarray:
    r"""The coarse row potential :math:`\bar f` (on the centroids ``cx``) carried to the fine
    column points: :math:`g(y_j) = -\varepsilon \log \sum_{k \in N_j} A_k
    e^{(\bar f_k - |\bar x_k - y_j|^2)/\varepsilon}` over the :data:`SOFT_NEIGHBOURS` coarse
    neighbours :math:`N_j` of the exact argmin of :math:`|\bar x_k - y_j|^2 - \bar f_k`, at
    :math:`\varepsilon` = the median squared distance between neighbouring centroids.  Any g
    gives a valid bound; this one is smooth (as the continuous potential is) and never above
    the hard c-transform by more than :math:`\varepsilon \log(1 / A_k)`."""
    i, j, mass = fine_plan
    part = np.zeros(len(ys), np.int64)  # each point's coarse partner, through its fine partner
    order = np.argsort(mass, kind="stable")
    part[j[order]] = i[order] // size
    start = ((ys - cx[part]) ** 2).sum(1) - fc[part]
    Pg = ExactProblem.build(ys, cx, np.ones(len(ys)), wa, 2.0)  # a search: exact scaling only
    scale = math.ldexp(1.0, min(2 * Pg.k, 1000))
    T = start * scale
    if not (np.all(np.isfinite(T)) and np.all(np.isfinite(fc * scale))):
        return recentred(start)  # a degenerate cloud (all points within 1e-300): any g will do
    _, kstar = pruned_ctransform(Pg, fc * scale, T + 1e-9 * np.abs(T) + 1e-300,
                                 return_index=True)
    kstar = np.where(kstar >= 0, kstar, part)
    hard = ((ys - cx[kstar]) ** 2).sum(1) - fc[kstar]
    k = min(SOFT_NEIGHBOURS, len(cx))
    near = np.asarray(cKDTree(cx).query(cx, k=k)[1]).reshape(len(cx), k)
    cand = near[kstar]
    spacing = ((cx[near[:, min(1, k - 1)]] - cx[near[:, 0]]) ** 2).sum(1)
    eps = float(np.median(spacing))
    with np.errstate(all="ignore"):
        z = (fc[cand] - ((ys[:, None, :] - cx[cand]) ** 2).sum(-1)) / eps + np.log(wa[cand])
        top = z.max(1)
        g = -eps * (top + np.log(np.exp(z - top[:, None]).sum(1)))
    if not (eps > 0 and np.all(np.isfinite(g))):
        g = hard  # coincident centroids: the hard c-transform, unsmoothed
    return recentred(g)


def _thresholds(P: ExactProblem, ys, g, i, j) -> np.ndarray:
    r"""For each row, the smallest computed :math:`C_{ij} - g_j` over the
    :data:`THRESHOLD_NEIGHBOURS` fine points nearest its plan partner: the pruned search then
    skips every box that cannot beat it (any threshold gives a valid bound)."""
    n = P.shape[0]
    part = np.zeros(n, np.int64)
    part[i] = j
    k = min(THRESHOLD_NEIGHBOURS, len(ys))
    near = np.asarray(cKDTree(ys).query(ys[part], k=k)[1]).reshape(n, k)
    vals = ((P.X[:, None, :] - P.Y[near]) ** 2).sum(-1) - g[near]
    T = vals.min(1)
    return T + 1e-9 * np.abs(T) + 1e-300
