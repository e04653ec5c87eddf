r"""POT's network simplex on a sparse graph, made safe for costs that span many magnitudes.

:func:`sparse_emd` solves the OT LP restricted to listed edges :math:`(r_k, c_k)`:

.. math:: \min_{\pi \ge 0} \sum_k \pi_k C_k \quad \text{s.t.}\quad
          \sum_{k: r_k = i} \pi_k = a_i,\ \sum_{k: c_k = j} \pi_k = b_j .

POT's simplex works to absolute tolerances, so costs are capped at ``cap`` and divided by it
(they lie in [0, 1]); the cap is raised until the plan uses no capped edge, at which point the
capped optimum is the true one (see :mod:`otgen.theory.exact`).  Every cost is shifted by
:data:`ZERO_SHIFT` so that explicit zero costs stay stored in the sparse matrix; a constant
shift changes every coupling's cost by the same amount.

POT's sparse path has no warm start (``potentials_init`` is used by the dense path only), so
each call is a cold solve: measured at 2 cores, d = 2, ~10 edges per point, 1.2 s at
n = m = 20,000, 12 s at 50,000, 41 s at 100,000, 215 s at 200,000 (time ~ n^2.3).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import ot
import scipy.sparse as sp

#: the cost cap is raised by this factor (at least) when the plan uses a capped edge
CAP_GROWTH = 16.0
#: added to every (capped, divided) edge cost so that zero costs stay stored
ZERO_SHIFT = 2.0 ** -4
#: POT's iteration cap (its default 1e5 is too small beyond n ~ 2,000)
MAX_ITER = 10**9


@dataclass
class SparsePlan:
    """An optimal plan of a sparse LP: support, masses, potentials (cost units), cap used."""

    i: np.ndarray
    j: np.ndarray
    mass: np.ndarray
    u: np.ndarray
    v: np.ndarray
    cap: float

    def heaviest_partners(self, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
        """For every row its column of largest mass, and for every column its heaviest row."""
        order = np.argsort(self.mass, kind="stable")  # later (heavier) writes win
        row = np.zeros(n, np.int64)
        col = np.zeros(m, np.int64)
        row[self.i[order]] = self.j[order]
        col[self.j[order]] = self.i[order]
        return row, col


def sparse_emd(a: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: np.ndarray,
               cost: np.ndarray, cap: float) -> SparsePlan:
    """Network simplex on the listed edges with costs capped at ``cap`` (raised until the plan
    uses no capped edge).  ``a`` and ``b`` must have equal sums and the graph must carry a
    feasible flow (callers include a feasibility backbone)."""
    n, m = len(a), len(b)
    cap = max(float(cap), 2.0 ** -900)
    top = float(cost.max()) if len(cost) else 0.0
    while True:
        M = sp.coo_array((np.minimum(cost, cap) / cap + ZERO_SHIFT, (rows, cols)), shape=(n, m))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            G, log = ot.emd(a, b, M, numItermax=MAX_ITER, log=True)
        if log.get("result_code", 1) == 0:
            raise RuntimeError("sparse network simplex: the candidate graph carries no feasible "
                               "flow (otgen bug: the backbone should guarantee one)")
        G = sp.coo_array(G)
        keep = G.data > 0
        i, j, mass = G.row[keep].astype(np.int64), G.col[keep].astype(np.int64), G.data[keep]
        # the costs of the used edges, looked up by edge code (both lists are unique codes)
        used = _edge_costs(rows, cols, cost, i, j, m)
        if not len(used) or used.max() < cap or cap >= top:
            break
        cap = max(CAP_GROWTH * cap, 2 * float(used.max()))
    u = np.asarray(log["u"]) * cap
    v = (np.asarray(log["v"]) - ZERO_SHIFT) * cap
    return SparsePlan(i, j, mass, u, v, cap)


def _edge_costs(rows, cols, cost, i, j, m) -> np.ndarray:
    codes = rows.astype(np.int64) * m + cols
    if np.all(codes[1:] > codes[:-1]):  # callers pass sorted unique codes: no sort needed
        return cost[np.searchsorted(codes, i * m + j)]
    order = np.argsort(codes, kind="stable")
    return cost[order[np.searchsorted(codes[order], i * m + j)]]
