r"""Certified bounds on the exact OT cost between two discrete measures.

Weak duality gives both sides cheaply:

* **lower** -- for any potential :math:`f`, the pair :math:`(f^{cc}, f^{c})` with
  :math:`f^c_j = \min_i C_{ij} - f_i` is dual feasible, so
  :math:`\langle a, f^{cc}\rangle + \langle b, f^{c}\rangle \le \mathrm{OT}`.
  One or two min-reductions over the cost matrix (O(n + m) memory with blocks or KeOps).
* **upper** -- the cost of any coupling with marginals exactly (a, b).  Approximate plans are
  first rounded onto the transport polytope (Altschuler, Weed & Rigollet 2017, Alg. 2).
  A plan-free alternative is the *projected quantile coupling*: the monotone (north-west
  corner) coupling of the 1-D projections, costed in the full space.

References
----------
J. Altschuler, J. Weed, P. Rigollet. Near-linear time approximation algorithms for optimal
transport via Sinkhorn iteration. NeurIPS 2017.
G. Peyré, M. Cuturi. Computational Optimal Transport, 2019, Sec. 3.1 and 4.
"""
from __future__ import annotations

import numpy as np
import torch

from .costs import CostGeometry, pair_costs


#: plans with at most this many entries are returned dense; larger ones only as their support
DENSE_PLAN_MAX = 4e6


def dense_plan(i, j, mass, n: int, m: int, max_entries: float = DENSE_PLAN_MAX):
    """The (n, m) matrix of a coupling given by its support, or None above ``max_entries``."""
    if n * m > max_entries:
        return None
    plan = np.zeros((n, m))
    np.add.at(plan, (i, j), mass)
    return plan


def dual_lower_bound(geom: CostGeometry, a, b, f):
    """Certified lower bound from a row potential ``f`` by a double c-transform.

    Returns ``(lower, f_cc, g_c)`` with ``f_cc_i + g_c_j <= C_ij`` for all i, j.
    """
    a, b = geom._t(a), geom._t(b)
    g_c = geom.cmin(f, transpose=True)          # g_j = min_i C_ij - f_i
    f_cc = geom.cmin(g_c)                       # f_i = min_j C_ij - g_j  (>= f, still feasible)
    lower = float((a * f_cc).sum() + (b * g_c).sum())
    return lower, f_cc, g_c


def round_dense_plan(P: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Round a nonnegative matrix onto the transport polytope U(a, b) (AWR 2017, Alg. 2)."""
    P = np.maximum(np.asarray(P, dtype=np.float64), 0)
    r = P.sum(1)
    P = P * np.minimum(1.0, np.divide(a, r, out=np.ones_like(a), where=r > 0))[:, None]
    c = P.sum(0)
    P = P * np.minimum(1.0, np.divide(b, c, out=np.ones_like(b), where=c > 0))[None, :]
    er = np.maximum(a - P.sum(1), 0)
    ec = np.maximum(b - P.sum(0), 0)
    if er.sum() > 0:
        P = P + np.outer(er, ec) / er.sum()
    return P


def rounded_plan_cost(geom: CostGeometry, a, b, u, v, eps, plan_cost=False):
    r"""Cost of the entropic plan :math:`P_{ij} = e^{(u_i + v_j - C_{ij})/\varepsilon}` after
    rounding onto U(a, b), computed without storing P.

    ``u, v`` include the log-weights.  Returns ``(upper, marginal_error_l1, plan_cost)``;
    ``plan_cost`` is :math:`\langle P, C\rangle` of the unrounded plan when asked for (from
    the same pass as its row sums: free on torch blocks, one more reduction on KeOps), else
    None.
    """
    a, b, u, v = (geom._t(t) for t in (a, b, u, v))
    rows, _, cost0 = geom.plan_stats(u, v, eps, need=("rows", "cost") if plan_cost else ("rows",))
    s = torch.where(rows > 0, torch.clamp(a / rows, max=1.0), torch.ones_like(rows))
    u1 = u + eps * torch.log(s)
    _, cols, _ = geom.plan_stats(u1, v, eps, need=("cols",))
    t = torch.where(cols > 0, torch.clamp(b / cols, max=1.0), torch.ones_like(cols))
    v1 = v + eps * torch.log(t)
    rows2, cols2, cost = geom.plan_stats(u1, v1, eps)
    er = torch.clamp(a - rows2, min=0)
    ec = torch.clamp(b - cols2, min=0)
    marg_err = float((a - rows).abs().sum())
    upper = float(cost)
    if float(er.sum()) > 0:
        upper += float(geom.bilinear(er, ec)) / float(er.sum())
    return upper, marg_err, (float(cost0) if plan_cost else None)


def northwest_coupling(pa: np.ndarray, pb: np.ndarray, a: np.ndarray, b: np.ndarray):
    """Monotone coupling of two 1-D weighted samples (sorted, north-west corner rule).

    Returns ``(i, j, mass)``: the coupling's support and masses (at most n + m - 1 entries).
    It is the optimal coupling for any convex cost of ``pa - pb`` in 1-D.
    """
    ia = np.argsort(pa, kind="stable")
    ib = np.argsort(pb, kind="stable")
    ca = np.cumsum(a[ia])
    cb = np.cumsum(b[ib])
    total = ca[-1]
    cb = cb * (total / cb[-1])  # equal masses to the last bit
    ca[-1] = cb[-1] = total
    t = np.union1d(ca, cb)
    t = t[t > 0]
    lo = np.concatenate([[0.0], t[:-1]])
    mass = t - lo
    keep = mass > 0
    t, lo, mass = t[keep], lo[keep], mass[keep]
    mid = (t + lo) / 2
    i = np.minimum(np.searchsorted(ca, mid, side="left"), len(ca) - 1)
    j = np.minimum(np.searchsorted(cb, mid, side="left"), len(cb) - 1)
    return ia[i], ib[j], mass


def projected_coupling_upper(x, y, a, b, p, directions) -> tuple[float, np.ndarray]:
    """Best (over ``directions``) cost of the projected quantile coupling: a certified upper bound.

    Returns ``(upper, best_direction)``.
    """
    best, best_dir = np.inf, None
    for theta in directions:
        i, j, mass = northwest_coupling(x @ theta, y @ theta, a, b)
        cost = float(np.dot(mass, pair_costs(x, y, i, j, p)))
        if cost < best:
            best, best_dir = cost, theta
    return best, best_dir


def default_directions(x, y, n_random: int = 4, seed: int = 0) -> list[np.ndarray]:
    """Principal axes of the pooled cloud, the mean-difference direction, a few random ones."""
    d = x.shape[1]
    both = np.concatenate([x, y]).astype(np.float64)
    dirs = []
    if d == 1:
        return [np.ones(1)]
    cov = np.cov(both.T) if both.shape[0] > 1 else np.eye(d)
    _, vecs = np.linalg.eigh(np.atleast_2d(cov))
    dirs.extend(vecs[:, ::-1][:, : min(d, 3)].T)
    diff = x.mean(0) - y.mean(0)
    if np.linalg.norm(diff) > 0:
        dirs.append(diff / np.linalg.norm(diff))
    rng = np.random.default_rng(seed)
    for _ in range(n_random):
        v = rng.standard_normal(d)
        dirs.append(v / np.linalg.norm(v))
    return dirs
