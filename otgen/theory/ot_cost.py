r"""``ot_cost``: certified OT for a precomputed cost matrix (the POT-compatible entry point).

``ot.emd2(a, b, M)`` users switch by one call: ``ot_cost(M, a, b)`` solves the same LP with the
capped network simplex of :mod:`otgen.theory.simplex` and returns an :class:`OTResult` whose
``[lower, upper]`` is certified for the given matrix (its entries are taken as the exact costs).
A scipy.sparse M is a graph of allowed pairs (missing entries forbidden), as in POT.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from .._validate import array_kind_of, check_balanced, check_choice, check_int, check_weights
from .certificate import MatrixProblem, SparseMatrixProblem, plan_value
from .ctransform import certified_dual
from .exact import gap_ok, pack_result, rounding_scale, solve_problem
from .ground_costs import CostMatrix, check_cost_values
from .progress import warn_caller
from .result import OTResult, SolverOutput
from .simplex import MAX_ITER, InfeasibleGraph, nearest_cap, sparse_emd

#: the methods ``ot_cost`` offers: the matrix LP is solved exactly
OT_COST_METHODS = {"auto", "exact"}


def ot_cost(M, a=None, b=None, *, method: str = "auto", tol=None,
            max_iter: int | None = None) -> OTResult:
    r"""Optimal transport cost for a cost matrix, with a certified interval.

    .. math::
        \mathrm{OT}(a, b; M) = \min_{\pi \ge 0,\ \pi 1_m = a,\ \pi^T 1_n = b}
        \sum_{ij} \pi_{ij} M_{ij}
        = \max_{f_i + g_j \le M_{ij}} \sum_i a_i f_i + \sum_j b_j g_j .

    Parameters
    ----------
    M : array, tensor or scipy.sparse matrix (n, m)
        Finite, nonnegative costs (float64 arithmetic; float32 entries are read exactly).
        A torch tensor gives a differentiable ``value``: its gradient with respect to ``M`` is
        the optimal plan (envelope theorem).  A scipy.sparse matrix lists the *allowed* pairs:
        missing entries are forbidden (infinite cost), explicit zeros are pairs of cost 0, as in
        ``ot.emd(a, b, M)``; it is solved by POT's sparse network simplex in O(nnz) memory and
        certified over the stored entries only.
    a, b : array or tensor (n,), (m,), optional
        Nonnegative weights with equal sums (within 1e-6 relative); uniform when None.
    method : {"auto", "exact"}
        The network simplex (POT's ``ot.emd``), capped and certified as in
        :func:`~otgen.theory.wasserstein.wasserstein`'s ``"exact"``.
    tol : float, optional
        Accepted for symmetry with ``wasserstein``; the exact solve meets any tol.
    max_iter : int, optional
        Simplex pivot cap.

    Returns
    -------
    OTResult
        ``value``, certified ``lower <= OT <= upper``, ``plan`` (dense when small), the
        ``sparse_plan`` (support and masses) at any size, ``potentials`` (f, g) exactly
        feasible for M.  ``p = 1`` and ``cost = "matrix"`` (``distance == value``).

    Raises
    ------
    ValueError, TypeError
        M not 2-D, empty, NaN/inf or negative entries; weights of the wrong length, negative
        or unbalanced; unknown method; a sparse M whose stored entries carry no coupling of
        a and b (a row or column of positive weight without entries, or a disconnected graph).

    Examples
    --------
    >>> import numpy as np
    >>> M = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> r = ot_cost(M, [0.5, 0.5], [0.25, 0.75])
    >>> r.value, r.lower <= r.value <= r.upper
    (0.25, True)

    References
    ----------
    N. Bonneel, M. van de Panne, S. Paris, W. Heidrich. Displacement interpolation using
    Lagrangian mass transport. ACM TOG 30(6), 2011 (the network simplex behind ``ot.emd``).
    R. Flamary et al. POT: Python Optimal Transport. JMLR 22(78), 2021.
    """
    t0 = time.perf_counter()
    arrays = array_kind_of(M, a, b)
    C = _check_matrix(M)
    av = check_weights(a, C.shape[0], "a")
    bv = check_weights(b, C.shape[1], "b")
    check_balanced(av, bv)
    check_choice(method, "method", OT_COST_METHODS)
    max_iter = MAX_ITER if max_iter is None else check_int(max_iter, "max_iter", 1)
    if _is_scipy_sparse(C):
        out = solve_sparse_matrix(SparseMatrixProblem.from_sparse(C, av, bv), max_iter)
    else:
        out = solve_matrix(CostMatrix(C), av, bv, max_iter)
    res = out.to_result("exact", 1.0, "matrix")
    if arrays.kind == "torch":
        i, j = (torch.as_tensor(t, device=M.device) for t in (res.sparse_plan.rows,
                                                               res.sparse_plan.cols))
        Mt = M if M.is_floating_point() else M.to(torch.float64)
        mass = torch.as_tensor(res.sparse_plan.mass, dtype=Mt.dtype, device=Mt.device)
        value = (mass * Mt[i, j]).sum()
        res.value = value if Mt.requires_grad else value.detach()
        res.plan = arrays.wrap(res.plan)
        res.potentials = tuple(arrays.wrap(np.asarray(f)) for f in res.potentials)
    res.time_s = time.perf_counter() - t0
    return res


def _check_matrix(M) -> np.ndarray:
    if isinstance(M, torch.Tensor):
        C = M.detach().cpu().numpy()
    elif _is_scipy_sparse(M):
        return _check_sparse(M)
    else:
        C = np.asarray(M)
    if C.dtype == object or not (np.issubdtype(C.dtype, np.floating)
                                 or np.issubdtype(C.dtype, np.integer)
                                 or C.dtype == bool):
        raise TypeError(f"M must be a real-valued (n, m) array or tensor, got dtype {C.dtype}")
    if C.ndim != 2:
        raise ValueError(f"M must be a 2-D (n, m) cost matrix, got shape {C.shape}")
    if C.shape[0] == 0 or C.shape[1] == 0:
        raise ValueError(f"M is empty (shape {C.shape}): expected at least one row and column")
    return check_cost_values(C.astype(np.float64), "M")


def solve_matrix(cm: CostMatrix, a: np.ndarray, b: np.ndarray,
                 max_iter: int = MAX_ITER) -> SolverOutput:
    """The exact LP for a cost matrix with its error bound (numpy fields)."""
    return solve_problem(MatrixProblem.from_cost(cm, a, b), max_iter)


def _is_scipy_sparse(M) -> bool:
    return hasattr(M, "tocoo") and hasattr(M, "nnz")


def _check_sparse(M):
    """A scipy.sparse M: 2-D, non-empty shape, at least one stored entry, stored entries real,
    finite and >= 0.  Missing entries are forbidden pairs (as in ``ot.emd``)."""
    if len(M.shape) != 2 or M.shape[0] == 0 or M.shape[1] == 0:
        raise ValueError(f"M must be a non-empty 2-D (n, m) cost matrix, got shape {M.shape}")
    if not (np.issubdtype(M.dtype, np.floating) or np.issubdtype(M.dtype, np.integer)):
        raise TypeError(f"M must be a real-valued sparse matrix, got dtype {M.dtype}")
    if M.nnz == 0:
        raise ValueError("M is a sparse matrix with no stored entries: every pair is forbidden")
    check_cost_values(np.asarray(M.tocoo().data, np.float64), "M (stored entries)")
    return M


def solve_sparse_matrix(P: SparseMatrixProblem, max_iter: int = MAX_ITER) -> SolverOutput:
    """The LP over the stored entries of a sparse cost matrix (missing pairs forbidden):
    POT's sparse network simplex with capped costs, certified like ``exact`` (plan value on
    exact flows; double c-transform over the stored entries)."""
    n, m = P.shape
    for w, idx, name in ((P.a, P.rows, "row"), (P.b, P.cols, "column")):
        empty = np.flatnonzero((w > 0) & (np.bincount(idx, minlength=len(w)) == 0))
        if len(empty):
            raise ValueError(f"M: {name} {int(empty[0])} has positive weight but no stored "
                             "entry (all its pairs are forbidden): no coupling exists")
    row_min, col_min = np.full(n, np.inf), np.full(m, np.inf)
    np.minimum.at(row_min, P.rows, P.vals)
    np.minimum.at(col_min, P.cols, P.vals)
    try:
        plan = sparse_emd(P.a, P.b_balanced, P.rows, P.cols, P.vals,
                          nearest_cap(row_min, col_min), max_iter)
    except InfeasibleGraph:
        raise ValueError("M: no coupling of a and b uses only the stored entries of the sparse "
                         "matrix (missing entries are forbidden pairs)") from None
    pv = plan_value(P, plan.i, plan.j, plan.mass)
    lower, f, g = certified_dual(P, plan.v)
    optimal = gap_ok(lower, pv.upper, P, rounding_scale(plan.cap, pv))
    if not optimal:
        warn_caller("sparse network simplex ended at a non-optimal basis (certified relative "
                    f"gap {(pv.upper - lower) / max(abs(pv.upper), 1e-300):.2e}); the returned "
                    "interval is still certified")
    return pack_result(P, pv, lower, f, g, optimal, 0,
                       {"cost_cap": float(plan.cap), "stored_entries": int(len(P.vals))})
