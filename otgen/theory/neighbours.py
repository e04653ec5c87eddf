r"""Exact nearest-neighbour searches the sparse solver needs: the k nearest neighbours of
each point (k-d tree in low dimension, blockwise brute force otherwise) and the k smallest
entries of each row of a block.

These pick *candidates* (edges of the sparse LP); no bound is ever computed from them.  The
c-transform search built on them is :func:`otgen.theory.ctransform.c_transform_knn`.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

from .costs import BLOCK_ENTRIES, cost_blocks

#: k-d trees are used for the p = 2 c-transform up to this dimension (lifted dim = d + 1)
KDTREE_MAX_DIM = 8
#: columns per chunk of :func:`smallest_k` (200 x 20,000 float64 block, k = 8, one core:
#: 3.3 ms against 5.6 ms for ``torch.topk``; 128 and 512 measured slower)
TOPK_CHUNK = 256


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

