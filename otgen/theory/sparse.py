r"""Exact OT for large clouds: network simplex on a sparse graph, grown by column generation.

The optimal plan of an n x m problem has at most n + m - 1 nonzeros, and with good dual
potentials one can guess where they are.  The solver

1. estimates potentials from an exact (dense) solve on a subsample of ``SUBSAMPLE`` points,
   extended to all points by c-transforms;
2. keeps, for every point, its ``k`` best partners under the reduced cost
   :math:`C_{ij} - f_i - g_j`, plus a feasibility backbone (the monotone coupling along the
   principal axis), and solves that sparse LP exactly with POT's sparse network simplex,
   warm-started from the current potentials;
3. c-transforms the new potential over *all* pairs: this gives a certified lower bound (for
   p = 2 also the Gelbrich bound of the moments, which is tight for near-Gaussian clouds) and
   lists the pairs with negative reduced cost, which are added to the graph (column
   generation); repeat until no pair violates dual feasibility (then lower == upper == OT) or the
   certified relative gap is <= ``tol``.

The c-transform :math:`\min_j \|x_i - y_j\|^2 - g_j` is an exact nearest-neighbour query in
d + 1 dimensions (lift :math:`y_j \mapsto (y_j, \sqrt{K - g_j})`), answered by a k-d tree in
low dimension, and by blockwise brute force otherwise (or for p != 2).  Memory is
O((n + m) k) instead of O(nm).

References
----------
G. Dantzig, P. Wolfe. Decomposition principle for linear programs. Oper. Res. 1960 (column
generation).  B. Schmitzer. A sparse multiscale algorithm for dense optimal transport. JMIV 2016.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import ot
import scipy.sparse as sp
import torch
from scipy.spatial import cKDTree

from .._validate import Measures
from .certificate import ExactProblem, PlanValue, certified_dual, plan_value
from .certify import DENSE_PLAN_MAX, default_directions, northwest_coupling
from .closed_form import certified_gelbrich
from .costs import BLOCK_ENTRIES, cost_blocks, cost_matrix, pair_costs
from .exact import CAP_FACTOR, EXACT_RTOL, capped_emd, first_cap, gap_ok, pack_result
from .progress import logger, warn_caller

#: k-d trees are used for the p = 2 c-transform up to this dimension (lifted dim = d + 1)
KDTREE_MAX_DIM = 8
#: size of the subsample solved densely for the initial potentials
SUBSAMPLE = 4000
#: the certificate's second c-transform (which can only tighten the lower bound) is skipped
#: above this many pairs: one brute-force pass over 4e8 pairs takes ~1.3 s at d = 2
DOUBLE_CTRANSFORM_MAX = 1e8
#: added to every (capped, divided) edge cost of the restricted LP to keep zero costs stored
ZERO_SHIFT = 2.0 ** -4


def c_transform_knn(x, y, g, p, k=1):
    r"""The ``k`` smallest values of :math:`\|x_i - y_j\|^p - g_j` over j, and their indices.

    Returns ``(values (n, k), indices (n, k))``; exact (not approximate) in every backend.
    """
    k = min(k, y.shape[0])
    if p == 2 and x.shape[1] <= KDTREE_MAX_DIM:
        # C_ij - g_j = r_i + |B x_i - B^-1 (y_j - t)|^2 + s_j for any symmetric B > 0 and t:
        # an exact nearest-neighbour query once s_j is put in a lifted coordinate.  With B^2 = A,
        # t from the Gaussian Monge map x -> t + A x, s_j is nearly constant and the tree fast.
        B, Binv, t = _gaussian_map_factors(x, y)
        xt, yt = x @ B, (y - t) @ Binv
        s = (y * y).sum(1) - g - (yt * yt).sum(1)
        lift = np.sqrt(np.maximum(s - s.min(), 0.0))
        tree = cKDTree(np.column_stack([yt, lift]))
        _, idx = tree.query(np.column_stack([xt, np.zeros(len(x))]), k=k)
        idx = np.asarray(idx).reshape(len(x), k)
        # recompute exactly from coordinates (the tree only picks the indices)
        vals = pair_costs(x, y, np.repeat(np.arange(len(x)), k), idx.ravel(), p).reshape(
            len(x), k) - g[idx]
        order = np.argsort(vals, axis=1)
        return np.take_along_axis(vals, order, 1), np.take_along_axis(idx, order, 1)
    # the blocks only pick the indices; the values are recomputed exactly from coordinates
    idx = _blockwise_argmin_k(x, y, p, k, g)
    vals = pair_costs(x, y, np.repeat(np.arange(len(x)), k), idx.ravel(), p).reshape(
        len(x), k) - g[idx]
    return vals, idx


def nearest_neighbours(queries, points, k):
    """Indices (len(queries), k) of the ``k`` Euclidean nearest ``points`` of each query.

    A k-d tree up to ``KDTREE_MAX_DIM``; beyond, blockwise brute force (trees degrade to a slow
    exhaustive search in high dimension: 16,000 x 16,000 points, k = 8, d = 64: 19.6 s for
    scipy's cKDTree against ~1.5 s for the blocks on 2 cores).
    """
    if queries.shape[1] <= KDTREE_MAX_DIM:
        idx = cKDTree(points).query(queries, k=k)[1]
        return np.asarray(idx).reshape(len(queries), k)
    return _blockwise_argmin_k(queries, points, 2, k)


def _blockwise_argmin_k(x, y, p, k, g=None):
    r"""Indices (n, k) of the ``k`` smallest :math:`\|x_i - y_j\|^p - g_j` per row, by brute
    force over row blocks of the cost (one buffer, overwritten in place)."""
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    gt = None if g is None else torch.as_tensor(g)[None, :]
    rows = max(1, int(BLOCK_ENTRIES // max(len(y), 1)))
    return torch.cat([(C if gt is None else C.sub_(gt)).topk(k, dim=1, largest=False).indices
                      for _, C in cost_blocks(xt, yt, p, rows, reuse=True)]).numpy()


def _gaussian_map_factors(x, y):
    """(A^1/2, A^-1/2, t) of the Monge map x -> t + A x between Gaussian fits (I, shift if
    degenerate).  Only affects speed of the k-d tree, never the result."""
    d = x.shape[1]
    eye = np.eye(d)
    if len(x) <= d or len(y) <= d:
        return eye, eye, y.mean(0) - x.mean(0)
    S1, S2 = np.atleast_2d(np.cov(x.T)), np.atleast_2d(np.cov(y.T))
    w1, V1 = np.linalg.eigh(S1)
    if w1.min() <= 1e-12 * max(w1.max(), 1e-300) or not np.all(np.isfinite(S2)):
        return eye, eye, y.mean(0) - x.mean(0)
    r1, r1inv = (V1 * w1 ** 0.5) @ V1.T, (V1 * w1 ** -0.5) @ V1.T
    wc, Vc = np.linalg.eigh(r1 @ S2 @ r1)
    A = r1inv @ ((Vc * np.clip(wc, 0, None) ** 0.5) @ Vc.T) @ r1inv
    wa, Va = np.linalg.eigh((A + A.T) / 2)
    if wa.min() <= 1e-12 * max(wa.max(), 1e-300):
        return eye, eye, y.mean(0) - x.mean(0)
    t = y.mean(0) - A @ x.mean(0)
    return (Va * wa ** 0.5) @ Va.T, (Va * wa ** -0.5) @ Va.T, t


def _subsample_potentials(x, y, a, b, p, size, rng, k):
    n, m = len(x), len(y)
    ix = np.sort(rng.choice(n, min(n, size), replace=False, p=a / a.sum()))
    iy = np.sort(rng.choice(m, min(m, size), replace=False, p=b / b.sum()))
    aa, bb = a[ix] / a[ix].sum(), b[iy] / b[iy].sum()
    bb *= aa.sum() / bb.sum()
    C = cost_matrix(x[ix], y[iy], p)
    # first cap: also the largest cost of the monotone coupling along the principal axis (a
    # feasible plan), so that clustered data whose mass must cross do not need a second solve
    # (12 clusters, n = 10,000: the 4,000-point solve ran twice, 1.9 s each)
    axis = default_directions(x[ix], y[iy], n_random=0)[0]
    bi, bj, _ = northwest_coupling(x[ix] @ axis, y[iy] @ axis, aa, bb)
    cap = first_cap(C, float(C[bi, bj].max()))
    P, f_sub, _, _, sub_cap = capped_emd(aa, bb, C, cap, 10**9)
    g = c_transform_knn(y, x[ix], f_sub, p)[0][:, 0]  # g_j = min_i C - f_i
    f = c_transform_knn(x, y, g, p)[0][:, 0]
    # displacement candidates: move every point by the barycentric displacement of its nearest
    # subsample point, and take the k nearest points of the other cloud around it
    rows, cols = [], []
    for (src, dst, P_, isrc, idst, w, transpose) in (
            (x, y, P, ix, iy, aa, False), (y, x, P.T, iy, ix, bb, True)):
        bary = (P_ @ dst[idst]) / np.maximum(w, 1e-300)[:, None]
        near = nearest_neighbours(src, src[isrc], 1)[:, 0]
        moved = src + (bary - src[isrc])[near]
        kk = min(k, len(dst))
        nbr = nearest_neighbours(moved, dst, kk)
        r_, c_ = np.repeat(np.arange(len(src)), kk), nbr.ravel()
        rows.append(c_ if transpose else r_)
        cols.append(r_ if transpose else c_)
    return f, g, np.concatenate(rows), np.concatenate(cols), sub_cap


def solve_sparse(mu: Measures, p: float, *, tol=None, k=8, subsample=None, max_rounds=50,
                 seed=0, dense_plan_max=DENSE_PLAN_MAX) -> dict:
    """Exact (or tol-certified) OT by column generation; returns OTResult fields.

    The search (k-d trees, candidate pairs, the restricted LPs) runs on rounded, centred
    coordinates and capped costs; the returned interval is certified on the exact inputs by
    :mod:`otgen.theory.certificate` (the plan's exact flows, a c-transform over all pairs).
    """
    rng = np.random.default_rng(seed)
    P = ExactProblem.build(mu.x, mu.y, mu.a, mu.b, p)
    center = np.concatenate([P.X, P.Y]).mean(0)
    x, y = P.X - center, P.Y - center  # search coordinates only: never used in a bound
    a, b = P.a, P.b_balanced
    n, m = len(x), len(y)
    if subsample is None:
        subsample = SUBSAMPLE
    logger.info("sparse: n=%d, m=%d, d=%d, p=%g, exact potentials of a %d-point subsample, "
                "k=%d, tol %s", n, m, x.shape[1], p, min(n, m, subsample), k,
                "none (to optimality)" if tol is None else f"{tol:.2g}")
    f, g, edges, sub_cap = _initial_graph(x, y, a, b, p, subsample, rng, k)
    # cap costs at a multiple of the nearest-partner scale (see otgen.theory.exact): far pairs
    # of the backbone would otherwise make potentials huge and the simplex inexact
    near = max(float(pair_costs(x, y, np.arange(n), nearest_neighbours(x, y, 1)[:, 0], p).max()),
               float(pair_costs(y, x, np.arange(m), nearest_neighbours(y, x, 1)[:, 0], p).max()))
    cap = max(CAP_FACTOR * near, sub_cap, 2.0 ** -900)  # the subsample found the scale needed
    target = EXACT_RTOL if tol is None else max(tol, EXACT_RTOL)
    gelbrich = certified_gelbrich(P.X, P.Y, P.a, P.b)[1] if p == 2 else -np.inf
    state = _Search(u=f, v=g)
    history, cert = [], None
    for rnd in range(1, max_rounds + 1):
        cap = _restricted_solve(P, a, b, edges, cap, state)
        vr, ir = c_transform_knn(x, y, state.v, p, k)      # min_j C_ij - v_j (an estimate)
        estimate = max(float(np.dot(a, vr[:, 0]) + np.dot(b, state.v)), gelbrich)
        history.append((len(edges), estimate, state.upper))
        logger.info("sparse round %d: %d edges, estimated [%.10g, %.10g], relative gap %.2e",
                    rnd, len(edges), P.to_caller_units(estimate, "down"),
                    P.to_caller_units(state.upper, "up"),
                    (state.upper - estimate) / max(abs(state.upper), 1e-300))
        thr = 1e-12 * cap
        viol_r = (vr - state.u[:, None]) < -thr
        new = (np.repeat(np.arange(n), ir.shape[1])[viol_r.ravel()].astype(np.int64) * m
               + ir.ravel()[viol_r.ravel()])
        if state.upper - estimate <= target * abs(state.upper) or new.size == 0:
            cert = _certify(P, state, gelbrich)
            logger.info("sparse round %d: certified [%.17g, %.17g]", rnd,
                        P.to_caller_units(cert.lower, "down"),
                        P.to_caller_units(cert.plan.upper, "up"))
            if gap_ok(cert.lower, cert.plan.upper, P, max(cap, cert.plan.cost_scale), target):
                break
            new = cert.violations(state.u, state.v)  # pairs the certificate found violated
        vc, ic = c_transform_knn(y, x, state.u, p, k)      # min_i C_ij - u_i
        viol_c = (vc - state.v[:, None]) < -thr
        new = np.concatenate([new, ic.ravel()[viol_c.ravel()].astype(np.int64) * m
                              + np.repeat(np.arange(m), ic.shape[1])[viol_c.ravel()]])
        if new.size == 0 or np.isin(new, edges).all():
            break  # no violated pair left to add: the certificate is final
        edges = np.union1d(edges, new)
        cert = None
    if cert is None:
        cert = _certify(P, state, gelbrich)
        logger.info("sparse round %d: certified [%.17g, %.17g]", rnd,
                    P.to_caller_units(cert.lower, "down"), P.to_caller_units(cert.plan.upper, "up"))
    lower, pv = cert.lower, cert.plan
    converged = gap_ok(lower, pv.upper, P, max(cap, pv.cost_scale), target)
    if not converged:
        rel = (pv.upper - lower) / max(abs(pv.upper), 1e-300)
        warn_caller(f"sparse exact solver stopped after {rnd} rounds with certified relative gap "
                    f"{rel:.2e}; the returned interval is still certified")
    out = pack_result(P, pv, lower, cert.f, cert.g, converged, rnd,
                      {"solver": "sparse-network-simplex", "edges": int(len(edges)),
                       "rounds": rnd, "history": history})
    if n * m > dense_plan_max:
        out["plan"] = None
    return out


def _initial_graph(x, y, a, b, p, subsample, rng, k):
    """Potentials of a subsample solve and the first candidate edges (codes i m + j): the
    k best partners of every point under the reduced cost, displacement candidates, and a
    feasibility backbone (the monotone coupling along the principal axis); and the cost cap
    the subsample solve ended with."""
    n, m = len(x), len(y)
    f, g, dr, dc, sub_cap = _subsample_potentials(x, y, a, b, p, subsample, rng, k)
    bi, bj, _ = northwest_coupling(*(v @ default_directions(x, y, n_random=0)[0] for v in (x, y)),
                                   a, b)
    _, ir = c_transform_knn(x, y, g, p, k)
    _, ic = c_transform_knn(y, x, f, p, k)
    rows = np.concatenate([np.repeat(np.arange(n), ir.shape[1]), ic.ravel(), bi, dr])
    cols = np.concatenate([ir.ravel(), np.repeat(np.arange(m), ic.shape[1]), bj, dc])
    return f, g, np.unique(rows.astype(np.int64) * m + cols), sub_cap


@dataclass
class _Search:
    """Column generation state: current potentials, best plan and its (float) cost."""

    u: np.ndarray
    v: np.ndarray
    upper: float = np.inf
    plan: tuple | None = None


def _restricted_solve(P: ExactProblem, a, b, edges, cap, state: _Search) -> float:
    """Network simplex on the candidate edges with costs capped at ``cap`` (raised until the
    plan uses no capped edge); updates ``state``; returns the cap used."""
    m = len(b)
    r, c = edges // m, edges % m
    cost = P.costs(r, c)
    while True:
        # POT's simplex works to absolute tolerances: costs are divided by the cap (so they lie
        # in [0, 1]), and shifted by ZERO_SHIFT so that explicit zero costs stay in the sparse
        # matrix (a constant shift changes every plan's cost by the same amount)
        M = sp.coo_array((np.minimum(cost, cap) / cap + ZERO_SHIFT, (r, c)), shape=(len(a), m))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            G, log = ot.emd(a, b, M, numItermax=10**9, log=True,
                            potentials_init=(state.u / cap, state.v / cap + ZERO_SHIFT))
        G = sp.coo_array(G)
        keep = G.data > 0
        pi, pj, pm = G.row[keep], G.col[keep], G.data[keep]
        used = P.costs(pi, pj)
        if not len(used) or used.max() < cap or cap >= cost.max():
            break
        cap = max(CAP_FACTOR * cap, 2 * float(used.max()))
    state.u = np.asarray(log["u"]) * cap
    state.v = (np.asarray(log["v"]) - ZERO_SHIFT) * cap
    value = float(np.dot(pm, used))
    if value < state.upper:
        state.upper, state.plan = value, (pi, pj, pm)
    return cap


@dataclass
class _Certificate:
    lower: float
    plan: PlanValue
    f: np.ndarray
    g: np.ndarray
    argmin: np.ndarray

    def violations(self, u, v) -> np.ndarray:
        """Pairs (i, argmin_j) as edge codes where the certified c-transform of v is below u
        (the certificate's potentials are v's, shifted by a constant)."""
        m = len(self.g)
        shift = float(np.median(v))
        rows = np.flatnonzero(self.f + shift < u - 1e-12 * np.maximum(np.abs(u), 1e-300))
        return rows.astype(np.int64) * m + self.argmin[rows]


def _certify(P: ExactProblem, state: _Search, gelbrich: float) -> _Certificate:
    """Rigorous interval of the current plan and potentials (one or two c-transforms over all
    pairs: the second only while n m <= DOUBLE_CTRANSFORM_MAX)."""
    n, m = P.shape
    lower, f, g, idx = certified_dual(P, state.v, double=n * m <= DOUBLE_CTRANSFORM_MAX,
                                      return_index=True)
    return _Certificate(max(lower, gelbrich), plan_value(P, *state.plan), f, g, idx)
