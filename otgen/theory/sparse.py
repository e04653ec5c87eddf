r"""Exact OT for large clouds: network simplex on a sparse graph, grown by column generation.

The optimal plan of an n x m problem has at most n + m - 1 nonzeros, and with good dual
potentials one can guess where they are.  The solver

1. builds a candidate graph of ~20 edges per point coarse-to-fine
   (:mod:`otgen.theory.coarse_to_fine`: clusterings of both clouds, the exact plan at each level
   refined into the next);
2. solves the LP restricted to that graph exactly (:func:`otgen.theory.simplex.sparse_emd`,
   POT's network simplex on capped costs);
3. certifies on the exact inputs (:mod:`otgen.theory.certificate`): the plan's exact flows give
   the upper bound; the certified c-transforms of both potentials over *all* pairs give two
   exactly feasible dual pairs, the better one the lower bound (for p = 2 also the Gelbrich bound
   of the moments).  The same passes list each row's and column's most violated partner
   :math:`C_{ij} < u_i + v_j`; they join the graph (column generation) and the LP is solved
   again, until the certified relative gap is <= ``tol`` (``None``: rounding level, i.e. exact)
   or no pair is violated.

Each round costs one sparse LP and two O(n m d) passes over the cost in blocks: memory stays
O((n + m) k).

References
----------
G. Dantzig, P. Wolfe. Decomposition principle for linear programs. Oper. Res. 1960 (column
generation).  B. Schmitzer. A sparse multiscale algorithm for dense optimal transport. JMIV 2016.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validate import Measures
from .certificate import ExactProblem, PlanValue, dual_value, plan_value
from .ctransform import certified_ctransform, gram_dual_loss, recentred
from .plans import SparseCoupling
from .closed_form import certified_gelbrich
from .coarse_to_fine import COARSEST, NEIGHBOURS, coarse_to_fine, tree_order
from .exact import EXACT_RTOL, gap_ok, pack_result
from .progress import logger, warn_caller
from .result import SolverOutput
from .simplex import SparsePlan, sparse_emd

#: from this dimension on (p = 2), certificates use BLAS products instead of coordinate
#: differences when their absolute rounding bound costs <= GRAM_SHARE x tol of the value
#: (cdist 1.04 s vs BLAS 0.12 s per 4e7 pairs at d = 64; equal around d = 4, measured)
GRAM_MIN_DIM = 8
GRAM_SHARE = 0.01
#: best partners per point examined by each certificate pass; the violated ones join the graph
#: (1: six rounds at n = 20,000, d = 64; 8: three).  16 measured slower on a quiet core
#: (digits, d = 64: 28.9 s with 8, 34.3 s with 16; a run beside another job had suggested the
#: opposite)
CANDIDATES = 8
#: a pair counts as violated when its reduced cost is below -VIOLATION_RTOL x the cost cap
#: (certified c-transforms are lowered by their rounding bound: ~1e-16 of the cap)
VIOLATION_RTOL = 1e-12


def solve_sparse(mu: Measures, p: float, *, tol=None, coarsest=None, neighbours=None,
                 max_rounds=50) -> SolverOutput:
    """Exact (or tol-certified) OT by coarse-to-fine column generation.

    The search (hierarchy, candidate pairs, the restricted LPs) runs on rounded, centred
    coordinates and capped costs; the returned interval is certified on the exact inputs by
    :mod:`otgen.theory.certificate` (the plan's exact flows, c-transforms over all pairs).
    """
    P0 = ExactProblem.build(mu.x, mu.y, mu.a, mu.b, p)
    ox, oy = tree_order(P0.X), tree_order(P0.Y)
    P = P0.permuted(ox, oy)  # clusters are blocks of consecutive points
    center = np.concatenate([P.X, P.Y]).mean(0)
    x, y = P.X - center, P.Y - center  # search coordinates only: never used in a bound
    a, b = P.a, P.b_balanced
    n, m = P.shape
    target = EXACT_RTOL if tol is None else max(tol, EXACT_RTOL)
    logger.info("sparse: n=%d, m=%d, d=%d, p=%g, tol %s", n, m, x.shape[1], p,
                "none (to optimality)" if tol is None else f"{tol:.2g}")
    start = coarse_to_fine(x, y, a, b, p, coarsest=coarsest or COARSEST,
                           neighbours=neighbours or NEIGHBOURS)
    gelbrich = certified_gelbrich(P.X, P.Y, P.a, P.b)[1] if p == 2 else -np.inf
    run = _column_generation(P, a, b, start, tol, target, max_rounds, gelbrich)
    best, cert = run.best, run.cert
    converged = gap_ok(cert.lower, best.upper, P, max(run.cap, best.cost_scale), target)
    if not converged:
        rel = (best.upper - cert.lower) / max(abs(best.upper), 1e-300)
        warn_caller(f"sparse exact solver stopped after {run.rounds} rounds with certified "
                    f"relative gap {rel:.2e}; the returned interval is still certified")
    out = pack_result(P, best, cert.lower, cert.f, cert.g, converged, run.rounds,
                      {"solver": "sparse-network-simplex", "edges": int(len(run.edges)),
                       "rounds": run.rounds, "levels": start.levels, "history": run.history})
    return unpermute(out, ox, oy)


@dataclass
class _Run:
    best: PlanValue
    cert: "_Certificate"
    rounds: int
    edges: np.ndarray
    cap: float
    history: list


def _column_generation(P: ExactProblem, a, b, start, tol, target, max_rounds,
                       gelbrich) -> _Run:
    """Rounds of (sparse LP, certificate, violated pairs added) until the certified gap meets
    ``target`` or no pair is violated; keeps the best plan and the best certificate."""
    m = P.shape[1]
    edges, cap = start.edges, start.cap
    costs = P.costs(edges // m, edges % m)
    best, cert, history = None, None, []
    for rnd in range(1, max_rounds + 1):
        plan = sparse_emd(a, b, edges // m, edges % m, costs, cap)
        cap = plan.cap
        pv = plan_value(P, plan.i, plan.j, plan.mass)
        if best is None or pv.upper < best.upper:
            best = pv

        def enough(lower, upper=best.upper, cap=cap):
            return gap_ok(lower, upper, P, max(cap, best.cost_scale), target)

        new_cert = _certify(P, plan, gelbrich, _use_gram(P, plan, tol, best.upper),
                            CANDIDATES, VIOLATION_RTOL * cap, enough)
        if cert is None or new_cert.lower > cert.lower:
            cert = new_cert
        history.append((len(edges), cert.lower, best.upper))
        logger.info("sparse round %d: %d edges, certified [%.17g, %.17g], relative gap %.2e",
                    rnd, len(edges), P.to_caller_units(cert.lower, "down"),
                    P.to_caller_units(best.upper, "up"),
                    (best.upper - cert.lower) / max(abs(best.upper), 1e-300))
        if enough(cert.lower):
            break
        new = np.setdiff1d(new_cert.violated, edges)
        if not len(new):
            break  # no violated pair left to add: the certificate is final
        edges, costs = _add_edges(P, edges, costs, new)
    return _Run(best, cert, rnd, edges, cap, history)


def _use_gram(P: ExactProblem, plan: SparsePlan, tol, upper: float) -> bool:
    """BLAS certificates (p = 2, d >= GRAM_MIN_DIM) when their rounding bound is small
    against the tolerance; never for exact solves (tol None)."""
    if P.p != 2 or P.X.shape[1] < GRAM_MIN_DIM or tol is None:
        return False
    g_max = max(float(np.abs(recentred(plan.u)).max()), float(np.abs(recentred(plan.v)).max()))
    return gram_dual_loss(P, g_max) <= GRAM_SHARE * tol * upper


def _add_edges(P: ExactProblem, edges, costs, new):
    """Merge new edge codes (not yet in ``edges``) into the sorted list and its costs."""
    m = P.shape[1]
    edges = np.concatenate([edges, new])
    costs = np.concatenate([costs, P.costs(new // m, new % m)])
    order = np.argsort(edges, kind="stable")
    return edges[order], costs[order]


@dataclass
class _Certificate:
    """Certified lower bound from one LP's potentials (u, v), with the pairs found violated."""

    lower: float
    f: np.ndarray
    g: np.ndarray
    violated: np.ndarray  # edge codes of candidate pairs with negative reduced cost


def _certify(P: ExactProblem, plan: SparsePlan, gelbrich: float, gram: bool,
             candidates: int, threshold: float, enough) -> _Certificate:
    r"""Certified c-transforms of the LP's potentials: :math:`(v^c, v)`, then, unless that
    bound is ``enough``, also :math:`(u, u^c)`; both are exactly feasible, the better dual value
    (or Gelbrich's) is the bound.  The same passes list each row's (column's) ``candidates``
    best partners whose reduced cost :math:`C_{ij} - u_i - v_j` is below ``-threshold``."""
    m = P.shape[1]
    mu, mv = float(np.median(plan.u)), float(np.median(plan.v))
    lower, f, g, violated = -np.inf, None, None, []
    # rows: fv_i <= min_j C_ij - (v_j - mv); (i, j) is violated when C_ij - v_j < u_i
    # columns: the same with the roles of (u, rows) and (v, columns) swapped
    for transpose, own, other, m_own, m_other in ((False, plan.u, plan.v, mu, mv),
                                                  (True, plan.v, plan.u, mv, mu)):
        other_c = other - m_other
        h, idx, vals = certified_ctransform(P, other_c, transpose=transpose, return_index=True,
                                            gram=gram, candidates=candidates,
                                            below=own + m_other - threshold)
        value = dual_value(P, other_c, h) if transpose else dual_value(P, h, other_c)
        if value > lower:
            lower, f, g = (value, other_c, h) if transpose else (value, h, other_c)
        bad = vals - m_other - own[:, None] < -threshold
        mine = np.broadcast_to(np.arange(len(vals))[:, None], vals.shape)[bad]
        violated.append(idx[bad] * m + mine if transpose else mine * m + idx[bad])
        if enough(max(lower, gelbrich)):
            break  # the second pass can only raise an interval that is already good enough
    return _Certificate(max(lower, gelbrich), f, g, np.concatenate(violated))


def unpermute(out: SolverOutput, ox: np.ndarray, oy: np.ndarray) -> SolverOutput:
    """Map a result on tree-ordered points back to the caller's order."""
    sp = out.plan
    n, m = len(ox), len(oy)
    out.plan = SparseCoupling(ox[sp.rows], oy[sp.cols], sp.mass, (n, m))
    if out.potentials is not None:
        f, g = out.potentials
        F, G = np.empty(n), np.empty(m)
        F[ox], G[oy] = f, g
        out.potentials = (F, G)
    return out
