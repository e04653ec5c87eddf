r"""Multiscale Sinkhorn for d <= 3: GeomLoss anneals, otgen truncates and certifies.

At small eps the entropic plan :math:`P_{ij} = a_i b_j e^{(f_i + g_j - C_{ij})/\varepsilon}`
is negligible outside a band around the optimal coupling.  In d <= 3 a voxel grid of cells of
side :math:`\sim \varepsilon^{1/p}` makes that band a small set of cell pairs, and KeOps
block-sparse reductions (``ranges``) visit only those pairs.  The division of labour:

1. ``geomloss.SamplesLoss("sinkhorn", backend="multiscale", potentials=True)`` runs the
   coarse-to-fine eps-scaling (Schmitzer 2019; Feydy 2020) and returns potentials at the target
   eps.  Its truncation is heuristic, which is fine: potentials never need to be exact.
2. :class:`MultiscaleGeometry` keeps every cell pair :math:`(I, J)` that can hold an entry with
   :math:`(f_i + g_j - C_{ij})/\varepsilon \ge -M` (``margin`` M = 15: each row and column
   loses at most a fraction :math:`e^{-15} = 3\cdot 10^{-7}` of its mass), using the rigorous
   cell bound :math:`C_{ij} \ge (\max(|c_I - c_J| - r_I - r_J, 0))^p`, and runs otgen's
   Sinkhorn sweeps on that block-sparse kernel until the marginal error is below ``marginal_tol``.
3. The certificates stay rigorous: the lower bound is the exact (full, KeOps) double
   c-transform; the upper bound is the cost of the truncated plan after rounding onto U(a, b) --
   rounding turns *any* nonnegative matrix into a coupling, so truncation can only loosen it.

References
----------
B. Schmitzer. Stabilized sparse scaling algorithms for entropy regularized transport problems,
SIAM J. Sci. Comput. 2019.  J. Feydy. Geometric data analysis, beyond convolutions, PhD thesis,
2020 (GeomLoss's multiscale backend).  J. Altschuler, J. Weed, P. Rigollet, NeurIPS 2017.
"""
from __future__ import annotations

import math

import torch

from .costs import (BLOCK_ENTRIES, KEOPS_CPU_MIN_ENTRIES, CostGeometry, lazy_cost,
                    lazy_plan_stats, lazy_softmin)

#: the multiscale backend needs a voxel grid that makes sense, and GeomLoss's formulas for p
MULTISCALE_MAX_DIM = 3
#: kept cell pairs can hold entries down to exp(-MARGIN) * a_i * b_j
MARGIN = 15.0
#: at most this many voxels per cloud (the boolean cell-pair mask stays <= 64 MB)
MAX_CELLS = 8192
#: voxel side in units of the kernel width eps^(1/p) (0.5: 28% of the pairs kept instead of
#: 37% with 1.0 at n = 100,000, d = 2, eps = 0.05; smaller gains little, measured)
SIDE_FACTOR = 0.5
#: GeomLoss's eps-scaling ratio: 0.9 leaves a marginal error ~3x smaller than its default 0.5
#: for about the same time at 20k points (measured), which saves otgen's sweeps
GEOMLOSS_SCALING = 0.9
#: re-truncate when a potential moved by more than this many eps since the mask was built
DRIFT = 5.0


def multiscale_pays(n: int, m: int, d: int, p: float) -> bool:
    """Whether ``backend="auto"`` uses the multiscale Sinkhorn (low d, p in {1, 2}, large n m)."""
    return d <= MULTISCALE_MAX_DIM and p in (1.0, 2.0) and n * m >= KEOPS_CPU_MIN_ENTRIES


def _voxels(x: torch.Tensor, side: float):
    """Voxel labels (0..cells-1), sort permutation and [start, end) ranges of the sorted cloud."""
    cells = torch.floor((x - x.min(0).values) / side).long()
    _, labels = torch.unique(cells, dim=0, return_inverse=True)
    order = torch.argsort(labels, stable=True)
    counts = torch.bincount(labels)
    ends = torch.cumsum(counts, 0)
    ranges = torch.stack([ends - counts, ends], 1).int()
    return labels[order], order, ranges


def _cell_side(x: torch.Tensor, y: torch.Tensor, width: float) -> float:
    """Voxel side: the kernel width, enlarged until both clouds have at most MAX_CELLS cells."""
    both = torch.cat([x, y])
    extent = (both.max(0).values - both.min(0).values).clamp(min=1e-300)
    side = max(width, float(extent.max()) * 1e-6)
    while float(torch.prod(torch.floor(extent / side) + 1)) > MAX_CELLS:
        side *= 1.25
    return side


class _Cells:
    """Per-voxel summary of a sorted cloud and its potential h: centroid c, radius r (max
    distance to c), max of h, and for p = 2 a linear model of h - |x|^2 with its exact max
    residual (used by :func:`_block_bound`)."""

    def __init__(self, pts, lab, h, k, p):
        dt = pts.dtype
        count = torch.bincount(lab, minlength=k).to(dt)
        self.c = pts.new_zeros(k, pts.shape[1]).index_add_(0, lab, pts) / count[:, None]
        s = pts - self.c[lab]
        self.r = pts.new_zeros(k).scatter_reduce_(0, lab, s.norm(dim=1), "amax")
        self.top = pts.new_full((k,), -math.inf).scatter_reduce_(0, lab, h, "amax")
        if p != 2:
            return
        # hat h = h - |x|^2 ~ alpha + beta . (x - c), by per-cell least squares (any alpha, beta
        # give a valid bound: the residual max is computed exactly)
        v = h - (pts * pts).sum(1)
        self.alpha = pts.new_zeros(k).index_add_(0, lab, v) / count
        v = v - self.alpha[lab]
        d = pts.shape[1]
        S = pts.new_zeros(k, d, d).index_add_(0, lab, s[:, :, None] * s[:, None, :])
        sv = pts.new_zeros(k, d).index_add_(0, lab, s * v[:, None])
        ridge = 1e-9 * S.diagonal(dim1=1, dim2=2).sum(1) + 1e-12  # one-point cells: beta = 0
        eye = torch.eye(d, dtype=dt, device=pts.device)
        self.beta = torch.linalg.solve(S + ridge[:, None, None] * eye, sv)
        resid = v - (s * self.beta[lab]).sum(1)
        self.alpha = self.alpha + pts.new_full((k,), -math.inf).scatter_reduce_(
            0, lab, resid, "amax")


def _block_bound(cx: _Cells, cy: _Cells, p: float, rows=slice(None)) -> torch.Tensor:
    r"""Upper bound on :math:`f_i + g_j - C_{ij}` over each cell pair (I, J).

    Always: :math:`\max_I f + \max_J g - (|c_I - c_J| - r_I - r_J)_+^p`.  For p = 2 also,
    with :math:`\hat f = f - |x|^2 \le \alpha_I + \beta_I\cdot(x - c_I)` on cell I (and the same
    for g), :math:`f + g - |x - y|^2 = \hat f + \hat g + 2 x\cdot y`, which over the two balls is
    at most :math:`\alpha_I + \alpha_J + 2 c_I\cdot c_J + r_I|\beta_I + 2c_J| + r_J|\beta_J + 2c_I|
    + 2 r_I r_J` -- tight near the support, where :math:`\beta_I \approx -2 T(c_I)`.
    The smaller of the two is returned.
    """
    c, r = cx.c[rows], cx.r[rows]
    gap = (torch.cdist(c, cy.c) - r[:, None] - cy.r[None, :]).clamp(min=0) ** p
    bound = cx.top[rows, None] + cy.top[None, :] - gap
    if p == 2:
        lin = (cx.alpha[rows, None] + cy.alpha[None, :] + 2 * c @ cy.c.T
               + r[:, None] * torch.cdist(cx.beta[rows], -2 * cy.c)
               + cy.r[None, :] * torch.cdist(-2 * c, cy.beta)
               + 2 * r[:, None] * cy.r[None, :])
        bound = torch.minimum(bound, lin)
    return bound


def _keep_mask(cx: _Cells, cy: _Cells, p: float, eps: float, margin: float) -> torch.Tensor:
    """Cell pairs whose bound reaches -margin * eps, plus each row's and column's best pair
    (computed in row chunks: only the boolean mask is ever (cells x cells))."""
    k, l = cx.c.shape[0], cy.c.shape[0]
    dev = cx.c.device
    keep = torch.zeros(k, l, dtype=torch.bool, device=dev)
    col_best = cx.c.new_full((l,), -math.inf)
    col_arg = torch.zeros(l, dtype=torch.long, device=dev)
    step = max(1, int(BLOCK_ENTRIES // max(l, 1)))
    for s in range(0, k, step):
        b = _block_bound(cx, cy, p, slice(s, s + step))
        keep[s:s + step] = b >= -margin * eps
        keep[torch.arange(s, s + b.shape[0], device=dev), b.argmax(1)] = True
        top, arg = b.max(0)
        better = top > col_best
        col_best = torch.where(better, top, col_best)
        col_arg = torch.where(better, arg + s, col_arg)
    keep[col_arg, torch.arange(l, device=dev)] = True
    return keep


class MultiscaleGeometry(CostGeometry):
    r"""KeOps geometry whose entropic reductions can skip cell pairs that cannot matter.

    Until :meth:`truncate` is called (or for another eps than the one it was called with) every
    reduction is the full KeOps one.  Hard c-transforms (:meth:`cmin`) are always full, because
    the dual lower bound needs the exact minimum.

    Parameters
    ----------
    x, y : ndarray (n, d), (m, d)
        Points, d <= 3.
    p : {1, 2}
    device : str or torch.device, optional
    """

    def __init__(self, x, y, p=2.0, device=None, dtype=torch.float64):
        super().__init__(x, y, p, backend="keops", device=device, dtype=dtype)
        self.backend = "multiscale"
        self._trunc = None
        self.kept_fraction = 1.0

    def truncate(self, f, g, eps: float, margin: float = MARGIN,
                 side_factor: float = SIDE_FACTOR):
        r"""Keep only the cell pairs where :math:`(f_i + g_j - C_{ij})/\varepsilon \ge -`margin
        is possible (plus each cell's best partner, so no row or column is left empty).

        ``side_factor`` scales the voxel side (the kernel width :math:`\varepsilon^{1/p}`).
        """
        from pykeops.torch.cluster import from_matrix

        f, g = self.as_tensor(f), self.as_tensor(g)
        side = _cell_side(self.x, self.y, side_factor * eps ** (1.0 / self.p))
        lx, px, rx = _voxels(self.x, side)
        ly, py, ry = _voxels(self.y, side)
        xs, ys = self.x[px], self.y[py]
        cx = _Cells(xs, lx, f[px], rx.shape[0], self.p)
        cy = _Cells(ys, ly, g[py], ry.shape[0], self.p)
        keep = _keep_mask(cx, cy, self.p, eps, margin)
        ranges = from_matrix(rx, ry, keep)
        self._trunc = dict(eps=eps, px=px, py=py, xs=xs.contiguous(), ys=ys.contiguous(),
                           ranges=ranges, f=f.clone(), g=g.clone())
        # fraction of the n * m entries that the reductions still visit
        sx, sy = (rx[:, 1] - rx[:, 0]).double(), (ry[:, 1] - ry[:, 0]).double()
        self.kept_fraction = float(sx @ keep.double() @ sy) / (self.n * self.m)
        return self

    def drift(self, f, g) -> float:
        """How far (in units of eps) the potentials moved since :meth:`truncate`."""
        t = self._trunc
        if t is None:
            return math.inf
        return float(((self.as_tensor(f) - t["f"]).abs().max() + (self.as_tensor(g) - t["g"]).abs().max())
                     / t["eps"])

    def _active(self, eps):
        t = self._trunc
        return t if t is not None and t["eps"] == eps else None

    def _lazy_sorted(self, t, transpose):
        A, B = (t["ys"], t["xs"]) if transpose else (t["xs"], t["ys"])
        return lazy_cost(A, B, self.p)

    def softmin(self, h, eps, transpose=False):
        t = self._active(eps)
        if t is None:
            return super().softmin(h, eps, transpose)
        from pykeops.torch.cluster import swap_axes

        rows, cols = (t["py"], t["px"]) if transpose else (t["px"], t["py"])
        ranges = swap_axes(t["ranges"]) if transpose else t["ranges"]
        out = lazy_softmin(self._lazy_sorted(t, transpose), self.as_tensor(h)[cols], eps, ranges)
        return torch.empty_like(out).index_copy_(0, rows, out)

    def plan_stats(self, u, v, eps, need=("rows", "cols", "cost")):
        t = self._active(eps)
        if t is None:
            return super().plan_stats(u, v, eps, need)
        px, py = t["px"], t["py"]
        rows_s, cols_s, cost = lazy_plan_stats(self.as_tensor(u)[px], self.as_tensor(v)[py],
                                                self._lazy_sorted(t, False), eps, need,
                                                t["ranges"])
        # back to the callers' order
        rows = None if rows_s is None else torch.empty_like(rows_s).index_copy_(0, px, rows_s)
        cols = None if cols_s is None else torch.empty_like(cols_s).index_copy_(0, py, cols_s)
        return rows, cols, cost


def geomloss_potentials(geom: CostGeometry, a, b, eps: float, scaling: float = GEOMLOSS_SCALING):
    r"""Potentials ``(f, g)`` at ``eps`` (otgen's cost units) from GeomLoss's multiscale solver.

    GeomLoss uses the cost :math:`\|x - y\|^p / p` and :math:`\varepsilon' = \mathrm{blur}^p`;
    with :math:`\mathrm{blur} = (\varepsilon / p)^{1/p}` its entropic plan is otgen's, and its
    potentials are ours divided by p.
    """
    from geomloss import SamplesLoss

    p = int(geom.p)
    loss = SamplesLoss("sinkhorn", p=p, blur=(eps / p) ** (1.0 / p), scaling=scaling,
                       debias=False, potentials=True, backend="multiscale")
    at, bt = geom.as_tensor(a), geom.as_tensor(b)
    F, G = loss(at / at.sum(), geom.x, bt / bt.sum(), geom.y)
    return p * F.view(-1).detach(), p * G.view(-1).detach()


def multiscale_potentials(geom: MultiscaleGeometry, a, b, eps, sweeps, *, rounds: int = 3):
    """GeomLoss potentials at ``eps``, then otgen's sweeps (``sweeps(geom, f, g)`` returns
    ``(f, g, n_iter, err)``) on the truncated kernel; re-truncated (at most ``rounds`` times, so
    at most ``rounds * max_iter`` sweeps) when the potentials moved by more than DRIFT eps since
    the mask was built.  Re-truncating matters also when the sweeps did not converge: a mask
    built from poor potentials can miss the support, and sweeps on it then stall."""
    f, g = geomloss_potentials(geom, a, b, eps)
    n_iter = 0
    for _ in range(rounds):
        geom.truncate(f, g, eps)
        f, g, it, err = sweeps(geom, f, g)
        n_iter += it
        if geom.drift(f, g) <= DRIFT:
            break
    return f, g, n_iter, err
