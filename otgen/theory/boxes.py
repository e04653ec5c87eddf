r"""Bounding-box hierarchy of a point cloud with rigorous lower bounds of a c-transform.

The pruned c-transform (``ctransform.pruned_ctransform``, p = 2) skips every
box of points for which a *proved* lower bound of

.. math:: \min_{j \in \mathrm{box}} |x - y_j|^2 - g_j

is at least the row's threshold.  This module holds the boxes and three such bounds; each is
valid on the exact inputs whatever the potential, and each is tight in a different regime:

* **distance** -- the squared distance from x to the box minus the box's largest g: tight where
  g varies little across a box;
* **linear** -- on centred coordinates, :math:`|x|^2 - 2 x\cdot y + H_j` with
  :math:`H_j = |y_j|^2 - g_j` bounded box-wise: tight where g is nearly :math:`|y|^2` + const;
* **tilted** -- :math:`|x - y|^2 = |x + w - y|^2 - 2 w\cdot x - |w|^2 + 2 w\cdot y` for any
  vector w, so with a per-box w fitted to g (least squares of :math:`g \approx 2 w\cdot y`)
  the bound is the squared distance from the *shifted* query x + w to the box, plus the
  box's smallest residual :math:`\rho = \min_j 2 w\cdot y_j - g_j`.  Optimal-transport
  potentials have large gradients (:math:`\nabla g(y) = 2 (y - T^{-1}(y))` for p = 2), which
  make the distance bound loose by ``|grad g| x box size``; the tilt removes that gradient,
  leaving only its variation across the box.  Measured (n = 100,000, d = 2, a c-transform of a
  coarse potential): 116 leaf boxes evaluated per row with the first two bounds.

Rounding is accounted for as in ``otgen.theory.rounding``, each bound's error is derived in
the method that computes it.
"""
from __future__ import annotations

import numpy as np

from .coarse_to_fine import tree_order
from .rounding import U, gamma, up

#: points per leaf box and children per box of the hierarchy
BOX_LEAF = 64
BOX_FANOUT = 8


class BoxHierarchy:
    """Bounding boxes of consecutive points in k-d tree order: leaves of ``BOX_LEAF`` points,
    each level above grouping ``BOX_FANOUT`` boxes.  Per box: its bounds (exact and centred
    points), its largest potential, the smallest :math:`H_j = |y'_j|^2 - g_j`, and the tilt
    (w, rho, error bound).  Padding points repeat the last point with potential -inf (never a
    minimum); padding boxes are empty (every bound +inf).

    Parameters
    ----------
    Y, Y1 : ndarray (m, d)
        The points and their centred (rounded) copies.
    g : ndarray (m,)
        The potential.
    R : float
        An upper bound on the Euclidean norm of every centred point of *both* clouds.
    """

    def __init__(self, Y: np.ndarray, Y1: np.ndarray, g: np.ndarray, R: float):
        self.leaf, self.fanout = BOX_LEAF, BOX_FANOUT
        fanout = self.fanout
        order = tree_order(Y)
        n_leaf = -(-len(Y) // self.leaf)
        pad = n_leaf * self.leaf - len(Y)

        def padded(v, fill=None):
            tail = np.repeat(v[order[-1:]], pad, 0) if fill is None else np.full(pad, fill)
            return np.concatenate([v[order], tail])

        self.Y, self.g, self.index = padded(Y), padded(g, -np.inf), padded(np.arange(len(Y)))
        Y1p = padded(Y1)
        H = (Y1p * Y1p).sum(1) - self.g  # +inf for padding points
        self.dim, self.R = Y.shape[1], float(R)
        finite = np.isfinite(g)
        self.g_max = float(np.abs(g[finite]).max(initial=0.0))
        # the linear bound's error: centring 8 g_1 R^2, |x'|^2 g_d R^2, the corner product
        # 2 g_d sqrt(d) R^2, H g_(d+2) (R^2 + |g|), three additions 3u (...): all within E
        d = self.dim
        self.linear_err = up(gamma(d + 8) * up(12 * (1 + np.sqrt(d)) * R * R
                                               + 4 * float(np.abs(g).max(initial=0.0))))
        leaf = (lambda v: v.reshape(n_leaf, self.leaf, *v.shape[1:]))
        level = [leaf(self.Y).min(1), leaf(self.Y).max(1), leaf(self.g).max(1),
                 leaf(Y1p).min(1), leaf(Y1p).max(1), leaf(H).min(1)]
        self.levels = [level]
        # a padding box: neutral for its parent's min / max, every bound of its own +inf
        empty = (np.inf, -np.inf, -np.inf, np.inf, -np.inf, np.inf)
        while len(level[0]) > fanout:
            k = -(-len(level[0]) // fanout)
            extra = k * fanout - len(level[0])
            grouped = [np.concatenate([v, np.full((extra, *v.shape[1:]), e)]).reshape(
                k, fanout, *v.shape[1:]) for v, e in zip(level, empty)]
            level = [grouped[0].min(1), grouped[1].max(1), grouped[2].max(1),
                     grouped[3].min(1), grouped[4].max(1), grouped[5].min(1)]
            self.levels.append(level)
        size = self.leaf
        self.tilts = []
        for level in self.levels:
            self.tilts.append(self._tilt(Y1p, self.g, len(level[0]), size))
            size *= fanout

    def _tilt(self, Y1p, gp, n_box: int, size: int):
        r"""Per box of ``size`` consecutive points: the tilt w (least squares of
        :math:`g_j \approx 2 w\cdot y'_j + c`; any w is valid, this one makes the bound tight),
        the computed :math:`\hat\rho = \min_j fl(2 w\cdot y'_j - g_j)` and the error bound of
        the tilted bound (see :meth:`lower_bound`)."""
        d = self.dim
        total = n_box * size
        Yq = np.zeros((total, d))
        Yq[:len(Y1p)] = Y1p
        gq = np.full(total, -np.inf)
        gq[:len(gp)] = gp
        real = np.isfinite(gq).reshape(n_box, size)
        Yb, gb = Yq.reshape(n_box, size, d), np.where(real, gq.reshape(n_box, size), 0.0)
        count = np.maximum(real.sum(1), 1)[:, None]
        dy = (Yb - (Yb * real[..., None]).sum(1)[:, None, :] / count[..., None]) * real[..., None]
        dg = (gb - gb.sum(1, keepdims=True) / count) * real
        cov = np.einsum("bsi,bsj->bij", dy, dy)
        ridge = 1e-12 * np.trace(cov, axis1=1, axis2=2) + 1e-300
        with np.errstate(all="ignore"):
            w = 0.5 * np.linalg.solve(cov + ridge[:, None, None] * np.eye(d),
                                      np.einsum("bsi,bs->bi", dy, dg)[..., None])[..., 0]
            w[~np.all(np.isfinite(w), 1) | (np.abs(w).max(1) > 1e150)] = 0.0
            t = 2.0 * np.einsum("bsi,bi->bs", Yb, w) - gq.reshape(n_box, size)
        rho = t.min(1)  # +inf for empty boxes
        w1, w2 = np.abs(w).sum(1), np.sqrt((w * w).sum(1))
        R = self.R
        # centring 8uR^2 (as the linear bound), the shifted query u (R + |w|)^2 (1 + u)^2,
        # the computed 2 w.x + |w|^2: g_(d+2) (2 R |w|_1 + |w|^2), rho: g_(d+2) (2 R |w|_1 + G)
        err = (8 * U * R * R + U * (R + w2) ** 2 * (1 + 4 * U)
               + gamma(d + 2) * (4 * R * w1 + w2 * w2 + self.g_max))
        err = err * up(1 + 16 * U) + 2.0 ** -1000
        bad = ~np.isfinite(err) | np.isnan(rho)
        return w, np.where(bad, -np.inf, rho), np.where(bad, 0.0, err)

    def lower_bound(self, x, x1, s1, level: int, box, tau: float) -> np.ndarray:
        r"""Rigorous lower bounds of :math:`\min_{j \in \mathrm{box}} |x - Y_j|^2 - g_j`, the
        largest of three:

        * distance: the computed gap :math:`\hat e_k = \max(fl(lo_k - x_k), fl(x_k - hi_k), 0)
          \le e_k (1 + u)`, so :math:`\sum_k e_k^2 \ge fl(\sum_k fl(\hat e_k^2))(1 -
          \gamma_{d+3})`, minus the box's largest potential (each operation then one step down);
        * linear, on centred coordinates (``x1``, :math:`s_1 = fl(|x'|^2)`):
          :math:`|x' - y'|^2 - g = |x'|^2 - 2 x' \cdot y' + H \ge s_1 - 2 \sum_k \max(x'_k lo'_k,
          x'_k hi'_k) + \min_{box} H - E`, with E (``linear_err``) bounding every rounding and
          the centring;
        * tilted, on centred coordinates: :math:`\mathrm{dist}(x' + w, \mathrm{box})^2 -
          2 w\cdot x' - |w|^2 + \rho`.  The shifted query :math:`z = fl(x' + w)` is within
          :math:`L = u (R + |w|)` of :math:`x' + w`, so :math:`\mathrm{dist}(x' + w)^2 \ge
          (1 - u)\,\mathrm{dist}(z)^2 - L^2 / u` (from :math:`2 L\, \mathrm{dist} \le u\,
          \mathrm{dist}^2 + L^2/u`); the rounding of :math:`2 w \cdot x' + |w|^2` and of
          :math:`\hat\rho` (:math:`\gamma_{d+2}` of the magnitudes) and the centring
          (:math:`8 u R^2`) make up the box's error term, subtracted last.
        """
        lo, hi, top, lo1, hi1, hmin = (a[box] for a in self.levels[level])
        gap = np.maximum(np.maximum(lo - x, x - hi), 0.0)
        s = (gap * gap).sum(1) * (1.0 - gamma(self.dim + 3))
        lb = np.nextafter(np.nextafter(s, -np.inf) - top, -np.inf)
        corner = np.maximum(x1 * lo1, x1 * hi1).sum(1)
        lin = np.nextafter(s1 - 2.0 * corner + hmin - self.linear_err, -np.inf)
        lb = np.fmax(lb, lin)  # fmax: a NaN bound (0 x inf on an empty box) is ignored
        w, rho, terr = (a[box] for a in self.tilts[level])
        z = x1 + w
        gap = np.maximum(np.maximum(lo1 - z, z - hi1), 0.0)
        st = (gap * gap).sum(1) * (1.0 - gamma(self.dim + 6))
        q = 2.0 * (x1 * w).sum(1) + (w * w).sum(1)
        tilted = np.nextafter(np.nextafter(np.nextafter(st - q, -np.inf) + rho, -np.inf) - terr,
                              -np.inf)
        lb = np.fmax(lb, tilted)
        lb = np.where(np.isnan(lb), -np.inf, lb)  # never skip a box on a NaN
        return np.nextafter(lb - tau, -np.inf) if tau else lb
