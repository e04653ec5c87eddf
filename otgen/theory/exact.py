r"""Exact OT by the network simplex (POT's ``ot.emd``), certified on the exact inputs.

The LP

.. math:: \min_{\pi \ge 0,\ \pi 1 = a,\ \pi^T 1 = b} \langle \pi, C \rangle
          \;=\; \max_{f_i + g_j \le C_{ij}} \langle a, f\rangle + \langle b, g\rangle

is solved by POT's network simplex (Bonneel et al. 2011) on a **capped** cost
:math:`\min(C, M)`, with M a small multiple of the transport distances the plan needs.  Far-apart
clusters make C span many orders of magnitude (1e12 between clusters, 0.1 inside), and the
simplex's potentials then carry absolute errors of about u max C: its optimality test fails and
the dual cancels catastrophically.  Capping keeps every potential of order M.  It is exact
whenever the optimal capped plan uses no capped pair: that plan costs the same under C, and
:math:`\mathrm{OT}(\min(C, M)) \le \mathrm{OT}(C)`; otherwise M grows and the LP is solved again.

The interval is then certified on the exact inputs (:mod:`otgen.theory.certificate`): the upper
bound is the cost of the plan's support with exact integer flows, the lower bound a double
c-transform of the simplex's column potential, and ``converged`` means that certified gap is at
rounding level (:data:`EXACT_RTOL`).  When it is not (the simplex stopped at a non-optimal basis),
the LP is re-solved on the reduced costs :math:`C_{ij} - f_i - g_j \ge 0` of the certified
potentials, capped at a much smaller level: they are ~0 on every pair that matters, so POT's
absolute precision becomes relative to that level.
"""
from __future__ import annotations

from math import fsum

import numpy as np

from .._validate import Measures
from .certificate import ExactProblem, PlanValue, plan_value
from .ctransform import certified_dual
from .certify import northwest_coupling
from .plans import SparseCoupling
from .progress import warn_caller
from .result import SolverOutput
from .rounding import U
from .simplex import CAP_FACTOR, MAX_ITER, dense_emd, first_cap

#: certified relative gap below which the simplex's answer is declared optimal.  The bounds' own
#: rounding is ~1e-14 relative; POT's potentials are accurate to ~1e-12 of the cost cap (tree
#: paths of n + m arcs), which at n = 5,000 left gaps of 3.7e-11 before a repair
EXACT_RTOL = 1e-10
#: a repair caps the reduced costs at this fraction of the cap: they are ~0 wherever the plan
#: can move, and POT's absolute precision then becomes relative to a much smaller scale
REPAIR_CAP = 2.0 ** -20
#: repairs (re-solves on reduced costs) before reporting a non-optimal basis
MAX_REPAIRS = 2


def initial_cap(P: ExactProblem, C: np.ndarray) -> float:
    """:func:`first_cap`, with the monotone coupling along the first axis as the feasible plan
    for point problems (a bare cost matrix has none)."""
    nw = 0.0
    if P.X.shape[1]:
        i, j, _ = northwest_coupling(P.X[:, 0], P.Y[:, 0], P.a, P.b_balanced)
        nw = float(P.costs(i, j).max())
    return first_cap(C, nw)


def gap_ok(lower: float, upper: float, P: ExactProblem, cap: float,
           rtol: float = EXACT_RTOL) -> bool:
    """The certified gap meets ``rtol`` (relative; default: rounding level), or, for a
    (near-)zero optimum, the rounding of potentials of size ``cap`` (64 u cap per unit mass)
    and the underflow term.  ``cap`` should also cover the largest cost the plan uses: an
    optimum made only of the weights' own rounding (1e-17 of mass moved at cost c) has a gap
    of about u c."""
    return upper - lower <= rtol * abs(upper) + 64 * U * cap + 8 * P.tau


def rounding_scale(cap: float, pv: PlanValue) -> float:
    """The scale of :func:`gap_ok`'s rounding slack: the cost cap, but at most CAP_FACTOR x the
    largest cost the plan uses.  A cap raised by one huge entry (costs spanning 1e-300 to
    1e183) would otherwise excuse any gap: a 3 x 3 matrix LP once came back "converged" with
    [3e-39, 72.9] around an optimum of 25."""
    if not pv.cost_scale > 0:  # a free plan: nothing smaller than the cap to measure by
        return cap
    return max(min(cap, CAP_FACTOR * pv.cost_scale), pv.cost_scale)


def solve_capped(P: ExactProblem, C: np.ndarray, max_iter: int):
    """Solve on capped costs until the cap is not binding; returns (plan, u, v, log, cap)."""
    return dense_emd(P.a, P.b_balanced, C, initial_cap(P, C), max_iter)


def solve_exact(mu: Measures, p: float, max_iter: int = MAX_ITER) -> SolverOutput:
    """Solve the OT LP exactly (numpy fields)."""
    return solve_problem(ExactProblem.build(mu.x, mu.y, mu.a, mu.b, p), max_iter)


def solve_problem(P: ExactProblem, max_iter: int = MAX_ITER) -> SolverOutput:
    """Capped network simplex, certificate and repairs on a normalized problem (points or a
    cost matrix), in the caller's units."""
    C = P.cost_rows(0, P.shape[0])  # normalized units (from coordinate differences)
    G, u, v, log, cap = solve_capped(P, C, max_iter)
    converged = log.get("result_code", 1) == 1
    pv, lower, f, g = _certify(P, G, v)
    repairs = 0
    while (converged and not gap_ok(lower, pv.upper, P, rounding_scale(cap, pv))
           and repairs < MAX_REPAIRS):
        repairs += 1  # re-solve on the reduced costs of the certified potentials (see above)
        R = C - f[:, None] - g[None, :]
        np.maximum(R, 0.0, out=R)
        G2, u2, v2, log, _ = dense_emd(P.a, P.b_balanced, R,
                                       rounding_scale(cap, pv) * REPAIR_CAP, max_iter)
        pv2, lower2, f2, g2 = _certify(P, G2, g + v2)
        if lower2 > lower:
            lower, f, g = lower2, f2, g2
        if pv2.upper < pv.upper:
            pv, G = pv2, G2
        converged = log.get("result_code", 1) == 1
    del C
    optimal = converged and gap_ok(lower, pv.upper, P, rounding_scale(cap, pv))
    if not converged:
        warn_caller(f"network simplex stopped at max_iter={max_iter} before optimality "
                    f"({log.get('warning')}); the returned interval is still certified")
    elif not optimal:
        warn_caller("network simplex ended at a non-optimal basis (certified relative gap "
                    f"{(pv.upper - lower) / max(abs(pv.upper), 1e-300):.2e}) even after "
                    f"{MAX_REPAIRS} repairs; the returned interval is still certified")
    return pack_result(P, pv, lower, f, g, optimal, int(log.get("n_iter", 0) or 0),
                       {"repairs": repairs, "cost_cap": float(cap)})


def _certify(P: ExactProblem, G: np.ndarray, v: np.ndarray):
    i, j = np.nonzero(G)
    pv = plan_value(P, i, j, G[i, j])
    lower, f, g = certified_dual(P, v)
    return pv, lower, f, g


def pack_result(P: ExactProblem, pv: PlanValue, lower: float, f, g, converged: bool,
                n_iter: int, info: dict) -> SolverOutput:
    """The solver output in the caller's units from normalized certified values (``f, g`` may
    be None when no potentials exist); the plan is the coupling's support."""
    upper_c = P.to_caller_units(pv.upper, "up")
    lower_c = P.to_caller_units(lower, "down")
    scale = 2.0 ** (-P.k * P.p)
    mass = np.ldexp(pv.mass, -P.ka)
    info = dict(info, exact_flows=bool(pv.exact), marginal_error=0.0 if pv.exact else None)
    info = {k: v for k, v in info.items() if v is not None}
    # the estimate: the plan's cost in plain float arithmetic (4.0 for a 4.0 problem), which
    # the certified interval contains up to its own rounding
    value = fsum((pv.mass * P.costs(pv.i, pv.j)).tolist()) * scale * 2.0 ** -P.ka
    value = min(max(value, lower_c), upper_c)
    return SolverOutput(value=value, lower=lower_c, upper=upper_c,
                        plan=SparseCoupling(np.asarray(pv.i, np.int64),
                                            np.asarray(pv.j, np.int64),
                                            np.asarray(mass, np.float64), P.shape),
                        potentials=None if f is None else (f * scale, g * scale),
                        converged=bool(converged), n_iter=n_iter, info=info)
