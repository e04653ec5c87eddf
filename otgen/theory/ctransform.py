r"""The c-transform, in one place: :math:`g^c_i = \min_j C_{ij} - g_j`.

A pair :math:`(g^c, g)` is dual feasible, so :math:`\langle a, g^c\rangle + \langle b,
g\rangle \le \mathrm{OT}` for *any* g: every certified lower bound of otgen is a c-transform.
Three engines compute it, for three jobs:

* **certified, on exact inputs** (:func:`certified_ctransform`, :func:`gram_ctransform`,
  :func:`certified_dual`) -- on an :class:`~otgen.theory.certificate.ExactProblem` (points
  rescaled by powers of two, or a cost matrix), costs from coordinate differences (``cdist``)
  or BLAS products, each lowered by its rounding bound: the ``exact``, ``sparse``, ``1d``,
  ``gaussian``/``sliced`` and LP certificates, and :func:`lower_bound_from_potential` (the
  audit's dual bound of a critic).
* **lazy, on a cost geometry** (:func:`dual_lower_bound`) -- torch blocks or KeOps
  reductions with O(n + m) memory, float32 or float64, for Sinkhorn's potentials; the rounding
  bound is the geometry's :meth:`~otgen.theory.costs.CostGeometry.cost_error`.
* **search** (:func:`c_transform_knn`) -- the k best partners of each point, exactly (a k-d
  tree on a lifted cloud in low dimension, blocks otherwise): candidates for the sparse solver's
  column generation, never a bound by itself.

References
----------
G. Peyré, M. Cuturi. Computational Optimal Transport, 2019, Sec. 3.1 and 5.3 (c-transforms).
B. Schmitzer. A sparse multiscale algorithm for dense optimal transport. JMIV 56, 2016
(shielding: the c-transform decides which columns a sparse solve must add).
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

from .certificate import ExactProblem, SparseMatrixProblem, dual_value
from .costs import BLOCK_ENTRIES, CostGeometry, pair_costs
from .boxes import BoxHierarchy
from .neighbours import KDTREE_MAX_DIM, blockwise_argmin_k, smallest_k
from .rounding import U, dot_interval, fraction_down, gamma, up

#: the pruned search (:func:`pruned_ctransform`) replaces the blockwise pass for p = 2 in
#: dimension <= PRUNED_MAX_DIM from this many pairs on
PRUNED_MIN_PAIRS = 1e8
PRUNED_MAX_DIM = 3
#: rows per vectorized batch of the pruned search (bounds its memory)
QUERY_CHUNK = 8192


def _shrink(P: ExactProblem) -> float:
    r""":math:`1 - \omega`, :math:`\omega = \eta + 4u`: computed costs are multiplied by it
    before the subtraction of g, so that :math:`fl(\hat C (1 - \omega)) \le C` (see
    :func:`certified_ctransform`)."""
    return 1.0 - (P.eta + 4 * U)


def _lowered(P: ExactProblem, w):
    r"""A computed minimum :math:`\hat w = fl(fl(\hat C(1 - \omega)) - g)` lowered to a
    certified :math:`f \le C - g`: minus the subtraction's rounding and the absolute error."""
    return w - (4 * U * np.abs(w) + 2 * P.tau)


def certified_ctransform(P: ExactProblem, g: np.ndarray, transpose: bool = False,
                         return_index: bool = False, gram: bool = False, candidates: int = 1,
                         below: np.ndarray | None = None):
    r"""Potentials :math:`f_i \le \min_j (C_{ij} - g_j)` for the exact costs (``transpose``:
    over i for each column), and the argmins of the computed values.

    Each block of costs is lowered by its rounding bound before the minimum, and the minimum by
    the rounding of the subtraction: :math:`C - g \ge \hat w - 2u|\hat w| - \tau` for
    :math:`\hat w = fl(fl(\hat C (1 - \omega)) - g)`, :math:`\omega = \eta + 4u`.
    ``gram=True`` (points, p = 2 only) evaluates the costs by BLAS instead, see
    :func:`gram_ctransform`.  ``candidates = k > 1`` (with ``return_index``) also returns the
    k smallest computed values per row and their indices, ``(f, idx (n, k), vals (n, k))``:
    search candidates, not bounds (column 0 is the argmin).  With ``below`` (one threshold per
    row) only rows whose computed minimum is below it get candidates beyond the argmin (the
    others' extra columns are ``inf`` / -1): a top-k of every row costs ~4x an argmin.
    """
    if gram:
        return gram_ctransform(P, g, transpose, return_index, candidates, below)
    if isinstance(P, SparseMatrixProblem):
        return sparse_ctransform(P, g, transpose, return_index)
    if below is not None and _pruned_pays(P):
        return pruned_ctransform(P, g, below, transpose, return_index, candidates)
    n_out, n_in = P.shape[::-1] if transpose else P.shape
    g = np.asarray(g, dtype=np.float64)
    shrink = _shrink(P)
    rows = max(1, int(BLOCK_ENTRIES // max(n_in, 1)))
    k = max(1, min(candidates, n_in))
    vals, idx = np.empty((n_out, k)), np.empty((n_out, k), dtype=np.int64)
    buf = np.empty((min(rows, n_out), n_in))
    for s in range(0, n_out, rows):
        W = P.cost_rows(s, s + rows, transpose, out=buf[:min(rows, n_out - s)])
        W *= shrink
        W -= g[None, :]
        vals[s:s + rows], idx[s:s + rows] = _smallest(W, k, None if below is None
                                                      else below[s:s + rows])
    return _ctransform_output(_lowered(P, vals[:, 0]), idx, vals, return_index, candidates)


def sparse_ctransform(P: SparseMatrixProblem, g: np.ndarray, transpose: bool = False,
                      return_index: bool = False):
    r""":func:`certified_ctransform` over the stored entries of a sparse cost matrix only
    (missing pairs are forbidden: no constraint), with the same rounding bound, in O(nnz).
    A row without entries has no constraint: its potential is 0 (its weight must be 0)."""
    n_out = P.shape[1] if transpose else P.shape[0]
    out, inner, vals = P.edges(transpose)
    w = vals * _shrink(P) - np.asarray(g, np.float64)[inner]
    f = np.zeros(n_out)
    idx = np.full(n_out, -1, dtype=np.int64)
    if len(w):
        starts = np.flatnonzero(np.r_[True, out[1:] != out[:-1]])
        present = out[starts]
        low = np.minimum.reduceat(w, starts)
        f[present] = _lowered(P, low)
        # the argmin of each row: the first entry of the row equal to its minimum
        hit = np.flatnonzero(w == np.repeat(low, np.diff(np.r_[starts, len(w)])))
        first = np.unique(out[hit], return_index=True)[1]
        idx[out[hit[first]]] = inner[hit[first]]
    return (f, idx) if return_index else f


def _pruned_pays(P: ExactProblem) -> bool:
    return (P.p == 2 and 1 <= P.X.shape[1] <= PRUNED_MAX_DIM
            and len(P.X) * len(P.Y) >= PRUNED_MIN_PAIRS)


def pruned_ctransform(P: ExactProblem, g: np.ndarray, below: np.ndarray,
                      transpose: bool = False, return_index: bool = False, candidates: int = 1):
    r""":func:`certified_ctransform` with thresholds ``below`` (p = 2, low dimension): only the
    boxes of points that can beat a row's threshold are evaluated, in O(n log n) for the usual
    column-generation potentials.

    With :math:`T_i` = ``below[i]``, a box whose rigorous lower bound (see
    :meth:`~otgen.theory.boxes.BoxHierarchy.lower_bound`) is :math:`\ge T_i` is skipped;
    the points of every other leaf box are evaluated and lowered exactly as in
    :func:`certified_ctransform`.  Then
    :math:`f_i = \min(T_i, \text{evaluated})` is :math:`\le C_{ij} - g_j` for every j: for a
    skipped box, :math:`C_{ij} - g_j \ge` its bound :math:`\ge T_i`.  Candidates: the
    ``candidates`` smallest computed values below :math:`T_i` (every such pair lies in an
    evaluated box), ``inf`` / -1 where a row has fewer; rows with none have no argmin (-1)."""
    A, B = (P.Y, P.X) if transpose else (P.X, P.Y)
    g = np.asarray(g, dtype=np.float64)
    T = np.asarray(below, dtype=np.float64)
    if np.isnan(g).any() or np.isnan(T).any():
        raise ValueError("pruned_ctransform: the potential g and the thresholds must not "
                         "contain NaN")
    k = max(1, min(candidates, len(B)))
    A1, B1, ra, rb = _centred(P, transpose)
    boxes = BoxHierarchy(B, B1, g, float(max(ra.max(initial=0.0), rb.max(initial=0.0))))
    s1 = (A1 * A1).sum(1)
    f = T.copy()
    vals, idx = np.full((len(A), k), np.inf), np.full((len(A), k), -1, dtype=np.int64)
    listed = return_index and k > 1  # a ranked candidate list; else at most the argmin
    for s in range(0, len(A), QUERY_CHUNK):
        rows = slice(s, s + QUERY_CHUNK)
        pairs = _pruned_rows(P, boxes, (A[rows], A1[rows], s1[rows]), T[rows])
        (r, mins, cols), cand = _evaluate_leaves(P, boxes, A[rows], T[rows], *pairs, listed)
        np.minimum.at(f, r + s, _lowered(P, mins))
        if listed:
            r, c, w = cand
            order = np.lexsort((w, r))  # candidates: by row, then value
            r, c, w = r[order] + s, c[order], w[order]
            rank = np.arange(len(r)) - np.searchsorted(r, r)  # position within its row
            top = rank < k
            vals[r[top], rank[top]], idx[r[top], rank[top]] = w[top], c[top]
        elif return_index:  # the argmin of each row whose computed minimum is below T
            best = T[rows].copy()
            np.minimum.at(best, r, mins)
            hit = (mins == best[r]) & (mins < T[rows][r])
            vals[r[hit] + s, 0], idx[r[hit] + s, 0] = mins[hit], cols[hit]
    return _ctransform_output(f, idx, vals, return_index, candidates)


def _pruned_rows(P: ExactProblem, boxes: BoxHierarchy, queries, T: np.ndarray):
    """The (row, leaf box) pairs of a batch of rows with thresholds T that no bound skips
    (``queries``: the rows' points, centred points and their computed squared norms), found by
    descending the boxes level by level (see :func:`pruned_ctransform`)."""
    A, A1, s1 = queries
    level = len(boxes.levels) - 1
    n_top = len(boxes.levels[level][0])
    rows = np.repeat(np.arange(len(A)), n_top)
    box = np.tile(np.arange(n_top), len(A))
    while True:
        keep = boxes.lower_bound(A[rows], A1[rows], s1[rows], level, box, P.tau) < T[rows]
        rows, box = rows[keep], box[keep]
        if level == 0:
            break
        level -= 1
        rows = np.repeat(rows, boxes.fanout)
        box = (box[:, None] * boxes.fanout + np.arange(boxes.fanout)).ravel()
        inside = box < len(boxes.levels[level][0])
        rows, box = rows[inside], box[inside]
    return rows, box


def _evaluate_leaves(P: ExactProblem, boxes: BoxHierarchy, A: np.ndarray, T: np.ndarray, rows,
                     box, listed: bool = True):
    r"""Computed values :math:`fl(fl(\hat C_{ij}(1 - \omega)) - g_j)` of the listed (row, leaf
    box) pairs, one ``cdist`` per leaf box (the same costs and rounding as
    :func:`certified_ctransform`).  Returns ``(rows, minima, argmin columns)`` (one per pair)
    and, with ``listed``, the candidates ``(rows, columns, values)``: the values below their
    row's threshold T."""
    empty = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    if not len(box):
        return (empty[0], empty[2], empty[0]), empty
    order = np.argsort(box, kind="stable")
    rows, box = rows[order], box[order]
    starts = np.flatnonzero(np.r_[True, box[1:] != box[:-1]])
    shrink = _shrink(P)
    minima, argcol = np.empty(len(rows)), np.empty(len(rows), np.int64)
    cand = [empty]
    for s, e in zip(starts, np.r_[starts[1:], len(box)]):
        pts = slice(box[s] * boxes.leaf, (box[s] + 1) * boxes.leaf)
        W = cdist(A[rows[s:e]], boxes.Y[pts], "sqeuclidean")
        W *= shrink
        W -= boxes.g[pts][None, :]  # padding points: potential -inf, W = +inf
        at = W.argmin(1)
        minima[s:e] = W[np.arange(len(at)), at]
        argcol[s:e] = boxes.index[pts][at]
        if listed:
            i, j = np.nonzero(W < T[rows[s:e]][:, None])
            if len(i):
                cand.append((rows[s:e][i], boxes.index[pts][j], W[i, j]))
    return (rows, minima, argcol), tuple(np.concatenate(t) for t in zip(*cand))


def _smallest(W, k: int, below=None):
    """The k smallest entries of each row of a block (numpy or torch) and their columns,
    ascending; with ``below``, beyond the minimum only for rows whose minimum is below it."""
    W = W.numpy() if isinstance(W, torch.Tensor) else W
    i1 = W.argmin(axis=1)
    v1 = W[np.arange(len(i1)), i1]
    if k == 1:
        return v1[:, None], i1[:, None]
    vals = np.full((len(W), k), np.inf)
    idx = np.full((len(W), k), -1, dtype=np.int64)
    vals[:, 0], idx[:, 0] = v1, i1
    rows = np.arange(len(W)) if below is None else np.flatnonzero(v1 < below)
    if len(rows):
        v, i = smallest_k(torch.as_tensor(W[rows] if len(rows) < len(W) else W), k)
        vals[rows], idx[rows] = v.numpy(), i.numpy()
    return vals, idx


def _ctransform_output(f, idx, vals, return_index, candidates):
    if not return_index:
        return f
    if candidates > 1:
        return f, idx, vals
    return f, idx[:, 0]


def _centred(P: ExactProblem, transpose: bool):
    r"""Both clouds minus the midpoint of their joint bounding box (rounded), and upper bounds
    rho on the norms of the rounded rows: :math:`|x'_i| \le \rho_i`."""
    A, B = (P.Y, P.X) if transpose else (P.X, P.Y)
    both = np.concatenate([A, B])
    c = (both.min(0) + both.max(0)) / 2
    A1, B1 = A - c, B - c
    d = A.shape[1]
    grow = up(1 + 2 * gamma(d + 1))
    ra = np.sqrt((A1 * A1).sum(1) * grow) * up(1 + 4 * U)
    rb = np.sqrt((B1 * B1).sum(1) * grow) * up(1 + 4 * U)
    return A1, B1, ra, rb


def gram_error(P: ExactProblem, rho: np.ndarray, rho_max: float, g_max: float) -> np.ndarray:
    r"""Bound on :math:`|fl(C_{ij} - g_j) - (C_{ij} - g_j)|` for every j, per row i, of the BLAS
    evaluation (see :func:`gram_ctransform`): :math:`\gamma_{d+6} (\rho_i + \max_j \rho_j)^2
    + \gamma_3 \max_j |g_j|`, plus the subnormal floor of the d products."""
    d = P.X.shape[1]
    floor = (2 * d + 8) * 2.0 ** -1074
    return ((rho + rho_max) ** 2 * up(gamma(d + 6) * up(1 + 8 * U))
            + up(gamma(3) * g_max * up(1 + 4 * U)) + floor)


def gram_dual_loss(P: ExactProblem, g_max: float = 0.0) -> float:
    """How much :func:`gram_ctransform`'s rounding bound lowers a dual value, at most (an
    estimate in normalized units, to decide whether the BLAS form is accurate enough)."""
    loss = 0.0
    for transpose, w in ((False, P.a), (True, P.b)):
        _, _, ra, rb = _centred(P, transpose)
        loss = max(loss, float(np.dot(w, gram_error(P, ra, float(rb.max(initial=0.0)), g_max))))
    return loss


def gram_ctransform(P: ExactProblem, g: np.ndarray, transpose: bool = False,
                    return_index: bool = False, candidates: int = 1,
                    below: np.ndarray | None = None):
    r""":func:`certified_ctransform` for p = 2 by BLAS matrix products (d >= 8: ~10x faster
    than ``cdist`` at d = 64), with an absolute rounding bound.

    Both clouds are centred at a rounded midpoint c: :math:`x' = fl(x - c)` is within
    :math:`u |x'|/(1-u)` of :math:`x - c` (coordinatewise relative error u), so
    :math:`|x - y|^2 \ge |x' - y'|^2 - 2\gamma_1(\rho_i + \rho_j)^2` with
    :math:`\rho \ge |x'|`.  Then, with :math:`s_i = fl(|x'_i|^2)`, :math:`t_j = fl(|y'_j|^2)`,
    the block is :math:`w_{ij} = fl(fl((-2x'_i)^T y'_j) + fl(t_j - g_j))` and the row value
    :math:`fl(\min_j w_{ij} + s_i)`.  A dot product in any summation order (BLAS blocking,
    SIMD lanes, FMA) is within :math:`\gamma_d \sum_k |x'_k y'_k| \le \gamma_d \rho_i \rho_j`
    (Higham 2002, eq. 3.5), the squared norms within :math:`\gamma_d`, and the two roundings of
    the additions within u of their (bounded) operands: in all
    :math:`|w_{ij} + s_i - (C_{ij} - g_j)| \le \gamma_{d+6} (\rho_i + \rho_j)^2
    + \gamma_3 |g_j|` (:func:`gram_error`).  The last addition's rounding is covered as in
    :func:`certified_ctransform`.  The error is absolute: fine for a tolerance, not for costs far
    below :math:`u \rho^2` (far clusters), where callers keep ``cdist``.
    """
    A1, B1, ra, rb = _centred(P, transpose)
    g = np.asarray(g, dtype=np.float64)
    sa, sb = (A1 * A1).sum(1), (B1 * B1).sum(1)
    rows = max(1, int(BLOCK_ENTRIES // max(len(B1), 1)))
    k = max(1, min(candidates, len(B1)))
    A2 = torch.as_tensor(A1 * -2.0)  # exact
    Bt = torch.as_tensor(B1).T
    h = torch.as_tensor(sb - g)[None, :]
    vals, idx = np.empty((len(A1), k)), np.empty((len(A1), k), dtype=np.int64)
    W = torch.empty((min(rows, len(A1)), len(B1)), dtype=torch.float64)
    for s in range(0, len(A1), rows):
        w = W[:len(A2[s:s + rows])]
        torch.matmul(A2[s:s + rows], Bt, out=w)
        w.add_(h)
        # w + s_i is the row's value: the threshold moves by -s_i
        vals[s:s + rows], idx[s:s + rows] = _smallest(
            w, k, None if below is None else below[s:s + rows] - sa[s:s + rows])
    vals += sa[:, None]
    err = gram_error(P, ra, float(rb.max(initial=0.0)), float(np.abs(g).max(initial=0.0)))
    f = vals[:, 0] - (4 * U * np.abs(vals[:, 0]) + err * up(1 + 4 * U))
    return _ctransform_output(f, idx, vals, return_index, candidates)


def recentred(g: np.ndarray) -> np.ndarray:
    """g minus its median.  (f + c, g - c) has the same dual value and feasibility, and the
    rounding bound of a c-transform grows with |f| and |g|: solvers' potentials carry arbitrary
    offsets (POT's can be ~1e3 times the answer), so the certificate is evaluated in the frame
    where they are small."""
    return g - np.median(g) if len(g) else g


def certified_dual(P: ExactProblem, g: np.ndarray, double: bool = True,
                   return_index: bool = False):
    """Lower bound from a column potential g: ``(lower, f, g')`` with ``f = g^c`` of the
    recentred g and, with ``double``, ``g' = f^c`` (which can only raise the bound); all exactly
    feasible.  ``return_index`` appends the argmins of the first c-transform (per row)."""
    g = recentred(g)
    f, idx = certified_ctransform(P, g, return_index=True)
    if double:
        g = certified_ctransform(P, f, transpose=True)
    out = (dual_value(P, f, g), f, g)
    return (*out, idx) if return_index else out


def dual_lower_bound(geom: CostGeometry, a, b, f):
    """Certified lower bound from a row potential ``f`` by a double c-transform.

    Returns ``(lower, f_cc, g_c)`` with ``f_cc_i + g_c_j <= C_ij`` for all i, j *for the
    exact costs*: the geometry's costs are within ``E = geom.cost_error()`` of them and each
    subtraction rounds by :math:`u |C - g|`, so ``f_cc`` is lowered by ``E + 4u |f_cc| + 4u max|g|``;
    the dual value is then summed exactly (:func:`otgen.theory.rounding.dot_interval`) and
    rounded down.  ``b`` must be the balanced weights (sum(b) = sum(a)).
    """
    g_c = geom.cmin(f, transpose=True)          # g_j = min_i C_ij - f_i
    f_cc = geom.cmin(g_c)                       # f_i = min_j C_ij - g_j  (>= f, still feasible)
    f_np = f_cc.double().cpu().numpy()
    g_np = g_c.double().cpu().numpy()
    slack = up(geom.cost_error() + 4 * U * float(np.abs(g_np).max()))
    f_np = f_np - (4 * U * np.abs(f_np) + slack) * (1 + 4 * U)
    # sum(a) = sum(b) holds only to rounding: the exact dual of (a, b~) uses b~ = b sum a / sum b,
    # which is within 2 u b of b; the extra term bounds that difference
    lo = fraction_down(dot_interval(np.asarray(a, np.float64), f_np)[0]
                       + dot_interval(np.asarray(b, np.float64), g_np)[0])
    mismatch = up(2 * (len(f_np) + len(g_np) + 4) * U
                  * float(np.dot(np.asarray(b, np.float64), np.abs(g_np))))
    return lo - mismatch, geom.as_tensor(f_np), g_c


def c_transform_knn(x, y, g, p, k=1):
    r"""The ``k`` smallest values of :math:`\|x_i - y_j\|^p - g_j` over j, and their indices.

    Returns ``(values (n, k), indices (n, k))``; exact (not approximate) in every backend.
    For p = 2 in low dimension it is a nearest-neighbour query in d + 1 dimensions (lift
    :math:`y_j \mapsto (y_j, \sqrt{K - g_j})`) answered by a k-d tree; otherwise blockwise
    brute force.  Values are recomputed from coordinate differences (search, not bound).
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
    idx = blockwise_argmin_k(x, y, p, k, g)
    vals = pair_costs(x, y, np.repeat(np.arange(len(x)), k), idx.ravel(), p).reshape(
        len(x), k) - g[idx]
    return vals, idx


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


def lower_bound_from_potential(f, x, y, a=None, b=None, p: float = 1.0) -> float:
    r"""Certified lower bound on :math:`\mathrm{OT}_p(\alpha, \beta)` (cost
    :math:`\|x - y\|^p`) from any row potential ``f`` on x: the dual value of
    :math:`(f, f^c)`, computed on the exact inputs and rounded down (caller's units).

    :math:`f^c` is the largest partner of f, so this is at least
    :math:`\langle a, f\rangle + \langle b, g\rangle` for every g feasible with f.  For p = 1
    and a 1-Lipschitz f it equals :math:`\mathbb{E}_\alpha f - \mathbb{E}_\beta f` (the
    Kantorovich-Rubinstein dual); for a critic of Lipschitz constant L, use f / L.
    ``a``, ``b``: weights (uniform when None; b is rescaled to sum(a)).
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    a = np.full(len(x), 1.0 / len(x)) if a is None else np.asarray(a, np.float64)
    b = np.full(len(y), 1.0 / len(y)) if b is None else np.asarray(b, np.float64)
    # the transposed problem: f is its column potential, certified_dual's first c-transform
    # gives f^c on y, and its dual value is <a, f> + <b, f^c>
    P = ExactProblem.build(y, x, b, a, p)
    # into normalized units (costs times 2^(k p)); an inexact scale only changes which
    # potential is certified, never the validity of the bound
    fn = np.asarray(f, np.float64) * 2.0 ** (P.k * P.p)
    lower, _, _ = certified_dual(P, fn, double=False)
    return P.to_caller_units(lower, "down")
