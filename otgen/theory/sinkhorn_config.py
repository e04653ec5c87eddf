r"""Settings of the certified Sinkhorn solver (``wasserstein(..., method="sinkhorn")``).

:class:`SinkhornConfig` gathers every knob of :func:`otgen.theory.entropic.solve_sinkhorn`, and
:class:`EpsSchedule` the adaptive choice of the regularization: a first eps from a cheap
feasible cost, then a shrink factor per refinement from the certified gap the last eps left.
``wasserstein(x, y, method="sinkhorn", sinkhorn=SinkhornConfig(scaling=0.9))`` reaches them.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .._validate import check_choice, check_int, check_positive
from .certify import DENSE_PLAN_MAX

#: reduction backends of the Sinkhorn sweeps (:mod:`otgen.theory.costs`, :mod:`.multiscale`)
SINKHORN_BACKENDS = {"auto", "dense", "blocks", "keops", "multiscale"}


@dataclass(frozen=True)
class EpsSchedule:
    r"""How the adaptive solver picks eps when none is given.

    The first eps aims the entropic bias (about eps times a log factor per unit mass) at
    ``first_share * tol`` of a cheap feasible cost :math:`\bar c` (the best projected quantile
    coupling): :math:`\varepsilon_0 = \max(\mathrm{first\_share}\ \mathrm{tol}\ \bar c / \mathrm{mass},
    \mathrm{floor} \cdot \mathrm{scale})`.  After each round the next eps is
    :math:`\varepsilon \cdot \mathrm{clip}(\mathrm{aim}\ \mathrm{tol} / \mathrm{gap},
    \mathrm{min\_shrink}, \mathrm{max\_shrink})`: the certified gap shrinks at least about
    linearly with eps (in high dimension faster: d = 64, n = 3,000, eps 4.7 -> 1.2 took the
    relative gap from 7.1e-2 to 4.1e-3), so one more round should meet tol without overshooting
    by much (a smaller eps than needed costs sweeps).

    Parameters
    ----------
    first_share : float in (0, 1]
        Share of tol the first eps aims at.
    aim : float in (0, 1]
        Share of tol each refinement aims at.
    min_shrink, max_shrink : float in (0, 1)
        Bounds of the per-round factor (eps divided by 2 to 16 by default).
    max_refinements : int >= 0
        Rounds after the first before the solver stops and warns.
    floor : float > 0
        Smallest first eps, relative to the cost scale.

    Examples
    --------
    >>> round(EpsSchedule().shrink(rel_gap=0.07, tol=0.01), 12)   # 0.7 tol / gap
    0.1

    References
    ----------
    B. Schmitzer. Stabilized sparse scaling algorithms for entropy regularized transport
    problems. SIAM J. Sci. Comput. 41(3), 2019 (eps-scaling).
    """

    first_share: float = 0.5
    aim: float = 0.7
    min_shrink: float = 1.0 / 16
    max_shrink: float = 0.5
    max_refinements: int = 8
    floor: float = 2e-12

    def first(self, tol: float, rough: float, mass: float, scale: float) -> float:
        """The first eps from a feasible cost ``rough`` (1e-3 scale when it is 0)."""
        if rough > 0:
            return max(self.first_share * tol * rough / mass, self.floor * scale)
        return 1e-3 * scale

    def shrink(self, rel_gap: float, tol: float) -> float:
        """Factor for the next eps, from the certified relative gap the last eps left."""
        if not rel_gap > 0:
            return 0.25
        return min(self.max_shrink, max(self.min_shrink, self.aim * tol / rel_gap))

    def validated(self) -> "EpsSchedule":
        for name in ("first_share", "aim"):
            v = check_positive(getattr(self, name), f"EpsSchedule.{name}")
            if v > 1:
                raise ValueError(f"EpsSchedule.{name} is a share of tol in (0, 1], got {v}")
        lo = check_positive(self.min_shrink, "EpsSchedule.min_shrink")
        hi = check_positive(self.max_shrink, "EpsSchedule.max_shrink")
        if not lo <= hi < 1:
            raise ValueError(f"EpsSchedule needs 0 < min_shrink <= max_shrink < 1, got "
                             f"min_shrink={lo}, max_shrink={hi}")
        check_int(self.max_refinements, "EpsSchedule.max_refinements", 0)
        check_positive(self.floor, "EpsSchedule.floor")
        return self


@dataclass(frozen=True)
class SinkhornConfig:
    r"""Every setting of the certified Sinkhorn solver.

    Parameters
    ----------
    scaling : float in (0, 1)
        eps-scaling ratio of the annealing from the cost diameter down to the target eps
        (GeomLoss's ``scaling``; closer to 1 = more, cheaper steps).
    marginal_tol : float > 0, optional
        Stop when :math:`\|\pi 1 - a\|_1 \le` ``marginal_tol`` (default 1e-3 when eps is
        adaptive, 1e-5 for a fixed eps).
    max_iter : int >= 1
        Sinkhorn iterations per eps.
    backend : {"auto", "dense", "blocks", "keops", "multiscale"}
        Reduction backend (see :func:`~otgen.theory.wasserstein.wasserstein`).
    sweep_dtype : {"auto", "float32", "float64"}
        Precision of the sweeps that find the potentials; certificates are always float64.
    dense_plan_max : float
        Largest n m for which the dense plan is returned (``plan``).
    schedule : EpsSchedule
        The adaptive eps policy.

    Examples
    --------
    >>> from otgen.theory import wasserstein
    >>> x = np.random.default_rng(0).normal(size=(300, 2))
    >>> r = wasserstein(x, x + 1, method="sinkhorn", tol=0.05,
    ...                 sinkhorn=SinkhornConfig(scaling=0.7, sweep_dtype="float64"))
    >>> r.lower <= 2.0 <= r.upper
    True

    References
    ----------
    J. Feydy et al. Interpolating between optimal transport and MMD using Sinkhorn
    divergences. AISTATS 2019 (eps-scaling, ``scaling``).
    """

    scaling: float = 0.5
    marginal_tol: float | None = None
    max_iter: int = 10_000
    backend: str = "auto"
    sweep_dtype: str = "auto"
    dense_plan_max: float = DENSE_PLAN_MAX
    schedule: EpsSchedule = field(default_factory=EpsSchedule)

    def validated(self) -> "SinkhornConfig":
        """Self, after checking every field (clear errors naming the field)."""
        s = check_positive(self.scaling, "SinkhornConfig.scaling")
        if s >= 1:
            raise ValueError(f"SinkhornConfig.scaling must be in (0, 1), got {s}")
        if self.marginal_tol is not None:
            check_positive(self.marginal_tol, "SinkhornConfig.marginal_tol")
        check_int(self.max_iter, "SinkhornConfig.max_iter", 1)
        check_choice(self.backend, "SinkhornConfig.backend", SINKHORN_BACKENDS)
        check_choice(self.sweep_dtype, "SinkhornConfig.sweep_dtype",
                     {"auto", "float32", "float64"})
        check_positive(self.dense_plan_max, "SinkhornConfig.dense_plan_max", strict=False)
        if not isinstance(self.schedule, EpsSchedule):
            raise TypeError(f"SinkhornConfig.schedule must be an EpsSchedule, got "
                            f"{type(self.schedule).__name__}")
        self.schedule.validated()
        return self

    def with_overrides(self, backend: str = "auto", max_iter: int | None = None):
        """The config with ``wasserstein``'s shorthand arguments applied (when set)."""
        out = self if backend == "auto" else replace(self, backend=backend)
        return out if max_iter is None else replace(out, max_iter=max_iter)
