r"""Optimal transport through encoders: the exact linear programs behind Theorems A and B.

Bousquet et al. (2017) rewrite the primal OT problem between the data :math:`P_X` and a latent
variable model :math:`P_G` as a search over *encoders* :math:`Q(Z \mid X)`.  On discrete measures
:math:`P_X = \sum_i a_i \delta_{x_i}`, :math:`P_Z = \sum_j b_j \delta_{z_j}` every object in the
paper becomes a finite linear program, solved here exactly:

* :func:`encoder_ot` -- Theorem A: :math:`\inf_{Q:\, Q_Z = P_Z} \mathbb{E}\, c(X, G(Z))`, an
  OT problem between data atoms and *latent* atoms (equal to :math:`W_c(P_X, G_\# P_Z)` for a
  deterministic decoder, and to its noise-averaged version for a Gaussian decoder).
* :func:`penalized_ot` -- Theorem B: the penalized relaxation
  :math:`\inf_Q \mathbb{E}\|X - G(Z)\| + \lambda W_1(Q_Z, P_Z)`, a min-cost flow.

The decoder side (Lipschitz constants, the optimal decoder of a fixed encoder, sharpness) is
in :mod:`otgen.theory.decoders`.

References
----------
O. Bousquet, S. Gelly, I. Tolstikhin, C.-J. Simon-Gabriel, B. Schölkopf. From optimal transport
to generative modeling: the VEGAN cookbook. arXiv:1705.07642, 2017 (Theorems 1 and 3).
I. Tolstikhin, O. Bousquet, S. Gelly, B. Schölkopf. Wasserstein Auto-Encoders. ICLR 2018.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from scipy.special import gammaln, hyp1f1

from .._validate import (Measures, array_kind_of, check_balanced, check_cost_range, check_points,
                         check_positive, check_weights, is_tensor)
from .certificate import ExactProblem, MatrixProblem
from .costs import BLOCK_ENTRIES, cost_matrix
from .exact import solve_problem
from .ground_costs import GroundCost, resolve_cost
from .rounding import U, cost_rel_error, up
from .simplex import MAX_ITER

#: relative accuracy assumed for the noise-averaged cost of p != 2 (scipy's hyp1f1, or four
#: terms of its asymptotic series where |argument| > 1e4 (b + 1)^2, truncation < 1e-16)
NOISY_COST_RTOL = 1e-12
#: largest p of the noise-averaged cost: up to here it matched exact rational moments to
#: 1.6e-14 (even p), beyond the four-term asymptotic series misses by far more (p = 100: 7e-8)
NOISY_P_MAX = 8.0


# --- results -------------------------------------------------------------------------------
@dataclass
class EncoderOTResult:
    r"""Result of :func:`encoder_ot`.

    Attributes
    ----------
    value : float
        Optimal value :math:`\min_{\pi \in \Pi(a, b)} \sum_{ij} \pi_{ij} \bar c_{ij}`.
    lower, upper : float
        Certified bracket: ``upper`` is the cost of ``plan`` (exact marginals), ``lower`` the value
        of dual-feasible potentials; they agree to rounding at optimality.
    plan : array (n, m)
        Optimal coupling of data atoms and latent atoms, i.e. the joint law of (X, Z) under the
        optimal encoder; its column sums are ``b`` (so :math:`Q_Z = P_Z`).
    decoded : array (m, dx)
        The decoded latent atoms :math:`G(z_j)`.
    potentials : tuple of arrays (n,), (m,)
        Dual potentials (f, g) with :math:`f_i + g_j \le \bar c_{ij}`.
    p, decoder_noise : float
        Cost exponent and decoder noise level used.
    converged : bool
        False if the network simplex hit its iteration cap (a warning was issued).

    Examples
    --------
    >>> x = np.array([[0.0, 0.0], [2.0, 0.0]]); z = np.array([[0.0], [1.0]])
    >>> r = encoder_ot(x, z, lambda z: np.hstack([2 * z, 0 * z]))
    >>> r.value, r.lower <= r.value <= r.upper
    (0.0, True)
    >>> r.encoder            # Q(z_j | x_i): each data atom encodes to its own latent atom
    array([[1., 0.],
           [0., 1.]])

    References
    ----------
    O. Bousquet, S. Gelly, I. Tolstikhin, C.-J. Simon-Gabriel, B. Schölkopf. From optimal
    transport to generative modeling: the VEGAN cookbook. arXiv:1705.07642, 2017 (Theorem 1).
    """

    value: float
    lower: float
    upper: float
    plan: Any
    decoded: Any
    potentials: tuple
    p: float
    decoder_noise: float
    converged: bool = True

    @property
    def encoder(self) -> np.ndarray:
        r"""The optimal encoder as a row-stochastic matrix :math:`Q(z_j \mid x_i)`.

        Rows of data atoms with zero weight (where any encoder is optimal) are set to
        :math:`P_Z`.
        """
        P = np.asarray(self.plan.detach().cpu() if is_tensor(self.plan) else self.plan)
        rows, cols = P.sum(1), P.sum(0)
        prior = cols / cols.sum()
        out = np.tile(prior, (P.shape[0], 1))
        nz = rows > 0
        out[nz] = P[nz] / rows[nz, None]
        return out


@dataclass
class PenalizedOTResult:
    r"""Result of :func:`penalized_ot`.

    Attributes
    ----------
    value : float
        Optimal value :math:`\mathrm{reconstruction} + \lambda\, \mathrm{penalty}`.
    lower, upper : float
        Certified bracket (dual-feasible value, primal cost); equal to rounding at optimality.
    encoder_plan : array (n, K)
        Joint law of (X, Z) under the optimal encoder, Z restricted to the latent grid.
    latent_plan : array (K, m)
        Optimal coupling of the aggregate posterior :math:`Q_Z` (on the grid) and :math:`P_Z`.
    aggregate : array (K,)
        Weights of :math:`Q_Z` on the grid (column sums of ``encoder_plan``).
    reconstruction : float
        :math:`\mathbb{E}\,\|X - G(Z)\|^p` under the optimal encoder.
    penalty : float
        :math:`W_1(Q_Z, P_Z)` (unscaled by ``lam``; ``latent_plan`` attains it).
    lam : float
        The penalty weight :math:`\lambda` used.
    latent_grid : array (K, dz)
        The grid points :math:`u_k` the encoders may use.
    decoded_grid : array (K, dx)
        :math:`G(u_k)` for the grid points :math:`u_k`.
    converged : bool
        False if the network simplex hit its iteration cap (a warning was issued).

    Examples
    --------
    >>> x = np.array([[0.0], [3.0]]); z = np.array([[0.0], [1.0]])
    >>> r = penalized_ot(x, z, lambda u: u, lam=0.5, latent_grid=np.arange(4.0)[:, None])
    >>> r.value, r.reconstruction, r.penalty, r.aggregate   # Q_Z moved off the prior
    (0.5, 0.0, 1.0, array([0.5, 0. , 0. , 0.5]))

    References
    ----------
    O. Bousquet, S. Gelly, I. Tolstikhin, C.-J. Simon-Gabriel, B. Schölkopf. From optimal
    transport to generative modeling: the VEGAN cookbook. arXiv:1705.07642, 2017 (Theorem 3).
    """

    value: float
    lower: float
    upper: float
    encoder_plan: Any
    latent_plan: Any
    aggregate: Any
    reconstruction: float
    penalty: float
    lam: float
    latent_grid: Any
    decoded_grid: Any
    converged: bool = True


# --- shared helpers ------------------------------------------------------------------------
def decode(G: Callable, z_in, m: int, dx: int | None = None, name: str = "G") -> np.ndarray:
    """Call the decoder on the caller's latent array and validate what comes back.

    ``z_in`` is passed in the caller's array type (torch modules get tensors, numpy functions
    get arrays), under ``torch.no_grad`` for tensors.  Returns a float numpy array (m, dx).
    """
    if not callable(G):
        raise TypeError(f"{name} must be a callable mapping an (m, dz) array of latent points to "
                        f"an (m, dx) array, got {type(G).__name__}")
    if is_tensor(z_in):
        import torch

        with torch.no_grad():
            out = G(z_in)
    else:
        out = G(z_in)
    shape = tuple(getattr(out, "shape", np.shape(out)))
    expected = f"({m}, {dx if dx is not None else 'dx'})"
    if len(shape) != 2 or shape[0] != m or (dx is not None and shape[1] != dx):
        raise ValueError(f"{name} must map the ({m}, dz) latent array to an {expected} array "
                         f"(one point of the data space per latent point), got shape {shape}")
    return check_points(out, f"{name}(z)").astype(np.float64)


def _transport(P: ExactProblem):
    """Exact OT LP by the capped network simplex, certified on the exact problem
    (:func:`otgen.theory.exact.solve_problem`).

    Returns ``(plan, lower, upper, f, g, converged, value)`` with a dense plan.
    """
    out = solve_problem(P, MAX_ITER)
    f, g = out.potentials
    return out.plan.to_dense(), out.lower, out.upper, f, g, out.converged, out.value


def _cost_problem(x, y, a, b, ground: GroundCost, s: float, arrays) -> ExactProblem:
    """The LP of encoder_ot: points (s = 0), or the noise-averaged matrix, whose relative error
    is that of the squared distances plus one addition for p = 2 (``r^2 + d s^2``), and an
    assumed 1e-12 for scipy's hyp1f1 / the asymptotic series otherwise.  Costs other than
    Euclidean powers: their matrix with its rounding bound (no noise average)."""
    p = ground.euclidean_power
    if p is None:
        if s > 0:
            raise ValueError(f"decoder_noise > 0 needs a Euclidean cost |x - y|^p (its noise "
                             f"average has a closed form), got cost {ground.name!r}")
        return MatrixProblem.from_cost(ground.matrix(x, y), a, b)
    check_cost_range(Measures(x, y, a, b, arrays), p)
    if s == 0:
        return ExactProblem.build(x, y, a, b, p)
    if p > NOISY_P_MAX:
        raise ValueError(f"decoder_noise > 0 supports p <= {NOISY_P_MAX:g} (the noise-averaged "
                         f"cost's series is only validated there), got p={p:g}")
    rel = cost_rel_error(x.shape[1], 2.0) + 8 * 2.0 ** -53 if p == 2 else NOISY_COST_RTOL
    # d s^2 (or s^p) can underflow: each of the few products rounds by <= 2^-1075 absolute
    tiny = (x.shape[1] + 8) * 2.0 ** -1074
    return MatrixProblem.from_matrix(_noisy_cost(x, y, p, s), a, b, rel_err=rel, abs_err=tiny)


def _noisy_cost(x: np.ndarray, y: np.ndarray, p: float, s: float) -> np.ndarray:
    r""":math:`\mathbb{E}\,\|x_i - y_j - s\xi\|^p`, :math:`\xi \sim N(0, I_d)`, in closed form.

    :math:`\|x - y - s\xi\| / s` is noncentral chi with d degrees of freedom and noncentrality
    :math:`\|x - y\| / s`, whose moments are
    :math:`2^{p/2}\,\Gamma(\tfrac{d+p}{2}) / \Gamma(\tfrac d2)\; {}_1F_1(-\tfrac p2; \tfrac d2;
    -\tfrac{r^2}{2 s^2})`.  For p = 2 this is :math:`r^2 + d s^2`.
    """
    d = x.shape[1]
    r2 = cost_matrix(x, y, 2.0)
    if p == 2:
        return r2 + d * s * s
    u = r2 / (2 * s * s)
    a, b = -p / 2, d / 2
    out = np.empty_like(r2)
    # hyp1f1 loses accuracy (even NaN) for huge arguments; there the asymptotic series
    # M(a, b, -u) ~ Gamma(b)/Gamma(b-a) u^-a sum_k (a)_k (a-b+1)_k / (k! u^k) converges fast.
    big = u > 1e4 * (b + 1) ** 2
    small = ~big
    out[small] = (s ** p * 2 ** (p / 2) * np.exp(gammaln(b - a) - gammaln(b))
                  * hyp1f1(a, b, -u[small]))
    ub = u[big]
    series, term = np.ones_like(ub), np.ones_like(ub)
    for k in range(4):
        term = term * (a + k) * (a - b + 1 + k) / ((k + 1) * ub)
        series = series + term
    out[big] = r2[big] ** (p / 2) * series
    return out


# --- Theorem A ------------------------------------------------------------------------------
def encoder_ot(x, z, G: Callable, a=None, b=None, *, p: float | None = None, cost=None,
               decoder_noise: float = 0.0) -> EncoderOTResult:
    r"""Optimal transport written over encoders (Theorem A of the VEGAN cookbook), solved exactly.

    For :math:`P_X = \sum_i a_i \delta_{x_i}` and :math:`P_Z = \sum_j b_j \delta_{z_j}`, an
    encoder with aggregate posterior :math:`Q_Z = P_Z` is exactly a coupling
    :math:`\pi \in \Pi(a, b)` (:math:`\pi_{ij} = a_i Q(z_j \mid x_i)`), so

    .. math::
        \inf_{Q(Z|X):\ Q_Z = P_Z} \mathbb{E}_{P_X}\mathbb{E}_{Q(Z|X)}\, \bar c(X, Z)
        = \min_{\pi \ge 0,\ \pi 1 = a,\ \pi^T 1 = b} \sum_{ij} \pi_{ij}\, \bar c(x_i, z_j),
        \qquad \bar c(x, z) = \mathbb{E}_{Y \sim P_G(Y|Z=z)} \|x - Y\|^p .

    For a deterministic decoder (``decoder_noise=0``) :math:`\bar c(x, z) = \|x - G(z)\|^p` and
    the value equals :math:`W_p^p(P_X, G_\# P_Z)` (Theorem A; atoms with equal :math:`G(z_j)`
    merge in :math:`G_\# P_Z`).  For the Gaussian decoder :math:`Y \mid Z \sim N(G(Z), s^2 I_d)`
    the noise average is taken in closed form (noncentral-chi moments; for p = 2,
    :math:`\bar c = \|x - G(z)\|^2 + d s^2`), and the value is an *upper bound* on
    :math:`W_p^p(P_X, P_G)`.

    Parameters
    ----------
    x : array or tensor (n, d)
        Data atoms.
    z : array or tensor (m, dz)
        Latent atoms (samples of the prior :math:`P_Z`).
    G : callable
        Decoder mapping an (m, dz) array (a tensor when ``z`` is one) to an (m, d) array.
    a, b : array (n,), (m,), optional
        Weights of the atoms (uniform when None); nonnegative, equal total mass.
    p : float > 0, optional
        Exponent of the cost :math:`\|x - y\|_2^p` (2 when unset; of the norm for
        ``cost="euclidean"``/``"cityblock"``).
    cost : None, str, cost object or callable
        The cost c of the paper (:mod:`otgen.theory.ground_costs`, as in
        :func:`~otgen.theory.wasserstein.wasserstein`); costs other than Euclidean powers need
        ``decoder_noise=0``.
    decoder_noise : float >= 0
        Standard deviation ``s`` of the Gaussian decoder noise.

    Returns
    -------
    EncoderOTResult
        ``value``, certified ``[lower, upper]``, the optimal ``plan`` (n, m) and ``encoder``
        (row-stochastic), ``decoded`` = G(z).  Plans come back as tensors for torch inputs.

    Raises
    ------
    ValueError, TypeError
        Invalid points or weights, p <= 0, decoder_noise < 0, G not callable, G(z) of the wrong
        shape or containing NaN/inf.

    Examples
    --------
    >>> z = np.array([[0.0], [1.0]]); x = np.array([[0.0, 0.0], [2.0, 0.0]])
    >>> encoder_ot(x, z, lambda z: np.hstack([2 * z, 0 * z])).value
    0.0

    References
    ----------
    O. Bousquet, S. Gelly, I. Tolstikhin, C.-J. Simon-Gabriel, B. Schölkopf. From optimal
    transport to generative modeling: the VEGAN cookbook. arXiv:1705.07642, 2017 (Theorem 1,
    "Theorem A").  G. Peyré, M. Cuturi. Computational Optimal Transport, 2019, Section 3.5
    (network simplex).
    """
    arrays = array_kind_of(x, z, a, b)
    xv = check_points(x, "x")
    zv = check_points(z, "z")
    av = check_weights(a, xv.shape[0], "a")
    bv = check_weights(b, zv.shape[0], "b")
    check_balanced(av, bv)
    ground = resolve_cost(cost, p)
    s = check_positive(decoder_noise, "decoder_noise", strict=False)
    y = decode(G, z if is_tensor(z) else zv, zv.shape[0], xv.shape[1])
    x64 = xv.astype(np.float64)
    problem = _cost_problem(x64, y, av, bv, ground, s, arrays)
    P, lower, upper, f, g, conv, value = _transport(problem)
    return EncoderOTResult(value=value, lower=lower, upper=upper,
                           plan=arrays.wrap(P), decoded=arrays.wrap(y),
                           potentials=(arrays.wrap(f), arrays.wrap(g)), p=ground.p,
                           decoder_noise=s, converged=conv)


# --- Theorem B ------------------------------------------------------------------------------
def penalized_ot(x, z, G: Callable, lam: float, a=None, b=None, *, latent_grid=None,
                 p: float | None = None, cost=None) -> PenalizedOTResult:
    r"""Penalized optimal transport with a :math:`W_1` latent penalty (Theorem B), solved exactly.

    With encoders restricted to a finite latent grid :math:`u_1, \dots, u_K`,

    .. math::
        D_\lambda = \inf_{Q(Z|X)} \mathbb{E}_{P_X}\mathbb{E}_{Q(Z|X)} \|X - G(Z)\|^p
                    + \lambda\, W_1(Q_Z, P_Z)

    is the min-cost flow data atoms :math:`\to` grid :math:`\to` latent atoms:

    .. math::
        \min_{\pi, \gamma \ge 0} \sum_{ik} \pi_{ik} \|x_i - G(u_k)\|^p
            + \lambda \sum_{kj} \gamma_{kj} \|u_k - z_j\|
        \quad \text{s.t.}\quad \sum_k \pi_{ik} = a_i,\ \
        \sum_i \pi_{ik} = \sum_j \gamma_{kj}\ (= q_k,\ \text{the weights of } Q_Z),\ \
        \sum_k \gamma_{kj} = b_j .

    Grid nodes are uncapacitated, so an optimal flow decomposes into paths
    :math:`x_i \to u_k \to z_j` each using a cheapest middle node; the problem therefore equals
    one transport LP between ``a`` and ``b`` with the shortest-path cost
    :math:`E_{ij} = \min_k \|x_i - G(u_k)\|^p + \lambda \|u_k - z_j\|`, solved by the network
    simplex (POT), after which the flow is split back into ``encoder_plan`` and ``latent_plan``.

    Theorem B (p = 1).  Let :math:`\gamma` be the Lipschitz constant of G over the pairs
    (grid point, latent atom), ``lipschitz_constant(G, latent_grid, z)``.  By the triangle
    inequality :math:`E_{ij} \ge \|x_i - G(z_j)\|` whenever :math:`\lambda \ge \gamma`, so
    :math:`D_\lambda \ge W_1(P_X, G_\# P_Z)`; if the grid contains the atoms of :math:`P_Z`
    (the default grid *is* those atoms) the encoder with :math:`Q_Z = P_Z` is feasible and
    equality holds.  For :math:`\lambda < \gamma`, :math:`D_\lambda \le W_1` (still given
    atoms in the grid) and can be strictly smaller.  Note the condition is on :math:`\gamma`
    over these pairs -- any global Lipschitz constant of G, which is larger, also suffices; a
    grid *without* the atoms of :math:`P_Z` restricts the encoders and can make
    :math:`D_\lambda > W_1` even for :math:`\lambda \ge \gamma`.

    Parameters
    ----------
    x : array or tensor (n, d)
        Data atoms.
    z : array or tensor (m, dz)
        Atoms of the prior :math:`P_Z`.
    G : callable
        Decoder, (K, dz) -> (K, d).
    lam : float >= 0
        Weight :math:`\lambda` of the latent penalty.
    a, b : array (n,), (m,), optional
        Weights (uniform when None); equal total mass.
    latent_grid : array (K, dz), optional
        Support allowed for the encoders; default ``z``.
    p : float > 0, optional
        Exponent of the reconstruction cost :math:`\|x - y\|_2^p` (1 when unset: Theorem B
        is the case p = 1).
    cost : None, str, cost object or callable
        The reconstruction cost c (:mod:`otgen.theory.ground_costs`); the latent penalty stays
        :math:`W_1` in the Euclidean norm.  Theorem B holds for any cost that is a metric.

    Returns
    -------
    PenalizedOTResult
        ``value`` = :math:`D_\lambda` (units of :math:`\|x\|^p`), certified ``[lower, upper]``,
        its ``reconstruction`` and (unscaled) ``penalty`` parts, and the optimal plans.

    Raises
    ------
    ValueError, TypeError
        Invalid points or weights, lam < 0, latent_grid of the wrong dimension, G(grid) of the
        wrong shape or non-finite.

    Examples
    --------
    With :math:`\lambda = 2 \ge \mathrm{Lip}(G) = 1` the value is :math:`W_1(P_X, G_\# P_Z) = 1`:

    >>> x = np.array([[0.0], [3.0]]); z = np.array([[0.0], [1.0]])
    >>> grid = np.arange(4.0)[:, None]
    >>> r = penalized_ot(x, z, lambda u: u, lam=2.0, latent_grid=grid)
    >>> round(r.value, 6), r.lower <= r.value <= r.upper
    (1.0, True)
    >>> round(penalized_ot(x, z, lambda u: u, lam=0.5, latent_grid=grid).value, 6)  # < W_1
    0.5

    References
    ----------
    O. Bousquet, S. Gelly, I. Tolstikhin, C.-J. Simon-Gabriel, B. Schölkopf. From optimal
    transport to generative modeling: the VEGAN cookbook. arXiv:1705.07642, 2017 (Theorem 3,
    "Theorem B": POT / WGAN duality).  I. Tolstikhin, O. Bousquet, S. Gelly, B. Schölkopf.
    Wasserstein Auto-Encoders. ICLR 2018.
    """
    arrays = array_kind_of(x, z, a, b, latent_grid)
    xv = check_points(x, "x").astype(np.float64)
    zv = check_points(z, "z").astype(np.float64)
    av = check_weights(a, xv.shape[0], "a")
    bv = check_weights(b, zv.shape[0], "b")
    check_balanced(av, bv)
    lam = check_positive(lam, "lam", strict=False)
    ground = resolve_cost(cost, 1.0 if cost is None and p is None else p)
    if latent_grid is None:
        grid, grid_in = zv, (z if is_tensor(z) else zv)
    else:
        grid = check_points(latent_grid, "latent_grid").astype(np.float64)
        if grid.shape[1] != zv.shape[1]:
            raise ValueError(f"latent_grid has dimension {grid.shape[1]} but the latent atoms z "
                             f"have dimension {zv.shape[1]}: the grid must live in latent space")
        grid_in = latent_grid if is_tensor(latent_grid) else grid
    gy = decode(G, grid_in, grid.shape[0], xv.shape[1])
    if ground.euclidean_power is not None:
        check_cost_range(Measures(xv, gy, av, av[:0], arrays), ground.euclidean_power)
    rec = ground.matrix(xv, gy)
    c1 = rec.C                            # (n, K) reconstruction costs
    c2 = cost_matrix(grid, zv, 1.0)       # (K, m) latent W_1 costs
    E, via = _shortest_paths(c1, lam * c2)
    # E = min_k (c1 + lam c2) of nonnegative terms: within the larger relative error of the
    # two cost matrices, plus the rounding of lam * c2 and of the sum; c1's absolute error
    rel = max(rec.rel_err, cost_rel_error(zv.shape[1], 1.0) + U) + 2 * U
    # lam * c2 and the sum may underflow: up to 2^-1075 each, outside the relative model
    tiny = up(rec.abs_err + 2.0 ** -1073)
    P, lower, upper, _, _, conv, value = _transport(
        MatrixProblem.from_matrix(E, av, bv, rel_err=rel, abs_err=tiny))
    n, K = c1.shape
    enc = np.zeros((n, K))
    i, j = np.nonzero(P)
    np.add.at(enc, (i, via[i, j]), P[i, j])
    # The flow's own latent part is an optimal coupling of (Q_Z, P_Z) only when lam > 0 (at
    # lam = 0 any coupling is optimal); re-solving that small LP makes latent_plan optimal and
    # penalty = W_1(Q_Z, P_Z) for every lam, at no cost to the objective.
    q = enc.sum(0)
    used = np.flatnonzero(q > 0)
    lat = np.zeros((K, zv.shape[0]))
    lat[used] = _transport(MatrixProblem.from_matrix(c2[used], q[used], bv))[0]
    recon, pen = float(np.sum(enc * c1)), float(np.sum(lat * c2))
    # value and bounds: the certified LP on E (a flow of cost <= upper exists: decompose the
    # coupling along the shortest paths); recon + lam pen is the returned flow's float cost
    return PenalizedOTResult(value=value, lower=lower, upper=upper,
                             encoder_plan=arrays.wrap(enc), latent_plan=arrays.wrap(lat),
                             aggregate=arrays.wrap(enc.sum(0)), reconstruction=recon,
                             penalty=pen, lam=lam, latent_grid=arrays.wrap(grid),
                             decoded_grid=arrays.wrap(gy), converged=conv)


def _shortest_paths(c1: np.ndarray, c2: np.ndarray):
    """Min-plus product: ``E_ij = min_k c1_ik + c2_kj`` and the minimizing k (blockwise)."""
    n, K = c1.shape
    m = c2.shape[1]
    E, via = np.empty((n, m)), np.empty((n, m), dtype=np.intp)
    rows = max(1, int(BLOCK_ENTRIES) // max(K * m, 1))
    for s in range(0, n, rows):
        T = c1[s:s + rows, :, None] + c2[None, :, :]
        via[s:s + rows] = T.argmin(axis=1)
        E[s:s + rows] = np.take_along_axis(T, via[s:s + rows, None, :], axis=1)[:, 0, :]
    return E, via
