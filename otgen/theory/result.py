"""The result objects: :class:`SolverOutput` (what every solver hands the dispatcher) and
:class:`OTResult` (what every estimator returns to the user)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .plans import DensePlan, ImplicitPlan, Plan, SparseCoupling


def _fmt(v) -> str:
    if v is None:
        return "None"
    try:
        return f"{float(v):.6g}"
    except (TypeError, ValueError):
        return repr(v)


@dataclass
class OTResult:
    r"""Optimal-transport cost between two discrete measures, with how far it can be trusted.

    Attributes
    ----------
    value : float or torch.Tensor
        Estimate of the OT cost :math:`\mathrm{OT}_c(P, Q) = \min_{\pi \in \Pi(a, b)}
        \sum_{ij} \pi_{ij} \|x_i - y_j\|^p`, i.e. :math:`W_p^p`.  A 0-d tensor (differentiable
        when the inputs require grad) for torch inputs, a float for numpy inputs.
    lower, upper : float
        Certified bounds on the exact OT cost between the two given empirical measures:
        ``lower <= OT <= upper`` in exact arithmetic of the float inputs (rounding is bounded
        and accounted for, docs/theory.md).  ``lower`` is the value of a dual-feasible pair of
        potentials, ``upper`` the cost of an exactly feasible coupling.
    method : str
        Method that produced the estimate (``"exact"``, ``"sinkhorn"``, ``"1d"``, ...).
    p : float
        Exponent of the ground cost :math:`\|x - y\|_2^p` (of the norm for
        ``"euclidean"``/``"cityblock"`` costs; 1 for costs without one, so that
        ``distance == value``).
    cost : str
        Name of the ground cost (``"sqeuclidean"``, ``"euclidean^p"``, ``"cityblock"``,
        ``"cosine"``, ``"callable:<name>"``, ``"matrix"``, ...; :mod:`otgen.theory.ground_costs`).
    converged : bool
        False when the solver stopped before meeting its tolerance (a warning was issued).
    n_iter : int
        Iterations used (simplex pivots, Sinkhorn iterations, column-generation rounds, ...).
    eps : float or None
        Entropic regularization used by Sinkhorn, in units of the cost.
    plan : array or None
        Dense coupling (n, m) when small enough to store, else None.
    sparse_plan : SparseCoupling or None
        The coupling the upper bound is the cost of, as indices and masses, at any size, for
        the solvers whose plan is sparse (exact, sparse, 1d); None for entropic or closed-form
        results (their plan is dense or implicit).
    potentials : tuple(array, array) or None
        Dual potentials (f, g) with :math:`f_i + g_j \le C_{ij}` (certified ones, after c-transform).
    time_s : float
        Wall time of the whole call.
    std_error : float or None
        Monte-Carlo standard error of ``value`` (sliced estimators only).
    info : dict
        Method-specific diagnostics (marginal error, number of edges, ...).

    Examples
    --------
    >>> from otgen.theory import wasserstein
    >>> r = wasserstein(np.array([[0.0], [1.0]]), np.array([[2.0], [3.0]]), p=2,
    ...                 method="exact")
    >>> r.value, r.distance, r.lower <= r.value <= r.upper
    (4.0, 2.0, True)

    References
    ----------
    G. Peyré, M. Cuturi. Computational Optimal Transport. Foundations and Trends in Machine
    Learning 11(5-6), 2019, Chapters 2-3 (primal couplings, dual potentials, weak duality).
    O. Bousquet, S. Gelly, I. Tolstikhin, C.-J. Simon-Gabriel, B. Schölkopf. From optimal
    transport to generative modeling: the VEGAN cookbook. arXiv:1705.07642, 2017.
    """

    value: Any
    lower: float
    upper: float
    method: str
    p: float = 2.0
    cost: str | None = None
    converged: bool = True
    n_iter: int = 0
    eps: float | None = None
    plan: Any = None
    sparse_plan: "SparseCoupling | None" = None
    potentials: tuple | None = None
    time_s: float = 0.0
    std_error: float | None = None
    info: dict = field(default_factory=dict)

    @property
    def distance(self):
        """:math:`W_p = \\mathrm{value}^{1/p}` (same type as ``value``)."""
        v = self.value
        if hasattr(v, "clamp"):
            return v.clamp(min=0) ** (1.0 / self.p)
        return max(float(v), 0.0) ** (1.0 / self.p)

    @property
    def cost_name(self) -> str:
        """The ground cost's name (``cost``, or the Euclidean power ``p`` when unset)."""
        if self.cost is not None:
            return self.cost
        return {2.0: "sqeuclidean", 1.0: "euclidean"}.get(float(self.p), f"euclidean^{self.p:g}")

    @property
    def gap(self) -> float:
        """Absolute width ``upper - lower`` of the certified interval."""
        return float(self.upper) - float(self.lower)

    @property
    def rel_gap(self) -> float:
        """Relative width ``(upper - lower) / |upper|`` (0 when both are 0).  Never clipped: a
        negative value means an inverted interval, which is a bug to report."""
        up = abs(float(self.upper))
        if up == 0:
            return 0.0 if self.gap == 0 else math.copysign(math.inf, self.gap)
        return self.gap / up

    def contains(self, value: float, rtol: float = 1e-9) -> bool:
        """True if ``value`` lies in ``[lower, upper]`` up to relative rounding ``rtol``."""
        slack = rtol * max(abs(float(self.upper)), abs(float(self.lower)), 1e-300)
        return float(self.lower) - slack <= value <= float(self.upper) + slack

    def to_dict(self) -> dict:
        """JSON-friendly summary (no plan or potentials)."""
        return {
            "value": float(self.value), "distance": float(self.distance),
            "lower": float(self.lower), "upper": float(self.upper), "rel_gap": self.rel_gap,
            "method": self.method, "p": self.p, "cost": self.cost_name,
            "converged": bool(self.converged),
            "n_iter": int(self.n_iter), "eps": self.eps, "time_s": self.time_s,
            "std_error": self.std_error,
            **{k: v for k, v in self.info.items() if isinstance(v, (int, float, str, bool))},
        }

    def __repr__(self) -> str:
        parts = [f"value={_fmt(self.value)}", f"distance={_fmt(self.distance)}",
                 f"interval=[{_fmt(self.lower)}, {_fmt(self.upper)}]",
                 f"rel_gap={self.rel_gap:.2e}", f"method={self.method!r}",
                 f"cost={self.cost_name!r}", f"p={self.p:g}",
                 f"converged={self.converged}", f"n_iter={self.n_iter}"]
        if self.eps is not None:
            parts.append(f"eps={_fmt(self.eps)}")
        if self.std_error is not None:
            parts.append(f"std_error={_fmt(self.std_error)}")
        parts.append(f"time_s={self.time_s:.3g}")
        if self.plan is not None:
            parts.append(f"plan=<{tuple(np.shape(self.plan))}>")
        return "OTResult(" + ", ".join(parts) + ")"


@dataclass
class SolverOutput:
    """What every solver returns to :func:`~otgen.theory.wasserstein.wasserstein`: certified
    values in the caller's units, the plan (one of :mod:`otgen.theory.plans`' kinds, or None
    for closed forms), numpy potentials and diagnostics."""

    value: float
    lower: float
    upper: float
    plan: Plan | None = None
    potentials: tuple | None = None
    converged: bool = True
    n_iter: int = 0
    eps: float | None = None
    info: dict = field(default_factory=dict)

    def to_result(self, method: str, p: float, cost: str | None = None) -> OTResult:
        """The user's :class:`OTResult` (numpy fields; dense plan when small)."""
        plan = self.plan
        return OTResult(value=self.value, lower=self.lower, upper=self.upper, method=method,
                        p=p, cost=cost, converged=self.converged, n_iter=self.n_iter,
                        eps=self.eps, plan=None if plan is None else plan.dense(),
                        sparse_plan=plan if isinstance(plan, SparseCoupling) else None,
                        potentials=self.potentials, info=self.info)


__all__ = ["OTResult", "SolverOutput", "SparseCoupling", "DensePlan", "ImplicitPlan"]
