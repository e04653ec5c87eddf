r"""Ground costs as objects: what :math:`c(x, y)` is, how it is evaluated, and how wrong the
evaluation can be.

The paper's results hold for any cost :math:`W_c`; otgen's estimators take one through
``cost=`` (:func:`~otgen.theory.wasserstein.wasserstein`, :func:`~otgen.theory.encoders.encoder_ot`,
:func:`~otgen.theory.encoders.penalized_ot`) or as a precomputed matrix
(:func:`~otgen.theory.ot_cost.ot_cost`).

==================  =======================================  ===================================
cost                :math:`c(x, y)`                          methods
==================  =======================================  ===================================
``None``            :math:`\|x - y\|_2^p`                    every method
``"sqeuclidean"``   :math:`\|x - y\|_2^2`                    every method (p must be 2)
``"euclidean"``     :math:`\|x - y\|_2^p` (p = 1 if unset)   every method
``"cityblock"``     :math:`\|x - y\|_1^p` (p = 1 if unset)   ``exact``
``Minkowski(q)``    :math:`\|x - y\|_q^p`, q >= 1            ``exact``
``"cosine"``        :math:`1 - x^T y / (\|x\| \|y\|)`        ``exact``
callable            ``cost(x, y) -> (n, m)`` torch tensor    ``exact``
==================  =======================================  ===================================

Every cost object knows how to build its float64 matrix together with a bound on its rounding
error (:class:`CostMatrix`: :math:`|\hat C_{ij} - C_{ij}| \le \eta C_{ij} + \tau`), so the LP's
interval is certified for the *exact* cost of the float64 inputs, as for the Euclidean powers
(:mod:`otgen.theory.rounding`).  A user callable is certified for the costs it computes
(:math:`\eta = \tau = 0`): otgen cannot know its arithmetic.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from scipy.spatial.distance import cdist

from .costs import BLOCK_ENTRIES, cost_matrix, pair_costs, torch_cost
from .rounding import U, cost_rel_error, gamma, up

#: the methods of ``wasserstein`` that accept costs other than Euclidean powers
MATRIX_METHODS = frozenset({"auto", "exact"})
#: |ln s| for every positive double s (subnormals included) is below this
ROOT_LOG_MAX = 745.0
#: intermediates of a cost at least this far above 2^-1022 (in log2) cannot underflow
UNDERFLOW_MARGIN = 60


@dataclass(frozen=True)
class CostMatrix:
    r"""A float64 cost matrix and the bound on its rounding error:
    :math:`|\hat C_{ij} - C_{ij}| \le` ``rel_err`` :math:`C_{ij} +` ``abs_err``."""

    C: np.ndarray
    rel_err: float = 0.0
    abs_err: float = 0.0


class GroundCost:
    r"""A ground cost :math:`c(x, y)` between points of :math:`\mathbb{R}^d`: the base class.

    Subclasses define :meth:`matrix` (float64 values with a rounding bound, for the certified
    LP) and :meth:`torch_block` (differentiable values, for gradients); Euclidean powers also
    route to the point solvers through ``euclidean_power``.  A new cost is a subclass with
    these two methods (and a ``name``).

    Attributes
    ----------
    name : str
        Shown as ``OTResult.cost``.
    euclidean_power : float or None
        p when :math:`c = \|x - y\|_2^p` (then every estimator applies), else None.
    p : float
        The exponent reported as ``OTResult.p`` (``distance = value ** (1 / p)``).

    Examples
    --------
    >>> import torch
    >>> from otgen.theory import wasserstein
    >>> from otgen.theory.ground_costs import CostMatrix
    >>> class Chebyshev(GroundCost):
    ...     name = "chebyshev"
    ...     def matrix(self, x, y):   # max_k |x_k - y_k|: one rounding per difference
    ...         C = np.abs(x[:, None, :] - y[None, :, :]).max(-1)
    ...         return CostMatrix(C, rel_err=2.0 ** -52)
    ...     def torch_block(self, x, y):
    ...         return torch.cdist(x, y, p=float("inf"))
    >>> wasserstein(np.zeros((1, 2)), np.array([[3.0, -4.0]]), cost=Chebyshev()).value
    4.0

    References
    ----------
    M. Cuturi et al. Optimal Transport Tools (OTT): a JAX toolbox for all things Wasserstein,
    2022 (``CostFn`` objects).  N. J. Higham. Accuracy and Stability of Numerical Algorithms,
    2nd ed., SIAM 2002 (the error bounds).
    """

    name = "cost"
    #: p when :math:`c = \|x - y\|_2^p` (then every estimator applies), else None
    euclidean_power: float | None = None
    #: the exponent reported as ``OTResult.p`` (``distance = value ** (1 / p)``)
    p: float = 1.0

    def matrix(self, x: np.ndarray, y: np.ndarray) -> CostMatrix:
        raise NotImplementedError

    def torch_block(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def torch_pairs(self, x: torch.Tensor, y: torch.Tensor, i, j) -> torch.Tensor:
        """Differentiable costs of the listed pairs ``c(x[i_k], y[j_k])``, evaluated row
        block by row block of :meth:`torch_block` (closed forms override it)."""
        i, j = torch.as_tensor(np.asarray(i)), torch.as_tensor(np.asarray(j))
        values = torch.zeros(len(i), dtype=x.dtype, device=x.device)
        rows = max(1, int(BLOCK_ENTRIES // max(len(y), 1)))
        for s in range(0, len(x), rows):
            sel = (i >= s) & (i < s + rows)
            if bool(sel.any()):
                block = self.torch_block(x[s:s + rows], y)
                values = values.index_put((torch.nonzero(sel)[:, 0].to(x.device),),
                                          block[i[sel] - s, j[sel]].to(x.dtype))
        return values

    def __repr__(self) -> str:
        return self.name


class Euclidean(GroundCost):
    r""":math:`c(x, y) = \|x - y\|_2^p` (``p = 2``: ``"sqeuclidean"``): every method applies.

    Parameters
    ----------
    p : float > 0
        The power of the Euclidean norm.

    Examples
    --------
    >>> from otgen.theory import wasserstein
    >>> wasserstein(np.zeros((1, 2)), np.array([[3.0, 4.0]]), cost=Euclidean(1)).value
    5.0

    References
    ----------
    C. Villani. Optimal Transport, Old and New. Springer 2009 (Definition 6.1, W_p).
    """

    def __init__(self, p: float = 1.0):
        self.p = self.euclidean_power = float(p)
        self.name = {2.0: "sqeuclidean", 1.0: "euclidean"}.get(self.p, f"euclidean^{self.p:g}")

    def matrix(self, x, y) -> CostMatrix:
        C = cost_matrix(x, y, self.p)
        d = x.shape[1]
        abs_err = 0.0
        if may_underflow(x, y, max(self.p, 2.0)):
            abs_err = self.underflow_error(d, float(C.max(initial=0.0)))
        return CostMatrix(_finite(C, self.name), cost_rel_error(d, self.p), abs_err)

    def underflow_error(self, d: int, c_max: float) -> float:
        r"""Absolute error from gradual underflow: each of the d squares rounds by at most
        :math:`2^{-1075}` in the subnormal range, so :math:`\hat S` is off by
        :math:`e \le d\, 2^{-1073}` beyond its relative error; then
        :math:`|(S + e)^{p/2} - S^{p/2}| \le e^{p/2}` for p <= 2 (concavity) and
        :math:`\le \tfrac p2 (S_{\max} + e)^{p/2 - 1} e` for p > 2 (mean value theorem),
        plus one subnormal rounding of the power; doubled for the cross terms with the
        relative error."""
        e = d * 2.0 ** -1073
        if self.p <= 2:
            base = e ** (self.p / 2)
        else:
            s_max = up(c_max ** (2 / self.p) * 2)
            base = self.p / 2 * (s_max + e) ** (self.p / 2 - 1) * e
        return up(2 * up(base + 2.0 ** -1074))

    def torch_block(self, x, y):
        return torch_cost(x, y, self.p)

    def torch_pairs(self, x, y, i, j):
        return pair_costs(x, y, i, j, self.p)


class Minkowski(GroundCost):
    r""":math:`c(x, y) = \|x - y\|_q^p` for a norm exponent q >= 1 (``q = 1``: ``"cityblock"``).

    Rounding (scipy's ``cdist``: :math:`(\sum_k |x_k - y_k|^q)^{1/q}`, then ``pow``): each
    term within :math:`(q + 2) u`, the sum within :math:`\gamma_d`, the root and the power
    within one ulp each, and the root's exponent ``fl(1/q)`` (not exactly 1/q) moves
    :math:`s^{1/q}` by up to :math:`|\ln s|\, u / q \le 745 u / q` relative, so
    :math:`|\hat C - C| \le 2\max(p, 1)(\gamma_{d + \lceil q\rceil + 6} + 745 u / q)\, C`
    (the factor 2 covers the second-order terms), as long as no intermediate underflows
    (checked: inputs that could underflow are refused).

    Parameters
    ----------
    q : float >= 1
        The norm exponent (not 2: that is :class:`Euclidean`).
    p : float > 0
        The power of the norm.

    Examples
    --------
    >>> from otgen.theory import wasserstein
    >>> wasserstein(np.zeros((1, 2)), np.array([[3.0, -4.0]]), cost=Minkowski(1)).value
    7.0

    References
    ----------
    N. J. Higham. Accuracy and Stability of Numerical Algorithms, 2nd ed., SIAM 2002 (Lemma
    3.1, the :math:`\gamma_k` bounds).
    """

    def __init__(self, q: float = 1.0, p: float = 1.0):
        from .._validate import check_positive

        if isinstance(q, bool) or not isinstance(q, numbers.Real):
            raise TypeError(f"Minkowski cost needs a real norm exponent q, got {type(q).__name__}")
        if not (math.isfinite(q) and q >= 1):
            raise ValueError(f"Minkowski cost needs a norm exponent q >= 1 (finite), got q={q!r}")
        p = check_positive(p, "p")
        if q == 2:
            raise ValueError("Minkowski(q=2) is the Euclidean norm: use cost='euclidean' (or "
                             "cost=None with p), which every method supports")
        self.q, self.p = float(q), float(p)
        base = "cityblock" if self.q == 1 else f"minkowski{self.q:g}"
        self.name = base if self.p == 1 else f"{base}^{self.p:g}"

    def matrix(self, x, y) -> CostMatrix:
        check_no_underflow(x, y, max(self.q, self.p), self.name)
        if self.q == 1:
            D = cdist(x, y, "cityblock")
        else:
            D = cdist(x, y, "minkowski", p=self.q)
        if self.p != 1:
            np.power(D, self.p, out=D)
        rel = gamma(x.shape[1] + math.ceil(self.q) + 6)
        if self.q != 1:  # the root pow(s, fl(1/q)): fl(1/q) = (1 + d)/q moves s^(1/q) by
            rel += ROOT_LOG_MAX * U / self.q  # |ln s| u / q, |ln s| <= 745 for any double
        rel = up(2 * max(self.p, 1.0) * up(rel))
        return CostMatrix(_finite(D, self.name), rel)

    def torch_block(self, x, y):
        return torch.cdist(x, y, p=self.q) ** self.p

    def torch_pairs(self, x, y, i, j):
        diff = x[np.asarray(i)] - y[np.asarray(j)]
        return torch.linalg.vector_norm(diff, ord=self.q, dim=-1) ** self.p


class Cosine(GroundCost):
    r""":math:`c(x, y) = 1 - x^T y / (\|x\|_2 \|y\|_2)` (zero vectors are refused).

    Evaluated on rows scaled by powers of two (exact; the cost is scale invariant) so that
    every row's largest coordinate is in [1, 2): then :math:`\|x\| \ge 1` and underflow only
    adds :math:`d\, 2^{-1074}` to a dot product.  With :math:`\gamma_d` for the dot product
    (any summation order, Higham 2002 eq. 3.5) and :math:`\gamma_{d+2}` for each norm, the
    cosine is within :math:`\gamma_{3d+9}` and :math:`1 - \cos` within
    :math:`\gamma_{3d+12}` absolute; ``abs_err`` is twice that (second-order terms).

    Attributes
    ----------
    name : str
        ``"cosine"``.

    Examples
    --------
    >>> from otgen.theory import wasserstein
    >>> wasserstein(np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]]), cost=Cosine()).value
    1.0

    References
    ----------
    N. J. Higham. Accuracy and Stability of Numerical Algorithms, 2nd ed., SIAM 2002 (eq. 3.5,
    dot products in any order).
    """

    name = "cosine"

    def matrix(self, x, y) -> CostMatrix:
        xs, ys = _unit_scaled(x, "x"), _unit_scaled(y, "y")
        nx = np.sqrt((xs * xs).sum(1))
        ny = np.sqrt((ys * ys).sum(1))
        C = xs @ ys.T
        C /= nx[:, None] * ny[None, :]
        np.subtract(1.0, C, out=C)
        np.clip(C, 0.0, 2.0, out=C)  # the exact cost lies in [0, 2]: clipping only helps
        return CostMatrix(C, 0.0, up(2 * gamma(3 * x.shape[1] + 12)))

    def torch_block(self, x, y):
        xn = x / torch.linalg.vector_norm(x, dim=1, keepdim=True)
        yn = y / torch.linalg.vector_norm(y, dim=1, keepdim=True)
        return (1 - xn @ yn.T).clamp(0.0, 2.0)

    def torch_pairs(self, x, y, i, j):
        xi, yj = x[np.asarray(i)], y[np.asarray(j)]
        cos = (xi * yj).sum(-1) / (torch.linalg.vector_norm(xi, dim=-1)
                                   * torch.linalg.vector_norm(yj, dim=-1))
        return (1 - cos).clamp(0.0, 2.0)


class CallableCost(GroundCost):
    """A user cost ``fn(x, y) -> (n, m)`` on float64 torch tensors (rows in blocks).  The
    certificate holds for the costs ``fn`` computes: otgen cannot bound its rounding."""

    def __init__(self, fn: Callable):
        self.fn = fn
        self.name = f"callable:{getattr(fn, '__name__', type(fn).__name__)}"

    def matrix(self, x, y) -> CostMatrix:
        xt, yt = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
        rows = max(1, int(BLOCK_ENTRIES // max(len(y), 1)))
        C = np.empty((len(x), len(y)))
        with torch.no_grad():
            for s in range(0, len(x), rows):
                C[s:s + rows] = self._block(xt[s:s + rows], yt)
        return CostMatrix(check_cost_values(C, "cost(x, y)"))

    def _block(self, x, y) -> np.ndarray:
        out = self.fn(x, y)
        shape = tuple(getattr(out, "shape", np.shape(out)))
        if shape != (len(x), len(y)):
            raise ValueError(f"cost(x, y) must return the ({len(x)}, {len(y)}) matrix of pairwise "
                             f"costs for {len(x)} rows of x and {len(y)} rows of y, got shape "
                             f"{shape}")
        if isinstance(out, torch.Tensor):
            out = out.detach().cpu().numpy()
        out = np.asarray(out)
        if not (np.issubdtype(out.dtype, np.floating) or np.issubdtype(out.dtype, np.integer)):
            raise TypeError(f"cost(x, y) must return real costs, got dtype {out.dtype}")
        return out.astype(np.float64)

    def torch_block(self, x, y):
        return self.fn(x, y)


#: names accepted by ``cost=``
NAMED = {"sqeuclidean", "euclidean", "cityblock", "cosine"}


def resolve_cost(cost, p) -> GroundCost:
    """The cost object for ``cost=`` and ``p=`` (``p=None``: the cost's own default exponent).

    ``cost=None`` is :math:`\\|x - y\\|_2^p` with p = 2 by default; ``"euclidean"`` and
    ``"cityblock"`` raise their norm to ``p`` (1 by default); ``"sqeuclidean"`` is p = 2 only;
    ``"cosine"`` and callables take no ``p``.
    """
    from .._validate import check_positive

    if p is not None:
        p = check_positive(p, "p")
    if isinstance(cost, GroundCost):
        _no_extra_p(cost.name, p, cost.p)
        return cost
    if cost is None:
        return Euclidean(2.0 if p is None else p)
    if isinstance(cost, str):
        return _named(cost, p)
    if callable(cost):
        _no_extra_p("a callable cost", p, None)
        return CallableCost(cost)
    raise TypeError(f"cost must be None, one of {sorted(NAMED)}, a cost object "
                    f"(otgen.theory.ground_costs) or a callable cost(x, y) -> (n, m), got "
                    f"{type(cost).__name__}")


def _named(cost: str, p) -> GroundCost:
    if cost == "sqeuclidean":
        if p not in (None, 2.0):
            raise ValueError(f"cost='sqeuclidean' is |x - y|^2; got p={p:g} (use "
                             "cost='euclidean' with p for other powers)")
        return Euclidean(2.0)
    if cost == "euclidean":
        return Euclidean(1.0 if p is None else p)
    if cost == "cityblock":
        return Minkowski(1.0, 1.0 if p is None else p)
    if cost == "cosine":
        _no_extra_p("cost='cosine'", p, None)
        return Cosine()
    raise ValueError(f"unknown cost {cost!r}: expected one of {sorted(NAMED)}, a cost object "
                     "or a callable cost(x, y) -> (n, m)")


def _no_extra_p(what: str, p, own) -> None:
    if p is not None and p != own:
        raise ValueError(f"p={p:g} does not apply to {what}: its exponent is fixed by the cost "
                         "object (leave p unset)")


def check_cost_values(C: np.ndarray, name: str) -> np.ndarray:
    """Refuse cost matrices with NaN/inf or negative entries (the LP and its certificate need
    finite costs >= 0; add a constant to a cost that can be negative: every coupling's cost
    moves by that constant)."""
    if not np.all(np.isfinite(C)):
        raise ValueError(f"{name} has {int(np.sum(~np.isfinite(C)))} NaN or infinite entries; "
                         "costs must be finite")
    if C.size and C.min() < 0:
        raise ValueError(f"{name} has negative entries (min {C.min():.3g}); costs must be >= 0 "
                         "(add a constant: every coupling's cost moves by the same amount)")
    return C


def _finite(C: np.ndarray, name: str) -> np.ndarray:
    if not np.all(np.isfinite(C)):
        raise ValueError(f"the {name} cost overflows float64 on these points; rescale x and y")
    return C


def may_underflow(x: np.ndarray, y: np.ndarray, power: float) -> bool:
    """Whether coordinate differences raised to ``power`` (the largest exponent any
    intermediate applies to a difference) could leave the normal range: a nonzero difference
    is at least ulp(z) >= z 2^-53 for the smallest nonzero |coordinate| z, and relative error
    models hold above 2^-1022."""
    z = np.abs(np.concatenate([np.ravel(x), np.ravel(y)]))
    z = z[z > 0]
    return bool(len(z)) and power * (float(np.log2(z.min())) - 53) < -1022 + UNDERFLOW_MARGIN


def check_no_underflow(x: np.ndarray, y: np.ndarray, power: float, name: str) -> None:
    """Refuse points for which :func:`may_underflow` (no error bound is derived for them)."""
    if may_underflow(x, y, power):
        z = np.abs(np.concatenate([np.ravel(x), np.ravel(y)]))
        raise ValueError(f"coordinates as small as {z[z > 0].min():.3g} make the {name} cost "
                         "underflow float64 (its error could not be bounded); rescale x and y")


def _unit_scaled(x: np.ndarray, name: str) -> np.ndarray:
    """Rows times powers of two with the largest |coordinate| in [1, 2) (exact)."""
    top = np.abs(x).max(1)
    if np.any(top == 0):
        raise ValueError(f"{name} has {int(np.sum(top == 0))} zero vector(s): the cosine cost is "
                         "undefined for them")
    _, e = np.frexp(top)
    return np.ldexp(x, (1 - e)[:, None])
