r"""Certified bounds on the exact OT cost between two discrete measures.

Weak duality gives both sides cheaply:

* **lower** -- for any potential :math:`f`, the pair :math:`(f^{cc}, f^{c})` with
  :math:`f^c_j = \min_i C_{ij} - f_i` is dual feasible, so
  :math:`\langle a, f^{cc}\rangle + \langle b, f^{c}\rangle \le \mathrm{OT}`
  (:func:`otgen.theory.ctransform.dual_lower_bound`).
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

from math import fsum

import numpy as np
import torch

from .costs import CostGeometry, pair_costs
from .rounding import U, gamma, up


#: plans with at most this many entries are returned dense; larger ones only as their support
DENSE_PLAN_MAX = 4e6


def dense_plan(i, j, mass, n: int, m: int, max_entries: float = DENSE_PLAN_MAX):
    """The (n, m) matrix of a coupling given by its support, or None above ``max_entries``."""
    if n * m > max_entries:
        return None
    plan = np.zeros((n, m))
    np.add.at(plan, (i, j), mass)
    return plan


def rounded_plan_cost(geom: CostGeometry, a, b, u, v, eps, plan_cost=False):
    r"""Certified upper bound from the entropic plan
    :math:`P_{ij} = e^{(u_i + v_j - C_{ij})/\varepsilon}`, rounded onto U(a, b), computed
    without storing P.

    ``u, v`` include the log-weights; ``b`` the balanced weights.  Returns
    ``(upper, marginal_error_l1, plan_cost)``; ``plan_cost`` is :math:`\langle P, C\rangle` of
    the unrounded plan when asked for (from the same pass as its row sums: free on torch
    blocks, one more reduction on KeOps), else None.  The bound is rigorous for the exact
    inputs: see :func:`rounding_upper_bound`.
    """
    a, b, u, v = (geom.as_tensor(t) for t in (a, b, u, v))
    rows, _, cost0 = geom.plan_stats(u, v, eps, need=("rows", "cost") if plan_cost else ("rows",))
    s = torch.where(rows > 0, torch.clamp(a / rows, max=1.0), torch.ones_like(rows))
    u1 = u + eps * torch.log(s)
    _, cols, _ = geom.plan_stats(u1, v, eps, need=("cols",))
    t = torch.where(cols > 0, torch.clamp(b / cols, max=1.0), torch.ones_like(cols))
    v1 = v + eps * torch.log(t)
    rows2, cols2, cost = geom.plan_stats(u1, v1, eps)
    marg_err = float((a - rows).abs().sum())
    upper = rounding_upper_bound(geom, a.double().cpu().numpy(), b.double().cpu().numpy(),
                                 rows2.double().cpu().numpy(), cols2.double().cpu().numpy(),
                                 float(cost))
    return upper, marg_err, (float(cost0) if plan_cost else None)


def rounding_upper_bound(geom: CostGeometry, a, b, rows, cols, cost) -> float:
    r"""Rigorous upper bound on OT(a, b~) from a nonnegative matrix P' whose row sums, column
    sums and cost :math:`\sum P'_{ij} \hat C_{ij}` were computed as ``rows``, ``cols``, ``cost``.

    Altschuler-Weed-Rigollet rounding, in exact arithmetic on the exact P': scale rows by
    :math:`s_i = \min(1, a_i / r_i)`, columns by :math:`t_j = \min(1, b_j / c_j)`, and add
    :math:`e_r e_c^T / \delta` for the deficits (total :math:`\delta`).  The computed sums
    are within :math:`\rho = \gamma_{\max(n, m) + 16}` relative of the exact ones (16 ulps for
    re-evaluating exp on identical inputs in separate passes); the computed cost within
    :math:`\gamma_{nm + 16}` plus ``geom.cost_error()`` per unit of mass.  Deficits are bounded
    above entrywise (:math:`\bar e_r, \bar e_c`), their total below (:math:`\delta_{lo}`), and
    the correction is the smaller of :math:`\max C \cdot \bar\delta` and
    :math:`\bar e_r^T \bar C \bar e_c / \delta_{lo}`.
    """
    n, m = len(a), len(b)
    rho = 2 * gamma(max(n, m) + 16)
    E = geom.cost_error()
    b_hi = b * (1 + 2 * gamma(n + m + 4))  # the float b against the exact b~ = b sum a / sum b
    b_lo = b * (1 - 2 * gamma(n + m + 4))
    r_lo = rows * (1 - rho)
    with np.errstate(divide="ignore", invalid="ignore"):
        s_lo = np.where(rows > 0, np.minimum(1.0, a / (rows * (1 + rho))), 1.0)
        t_lo = np.where(cols > 0, np.minimum(1.0, b_lo / (cols * (1 + rho))), 1.0)
    s_lo, t_lo = s_lo * (1 - 4 * U), t_lo * (1 - 4 * U)
    er = np.maximum(a - s_lo * r_lo * float(t_lo.min(initial=1.0)), 0.0) * (1 + 4 * U)
    ec = np.maximum(b_hi - t_lo * cols * (1 - rho) * float(s_lo.min(initial=1.0)), 0.0)
    ec *= 1 + 4 * U
    total_hi = up(fsum(rows.tolist()) * (1 + rho) * (1 + 2 * U))
    mass_lo = fsum(a.tolist()) * (1 - 2 * U)
    delta_lo = mass_lo - total_hi
    delta_hi = up(min(fsum(er.tolist()), fsum(ec.tolist())) * (1 + 2 * U))
    plan_part = up(cost * (1 + 2 * gamma(n * m + 16)) + E * total_hi)
    correction = up(geom.max_cost_bound() * delta_hi)
    if delta_lo > 0 and delta_hi > 0:
        R = geom.sq_radius()
        bil = float(geom.bilinear(er, ec))
        err = ((E + gamma(n + m + geom.x.shape[1] + 8) * 4 * R)
               * fsum(er.tolist()) * fsum(ec.tolist()))
        bil_hi = up(max(bil, 0.0) * (1 + 2 * gamma(n + m + 8)) + err * (1 + 4 * U))
        correction = min(correction, up(bil_hi / (delta_lo * (1 - 2 * U))))
    return up(plan_part + correction)


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


def projected_coupling_cost(x, y, a, b, p, directions) -> tuple[float, np.ndarray]:
    """Best (over ``directions``) float cost of the projected quantile coupling: a quick
    estimate of an upper bound (not certified: see
    :func:`otgen.theory.certificate.projected_coupling_upper` for the certified one).

    Returns ``(cost, best_direction)``.
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
