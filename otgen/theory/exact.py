r"""Exact OT by the network simplex (POT's ``ot.emd``), with a certified duality gap.

The LP

.. math:: \min_{\pi \ge 0,\ \pi 1 = a,\ \pi^T 1 = b} \langle \pi, C \rangle
          \;=\; \max_{f_i + g_j \le C_{ij}} \langle a, f\rangle + \langle b, g\rangle

is solved by POT's network simplex (Bonneel et al. 2011).  The primal plan's cost is the upper
bound; the dual potentials, made exactly feasible by a c-transform, give the lower bound.  At
optimality both agree to floating-point rounding; when the simplex hits its iteration cap the
interval stays valid and ``converged`` is False.
"""
from __future__ import annotations

import warnings

import numpy as np
import ot

from .._validate import Measures
from .certify import DENSE_PLAN_MAX, round_dense_plan
from .costs import BLOCK_ENTRIES, cost_matrix

#: network-simplex iteration cap (POT's default of 1e5 is too small beyond n ~ 2000)
MAX_ITER = 10**9


def solve_exact(mu: Measures, p: float, max_iter: int = MAX_ITER) -> dict:
    """Solve the OT LP exactly; returns a dict of OTResult fields (numpy arrays)."""
    C = cost_matrix(mu.x, mu.y, p)
    a = mu.a
    b = mu.b * (a.sum() / mu.b.sum())  # equal masses to the last bit, as the simplex needs
    # POT's simplex potentials carry absolute errors ~(n + m) * 1e-16 * (max C + 1) (its
    # artificial arcs cost (max C + 1)(n + m)): solve on C / max C so they are relative errors
    scale = float(C.max()) if C.size and C.max() > 0 else 1.0
    C /= scale  # in place: C can be huge
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        P, log = ot.emd(a, b, C, numItermax=max_iter, log=True)
    converged = log.get("result_code", 1) == 1
    P = np.asarray(P)
    marg = np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum()
    if marg > 1e-12 * a.sum():
        P = round_dense_plan(P, a, b)
    upper = float(np.vdot(P, C)) * scale
    # c-transform of the simplex's row potential: (u, g) is dual feasible by construction
    u = np.asarray(log["u"], dtype=np.float64)
    g = np.full(C.shape[1], np.inf)
    step = max(1, int(BLOCK_ENTRIES // max(C.shape[1], 1)))  # no second n x m temporary
    for s in range(0, C.shape[0], step):
        np.minimum(g, np.min(C[s:s + step] - u[s:s + step, None], axis=0), out=g)
    lower = float(np.dot(a, u) + np.dot(b, g)) * scale
    u, g = u * scale, g * scale
    if not converged:
        warnings.warn(f"network simplex stopped at max_iter={max_iter} before optimality "
                      f"({log.get('warning')}); returned interval [{lower:.6g}, {upper:.6g}] "
                      "is still certified", RuntimeWarning, stacklevel=4)
    coupling = None
    if P.size > DENSE_PLAN_MAX:  # keep only the support (<= n + m - 1 entries), not n x m
        i, j = np.nonzero(P)
        coupling, P = (i, j, P[i, j]), None
    return dict(value=upper, lower=lower, upper=upper, plan=P, coupling=coupling,
                potentials=(u, g), converged=converged,
                n_iter=int(log.get("n_iter", 0) or 0), info={"marginal_error": float(marg)})
