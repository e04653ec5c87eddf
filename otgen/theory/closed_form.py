r"""Closed forms that need no solver: 1-D quantiles and Gaussians (Bures-Wasserstein).

* 1-D, p >= 1: :math:`W_p^p(\mu, \nu) = \int_0^1 |F_\mu^{-1}(t) - F_\nu^{-1}(t)|^p dt`,
  attained by the monotone (sorted) coupling.
* Gaussians: :math:`W_2^2(N(m_1, S_1), N(m_2, S_2)) = \|m_1 - m_2\|^2 +
  \operatorname{tr}(S_1 + S_2 - 2 (S_1^{1/2} S_2 S_1^{1/2})^{1/2})`.
  Gelbrich (1990): for *any* measures with these means and covariances the right-hand side is a
  lower bound of :math:`W_2^2`, which makes it a certified lower bound for empirical measures.

References
----------
C. R. Givens, R. M. Shortt. A class of Wasserstein metrics for probability distributions.
Michigan Math. J. 31 (1984).  M. Gelbrich. On a formula for the L2 Wasserstein metric between
measures on Euclidean and Hilbert spaces. Math. Nachr. 147 (1990).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .._validate import array_kind_of, check_balanced, check_positive, check_weights, is_tensor
from .rounding import (TINY, U, dot_interval, down, fraction_down, gamma, span_exponent, sum_interval,
                       up)


def _as_1d_values(u, name):
    arr = u
    if is_tensor(arr):
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
    else:
        arr = np.asarray(arr)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of values (or shape (n, 1)), got shape "
                         f"{tuple(arr.shape)}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: expected at least one value")
    vals = arr.detach().cpu().numpy() if is_tensor(arr) else arr
    if vals.dtype == bool or not np.issubdtype(vals.dtype, np.number) or np.iscomplexobj(vals):
        raise TypeError(f"{name} must hold real numbers, got dtype {vals.dtype}")
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def wasserstein_1d(u, v, a=None, b=None, p: float = 1.0):
    r"""Exact 1-D optimal transport cost :math:`W_p^p` between two weighted samples.

    .. math:: W_p^p = \int_0^1 |F_u^{-1}(t) - F_v^{-1}(t)|^p \, dt

    computed by sorting (O((n + m) log(n + m))).  The monotone coupling is optimal for p >= 1.

    Parameters
    ----------
    u : array (n,) or (n, 1)
        Support points of the first measure (real values, any units).
    v : array (m,) or (m, 1)
        Support points of the second measure, in the units of ``u``.
    a, b : array (n,), (m,), optional
        Nonnegative weights with equal sums (uniform when None).
    p : float >= 1
        Exponent of the ground cost :math:`|u - v|^p`.

    Returns
    -------
    float or torch.Tensor
        :math:`W_p^p`, in units of ``u`` to the power ``p`` (differentiable in ``u, v`` for
        torch inputs).

    Examples
    --------
    >>> wasserstein_1d(np.array([0., 1.]), np.array([2., 3.]), p=2)
    4.0

    References
    ----------
    G. Peyré, M. Cuturi. Computational Optimal Transport. Foundations and Trends in Machine
    Learning 11(5-6), 2019, Remark 2.30 (the 1-D case).  F. Santambrogio. Optimal Transport for
    Applied Mathematicians. Birkhäuser 2015, Chapter 2.
    """
    arrays = array_kind_of(u, v, a, b)
    u = _as_1d_values(u, "u")
    v = _as_1d_values(v, "v")
    p = check_positive(p, "p")
    if p < 1:
        raise ValueError(f"p must be >= 1 for the 1-D quantile formula (the sorted coupling is "
                         f"not optimal for concave costs), got p={p}; use method='exact'")
    av = check_weights(a, u.shape[0], "a")
    bv = check_weights(b, v.shape[0], "b")
    check_balanced(av, bv)
    from .certify import northwest_coupling

    if arrays.kind == "torch":
        uu = u if u.is_floating_point() else u.double()
        vv = v.to(uu.dtype)
        i, j, mass = northwest_coupling(uu.detach().cpu().numpy(), vv.detach().cpu().numpy(),
                                        av, bv)
        m = torch.as_tensor(mass, dtype=uu.dtype, device=uu.device)
        return (m * (uu[i] - vv[j]).abs() ** p).sum()
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    i, j, mass = northwest_coupling(u, v, av, bv)
    return float(np.dot(mass, np.abs(u[i] - v[j]) ** p))


def _gaussian_array(t, name):
    arr = t.detach().cpu().numpy() if is_tensor(t) else np.asarray(t)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise TypeError(f"{name} must hold real numbers (float or int), got dtype {arr.dtype}")
    return arr


def _check_gaussian(m, S, name_m, name_S, d=None):
    mm = _gaussian_array(m, name_m)
    if mm.ndim != 1:
        raise ValueError(f"{name_m} must be a mean vector of shape (d,), got shape {mm.shape}")
    if mm.shape[0] == 0:
        raise ValueError(f"{name_m} is empty: expected a mean vector of dimension d >= 1")
    if d is not None and mm.shape[0] != d:
        raise ValueError(f"{name_m} has dimension {mm.shape[0]}, expected {d} (same as m1)")
    dd = mm.shape[0]
    SS = S.detach().cpu().numpy() if is_tensor(S) else np.asarray(S)
    if SS.shape != (dd, dd):
        raise ValueError(f"{name_S} must be a ({dd}, {dd}) covariance matrix, got shape {SS.shape}")
    SS = _gaussian_array(SS, name_S)
    for arr, name in ((mm, name_m), (SS, name_S)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinite values")
    scale = max(np.abs(SS).max(), 1e-300)
    # float32 covariances (e.g. fitted to float32 tensors) are symmetric only to ~1e-7
    rtol = max(1e-8, 100 * np.finfo(SS.dtype).eps) if np.issubdtype(SS.dtype, np.floating) \
        else 1e-8
    if np.abs(SS - SS.T).max() > rtol * scale:
        raise ValueError(f"{name_S} must be symmetric")
    if np.linalg.eigvalsh(SS).min() < -1e-8 * scale:
        raise ValueError(f"{name_S} must be positive semi-definite (min eigenvalue "
                         f"{np.linalg.eigvalsh(SS).min():.3g})")
    return dd


def _psd_sqrt(S, lib):
    w, V = lib.linalg.eigh(S)
    w = w.clamp(min=0) if lib is torch else np.clip(w, 0, None)
    return (V * w ** 0.5) @ V.T


def gaussian_w2(m1, S1, m2, S2):
    r"""Squared 2-Wasserstein distance between two Gaussians (Bures-Wasserstein formula).

    .. math::
        W_2^2(N(m_1, S_1), N(m_2, S_2)) = \|m_1 - m_2\|^2
        + \operatorname{tr} S_1 + \operatorname{tr} S_2
        - 2 \operatorname{tr}\big((S_1^{1/2} S_2 S_1^{1/2})^{1/2}\big)

    Parameters
    ----------
    m1, m2 : array (d,)
        Means of the two Gaussians.
    S1, S2 : array (d, d), symmetric positive semi-definite
        Covariances, in squared units of the means.

    Returns
    -------
    float or torch.Tensor
        :math:`W_2^2` (not its square root), in squared units of the means.

    Examples
    --------
    >>> gaussian_w2(np.zeros(2), np.eye(2), np.ones(2), 4 * np.eye(2))
    4.0

    References
    ----------
    C. R. Givens, R. M. Shortt. A class of Wasserstein metrics for probability distributions.
    Michigan Math. J. 31 (1984).  M. Gelbrich. On a formula for the L2 Wasserstein metric
    between measures on Euclidean and Hilbert spaces. Math. Nachr. 147 (1990).  G. Peyré,
    M. Cuturi. Computational Optimal Transport, 2019, Remark 2.31.
    """
    arrays = array_kind_of(m1, S1, m2, S2)
    d = _check_gaussian(m1, S1, "m1", "S1")
    _check_gaussian(m2, S2, "m2", "S2", d)
    out_dtype = None
    if arrays.kind == "torch":
        dt = torch.float64  # matrix square roots in float64; the result in the inputs' dtype
        out_dtype = arrays.dtype if arrays.dtype.is_floating_point else dt
        m1, S1, m2, S2 = (torch.as_tensor(t).to(dt) for t in (m1, S1, m2, S2))
        lib = torch
    else:
        m1, S1, m2, S2 = (np.asarray(t, dtype=np.float64) for t in (m1, S1, m2, S2))
        lib = np
    # rescale by a power of two (exact) so that squares and products cannot overflow:
    # W2^2 scales like the covariances, means like their square roots
    sizes = [float(np.abs(_gaussian_array(t, name)).max())
             for t, name in ((S1, "S1"), (S2, "S2"), (m1, "m1"), (m2, "m2"))]
    top = max(sizes[0], sizes[1], sizes[2] ** 2, sizes[3] ** 2, 2.0 ** -600)
    j = -((math.frexp(top)[1] + 1) // 2) if np.isfinite(top) else -512
    m1, m2 = m1 * 2.0 ** j, m2 * 2.0 ** j
    S1, S2 = S1 * 2.0 ** (2 * j), S2 * 2.0 ** (2 * j)
    r1 = _psd_sqrt(S1, lib)
    cross = r1 @ S2 @ r1
    cross = (cross + cross.T) / 2
    w = lib.linalg.eigvalsh(cross)
    w = w.clamp(min=0) if lib is torch else np.clip(w, 0, None)
    val = (((m1 - m2) ** 2).sum() + lib.trace(S1) + lib.trace(S2) - 2 * (w ** 0.5).sum())
    unscale = 2.0 ** (-2 * j)
    if not np.isfinite(float(val.detach() if lib is torch else val) * unscale):
        raise ValueError("W2^2 between these Gaussians overflows float64 (means or covariances "
                         "of ~1e154 or more); rescale the means by s and covariances by s^2")
    if lib is torch:
        return (val.clamp(min=0) * unscale).to(out_dtype)
    return max(float(val), 0.0) * unscale


def weighted_moments(x, a: np.ndarray):
    """Mean and (biased, weight-normalized) covariance of a weighted cloud (numpy or torch x)."""
    w = a / a.sum()
    if is_tensor(x):
        w = torch.as_tensor(w, dtype=x.dtype, device=x.device)
    m = w @ x
    xc = x - m
    S = (xc * w[:, None]).T @ xc
    return m, (S + S.T) / 2


def gelbrich_lower_bound(x, y, a: np.ndarray, b: np.ndarray):
    r"""Certified lower bound on :math:`W_2^2` between two weighted clouds (Gelbrich 1990):
    total mass times the Bures distance between their means and covariances.

    Numpy or torch ``x, y`` (differentiable for torch; computed in the inputs' dtype).
    """
    return float(a.sum()) * gaussian_w2(*weighted_moments(x, a), *weighted_moments(y, b))


#: assumed constant c in the backward-error bounds gamma_{c k} of LAPACK's Householder QR and
#: SVD (Higham 2002, Thms 19.4 and 20.3 state them for "a small integer constant c")
LAPACK_BACKWARD_C = 16


def _mean_gap_lower(x, y, a, b) -> float:
    """A rigorous lower bound on ||m_1 - m_2||^2 (weighted means, exact weights)."""
    total = 0.0
    sa, sb = sum_interval(a), sum_interval(b)
    for c in range(x.shape[1]):
        c1 = [q / s for q in dot_interval(a, x[:, c]) for s in sa]
        c2 = [q / s for q in dot_interval(b, y[:, c]) for s in sb]
        lo, hi = min(c1) - max(c2), max(c1) - min(c2)
        g = 0 if lo <= 0 <= hi else min(abs(lo), abs(hi))
        total = down(total + fraction_down(g * g))
    return total


def certified_gelbrich(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray):
    r"""The Gelbrich (Bures) value of two weighted clouds and a rigorous lower bound on
    :math:`W_2^2` of the empirical measures: ``(value, lower)``, both times the total mass.

    No covariance matrix is formed (its square root loses half the digits: at an offset of 1e4
    between two unit clusters that error was larger than the answer).  With :math:`R_1, R_2`
    the R factors of the weighted, centred data matrices (:math:`S_k = R_k^T R_k`),

    .. math:: G = \|m_1 - m_2\|^2 + \|R_1\|_F^2 + \|R_2\|_F^2 - 2 \|R_1 R_2^T\|_*,

    since :math:`\operatorname{tr}(S_1^{1/2} S_2 S_1^{1/2})^{1/2} = \|R_1 R_2^T\|_*`.  QR and
    SVD are backward stable, so the computed terms are exact for data perturbed by
    :math:`\gamma_{c k}` relative (c = ``LAPACK_BACKWARD_C``); centring adds an error of at
    most :math:`e_k = 4u \sqrt{\sum_i w_i |x_i|^2}` to the rows of :math:`R_k`.  The error bound
    is :math:`E = \gamma_{c(n+m+d)} 4d(T + \|\Delta m\|^2) + \sum_k (2 e_k \|R_k\|_F + e_k^2)
    + 2\sqrt d\,(e_1 \|R_2\|_F + e_2 \|R_1\|_F + e_1 e_2) + 2\|\Delta m\|(e_1 + e_2) +
    (e_1 + e_2)^2`, with :math:`T = \|R_1\|_F^2 + \|R_2\|_F^2`, and
    ``lower = max(G - E, mean term)``, the mean term :math:`\|m_1 - m_2\|^2` (Jensen) bracketed
    exactly.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    k = span_exponent(x, y)  # exact rescaling: squares cannot overflow
    x, y = np.ldexp(x, k), np.ldexp(y, k)
    wa, wb = a / a.sum(), b / b.sum()
    m1, m2 = wa @ x, wb @ y
    R1 = np.linalg.qr(np.sqrt(wa)[:, None] * (x - m1), mode="r")
    R2 = np.linalg.qr(np.sqrt(wb)[:, None] * (y - m2), mode="r")
    t1, t2 = float((R1 * R1).sum()), float((R2 * R2).sum())
    nuc = float(np.linalg.svd(R1 @ R2.T, compute_uv=False).sum())
    dm = float(((m1 - m2) ** 2).sum())
    value = dm + t1 + t2 - 2 * nuc
    n, m, d = len(x), len(y), x.shape[1]
    e1 = 4 * U * float(np.sqrt(wa @ (x * x).sum(1)))
    e2 = 4 * U * float(np.sqrt(wb @ (y * y).sum(1)))
    r1, r2, sdm = np.sqrt(t1), np.sqrt(t2), np.sqrt(dm)
    err = (gamma(LAPACK_BACKWARD_C * (n + m + d)) * 4 * d * (t1 + t2 + dm)
           + 2 * e1 * r1 + e1 ** 2 + 2 * e2 * r2 + e2 ** 2
           + 2 * np.sqrt(d) * (e1 * r2 + e2 * r1 + e1 * e2)
           + 2 * sdm * (e1 + e2) + (e1 + e2) ** 2)
    err = up(err * (1 + 64 * U))  # the bound's own evaluation (a few dozen roundings)
    lower = max(down(value - err), _mean_gap_lower(x, y, a, b), 0.0)
    mass_lo = fraction_down(sum_interval(a)[0])
    scale = 2.0 ** (-2 * k)  # exact: a power of two
    value = max(value, lower)
    low = down(lower * mass_lo) * scale  # exact unless subnormal: then rounded to nearest
    return value * scale * float(a.sum()), (down(low) if 0 < low < TINY else low)
