r"""Ground costs :math:`c(x, y) = \|x - y\|_2^p` and the reductions every solver needs.

Two representations of the (n, m) cost matrix:

* :func:`cost_matrix` -- dense numpy matrix from coordinate differences (scipy ``cdist``).
* :class:`CostGeometry` -- a lazy cost matrix in torch: dense when it fits in ``dense_max``
  entries, otherwise recomputed block by block (O((n + m) d + block * m) memory), or handed to
  KeOps ``LazyTensor`` reductions (``backend="keops"``, the fast choice on CUDA).  It offers the
  reductions used by Sinkhorn and by the certificates: soft-min (log-sum-exp), hard min
  (c-transform), plan marginals and plan cost.

Everything here works on coordinates centred at the joint mean: the cost is translation
invariant and centring keeps the matrix-product form of squared distances accurate.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import torch
from scipy.spatial.distance import cdist

from .rounding import U, gamma, up

#: dense cost matrices up to this many entries are stored; larger ones are recomputed in blocks
DENSE_MAX = 2.5e7
#: entries per block for blockwise reductions
BLOCK_ENTRIES = 4e6
#: KeOps' one-off g++ compile of each formula (tens of seconds) only pays from this many
#: entries on (used by the multiscale backend, which runs KeOps on CPU too)
KEOPS_CPU_MIN_ENTRIES = 1e9
#: exponents below this are clamped before exp() in blockwise log-sum-exps: such terms cannot
#: change the sum at this precision, and computing them as subnormals is slow.  torch's
#: ``set_flush_denormal`` only reaches the calling thread, not the OpenMP workers (measured at
#: d = 64 in float32: one log-sum-exp pass 2.4x slower without the clamp)
EXP_FLOOR = {torch.float32: -80.0, torch.float64: -700.0}


def cost_matrix(x: np.ndarray, y: np.ndarray, p: float = 2.0) -> np.ndarray:
    r"""Dense cost matrix :math:`C_{ij} = \|x_i - y_j\|_2^p` (float64).

    Parameters
    ----------
    x : ndarray (n, d)
    y : ndarray (m, d)
    p : float > 0

    Returns
    -------
    ndarray (n, m)
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    # scipy's cdist sums squared coordinate differences in C: accurate even for tiny distances
    # far from the origin (unlike the |x|^2 + |y|^2 - 2 x.y expansion), and fast
    if p == 2:
        return cdist(x, y, "sqeuclidean")
    D = cdist(x, y, "euclidean")
    return D if p == 1 else np.power(D, p, out=D)


def pair_costs(x: np.ndarray, y: np.ndarray, i: np.ndarray, j: np.ndarray, p: float = 2.0):
    """Costs of the listed pairs ``(x[i[k]], y[j[k]])`` from coordinate differences (no
    cancellation far from the origin); numpy or torch.  For torch the gradient at coincident
    points is 0 (a subgradient) for p >= 1, not NaN."""
    diff = x[i] - y[j]
    if p == 2:
        return (diff * diff).sum(-1)
    if isinstance(diff, torch.Tensor):
        return torch.linalg.vector_norm(diff, dim=-1) ** p
    return np.linalg.norm(diff, axis=-1) ** p


def torch_cost(x: torch.Tensor, y: torch.Tensor, p: float) -> torch.Tensor:
    """Block of the cost matrix in torch (matrix-product form on centred data)."""
    if p == 2:
        sq = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T
        return sq.clamp_(min=0) if not sq.requires_grad else sq.clamp(min=0)
    return torch.cdist(x, y) ** p


def cost_blocks(A: torch.Tensor, B: torch.Tensor, p: float, rows: int, reuse: bool = False):
    """Yield ``(slice, C[slice])`` over blocks of ``rows`` rows of the cost matrix C(A, B).

    With ``reuse=True`` every block is computed in place into one buffer, which the caller may
    overwrite (it is refilled at the next step).  Allocating a fresh ~32 MB block (and its
    temporaries) per step instead costs time and lets glibc's heap fragment: measured, Sinkhorn
    at n = 16,000, d = 8 peaked at +1.3 GB resident, and the sparse solver's c-transform at
    n = 16,000, d = 64 at 3.8 GB (1.0 GB with the buffer; killed for memory at 24 GB for
    n = 100,000); Sinkhorn's plan reductions at n = 100,000, d = 8 were killed at 24 GB the
    same way until they used the buffer too.
    """
    if not reuse:
        for s in range(0, A.shape[0], rows):
            yield slice(s, s + rows), torch_cost(A[s:s + rows], B, p)
        return
    buf = torch.empty(min(rows, A.shape[0]), B.shape[0], dtype=A.dtype, device=A.device)
    b_sq = (B * B).sum(1)
    for s in range(0, A.shape[0], rows):
        a = A[s:s + rows]
        C = buf[:a.shape[0]]
        # the matrix-product form of torch_cost, without temporaries (torch.cdist uses the
        # same form at these sizes); p != 2 takes roots and powers in place
        torch.matmul(a, B.T, out=C)
        C.mul_(-2.0).add_((a * a).sum(1)[:, None]).add_(b_sq[None, :]).clamp_(min=0.0)
        if p != 2:
            C.sqrt_()
            if p != 1:
                C.pow_(p)
        yield slice(s, s + rows), C


def keops_pays(device) -> bool:
    """Whether KeOps reductions are the faster O(n + m)-memory choice.

    On CUDA, always.  On CPU, never for dense kernels: torch blocks (MKL matrix product plus
    an in-place log-sum-exp, float32 sweeps) beat KeOps' CPU loops at every d measured (one
    log-sum-exp over 10,000 x 100,000 pairs, 2 cores, float32 blocks vs best KeOps: d = 2
    1.5 s vs 4.3 s, d = 8 1.8 s vs 6.4 s, d = 16 1.7 s vs 10.1 s; float64 blocks 3.7, 5.2,
    4.9 s).  KeOps stays the CPU choice for block-sparse kernels (multiscale backend).
    """
    return device.type == "cuda"


def lazy_cost(A: torch.Tensor, B: torch.Tensor, p: float):
    """KeOps LazyTensor of |A_i - B_j|^p."""
    from pykeops.torch import LazyTensor

    sq = ((LazyTensor(A[:, None, :].contiguous()) - LazyTensor(B[None, :, :].contiguous()))
          ** 2).sum(-1)
    if p == 2:
        return sq
    if p == 1:
        return sq.sqrt()
    # KeOps' float power (Powf) is accurate to only ~1e-8 relative (measured: 4.8e-9 at
    # p = 1.5, 1.1e-8 at p = 3); exp(p/2 log S) is within (p |log S| + 8) u (|log S| <= 745)
    return ((p / 2) * sq.log()).exp()


def lazy_softmin(C, h: torch.Tensor, eps: float, ranges=None):
    """-eps log sum_j exp((h_j - C_ij) / eps) of a KeOps LazyTensor C (optionally block-sparse)."""
    from pykeops.torch import LazyTensor

    H = LazyTensor(h[None, :, None].contiguous())
    kw = {} if ranges is None else {"ranges": ranges}
    return -eps * ((H - C) / eps).logsumexp(dim=1, **kw).view(-1)


def lazy_plan_stats(u: torch.Tensor, v: torch.Tensor, C, eps: float, need, ranges=None):
    """Row sums, column sums and <K, C> of the KeOps plan K = exp((u_i + v_j - C_ij) / eps),
    each only if named in ``need`` (optionally block-sparse)."""
    from pykeops.torch import LazyTensor

    U = LazyTensor(u[:, None, None].contiguous())
    V = LazyTensor(v[None, :, None].contiguous())
    K = ((U + V - C) / eps).exp()
    kw = {} if ranges is None else {"ranges": ranges}
    return (K.sum(dim=1, **kw).view(-1) if "rows" in need else None,
            K.sum(dim=0, **kw).view(-1) if "cols" in need else None,
            (K * C).sum(dim=1, **kw).sum() if "cost" in need else None)


class CostGeometry:
    r"""Lazy cost matrix between two point clouds, with the reductions solvers need.

    All "potential" arguments ``h`` below are vectors indexed by the *other* cloud: for a
    reduction over ``j`` (one value per row ``i``) ``h`` has length m.

    Parameters
    ----------
    x, y : ndarray (n, d), (m, d)
        Points (float32 or float64).
    p : float
        Cost exponent.
    backend : {"auto", "dense", "blocks", "keops"}
        ``auto``: dense if n*m <= DENSE_MAX; else KeOps on CUDA and blocks on CPU (see
        :func:`keops_pays`).  Every backend but dense needs O((n + m) d) memory.
    device : str or torch.device, optional
    """

    def __init__(self, x, y, p=2.0, backend="auto", device=None, dtype=torch.float64):
        device = torch.device(device) if device is not None else torch.device("cpu")
        center = (np.concatenate([x, y]).mean(0) if x.size + y.size else 0.0)
        self.x = torch.as_tensor(np.asarray(x, np.float64) - center, dtype=dtype, device=device)
        self.y = torch.as_tensor(np.asarray(y, np.float64) - center, dtype=dtype, device=device)
        self.p = float(p)
        self.n, self.m = self.x.shape[0], self.y.shape[0]
        if backend == "auto":
            if self.n * self.m <= DENSE_MAX:
                backend = "dense"
            else:
                backend = "keops" if keops_pays(device) else "blocks"
        self.backend = backend
        #: reductions by KeOps LazyTensors (also true for the multiscale subclass)
        self.lazy = backend == "keops"
        self.C = torch_cost(self.x, self.y, self.p) if backend == "dense" else None
        self._rows = max(1, int(BLOCK_ENTRIES // max(self.m, 1)))
        self._cols = max(1, int(BLOCK_ENTRIES // max(self.n, 1)))

    def with_dtype(self, dtype) -> "CostGeometry":
        """The same geometry in another dtype: same centring and backend; a stored dense C is
        cast, not recomputed (casting the float64 matrix also rounds better than the
        matrix-product form evaluated in float32)."""
        other = copy.copy(self)
        other.x, other.y = self.x.to(dtype), self.y.to(dtype)
        other.C = None if self.C is None else self.C.to(dtype)
        return other

    # --- helpers -------------------------------------------------------------------------
    def as_tensor(self, v):
        return torch.as_tensor(v, dtype=self.x.dtype, device=self.x.device)

    def blocks(self, transpose=False, scratch=False):
        """Yield (slice, C_block) over row blocks of C (or of C^T).

        With ``scratch=True`` and no stored dense C, the blocks share one buffer the caller may
        overwrite (see :func:`cost_blocks`); the stored dense C is never a scratch block.
        """
        A, B = (self.y, self.x) if transpose else (self.x, self.y)
        if self.C is not None:
            C = self.C.T if transpose else self.C
            yield slice(0, C.shape[0]), C
            return
        yield from cost_blocks(A, B, self.p, self._cols if transpose else self._rows,
                               reuse=scratch)

    def _keops(self, transpose):
        A, B = (self.y, self.x) if transpose else (self.x, self.y)
        return lazy_cost(A, B, self.p)

    # --- reductions ----------------------------------------------------------------------
    def softmin(self, h, eps, transpose=False):
        r"""Soft c-transform :math:`-\varepsilon \log \sum_j \exp((h_j - C_{ij})/\varepsilon)`.

        ``h`` must already include the log-weights, i.e. ``h = g + eps * log b``.
        """
        h = self.as_tensor(h)
        if self.lazy:
            return lazy_softmin(self._keops(transpose), h, eps)
        out = []
        if self.C is not None:
            for _, C in self.blocks(transpose):
                out.append(-eps * torch.logsumexp((h[None, :] - C) / eps, dim=1))
            return torch.cat(out)
        for _, Z in self.blocks(transpose, scratch=True):
            # log-sum-exp of (h - C) / eps in place in the scratch block
            Z.neg_().add_(h[None, :]).div_(eps)
            top = Z.amax(dim=1)
            empty = top == -math.inf  # no mass in the row: the soft-min is +inf
            top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
            Z.sub_(top[:, None]).clamp_(min=EXP_FLOOR.get(Z.dtype, -700.0))
            out.append((-eps * (top + Z.exp_().sum(dim=1).log())).masked_fill_(empty, math.inf))
        return torch.cat(out)

    def cmin(self, h, transpose=False, return_index=False):
        r"""Hard c-transform :math:`\min_j (C_{ij} - h_j)` (and its argmin)."""
        h = self.as_tensor(h)
        if self.lazy:
            from pykeops.torch import LazyTensor

            C = self._keops(transpose)
            H = LazyTensor(h[None, :, None].contiguous())
            vals, idx = (C - H).min_argmin(dim=1)
            return (vals.view(-1), idx.view(-1).long()) if return_index else vals.view(-1)
        vals, idx = [], []
        scratch = self.C is None  # only scratch blocks may be overwritten
        for _, C in self.blocks(transpose, scratch=scratch):
            v, i = (C.sub_(h[None, :]) if scratch else C - h[None, :]).min(dim=1)
            vals.append(v)
            idx.append(i)
        return (torch.cat(vals), torch.cat(idx)) if return_index else torch.cat(vals)

    def plan_stats(self, u, v, eps, need=("rows", "cols", "cost")):
        r"""For :math:`P_{ij} = \exp((u_i + v_j - C_{ij})/\varepsilon)` return row sums, column
        sums and :math:`\sum_{ij} P_{ij} C_{ij}` (``u, v`` include log-weights).

        ``need`` names the ones to compute (each is one KeOps reduction); the others are None.
        """
        u, v = self.as_tensor(u), self.as_tensor(v)
        if self.lazy:
            return lazy_plan_stats(u, v, self._keops(False), eps, need)
        rows, cols, cost = [], torch.zeros_like(v), torch.zeros((), dtype=u.dtype, device=u.device)
        P = None  # one buffer for the plan block, filled in place (no temporaries per block)
        for sl, C in self.blocks(scratch=True):
            if P is None:
                P = torch.empty_like(C)
            Pb = P[:C.shape[0]]
            torch.sub(v[None, :], C, out=Pb).add_(u[sl, None]).div_(eps).exp_()
            if "rows" in need:
                rows.append(Pb.sum(1))
            if "cols" in need:
                cols += Pb.sum(0)
            if "cost" in need:
                cost += Pb.mul_(C).sum()
        return (torch.cat(rows) if "rows" in need else None, cols if "cols" in need else None,
                cost if "cost" in need else None)

    def bilinear(self, u, v):
        r""":math:`\sum_{ij} u_i C_{ij} v_j`.

        Without a stored matrix and with p = 2 in closed form, O(n + m) instead of a pass over
        all pairs: :math:`(u\cdot|x|^2)\sum v + \sum u\,(v\cdot|y|^2) - 2 (u^T x)\cdot(v^T y)`
        (the matrix-product form the blocks use too, accurate on the centred coordinates).
        """
        u, v = self.as_tensor(u), self.as_tensor(v)
        if self.C is None and self.p == 2:
            return ((u @ (self.x * self.x).sum(1)) * v.sum()
                    + u.sum() * (v @ (self.y * self.y).sum(1)) - 2 * (u @ self.x) @ (v @ self.y))
        if self.lazy:
            from pykeops.torch import LazyTensor

            C = self._keops(False)
            V = LazyTensor(v[None, :, None].contiguous())
            return ((C * V).sum(dim=1).view(-1) * u).sum()
        total = torch.zeros((), dtype=u.dtype, device=u.device)
        for sl, C in self.blocks(scratch=True):  # read-only use of the shared block
            total = total + u[sl] @ (C @ v)
        return total

    def cost_error(self) -> float:
        r"""Bound on :math:`|\hat C_{ij} - C_{ij}|` over all pairs: the cost this geometry
        computes (matrix-product form or KeOps differences, on rounded centred coordinates)
        against the exact cost of the caller's points (:mod:`otgen.theory.rounding`).

        Centring rounds each coordinate by :math:`u |x - c|` and the matrix-product form adds
        :math:`\gamma_{d+3}(|x|^2 + |y|^2 + 2|x||y|)`, so the squared distance is off by at
        most :math:`E_S = (4\gamma_{d+3} + 8u) R` with :math:`R = \max|x|^2 + \max|y|^2`
        (centred), plus :math:`(3d + 8)\, 2^{-1021}` for results flushed from the subnormal range;
        the root and power add 8u of the largest cost ``M``:
        :math:`E_S^{p/2} + 8uM` for p <= 2 (Hölder), :math:`\frac p2 (M^{2/p} + E_S)^{p/2 - 1}
        E_S + 8uM` for p > 2.
        """
        d = self.x.shape[1]
        R = self.sq_radius()
        # plus underflow: each of the ~3d + 8 products, squares and sums below 2^-1022 can
        # be lost entirely (flush_denormals sets subnormal results to 0)
        e_s = up(up((4 * gamma(d + 3) + 8 * U) * R * (1 + 4 * U)) + (3 * d + 8) * 2.0 ** -1021)
        if self.p == 2:
            return e_s
        M = self.max_cost_bound()
        # rounding of the root / power: 8u of the cost, or (p 745 + 8) u through KeOps'
        # exp(p/2 log S) (see lazy_cost)
        rel = 8 * U if not self.lazy or self.p == 1 else (self.p * 745 + 8) * U
        if self.p < 2:
            return up(up(e_s ** (self.p / 2) * (1 + 4 * U)) + rel * M)
        return up(self.p / 2 * (M ** (2 / self.p) + e_s) ** (self.p / 2 - 1) * e_s * (1 + 8 * U)
                  + rel * M)

    def sq_radius(self) -> float:
        r""":math:`\max_i |x_i|^2 + \max_j |y_j|^2` of the centred coordinates, rounded up."""
        d = self.x.shape[1]
        rx = float((self.x.double() ** 2).sum(1).max()) if self.n else 0.0
        ry = float((self.y.double() ** 2).sum(1).max()) if self.m else 0.0
        return up((rx + ry) * (1 + 2 * gamma(d + 2)))

    def max_cost_bound(self) -> float:
        r"""A rigorous upper bound on every exact cost:
        :math:`\big(2 \sqrt{\max |z|^2}\, (1 + 4u) + \text{centring error}\big)^p` over the pooled
        centred points z, rounded up."""
        rad = up(float(np.sqrt(self.sq_radius())) * (1 + 4 * U))
        return up((2 * rad * (1 + 8 * U)) ** self.p * (1 + 8 * U))

    def max_cost(self) -> float:
        """An upper bound on max_ij C_ij (diameter of the joint cloud, to the power p)."""
        both = torch.cat([self.x, self.y])
        radius = float(both.norm(dim=1).max())
        return (2 * radius) ** self.p if radius > 0 else 0.0

    def log_weights(self, w):
        w = self.as_tensor(w)
        return torch.where(w > 0, torch.log(w.clamp(min=1e-300)), torch.full_like(w, -math.inf))
