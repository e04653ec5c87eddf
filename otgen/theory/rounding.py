r"""The floating-point error model behind every certified bound, and exact arithmetic helpers.

A certificate ``lower <= OT <= upper`` must hold for the *exact* real numbers the float inputs
represent (float32 inputs are read as the float64 numbers they are).  Everything here exists to
make that true with explicit, proved error bounds instead of fudge factors.

Error model (IEEE double, round to nearest, unit roundoff :math:`u = 2^{-53}`):

* **Costs from coordinate differences.**  ``scipy.spatial.distance.cdist`` (and
  :func:`~otgen.theory.costs.pair_costs`) computes :math:`\hat S = \sum_k (x_k - y_k)^2` by one
  subtraction, one square and one addition per coordinate, then a square root and ``pow`` for
  :math:`p \ne 2`.  With :math:`\gamma_k = k u / (1 - k u)` (Higham 2002, Lemma 3.1),
  :math:`|\hat S - S| \le \gamma_{d+2} S`; the root and the power (correctly rounded to within
  one ulp by glibc) give :math:`|\hat C - C| \le \eta\, C + \tau` with
  :math:`\eta = 2\max(p, 1)\,\gamma_{d+4}` (:func:`cost_rel_error`).  The absolute term
  :math:`\tau` covers gradual underflow only (squares below :math:`2^{-1022}`); on points
  normalized to a unit span it is at most :math:`\max(p,1)\, 2^{p}(d\,2^{-1000})^{\min(1, p/2)}`
  (:func:`cost_abs_error`), i.e. :math:`10^{-75}` or less for :math:`p \ge 1/2`.
* **Normalization.**  Points are multiplied by a power of two :math:`2^k` so that their joint
  span lies in [1/2, 1) (exact: no rounding, no overflow of squared differences, no underflow
  of ordinary distances); bounds are scaled back by :math:`2^{-kp}` with outward rounding.
* **Weights.**  Scaled by powers of two as well, and represented exactly as integers for
  the plan flows (:mod:`otgen.theory.flows`); :math:`b` is read as
  :math:`\tilde b = b \sum a / \sum b` (the balanced problem otgen solves).
* **Dual values.**  :math:`\sum_i a_i f_i` is evaluated *exactly* up to one final rounding:
  each product is split into two floats (Dekker's two-product) and the 2n terms are summed by
  ``math.fsum`` (Shewchuk's exact summation), so potentials of any size can cancel without loss.

References
----------
N. J. Higham. Accuracy and Stability of Numerical Algorithms, 2nd ed., SIAM 2002 (Ch. 2-4).
T. J. Dekker. A floating-point technique for extending the available precision. Numer. Math.
18 (1971).  J. R. Shewchuk. Adaptive precision floating-point arithmetic and fast robust
geometric predicates. Discrete Comput. Geom. 18 (1997).
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

#: unit roundoff of float64
U = 2.0 ** -53
#: smallest positive normal float64
TINY = 2.0 ** -1022
#: Dekker's splitting constant 2^27 + 1
_SPLIT = 134217729.0
#: products above this magnitude could overflow inside the splitting
_SPLIT_MAX = 2.0 ** 995


def gamma(k: int) -> float:
    """Higham's :math:`\\gamma_k = k u / (1 - k u)`, rounded up."""
    return math.nextafter(k * U / (1.0 - k * U), math.inf)


def cost_rel_error(d: int, p: float) -> float:
    """Relative error bound :math:`\\eta` of a cost computed from coordinate differences."""
    return math.nextafter(2.0 * max(float(p), 1.0) * gamma(d + 4), math.inf)


def cost_abs_error(d: int, p: float) -> float:
    """Absolute error bound :math:`\\tau` (gradual underflow) of a cost on normalized points."""
    base = d * 2.0 ** -1000
    return math.nextafter(max(p, 1.0) * 2.0 ** p * base ** min(1.0, p / 2.0), math.inf)


def down(v: float) -> float:
    return math.nextafter(v, -math.inf)


def up(v: float) -> float:
    return math.nextafter(v, math.inf)


def fraction_down(q: Fraction) -> float:
    """The largest float <= q."""
    f = float(q)
    return down(f) if Fraction(f) > q else f


def fraction_up(q: Fraction) -> float:
    """The smallest float >= q."""
    f = float(q)
    return up(f) if Fraction(f) < q else f


# --- exact sums and dot products ---------------------------------------------------------
def _split(a):
    c = _SPLIT * a
    hi = c - (c - a)
    return hi, a - hi


def two_product(a: np.ndarray, b: np.ndarray):
    """``(p, e)`` with ``p = fl(a b)`` and ``p + e = a b`` exactly (no overflow/underflow)."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


def dot_interval(w, v) -> tuple[Fraction, Fraction]:
    r"""Exact bracket ``[lo, hi]`` (Fractions) of :math:`\sum_i w_i v_i` for float64 vectors.

    Each product is split exactly (Dekker); ``math.fsum`` returns the correctly rounded sum of
    the 2n parts, so the exact value is within one ulp.  Terms in the underflow range, where the
    splitting is not exact, add their explicit absolute error bound.
    """
    w = np.asarray(w, dtype=np.float64).ravel()
    v = np.asarray(v, dtype=np.float64).ravel()
    keep = (w != 0) & (v != 0)
    w, v = w[keep], v[keep]
    if w.size == 0:
        return Fraction(0), Fraction(0)
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(v))):
        raise ValueError("dot_interval needs finite vectors")
    big = (np.abs(w) >= _SPLIT_MAX) | (np.abs(v) >= _SPLIT_MAX)
    slack = Fraction(0)
    if big.any():  # rare: exact products through Fractions
        exact_big = sum((Fraction(float(s)) * Fraction(float(t))
                         for s, t in zip(w[big], v[big])), Fraction(0))
        w, v = w[~big], v[~big]
    else:
        exact_big = Fraction(0)
    p, e = two_product(w, v)
    # where |p| is near the underflow range the low part can be inexact: bound it by 2^-1020
    small = np.abs(p) < 2.0 ** -960
    if small.any():
        slack = Fraction(int(small.sum()) * 4, 2 ** 1022)
    s = math.fsum(np.concatenate([p, e]).tolist())
    # fsum is correctly rounded: the exact sum of the parts lies within one ulp of s
    lo = Fraction(down(s)) - slack + exact_big
    hi = Fraction(up(s)) + slack + exact_big
    return lo, hi


def sum_interval(v) -> tuple[Fraction, Fraction]:
    """Exact bracket of the sum of a float64 vector (within one ulp)."""
    s = math.fsum(np.asarray(v, dtype=np.float64).ravel().tolist())
    return Fraction(down(s)), Fraction(up(s))


def interval_mul(x: tuple[Fraction, Fraction], y: tuple[Fraction, Fraction]):
    prods = [x[0] * y[0], x[0] * y[1], x[1] * y[0], x[1] * y[1]]
    return min(prods), max(prods)


# --- power-of-two normalization -----------------------------------------------------------
def pow2_exponent(v: float) -> int:
    """k with v * 2^k in [1/2, 1) (0 for v == 0)."""
    if v <= 0 or not np.isfinite(v):
        return 0
    return -math.frexp(v)[1]


def span_exponent(x: np.ndarray, y: np.ndarray) -> int:
    """k such that the joint cloud scaled by 2^k has diameter < 1 (and >= 1 / (4 sqrt d)):
    from the largest coordinate width w (w 2^e in [1/2, 1)), the diameter is at most
    sqrt(d) w.  0 when all points coincide.  Never overflows (widths of coordinates near
    1e308 are taken on quartered values)."""
    both = np.concatenate([x, y]).astype(np.float64)
    with np.errstate(over="ignore"):
        width = both.max(0) - both.min(0)
    extra = 0
    if not np.all(np.isfinite(width)):
        width, extra = both.max(0) / 4 - both.min(0) / 4, -2
    top = float(width.max()) if width.size else 0.0
    if top == 0:
        return 0
    e = -math.frexp(top)[1]  # top 2^e in [1/2, 1)
    return e + extra - math.ceil(0.5 * math.log2(both.shape[1])) - 1


def scale_factor_interval(k: int, p: float) -> tuple[float, float]:
    """Bracket of 2^(-k p): the factor that turns costs of 2^k-scaled points back."""
    e = -k * p
    if float(e).is_integer():
        v = math.ldexp(1.0, int(e))
        return v, v
    v = 2.0 ** e
    return down(down(v)), up(up(v))
