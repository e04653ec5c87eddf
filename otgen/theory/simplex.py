r"""POT's network simplex, made safe for costs that span many magnitudes: the one wrapper.

:func:`dense_emd` solves the OT LP on a full cost matrix (``exact``, the coarse levels, the
paper's LPs); :func:`sparse_emd` solves it restricted to listed edges :math:`(r_k, c_k)`:

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

#: the cost cap starts at this multiple of the largest distance the plan provably needs
CAP_FACTOR = 16.0
#: the cost cap is raised by this factor (at least) when the plan uses a capped edge
CAP_GROWTH = 16.0
#: the smallest cost cap (dividing by it must not overflow)
MIN_CAP = 2.0 ** -900
#: added to every (capped, divided) edge cost so that zero costs stay stored
ZERO_SHIFT = 2.0 ** -4
#: POT's iteration cap (its default 1e5 is too small beyond n ~ 2,000)
MAX_ITER = 10**9


class InfeasibleGraph(RuntimeError):
    """The listed edges carry no flow with the given marginals (for the sparse solver's own
    graphs an otgen bug: its backbone guarantees one; for a user's sparse matrix, bad input)."""


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


def first_cap(C: np.ndarray, feasible_max: float = 0.0) -> float:
    """A first cost cap for a dense cost matrix (see :func:`nearest_cap`)."""
    return nearest_cap(C.min(1), C.min(0), feasible_max)


def nearest_cap(row_min: np.ndarray, col_min: np.ndarray, feasible_max: float = 0.0) -> float:
    """A first cost cap: CAP_FACTOR x the largest nearest-partner cost (every coupling moves
    some mass at least that far; rows and columns without a partner, inf, are ignored), or
    ``feasible_max``, the largest cost of some feasible plan, if larger."""
    nn = max(float(np.max(v[np.isfinite(v)], initial=0.0)) for v in (row_min, col_min))
    return max(CAP_FACTOR * nn, feasible_max, MIN_CAP)


def _raising_cap(solve, cap: float, top: float):
    """``solve(cap) -> (out, largest cost the plan uses)`` with the cap raised until the plan
    uses no capped cost (or the cap covers every cost, ``top``): then the capped optimum is
    the true one.  Returns ``(out, cap)``."""
    cap = max(float(cap), MIN_CAP)
    while True:
        out, used = solve(cap)
        if used < cap or cap >= top:
            return out, cap
        cap = max(CAP_GROWTH * cap, 2 * used)


def _emd(a, b, M, max_iter):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ot.emd(a, b, M, numItermax=max_iter, log=True)


def dense_emd(a, b, C, cap, max_iter=MAX_ITER):
    """ot.emd on min(C, cap) / cap, the cap raised until no capped pair carries mass (then the
    plan is optimal for C too); returns (plan, u, v, log, cap), potentials in C's units."""
    def solve(cap):
        Cc = np.minimum(C, cap)
        Cc /= cap
        G, log = _emd(a, b, Cc, max_iter)
        G = np.asarray(G)
        i, j = np.nonzero(G)
        return (G, log), (float(C[i, j].max()) if len(i) else 0.0)

    (G, log), cap = _raising_cap(solve, cap, float(C.max()) if C.size else 0.0)
    return G, np.asarray(log["u"]) * cap, np.asarray(log["v"]) * cap, log, cap


def sparse_emd(a: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: np.ndarray,
               cost: np.ndarray, cap: float, max_iter: int = MAX_ITER) -> SparsePlan:
    """Network simplex on the listed edges with costs capped at ``cap`` (raised until the plan
    uses no capped edge).  ``a`` and ``b`` must have equal sums and the graph must carry a
    feasible flow (callers include a feasibility backbone)."""
    n, m = len(a), len(b)

    def solve(cap):
        M = sp.coo_array((np.minimum(cost, cap) / cap + ZERO_SHIFT, (rows, cols)), shape=(n, m))
        G, log = _emd(a, b, M, max_iter)
        if log.get("result_code", 1) == 0:
            raise InfeasibleGraph("sparse network simplex: the candidate graph carries no "
                                  "feasible flow")
        G = sp.coo_array(G)
        keep = G.data > 0
        i, j, mass = G.row[keep].astype(np.int64), G.col[keep].astype(np.int64), G.data[keep]
        # the costs of the used edges, looked up by edge code (both lists are unique codes)
        used = _edge_costs(rows, cols, cost, i, j, m)
        return (i, j, mass, log), (float(used.max()) if len(used) else 0.0)

    (i, j, mass, log), cap = _raising_cap(solve, cap, float(cost.max()) if len(cost) else 0.0)
    u = np.asarray(log["u"]) * cap
    v = (np.asarray(log["v"]) - ZERO_SHIFT) * cap
    return SparsePlan(i, j, mass, u, v, cap)


def _edge_costs(rows, cols, cost, i, j, m) -> np.ndarray:
    codes = rows.astype(np.int64) * m + cols
    if np.all(codes[1:] > codes[:-1]):  # callers pass sorted unique codes: no sort needed
        return cost[np.searchsorted(codes, i * m + j)]
    order = np.argsort(codes, kind="stable")
    return cost[order[np.searchsorted(codes[order], i * m + j)]]
