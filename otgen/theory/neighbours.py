r"""Exact nearest-neighbour searches the sparse solver needs: plain k nearest neighbours, and
the c-transform :math:`\min_j \|x_i - y_j\|^p - g_j` with its k best partners.

These pick *candidates* (edges of the sparse LP); no bound is ever computed from them: values
are recomputed from coordinate differences, and certificates come from
:mod:`otgen.theory.certificate`.

The c-transform is an exact nearest-neighbour query in d + 1 dimensions (lift
:math:`y_j \mapsto (y_j, \sqrt{K - g_j})`), answered by a k-d tree in low dimension, and by
blockwise brute force otherwise (or for p != 2).
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

from .costs import BLOCK_ENTRIES, cost_blocks, pair_costs

#: k-d trees are used for the p = 2 c-transform up to this dimension (lifted dim = d + 1)
KDTREE_MAX_DIM = 8
#: columns per chunk of :func:`smallest_k` (200 x 20,000 float64 block, k = 8, one core:
#: 3.3 ms against 5.6 ms for ``torch.topk``; 128 and 512 measured slower)
TOPK_CHUNK = 256


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
    idx = blockwise_argmin_k(x, y, p, k, g)
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
    return blockwise_argmin_k(queries, points, 2, k)


def blockwise_argmin_k(x, y, p, k, g=None):
    r"""Indices (n, k) of the ``k`` smallest :math:`\|x_i - y_j\|^p - g_j` per row, by brute
    force over row blocks of the cost (one buffer, overwritten in place)."""
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    gt = None if g is None else torch.as_tensor(g)[None, :]
    rows = max(1, int(BLOCK_ENTRIES // max(len(y), 1)))
    return torch.cat([smallest_k(C if gt is None else C.sub_(gt), k)[1]
                      for _, C in cost_blocks(xt, yt, p, rows, reuse=True)]).numpy()


def smallest_k(W: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` smallest entries of each row of ``W`` and their columns, ascending: the same
    as ``W.topk(k, dim=1, largest=False)`` (up to the order of ties), about 1.7x faster.

    The rows are cut into chunks of ``TOPK_CHUNK`` columns; the k smallest entries of a row lie
    in the k chunks with the smallest minima (any entry in another chunk has k chunk minima,
    k distinct entries, at or below it), so one pass of chunk minima and a top-k over k chunks
    replace the full top-k.
    """
    n, m = W.shape
    q = m // TOPK_CHUNK
    if q <= 2 * k or W.stride(1) != 1:
        return W.topk(k, dim=1, largest=False, sorted=True)
    head = W.as_strided((n, q, TOPK_CHUNK), (W.stride(0), TOPK_CHUNK, 1))
    minima = head.amin(-1)
    if q * TOPK_CHUNK < m:
        minima = torch.cat([minima, W[:, q * TOPK_CHUNK:].amin(1, keepdim=True)], 1)
    chunks = minima.topk(k, dim=1, largest=False, sorted=False).indices
    cols = (chunks[:, :, None] * TOPK_CHUNK + torch.arange(TOPK_CHUNK)).reshape(n, -1)
    outside = cols >= m  # the short last chunk
    v = torch.gather(W, 1, cols.clamp(max=m - 1))
    v[outside] = torch.inf
    vals, pos = v.topk(k, dim=1, largest=False, sorted=True)
    if not bool(torch.isfinite(vals).all()):  # inf / nan entries: let topk decide as before
        return W.topk(k, dim=1, largest=False, sorted=True)
    return vals, torch.gather(cols, 1, pos)


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
