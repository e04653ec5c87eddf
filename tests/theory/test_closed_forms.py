"""1-D quantiles, Gaussian (Bures) closed form, Gelbrich, and metric identities of W_p."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from ot_truth import (assignment_ot, clouds, gaussian_w2_diag, lp_ot, psd_sqrt,
                      quantile_ot_1d)

from otgen.theory import gaussian_w2, sliced_wasserstein, wasserstein, wasserstein_1d

FINITE = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


# --- 1-D -----------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=st.integers(1, 40), m=st.integers(1, 40),
       p=st.sampled_from([1.0, 1.5, 2.0, 3.0]))
def test_1d_equals_sorted_quantiles(data, n, m, p):
    u = data.draw(arrays(np.float64, n, elements=FINITE))
    v = data.draw(arrays(np.float64, m, elements=FINITE))
    truth = quantile_ot_1d(u, v, p)
    tol = 1e-10 * truth + 1e-12 * max(np.abs(np.r_[u, v]).max(), 1.0) ** p
    assert abs(wasserstein_1d(u, v, p=p) - truth) <= tol
    r = wasserstein(u[:, None], v[:, None], p=p)
    assert r.method == "1d"
    assert abs(r.value - truth) <= tol and abs(r.lower - truth) <= tol
    assert abs(r.upper - truth) <= tol


@settings(max_examples=30, deadline=None)
@given(inst=clouds(max_n=15, max_d=1, weighted=True), p=st.sampled_from([1.0, 2.0, 3.0]))
def test_weighted_1d_equals_linprog(inst, p):
    x, y, a, b = inst
    truth = lp_ot(x, y, a, b, p)
    assert wasserstein_1d(x[:, 0], y[:, 0], a, b, p=p) == pytest.approx(truth, rel=1e-8)
    assert wasserstein(x, y, a, b, p=p, method="1d").value == pytest.approx(truth, rel=1e-8)


def test_1d_handworked_example():
    # quantiles of {0, 1} and {2, 3, 4} on the 6-grid: 0 0 0 1 1 1 vs 2 2 3 3 4 4
    assert wasserstein_1d([0.0, 1.0], [2.0, 3.0, 4.0], p=1) == pytest.approx(
        (2 + 2 + 3 + 2 + 3 + 3) / 6, rel=1e-15)


# --- Gaussians -----------------------------------------------------------------------------
@settings(max_examples=50, deadline=None)
@given(d=st.integers(1, 8), seed=st.integers(0, 2**32 - 1))
def test_gaussian_w2_diagonal(d, seed):
    rng = np.random.default_rng(seed)
    m1, m2 = rng.standard_normal(d) * 3, rng.standard_normal(d)
    s1, s2 = rng.uniform(0, 5, d), rng.uniform(0, 5, d)
    truth = gaussian_w2_diag(m1, s1, m2, s2)
    assert gaussian_w2(m1, np.diag(s1), m2, np.diag(s2)) == pytest.approx(truth, rel=1e-10,
                                                                           abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(d=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_gaussian_w2_commuting_covariances(d, seed):
    """S1 = Q L1 Q^T, S2 = Q L2 Q^T commute: W_2^2 = |m1 - m2|^2 + sum (sqrt l1 - sqrt l2)^2."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    l1, l2 = rng.uniform(0.01, 4, d), rng.uniform(0.01, 4, d)
    S1, S2 = Q @ np.diag(l1) @ Q.T, Q @ np.diag(l2) @ Q.T
    S1, S2 = (S1 + S1.T) / 2, (S2 + S2.T) / 2
    m1, m2 = rng.standard_normal(d), rng.standard_normal(d)
    truth = gaussian_w2_diag(m1, l1, m2, l2)
    assert gaussian_w2(m1, S1, m2, S2) == pytest.approx(truth, rel=1e-8, abs=1e-10)


@settings(max_examples=30, deadline=None)
@given(d=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_gaussian_w2_general_vs_sqrtm_and_symmetry(d, seed):
    rng = np.random.default_rng(seed)
    A1, A2 = rng.standard_normal((d, d)), rng.standard_normal((d, d))
    S1, S2 = A1 @ A1.T + 0.1 * np.eye(d), A2 @ A2.T + 0.1 * np.eye(d)
    m1, m2 = rng.standard_normal(d), rng.standard_normal(d)
    r1 = scipy.linalg.sqrtm(S1).real
    truth = (np.sum((m1 - m2) ** 2) + np.trace(S1) + np.trace(S2)
             - 2 * np.trace(scipy.linalg.sqrtm(r1 @ S2 @ r1).real))
    v12 = gaussian_w2(m1, S1, m2, S2)
    assert v12 == pytest.approx(truth, rel=1e-7, abs=1e-9)
    assert gaussian_w2(m2, S2, m1, S1) == pytest.approx(v12, rel=1e-9, abs=1e-12)
    assert gaussian_w2(m1, S1, m1, S1) == pytest.approx(0.0, abs=1e-9 * np.trace(S1))


def test_gaussian_w2_singular_covariances():
    # Diracs: W_2^2 = |m1 - m2|^2;  rank-one in 2-D: 1-D formula along the shared axis
    assert gaussian_w2(np.zeros(2), np.zeros((2, 2)), np.array([3.0, 4.0]),
                       np.zeros((2, 2))) == pytest.approx(25.0, rel=1e-14)
    e = np.array([[1.0, 0.0], [0.0, 0.0]])
    assert gaussian_w2(np.zeros(2), 4 * e, np.zeros(2), 9 * e) == pytest.approx(1.0, rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(inst=clouds(max_n=30, max_d=4, weighted=True))
def test_gelbrich_lower_bound(inst):
    """The Bures value of the fitted Gaussians never exceeds the exact W_2^2 (any measures)."""
    x, y, a, b = inst
    truth = lp_ot(x, y, a, b, 2.0)
    r = wasserstein(x, y, a, b, method="gaussian")
    # by-hand moments: the gaussian method's value is the Bures formula of the fitted moments
    w, v = a / a.sum(), b / b.sum()
    mx, my = w @ x, v @ y
    Sx, Sy = ((x - mx) * w[:, None]).T @ (x - mx), ((y - my) * v[:, None]).T @ (y - my)
    rx = psd_sqrt(Sx)  # clouds with n <= d have singular covariances: no scipy sqrtm here
    bures = (np.sum((mx - my) ** 2) + np.trace(Sx) + np.trace(Sy)
             - 2 * np.trace(psd_sqrt(rx @ Sy @ rx)))
    scale = np.abs(np.r_[x.ravel(), y.ravel()]).max() ** 2
    assert abs(r.value - bures) <= 1e-6 * abs(bures) + 1e-9 * scale
    assert r.value <= truth * (1 + 1e-9) + 1e-12 * scale


def test_gaussian_method_exact_for_translates():
    """Gelbrich is tight when y is a translate of x: W_2^2 = |t|^2 = Bures value."""
    x = np.random.default_rng(1).standard_normal((50, 3))
    t = np.array([1.0, -2.0, 0.5])
    r = wasserstein(x, x + t, method="gaussian")
    assert r.value == pytest.approx(t @ t, rel=1e-10)
    assert r.lower <= t @ t * (1 + 1e-12) <= r.upper * (1 + 1e-12) + 1e-300


# --- identities ------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), d=st.integers(1, 4), seed=st.integers(0, 2**32 - 1),
       p=st.sampled_from([1.0, 2.0, 3.0]), method=st.sampled_from(["exact", "auto", "1d"]))
def test_translation(n, d, seed, p, method):
    """W_p(P, P + t) = |t| for every P and p >= 1."""
    rng = np.random.default_rng(seed)
    if method == "1d":
        d = 1
    x = rng.standard_normal((n, d)) * rng.uniform(0.1, 10)
    t = rng.standard_normal(d) * rng.uniform(0.1, 10)
    a = rng.random(n) + 0.1
    a /= a.sum()
    r = wasserstein(x, x + t, a, a, p=p, method=method)
    norm = np.linalg.norm(t)
    assert r.distance == pytest.approx(norm, rel=1e-8)
    assert r.lower <= norm ** p * (1 + 1e-9) and r.upper >= norm ** p * (1 - 1e-9)


@settings(max_examples=20, deadline=None)
@given(inst=clouds(max_n=25, max_d=3, weighted=True), p=st.sampled_from([1.0, 2.0, 3.0]))
def test_symmetry(inst, p):
    x, y, a, b = inst
    # the Bures formula takes matrix square roots, which are only ~sqrt(machine eps) accurate at
    # singular covariances (n <= d): hence its looser tolerance
    for method, rel in (("exact", 1e-9), ("gaussian", 1e-6)) if p == 2 else (("exact", 1e-9),):
        r1 = wasserstein(x, y, a, b, p=p, method=method)
        r2 = wasserstein(y, x, b, a, p=p, method=method)
        assert r1.value == pytest.approx(r2.value, rel=rel, abs=1e-300)
    s1 = sliced_wasserstein(x, y, a, b, p=p, seed=3, n_projections=10)
    s2 = sliced_wasserstein(y, x, b, a, p=p, seed=3, n_projections=10)
    assert s1.value == pytest.approx(s2.value, rel=1e-9, abs=1e-300)
    if x.shape[1] == 1:
        assert wasserstein_1d(x, y, a, b, p=p) == pytest.approx(wasserstein_1d(y, x, b, a, p=p),
                                                                rel=1e-12, abs=1e-300)


@settings(max_examples=25, deadline=None)
@given(data=st.data(), p=st.sampled_from([1.0, 2.0]), d=st.integers(1, 3),
       sizes=st.tuples(st.integers(1, 15), st.integers(1, 15), st.integers(1, 15)))
def test_triangle_inequality(data, p, d, sizes):
    """W_p (the distance, not W_p^p) is a metric for p >= 1."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x, y, z = (rng.standard_normal((k, d)) * rng.uniform(0.1, 3) + rng.standard_normal(d)
               for k in sizes)
    dxy = wasserstein(x, y, p=p, method="exact").distance
    dyz = wasserstein(y, z, p=p, method="exact").distance
    dxz = wasserstein(x, z, p=p, method="exact").distance
    assert dxz <= (dxy + dyz) * (1 + 1e-9) + 1e-12
    # and the truth agrees (so the inequality is about the right numbers)
    assert dxz == pytest.approx(lp_ot(x, z, p=p) ** (1 / p), rel=1e-7, abs=1e-9)


def test_triangle_is_tight_on_a_line():
    """Collinear shifts: W(x, x+2t) = W(x, x+t) + W(x+t, x+2t) exactly (a test that can fail)."""
    x = np.random.default_rng(0).standard_normal((20, 2))
    t = np.array([0.3, 0.4])
    for p in (1, 2):
        d1 = wasserstein(x, x + t, p=p).distance
        d2 = wasserstein(x, x + 2 * t, p=p).distance
        assert d2 == pytest.approx(2 * d1, rel=1e-9) and d1 == pytest.approx(0.5, rel=1e-9)


def test_scaling_about_mean_1d():
    """W_2^2(P, s(P - mean) + mean) = (s - 1)^2 Var(P) in 1-D (closed form by sorting)."""
    u = np.random.default_rng(2).standard_normal(31)
    for s in (0.5, 2.0, 3.0):
        v = s * (u - u.mean()) + u.mean()
        truth = (s - 1) ** 2 * u.var()
        assert wasserstein_1d(u, v, p=2) == pytest.approx(truth, rel=1e-12)
        assert assignment_ot(u[:, None], v[:, None], 2.0)[0] == pytest.approx(truth, rel=1e-12)
