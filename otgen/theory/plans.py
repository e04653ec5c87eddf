r"""The three kinds of transport plan a solver returns, each able to give a differentiable
:math:`\langle P, C(x, y)\rangle` with the plan held fixed (envelope theorem).

* :class:`SparseCoupling` -- support and masses (network simplex, sparse, 1-D: at most
  n + m - 1 entries); the plan the certified upper bound is the cost of.
* :class:`DensePlan` -- an (n, m) matrix.
* :class:`ImplicitPlan` -- the entropic plan
  :math:`P_{ij} = \exp((u_i + v_j - C_{ij}) / \varepsilon)`, recomputed block by block
  (O(block m) memory in the backward pass); it keeps its dense matrix too when small.

The gradient of :math:`\sum_{ij} P_{ij} c(x_i, y_j)` with P fixed is
:math:`\sum_j P_{ij} \nabla_x c(x_i, y_j)`, the gradient of the OT cost wherever it is
differentiable (Danskin / envelope theorem; Peyré & Cuturi 2019, Prop. 9.2).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import certify
from .certify import dense_plan


@dataclass(frozen=True)
class SparseCoupling:
    r"""A coupling :math:`P = \sum_k \mathrm{mass}_k\, \delta_{(\mathrm{rows}_k, \mathrm{cols}_k)}`
    of an (n, m) problem, stored as its support (COO triplets; float64 masses, numpy arrays
    also for torch inputs).

    Attributes
    ----------
    rows, cols : array of int64 (nnz,)
        Row (source point) and column (target point) of each support entry.
    mass : array of float64 (nnz,)
        The masses, positive; their row and column sums are the marginals up to rounding (the
        certified upper bound is the cost of the exact flows these masses round).
    shape : tuple (n, m)

    Examples
    --------
    >>> import numpy as np
    >>> from otgen.theory import wasserstein
    >>> r = wasserstein(np.array([[0.0], [1.0]]), np.array([[0.0], [1.0]]), method="exact")
    >>> r.sparse_plan.to_dense()
    array([[0.5, 0. ],
           [0. , 0.5]])

    References
    ----------
    G. Peyré, M. Cuturi. Computational Optimal Transport. Foundations and Trends in Machine
    Learning 11(5-6), 2019, Section 3.3 (optimal plans of the LP are sparse: at most n + m - 1
    entries).
    """

    rows: np.ndarray
    cols: np.ndarray
    mass: np.ndarray
    shape: tuple

    def __len__(self) -> int:
        return len(self.mass)

    def to_dense(self) -> np.ndarray:
        """The (n, m) matrix (mind the memory: n m floats)."""
        return dense_plan(self.rows, self.cols, self.mass, *self.shape, max_entries=math.inf)

    def to_scipy(self):
        """The coupling as a ``scipy.sparse.coo_array``."""
        from scipy.sparse import coo_array
        return coo_array((self.mass, (self.rows, self.cols)), shape=self.shape)

    def dense(self, max_entries: float | None = None):
        """The dense matrix when it has at most ``max_entries`` (default
        :data:`otgen.theory.certify.DENSE_PLAN_MAX`) entries, else None."""
        return dense_plan(self.rows, self.cols, self.mass, *self.shape,
                          max_entries=_limit(max_entries))

    def torch_value(self, x: torch.Tensor, y: torch.Tensor, ground) -> torch.Tensor:
        """:math:`\\sum_k \\mathrm{mass}_k\\, c(x_{r_k}, y_{c_k})` (``ground``: a
        :class:`~otgen.theory.ground_costs.GroundCost`), differentiable in x and y."""
        mass = torch.as_tensor(self.mass, dtype=x.dtype, device=x.device)
        return (mass * ground.torch_pairs(x, y, self.rows, self.cols)).sum()

    def __repr__(self) -> str:
        return (f"SparseCoupling(shape={self.shape}, nnz={len(self)}, "
                f"mass={float(self.mass.sum()):.6g})")


@dataclass(frozen=True)
class DensePlan:
    """A plan as an (n, m) matrix (numpy, float64)."""

    matrix: np.ndarray

    def dense(self, max_entries: float | None = None):
        return self.matrix if self.matrix.size <= _limit(max_entries) else None

    def torch_value(self, x, y, ground) -> torch.Tensor:
        P = torch.as_tensor(self.matrix, dtype=x.dtype, device=x.device)
        return (P * ground.torch_block(x, y)).sum()


@dataclass(frozen=True)
class ImplicitPlan:
    r"""The entropic plan :math:`\exp((u_i + v_j - C_{ij}) / \varepsilon)` on a cost geometry
    (:class:`~otgen.theory.costs.CostGeometry`), with its value; ``matrix`` when small."""

    geom: Any
    u: torch.Tensor
    v: torch.Tensor
    eps: float
    value: float
    matrix: np.ndarray | None = None

    def dense(self, max_entries: float | None = None):
        if self.matrix is None or self.matrix.size > _limit(max_entries):
            return None
        return self.matrix

    def torch_value(self, x, y, ground) -> torch.Tensor:
        if self.matrix is not None:
            return DensePlan(self.matrix).torch_value(x, y, ground)
        geom, u, v, eps = self.geom, self.u, self.v, self.eps

        def blocks():
            for sl, C in geom.blocks(scratch=True):  # C is only read before the next block
                yield sl, torch.exp((u[sl, None] + v[None, :] - C) / eps).to(x.device)

        return _ImplicitPlanCost.apply(x, y, float(self.value), blocks, ground)


class _ImplicitPlanCost(torch.autograd.Function):
    """<P, C(x, y)> with P fixed, P given blockwise: O(block * m) memory in backward."""

    @staticmethod
    def forward(ctx, x, y, value, plan_blocks, ground):
        ctx.save_for_backward(x, y)
        ctx.plan_blocks, ctx.ground = plan_blocks, ground
        return torch.as_tensor(value, dtype=x.dtype, device=x.device)

    @staticmethod
    def backward(ctx, grad_out):
        x, y = ctx.saved_tensors
        gx, gy = torch.zeros_like(x), torch.zeros_like(y)
        with torch.enable_grad():
            yd = y.detach().requires_grad_(True)
            for sl, P in ctx.plan_blocks():
                xb = x[sl].detach().requires_grad_(True)
                c = (P.to(x.dtype) * ctx.ground.torch_block(xb, yd)).sum()
                g1, g2 = torch.autograd.grad(c, [xb, yd])
                gx[sl] += g1
                gy += g2
        return grad_out * gx, grad_out * gy, None, None, None


def _limit(max_entries):
    return certify.DENSE_PLAN_MAX if max_entries is None else max_entries


#: what a solver's ``plan`` field may be
Plan = SparseCoupling | DensePlan | ImplicitPlan
