r"""Certified primal and dual values on the exact inputs: the one place bounds are proved.

Every bound that a network-simplex based estimator (``exact``, ``sparse``, ``1d``, the projected
couplings of ``gaussian`` and ``sliced``) returns is computed here, under the error model of
:mod:`otgen.theory.rounding`:

* :class:`ExactProblem` -- the problem in normalized units: the original coordinates times a
  power of two (never re-centred: centring rounds), weights times a power of two, and the exact
  integer masses.
* the certified c-transform -- :math:`f_i \le \min_j C_{ij} - g_j` *exactly*: in
  :mod:`otgen.theory.ctransform`, with otgen's other c-transforms.
* :func:`dual_value` -- :math:`\sum_i a_i f_i + \sum_j \tilde b_j g_j`, summed exactly and rounded
  down.
* :func:`plan_value` -- the cost of an exactly feasible coupling on a plan's support (exact
  integer flows, :mod:`otgen.theory.flows`), rounded up (and down, for plans known optimal).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from math import fsum

import numpy as np
from scipy.spatial.distance import cdist

from .costs import BLOCK_ENTRIES, pair_costs
from .ground_costs import may_underflow
from .flows import ExactMasses, exact_flows, exact_northwest, repair_flows
from .rounding import (TINY, U, cost_abs_error, cost_rel_error, down, dot_interval, fraction_down,
                       interval_mul, pow2_exponent, span_exponent,
                       scale_factor_interval, sum_interval, up)


def _weights_exponent(w: np.ndarray) -> int:
    total = float(np.sum(w / 4.0)) * 4.0  # no overflow for weights up to ~1e308
    return pow2_exponent(up(total * (1 + len(w) * U)))


@dataclass
class ExactProblem:
    r"""The OT problem between two weighted clouds, rescaled exactly by powers of two.

    :math:`X = x\, 2^k`, :math:`Y = y\, 2^k` (joint diameter < 1, so every cost is < 1),
    :math:`a = a_\mathrm{in} 2^{ka}`, :math:`b = b_\mathrm{in} 2^{kb}` (sums in [1/2, 1]).  The exact
    cost in the caller's units is
    :math:`2^{-kp - ka}\, \mathrm{OT}(a, \tilde b)`.
    """

    X: np.ndarray
    Y: np.ndarray
    a: np.ndarray
    b: np.ndarray
    p: float
    k: int
    ka: int
    eta: float = field(init=False)
    tau: float = field(init=False)
    _masses: ExactMasses | None = field(default=None, init=False, repr=False)

    exact_scaling: bool = True

    def __post_init__(self):
        d = self.X.shape[1]
        self.eta = cost_rel_error(d, self.p)
        # every intermediate of a nonzero cost is at least delta^max(2, p) for the smallest
        # nonzero difference delta (taking min(2, p) once let p = 4 costs of 2^-1200 underflow
        # to 0 unaccounted: an upper bound of 0 for a positive OT)
        underflow = not self.exact_scaling or may_underflow(self.X, self.Y, max(2.0, self.p))
        self.tau = cost_abs_error(d, self.p) if underflow else 0.0

    @classmethod
    def build(cls, x, y, a, b, p) -> "ExactProblem":
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        k = span_exponent(x, y)
        ka, kb = _weights_exponent(a), _weights_exponent(b)
        aa, bb = np.ldexp(np.asarray(a, np.float64), ka), np.ldexp(np.asarray(b, np.float64), kb)
        if np.any((aa < 2.0 ** -1022) & (aa > 0)) or np.any((bb < 2.0 ** -1022) & (bb > 0)):
            raise ValueError("weights span more than ~300 orders of magnitude (a positive weight "
                             "would underflow float64 once the weights are normalized); drop the "
                             "negligible ones or rescale")
        X, Y = np.ldexp(x, k), np.ldexp(y, k)
        exact = k >= 0 or (np.array_equal(np.ldexp(X, -k), x)
                           and np.array_equal(np.ldexp(Y, -k), y))
        return cls(X, Y, aa, bb, float(p), k, ka, exact_scaling=exact)

    def permuted(self, rows: np.ndarray, cols: np.ndarray) -> "ExactProblem":
        """The same problem with its points (and weights) reordered: every value is unchanged."""
        return replace(self, X=self.X[rows], Y=self.Y[cols], a=self.a[rows], b=self.b[cols])

    @property
    def masses(self) -> ExactMasses:
        if self._masses is None:
            self._masses = ExactMasses.from_weights(self.a, self.b)
        return self._masses

    @property
    def b_balanced(self) -> np.ndarray:
        """b * sum(a) / sum(b) rounded to float (what the solvers use)."""
        return self.masses.to_float(self.masses.B)

    def to_caller_units(self, v: float, direction: str) -> float:
        """A bound in normalized units -> the caller's units, rounded outward."""
        if v == 0:
            return 0.0
        lo, hi = scale_factor_interval(self.k, self.p)
        step = down if direction == "down" else up
        w = step(v * ((lo if v >= 0 else hi) if direction == "down" else (hi if v >= 0 else lo)))
        # times 2^-ka last (v * lo 2^-ka could overflow where the result does not); ldexp is
        # exact unless the result leaves the normal range, where it rounds to nearest (or
        # overflows): one more directed step then keeps the bound outward
        try:
            r = math.ldexp(w, -self.ka)
        except OverflowError:
            r = math.copysign(math.inf, w)
        return r if TINY <= abs(r) < math.inf else step(r)

    def costs(self, rows, cols) -> np.ndarray:
        """Costs of listed pairs, from coordinate differences (normalized units)."""
        return pair_costs(self.X, self.Y, rows, cols, self.p)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.X), len(self.Y)

    def cost_block(self, X, Y, out=None) -> np.ndarray:
        """C between two point sets (into ``out``, a C-contiguous buffer of that shape, if
        given: refilling one buffer avoids a fresh 32 MB allocation per block)."""
        kw = {} if out is None else {"out": out}
        if self.p == 2:
            return cdist(X, Y, "sqeuclidean", **kw)
        D = cdist(X, Y, "euclidean", **kw)
        return D if self.p == 1 else np.power(D, self.p, out=D)

    def cost_rows(self, start: int, stop: int, transpose: bool = False,
                  out=None) -> np.ndarray:
        """Rows start:stop of C (of C^T with ``transpose``): a fresh array, or ``out``."""
        if transpose:
            return self.cost_block(self.Y[start:stop], self.X, out)
        return self.cost_block(self.X[start:stop], self.Y, out)

    def cost_sub(self, rows, cols) -> np.ndarray:
        """The submatrix C[rows][:, cols]."""
        return self.cost_block(self.X[rows], self.Y[cols])


def _scaled_costs(C: np.ndarray, abs_err: float = 0.0):
    """``(C 2^k, k, tau)``: max C 2^k in [1/4, 1/2), and the absolute error bound (normalized
    units) of the caller's ``abs_err`` plus half a subnormal ulp when scaling leaves the normal
    range (2^k scaling is otherwise exact)."""
    top = float(C.max()) if C.size else 0.0
    k = pow2_exponent(top) - 1 if top > 0 else 0
    Cn = np.ldexp(C, k)
    tau = 0.0
    if abs_err > 0:
        tau = max(up(math.ldexp(up(abs_err), k)), 2.0 ** -1074)
    if k < 0 and np.any((C > 0) & (np.abs(Cn) < TINY)):
        tau = up(tau + 2.0 ** -1074)
    return Cn, k, tau


@dataclass
class MatrixProblem(ExactProblem):
    r"""An OT problem given by a cost matrix (its entries within ``rel_err`` relative of the
    exact costs; 0 for a matrix that *is* the cost), rescaled by a power of two so that every
    entry is < 1.  Used for the paper's LPs (:mod:`otgen.theory.encoders`)."""

    C: np.ndarray | None = None
    rel_err: float = 0.0

    def __post_init__(self):
        self.eta = self.rel_err
        self.tau = self.abs_err  # normalized units

    abs_err: float = 0.0

    @classmethod
    def from_cost(cls, cm, a, b) -> "MatrixProblem":
        """From a :class:`~otgen.theory.ground_costs.CostMatrix` (values and rounding bound)."""
        return cls.from_matrix(cm.C, a, b, rel_err=cm.rel_err, abs_err=cm.abs_err)

    @classmethod
    def from_matrix(cls, C, a, b, rel_err: float = 0.0, abs_err: float = 0.0) -> "MatrixProblem":
        """``C`` within ``rel_err C + abs_err`` of the exact costs (caller's units).  Scaling C
        by 2^k is exact unless it pushes entries below 2^-1022, which adds half a subnormal
        ulp (2^-1075) to the absolute error."""
        C = np.asarray(C, dtype=np.float64)
        if not np.all(np.isfinite(C)):
            raise ValueError("the cost matrix has NaN or infinite entries (costs overflow "
                             "float64?): rescale the points")
        if np.any(C < 0):
            raise ValueError("the cost matrix has negative entries; costs must be >= 0")
        Cn, k, tau = _scaled_costs(C, abs_err)
        ka, kb = _weights_exponent(a), _weights_exponent(b)
        n, m = C.shape
        return cls(np.zeros((n, 0)), np.zeros((m, 0)), np.ldexp(np.asarray(a, np.float64), ka),
                   np.ldexp(np.asarray(b, np.float64), kb), 1.0, k, ka,
                   C=Cn, rel_err=float(rel_err), abs_err=tau)

    def cost_rows(self, start, stop, transpose=False, out=None):
        block = self.C[:, start:stop].T if transpose else self.C[start:stop]
        if out is None:
            return block.copy()
        out[...] = block
        return out

    def cost_sub(self, rows, cols):
        return self.C[np.ix_(rows, cols)]

    def costs(self, rows, cols):
        return self.C[rows, cols]


def dual_value(P: ExactProblem, f: np.ndarray, g: np.ndarray) -> float:
    r"""Lower-rounded :math:`\sum_i a_i f_i + \sum_j \tilde b_j g_j` (normalized units) for
    potentials already known feasible (:math:`f_i + g_j \le C_{ij}` exactly)."""
    lo_a, _ = dot_interval(P.a, f)
    bg = dot_interval(P.b, g)
    sa, sb = sum_interval(P.a), sum_interval(P.b)
    rho = (sa[0] / sb[1], sa[1] / sb[0])
    return fraction_down(lo_a + interval_mul(rho, bg)[0])


@dataclass
class SparseMatrixProblem(MatrixProblem):
    r"""An OT problem given by a sparse cost matrix: the stored entries (explicit zeros
    included) are the allowed pairs, the missing ones forbidden (infinite cost), as in
    ``ot.emd(a, b, M)`` for a scipy.sparse M.  Entries are kept sorted by (row, column)."""

    rows: np.ndarray | None = None
    cols: np.ndarray | None = None
    vals: np.ndarray | None = None

    @classmethod
    def from_sparse(cls, M, a, b) -> "SparseMatrixProblem":
        """From a scipy.sparse matrix with finite, nonnegative stored entries (duplicates are
        summed, as scipy reads them)."""
        coo = M.tocoo(copy=True)
        coo.sum_duplicates()
        rows, cols = coo.row.astype(np.int64), coo.col.astype(np.int64)
        order = np.lexsort((cols, rows))
        vals = np.asarray(coo.data, np.float64)[order]
        Cn, k, tau = _scaled_costs(vals)
        ka, kb = _weights_exponent(a), _weights_exponent(b)
        n, m = coo.shape
        return cls(np.zeros((n, 0)), np.zeros((m, 0)), np.ldexp(np.asarray(a, np.float64), ka),
                   np.ldexp(np.asarray(b, np.float64), kb), 1.0, k, ka, abs_err=tau,
                   rows=rows[order], cols=cols[order], vals=Cn)

    def edges(self, transpose: bool = False):
        """``(out, inner, vals)`` sorted by ``out``: rows, columns and costs (``transpose``:
        columns, rows and costs, sorted by column)."""
        if not transpose:
            return self.rows, self.cols, self.vals
        order = np.lexsort((self.rows, self.cols))
        return self.cols[order], self.rows[order], self.vals[order]

    def costs(self, rows, cols) -> np.ndarray:
        """Costs of listed pairs (inf for a pair that is not stored)."""
        m = self.shape[1]
        codes = self.rows * m + self.cols
        want = np.asarray(rows, np.int64) * m + np.asarray(cols, np.int64)
        pos = np.minimum(np.searchsorted(codes, want), max(len(codes) - 1, 0))
        found = codes[pos] == want if len(codes) else np.zeros(len(want), bool)
        return np.where(found, self.vals[pos] if len(codes) else 0.0, np.inf)

    def cost_sub(self, rows, cols) -> np.ndarray:
        rr, cc = np.meshgrid(np.asarray(rows), np.asarray(cols), indexing="ij")
        return self.costs(rr.ravel(), cc.ravel()).reshape(rr.shape)

    def cost_rows(self, start, stop, transpose=False, out=None):
        n, m = self.shape
        other = np.arange(n if transpose else m)
        block = (self.cost_sub(other, np.arange(start, stop)).T if transpose
                 else self.cost_sub(np.arange(start, stop), other))
        if out is None:
            return block
        out[...] = block
        return out


@dataclass
class PlanValue:
    """Certified cost of a coupling built from a plan's support."""

    upper: float           # normalized units, >= the cost of an exactly feasible coupling
    lower: float | None    # cost of that same coupling rounded down (when exact flows exist)
    i: np.ndarray
    j: np.ndarray
    mass: np.ndarray       # float masses (correctly rounded exact flows)
    exact: bool            # True: the coupling is the plan's support with exact flows
    cost_scale: float = 0.0  # the largest cost the coupling uses (for rounding floors)


def _nonneg_sum_bracket(terms: np.ndarray) -> tuple[float, float]:
    s = fsum(terms.tolist())  # correctly rounded: the exact sum is within one ulp
    if s == 0:  # a sum of nonnegative floats is 0 only if every term is: exact
        return 0.0, 0.0
    return max(down(s), 0.0), up(s)


def plan_value(P: ExactProblem, i, j, mass=None, flows=None) -> PlanValue:
    r"""Certified cost of a coupling of :math:`(a, \tilde b)` supported on (i, j).

    With a forest support and nonnegative exact flows (the usual case for a network-simplex
    plan), the coupling is the plan itself with exact masses; otherwise masses are clipped and
    excess removed exactly, and the remaining deficits are transported at cost at most their
    mass times the largest cost between the deficit rows and columns.  ``flows``: exact integer
    flows of a coupling already known feasible (e.g. :func:`~otgen.theory.flows.exact_northwest`).
    """
    i, j = np.asarray(i, np.int64), np.asarray(j, np.int64)
    M = P.masses
    if flows is None:
        keep = np.asarray(mass) > 0
        i, j, mass = i[keep], j[keep], np.asarray(mass, np.float64)[keep]
        F = exact_flows(i, j, M)
    else:
        F = flows
    exact = F is not None
    residual = cmax = 0.0
    if not exact:
        F, er, ec = repair_flows(i, j, mass, M)
        rr = np.nonzero(np.asarray([e > 0 for e in er]))[0]
        cc = np.nonzero(np.asarray([e > 0 for e in ec]))[0]
        if len(rr) and len(cc):
            if len(rr) * len(cc) <= BLOCK_ENTRIES:
                cmax = float(P.cost_sub(rr, cc).max())
                cmax = up(up(cmax * (1 + 2 * P.eta)) + P.tau)
            else:
                cmax = 1.0  # every cost is <= span^p <= 1 on normalized points
            res_mass = float(M.to_float([sum(ec)])[0])
            residual = up(up(res_mass * (1 + 2 * U)) * cmax)
    fl = M.to_float(F)
    nz = fl > 0
    i, j, fl = i[nz], j[nz], fl[nz]
    C = P.costs(i, j)
    t = fl * C
    lo, hi = _nonneg_sum_bracket(t)
    # a product below 2^-1022 (or 0 from nonzero factors) is off by up to 2^-1075 absolute,
    # outside the relative model: masses down to 2^-1022 times costs below 1 do underflow
    under = float(np.count_nonzero((t < TINY) & (fl > 0) & (C > 0))) * 2.0 ** -1074
    upper = up(up(up(hi * up(1 + 2 * P.eta + 8 * U)) + P.tau) + under)
    if residual > 0:
        upper = up(upper + residual)
    lower = (max(0.0, down(down(down(lo * down(1 - 2 * P.eta - 8 * U)) - P.tau) - under))
             if exact else None)
    scale = max(float(C.max(initial=0.0)), cmax)
    return PlanValue(upper, lower, i, j, fl, exact, scale)


def monotone_plan_value(P: ExactProblem, zx: np.ndarray, zy: np.ndarray) -> PlanValue:
    """Certified cost of the north-west coupling of the rows sorted by ``zx`` and the columns
    sorted by ``zy`` (exact masses): a feasible plan for any keys, the optimal one for the
    coordinates of 1-D points."""
    i, j, F = exact_northwest(np.argsort(zx, kind="stable"), np.argsort(zy, kind="stable"),
                              P.masses)
    return plan_value(P, i, j, flows=F)


def projected_coupling_upper(P: ExactProblem, directions) -> tuple[float, np.ndarray]:
    """Certified upper bound (caller's units) from the best projected quantile coupling: for
    each direction, the north-west coupling of the rows and columns sorted by their projections,
    in exact masses, costed in the full space.  Returns ``(upper, best_direction)``."""
    best, best_dir = np.inf, None
    for theta in directions:
        theta = np.asarray(theta, np.float64)
        upper = monotone_plan_value(P, P.X @ theta, P.Y @ theta).upper
        if upper < best:
            best, best_dir = upper, theta
    return P.to_caller_units(best, "up"), best_dir
