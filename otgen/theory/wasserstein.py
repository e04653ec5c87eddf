r"""``wasserstein``: the one entry point to every W_p estimator, each with certified bounds."""
from __future__ import annotations

import time
import warnings
from dataclasses import replace

import numpy as np
import torch

from .._validate import (Measures, check_choice, check_cost_range, check_device, check_int,
                         check_measures, check_positive, is_tensor)
from .certificate import ExactProblem, monotone_plan_value, projected_coupling_upper
from .certify import default_directions
from .choose import DENSE_EXACT_MAX, choose_method
from .closed_form import certified_gelbrich, gelbrich_lower_bound
from .entropic import solve_sinkhorn
from .sinkhorn_config import SINKHORN_BACKENDS, SinkhornConfig
from .exact import pack_result, solve_exact
from .ground_costs import MATRIX_METHODS, Euclidean, GroundCost, resolve_cost
from .ot_cost import solve_matrix
from .progress import verbose_logging
from .ctransform import c_transform_knn
from .ctransform import PRUNED_MAX_DIM
from .quantized import quantized_applies, solve_quantized
from .sparse import solve_sparse
from .plans import SparseCoupling
from .result import OTResult, SolverOutput

METHODS = {"auto", "exact", "sparse", "quantized", "sinkhorn", "1d", "gaussian"}
#: relative gap attributed to floating-point rounding when checking ``tol`` (e.g. tol=0)
GAP_ROUNDING = 1e-10


def wasserstein(x, y, a=None, b=None, *, p: float | None = None, cost=None,
                method: str = "auto", tol=None, eps=None, seed=None, backend: str = "auto",
                device=None, max_iter: int | None = None, verbose: bool = False,
                sinkhorn: SinkhornConfig | None = None) -> OTResult:
    r"""Optimal transport cost between two weighted point clouds, with certified bounds.

    .. math::
        \mathrm{OT}_c(a, b) = \min_{\pi \ge 0,\ \pi 1_m = a,\ \pi^T 1_n = b}
        \sum_{ij} \pi_{ij}\, c(x_i, y_j), \qquad c(x, y) = \|x - y\|_2^p \text{ by default:}
        \;\; \mathrm{OT}_c = W_p^p\Big(\sum_i a_i \delta_{x_i}, \sum_j b_j \delta_{y_j}\Big)

    Every method returns an interval ``[lower, upper]`` that provably contains the exact value
    (up to floating-point rounding): ``lower`` is the value of a dual-feasible pair of
    potentials, ``upper`` the cost of a feasible coupling.

    Parameters
    ----------
    x : array or tensor (n, d)
    y : array or tensor (m, d)
    a, b : array or tensor (n,), (m,), optional
        Nonnegative weights with equal sums (within 1e-6 relative); uniform 1/n, 1/m when None.
    p : float > 0, optional
        Exponent of the ground cost :math:`\|x - y\|_2^p` (2 when unset), or of the norm
        for ``cost="euclidean"`` / ``"cityblock"`` (1 when unset).
    cost : None, str, cost object or callable
        The ground cost c (:mod:`otgen.theory.ground_costs`): None (:math:`\|x - y\|_2^p`),
        ``"sqeuclidean"``, ``"euclidean"``, ``"cityblock"``, ``"cosine"``, a
        :class:`~otgen.theory.ground_costs.GroundCost` (e.g. ``Minkowski(q=3)``), or a callable
        ``cost(x, y) -> (n, m)`` on float64 torch tensors.  Euclidean powers work with every
        method; the other costs with ``"exact"`` (``"auto"`` picks it), on their dense cost
        matrix, certified with its rounding bound (a callable: for the costs it computes).
    method : {"auto", "exact", "sparse", "quantized", "sinkhorn", "1d", "gaussian"}
        * ``"exact"``: network simplex (POT); the interval is the LP duality gap (zero at optimum).
          Beyond ``DENSE_EXACT_MAX`` cost entries it runs the sparse solver to optimality.
        * ``"sparse"``: network simplex on a sparse candidate graph built coarse to fine
          (:mod:`otgen.theory.coarse_to_fine`) and grown by column generation
          (:mod:`otgen.theory.sparse`), O((n + m) k) memory; stops once the certified gap is
          <= ``tol`` (default 1e-2).
        * ``"quantized"`` (p = 2, d <= 3; large clouds): the OT between clusters of both
          clouds (the sparse solver), its plan refined inside cluster pairs (upper bound) and
          its potential extended to the points and c-transformed over all pairs (lower bound,
          pruned search); clusters 4x smaller until the gap is <= ``tol`` (default 1e-2)
          (:mod:`otgen.theory.quantized`).  1e6 points in about 2.5 minutes on 2 cores.
        * ``"sinkhorn"``: log-domain eps-scaled Sinkhorn (dense, blockwise or KeOps reductions);
          upper = rounded entropic plan (Altschuler et al. 2017), lower = c-transform of the
          potential.  ``eps`` fixed, or refined until the gap meets ``tol``.
        * ``"1d"``: sorting (exact, only d == 1 and p >= 1).
        * ``"gaussian"``: Bures formula between the fitted Gaussians (only p == 2); it is the
          Gelbrich lower bound; upper = best projected quantile coupling.
        * ``"auto"``: see :mod:`otgen.theory.choose`.
    tol : float in [0, 1), optional
        Requested relative width ``(upper - lower) / upper``.  When it is not met the function
        warns and sets ``converged=False``.
    eps : float > 0, optional
        Entropic regularization for ``"sinkhorn"``, in units of the cost.
    seed : int, optional
        Seed for the random projection directions (reproducible results).
    backend : {"auto", "dense", "blocks", "keops", "multiscale"}
        Reduction backend for ``"sinkhorn"``.  ``"multiscale"`` (d <= 3, p in {1, 2}; the
        ``auto`` choice from n * m >= 1e9 on) takes GeomLoss's coarse-to-fine potentials and
        finishes on a block-sparse KeOps kernel (:mod:`otgen.theory.multiscale`).  Otherwise
        ``auto`` is dense up to 2.5e7 entries, then KeOps on CUDA and torch row blocks on CPU;
        the Sinkhorn sweeps run in float32 (a float32 copy of the costs, when dense) and
        float64 sweeps finish and certify (docs/theory.md).
    device : str or torch.device, optional
        Where Sinkhorn runs (defaults to the tensors' device, else CPU).
    max_iter : int, optional
        Iteration cap (simplex pivots for exact, Sinkhorn iterations per eps for sinkhorn).
    sinkhorn : SinkhornConfig, optional
        Every setting of ``"sinkhorn"`` (eps-scaling ratio, marginal tolerance, sweep
        precision, the adaptive eps schedule, ...); ``backend`` and ``max_iter``, when set,
        override its fields.
    verbose : bool
        Print progress to stderr: for ``"sinkhorn"`` and ``"sparse"`` one line per eps or
        column-generation round with the certified interval so far, and a sweep line at most
        every 10 s.  The same messages always go to the ``"otgen"`` logger at INFO level
        (:mod:`otgen.theory.progress`).

    Returns
    -------
    OTResult
        numpy in -> floats/numpy arrays out; torch in -> ``value`` a 0-d tensor that
        back-propagates to ``x`` and ``y`` (envelope theorem: the gradient is
        :math:`\sum_j \pi_{ij} \nabla_x c(x_i, y_j)` with the plan held fixed), array fields as
        tensors.

    Raises
    ------
    ValueError, TypeError
        On NaN/inf, wrong shapes, mismatched dims, negative or unbalanced weights, empty inputs,
        p <= 0, unknown method, eps <= 0, or a method that does not fit the input.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(100, 2))
    >>> r = wasserstein(x, x + [3.0, 4.0], p=2)
    >>> round(r.distance, 6)
    5.0

    References
    ----------
    G. Peyré, M. Cuturi. Computational Optimal Transport. Found. Trends ML, 2019.
    """
    t0 = time.perf_counter()
    mu = check_measures(x, y, a, b)
    ground = resolve_cost(cost, p)
    opts = _check_options(method, tol, eps, backend, device, max_iter, mu)
    if sinkhorn is not None and not isinstance(sinkhorn, SinkhornConfig):
        raise TypeError(f"sinkhorn must be a SinkhornConfig, got {type(sinkhorn).__name__}")
    opts["sinkhorn"] = sinkhorn
    if ground.euclidean_power is None:
        res = _solve_other_cost(mu, ground, **opts)
    else:
        res = _solve_euclidean(mu, ground.euclidean_power, seed=seed, verbose=verbose, **opts)
    res.time_s = time.perf_counter() - t0
    return res


def _check_options(method, tol, eps, backend, device, max_iter, mu: Measures) -> dict:
    """Validated solver options (the arguments every cost shares)."""
    check_choice(method, "method", METHODS)
    if tol is not None:
        tol = check_positive(tol, "tol", strict=False)
        if tol >= 1:
            raise ValueError(f"tol is a relative width and must be < 1, got {tol}")
    if eps is not None:
        eps = check_positive(eps, "eps")
    check_choice(backend, "backend", SINKHORN_BACKENDS)
    device = check_device(device)
    if max_iter is not None:
        max_iter = check_int(max_iter, "max_iter", 1)
    if device is None and is_tensor(mu.x_in):
        device = mu.x_in.device
    return dict(method=method, tol=tol, eps=eps, backend=backend, device=device,
                max_iter=max_iter)


def _solve_euclidean(mu: Measures, p, *, method, tol, eps, seed, backend, device, max_iter,
                     verbose, sinkhorn) -> OTResult:
    """c = |x - y|_2^p: every method, with the point solvers."""
    check_cost_range(mu, p)
    if method == "auto":
        method = choose_method(mu.n, mu.m, mu.d, p, tol, device)
    _check_method_fits(method, mu, p, eps)
    with verbose_logging(bool(verbose)):
        config = (sinkhorn or SinkhornConfig()).with_overrides(backend, max_iter)
        out = _solve(mu, p, method, tol, eps, seed, config, device, max_iter)
    res = out.to_result(method, p)
    _check_interval(res, tol)
    if mu.arrays.kind == "torch":
        _to_torch(res, out.plan, mu, Euclidean(p))
    return res


def _check_method_fits(method: str, mu: Measures, p: float, eps) -> None:
    if method == "1d" and mu.d != 1:
        raise ValueError(f"method='1d' needs 1-D points (x.shape[1] == 1), got dimension {mu.d}")
    if method == "1d" and p < 1:
        raise ValueError(f"method='1d' needs p >= 1 (sorted coupling), got p={p}")
    if method == "gaussian" and p != 2:
        raise ValueError(f"method='gaussian' is the Bures formula for p=2 only, got p={p}")
    if method == "quantized" and not quantized_applies(p, mu.d):
        raise ValueError(f"method='quantized' needs p=2 and dimension 1 to {PRUNED_MAX_DIM} "
                         f"(the pruned c-transform), got p={p}, dimension {mu.d}; use "
                         "method='sparse'")
    if eps is not None and method != "sinkhorn":
        raise ValueError(f"eps is only used by method='sinkhorn', got method={method!r}")


def _check_interval(res: OTResult, tol) -> None:
    """Refuse inverted intervals (a bug); warn when the certified gap misses ``tol``."""
    if not res.lower <= res.upper:  # both certified: an inversion can only be a bug
        raise RuntimeError(f"otgen bug: method={res.method!r} returned an inverted certified "
                           f"interval [{res.lower!r}, {res.upper!r}]; please report it with "
                           "the inputs")
    # rounding slack: the LP's primal and dual values agree only to ~1e-16 absolute
    if tol is not None and res.converged and res.rel_gap > tol + GAP_ROUNDING:
        res.converged = False
        warnings.warn(f"method={res.method!r} returned a certified relative gap "
                      f"{res.rel_gap:.2e} > tol={tol:.1e}", RuntimeWarning, stacklevel=4)


def _solve_other_cost(mu: Measures, ground: GroundCost, *, method, tol, eps, backend, device,
                      max_iter, sinkhorn) -> OTResult:
    """Costs other than Euclidean powers: the exact LP on their dense matrix."""
    if method not in MATRIX_METHODS:
        raise ValueError(f"method={method!r} supports the Euclidean costs |x - y|_2^p only; the "
                         f"{ground.name} cost is solved by method='exact' (or 'auto')")
    if eps is not None:
        raise ValueError("eps is only used by method='sinkhorn' (Euclidean costs)")
    if mu.n * mu.m > DENSE_EXACT_MAX:
        raise ValueError(f"the {ground.name} cost is solved on its dense {mu.n} x {mu.m} matrix, "
                         f"over the {DENSE_EXACT_MAX:.2g}-entry limit; subsample, or use a "
                         "Euclidean cost (sparse and entropic solvers scale further)")
    x, y = mu.x.astype(np.float64), mu.y.astype(np.float64)
    out = solve_matrix(ground.matrix(x, y), mu.a, mu.b,
                       **({"max_iter": max_iter} if max_iter else {}))
    res = out.to_result("exact", ground.p, ground.name)
    _check_interval(res, tol)
    if mu.arrays.kind == "torch":
        _to_torch(res, out.plan, mu, ground)
    return res


def _solve(mu: Measures, p, method, tol, eps, seed, config, device,
           max_iter) -> SolverOutput:
    if method == "sinkhorn":  # zero weights are -inf log-weights there: nothing to drop
        return solve_sinkhorn(mu, p, eps=eps, tol=tol, device=device, config=config)
    positive, kept = drop_zero_weights(mu)
    out = _solve_positive(positive, p, method, tol, seed, max_iter)
    return out if kept is None else restore_zero_weights(out, mu, positive, kept, p)


def _solve_positive(mu: Measures, p, method, tol, seed, max_iter) -> SolverOutput:
    if method == "exact" and mu.n * mu.m > DENSE_EXACT_MAX:
        return solve_sparse(mu, p, tol=None)  # same LP, O(n + m) memory
    if method == "exact":
        return solve_exact(mu, p, **({"max_iter": max_iter} if max_iter else {}))
    if method == "sparse":
        return solve_sparse(mu, p, tol=1e-2 if tol is None else tol)
    if method == "quantized":
        return solve_quantized(mu, p, tol=1e-2 if tol is None else tol)
    if method == "1d":
        return _solve_1d(mu, p)
    return _solve_gaussian(mu, seed)


# --- small-method solvers (closed forms) ------------------------------------------------
def _solve_1d(mu: Measures, p: float) -> SolverOutput:
    """The sorted coupling in exact masses: optimal for p >= 1, both bounds from its cost."""
    P = ExactProblem.build(mu.x, mu.y, mu.a, mu.b, p)
    pv = monotone_plan_value(P, P.X[:, 0], P.Y[:, 0])
    return pack_result(P, pv, pv.lower, None, None, True, 0, {})


def _solve_gaussian(mu: Measures, seed) -> SolverOutput:
    value, lower = certified_gelbrich(mu.x, mu.y, mu.a, mu.b)
    P = ExactProblem.build(mu.x, mu.y, mu.a, mu.b, 2.0)
    upper, _ = projected_coupling_upper(P, default_directions(P.X, P.Y, seed=seed or 0))
    return SolverOutput(value=value, lower=lower, upper=upper)


def drop_zero_weights(mu: Measures):
    """The measures restricted to their positive weights, and the kept indices (None if all
    are positive).  Zero-weight points change no transport cost; solvers never see them."""
    ix, iy = np.flatnonzero(mu.a > 0), np.flatnonzero(mu.b > 0)
    if len(ix) == mu.n and len(iy) == mu.m:
        return mu, None
    return replace(mu, x=mu.x[ix], y=mu.y[iy], a=mu.a[ix], b=mu.b[iy]), (ix, iy)


def restore_zero_weights(out: SolverOutput, mu: Measures, positive: Measures, kept,
                         p: float) -> SolverOutput:
    """Map a solution on the positive-weight points back to all points: plans get zero rows
    and columns; potentials of zero-weight points are their c-transforms (feasible)."""
    ix, iy = kept
    if isinstance(out.plan, SparseCoupling):
        sp = out.plan
        out.plan = SparseCoupling(ix[sp.rows], iy[sp.cols], sp.mass, (mu.n, mu.m))
    if out.potentials is not None:
        f, g = (np.asarray(t, np.float64) for t in out.potentials)
        x, y = mu.x.astype(np.float64), mu.y.astype(np.float64)
        F, G = np.empty(mu.n), np.empty(mu.m)
        F[ix], G[iy] = f, g
        for pot, pts, other, keep, h in ((F, x, y[iy], ix, g), (G, y, x[ix], iy, f)):
            drop = np.setdiff1d(np.arange(len(pts)), keep)
            if len(drop):
                pot[drop] = c_transform_knn(pts[drop], other, h, p)[0][:, 0]
        out.potentials = (F, G)
    return out


# --- torch outputs and autograd ---------------------------------------------------------
def _float_tensor(t):
    return t if t.is_floating_point() else t.to(torch.float64)


def _to_torch(res: OTResult, plan, mu: Measures, ground: GroundCost) -> None:
    """Torch fields: ``value`` a 0-d tensor, differentiable through ``plan`` (held fixed) when
    the inputs require grad; plan and potentials as tensors."""
    xt, yt = _float_tensor(mu.x_in), _float_tensor(mu.y_in)
    yt = yt.to(xt.dtype)
    xc, yc = xt, yt
    if ground.euclidean_power is not None:
        # The cost is translation invariant: shifting both clouds by a constant (no gradient)
        # keeps values and gradients, and avoids the |x|^2 - 2 x.y + |y|^2 cancellation
        # far from 0.
        center = torch.as_tensor(np.concatenate([mu.x, mu.y]).astype(np.float64).mean(0),
                                 dtype=xt.dtype, device=xt.device)
        xc, yc = xt - center, yt - center
    if res.method == "gaussian":
        x64, y64 = xc.to(torch.float64), yc.to(torch.float64)  # moments in float64
        value = gelbrich_lower_bound(x64, y64, mu.a, mu.b).to(xt.dtype)
    elif plan is None:  # no transport at all (every cost is 0)
        value = torch.as_tensor(float(res.value), dtype=xt.dtype, device=xt.device)
    else:
        value = plan.torch_value(xc, yc, ground)
    if not (xt.requires_grad or yt.requires_grad):
        value = value.detach()
    res.value = value
    res.plan = mu.arrays.wrap(res.plan)
    if res.potentials is not None:
        res.potentials = tuple(mu.arrays.wrap(np.asarray(f)) for f in res.potentials)
