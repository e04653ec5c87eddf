"""The pruned c-transform (boxes + search) against exact rational minima and the blockwise pass.

Truth: :math:`\\min_j |X_i - Y_j|^2 - g_j` in exact rational arithmetic of the float64 inputs
(``fractions.Fraction``).  Tiny boxes (2 points, 2 children) make small instances exercise every
level of the pruning.
"""
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import otgen.theory.boxes as BX
import otgen.theory.ctransform as CT
from otgen.theory.certificate import ExactProblem


def exact_min(X, Y, g):
    out = []
    for xi in X:
        out.append(min(sum((Fraction(float(a)) - Fraction(float(b))) ** 2 for a, b in zip(xi, yj))
                       - Fraction(float(gj)) for yj, gj in zip(Y, g)))
    return out


@pytest.fixture
def tiny_boxes(monkeypatch):
    monkeypatch.setattr(BX, "BOX_LEAF", 2)
    monkeypatch.setattr(BX, "BOX_FANOUT", 2)
    monkeypatch.setattr(CT, "QUERY_CHUNK", 5)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # constant patch
@given(seed=st.integers(0, 2**31), n=st.integers(1, 12), m=st.integers(1, 17),
       d=st.integers(1, 3), log_scale=st.sampled_from([-200, -8, 0, 8, 150]),
       layout=st.sampled_from(["normal", "far", "duplicates"]),
       g_kind=st.sampled_from(["zero", "random", "huge", "quadratic", "tilted"]))
def test_pruned_is_below_the_exact_minimum_and_tight(tiny_boxes, seed, n, m, d, log_scale,
                                                     layout, g_kind):
    rng = np.random.default_rng(seed)
    s = 10.0 ** log_scale
    x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d)) + 0.5
    if layout == "far":
        y[: m // 2] += 1e6
    if layout == "duplicates":
        y[1:] = y[0]
    P = ExactProblem.build(x * s, y * s, np.full(n, 1 / n), np.full(m, 1 / m), 2)
    g = {"zero": np.zeros(m), "random": rng.normal(size=m) * 0.1,
         "huge": rng.normal(size=m) * 1e30,
         "quadratic": 0.4 * (P.Y ** 2).sum(1),
         # an OT-like potential: a steep linear part (the tilted bound's case) plus noise
         "tilted": 3.0 * P.Y @ rng.normal(size=d) + 0.3 * (P.Y ** 2).sum(1)
         + 1e-3 * rng.normal(size=m)}[g_kind]
    for transpose in (False, True):
        A, B = (P.Y, P.X) if transpose else (P.X, P.Y)
        h = np.resize(g, len(B))
        truth = exact_min(A, B, h)
        ref = np.array([float(t) for t in truth])
        scale = max(float(np.abs(ref).max()), 1e-300)
        # thresholds at, above and below the true minima: any threshold gives a valid bound
        shift = rng.choice([-1e-3, 0.0, 1e-3, 1.0], size=len(A)) * scale
        T = ref + shift
        f, idx, vals = CT.pruned_ctransform(P, h, T, transpose=transpose, return_index=True,
                                            candidates=3)
        assert all(Fraction(float(fi)) <= t for fi, t in zip(f, truth))
        # every pair below its row's threshold is a candidate (up to k per row)
        C = ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1) - h[None, :]
        # the argmin's box cannot be skipped: f within rounding of the minimum (relative to
        # the magnitudes of the costs and potentials that were subtracted)
        tight = T >= ref
        size = max(scale, float(np.abs(h).max()), float(np.abs(C + h[None, :]).max()))
        assert np.all(np.abs(f - ref)[tight] <= 1e-12 * size + 4 * P.tau + 1e-300)
        # the argmin alone (candidates=1): a column whose value is the row's computed minimum
        f1, arg = CT.pruned_ctransform(P, h, T, transpose=transpose, return_index=True)
        np.testing.assert_array_equal(f1, f)
        for i in np.flatnonzero(arg >= 0):
            assert C[i, arg[i]] <= C[i].min() + 1e-12 * size + 4 * P.tau
        assert np.all(arg[C.min(1) < T - 1e-9 * scale] >= 0)
        for i in range(len(A)):
            below_t = np.flatnonzero(C[i] < T[i] - 1e-9 * scale)
            got = set(idx[i][idx[i] >= 0].tolist())
            assert got <= set(np.flatnonzero(C[i] < T[i] + 1e-9 * scale).tolist())
            assert len(got) >= min(3, len(below_t))


def test_pruned_against_the_blockwise_pass_with_lp_like_thresholds(monkeypatch):
    """As the sparse solver calls it: thresholds just below the blockwise minima (no violation)
    for most rows and well above them (violations) for some."""
    rng = np.random.default_rng(7)
    n = 3000
    x, y = rng.standard_t(3, size=(n, 2)), rng.normal(size=(n, 2)) + 1
    P = ExactProblem.build(x, y, np.full(n, 1 / n), np.full(n, 1 / n), 2)
    g = 0.3 * ((P.Y - P.Y.mean(0)) ** 2).sum(1) + rng.normal(size=n) * 1e-3
    monkeypatch.setattr(CT, "PRUNED_MIN_PAIRS", float("inf"))
    f0, idx0, vals0 = CT.certified_ctransform(P, g, return_index=True, candidates=4)
    T = f0 - 1e-12 + (rng.random(n) < 0.1) * 0.05
    _, idx_b, vals_b = CT.certified_ctransform(P, g, return_index=True, candidates=4, below=T)
    f, idx, vals = CT.pruned_ctransform(P, g, T, return_index=True, candidates=4)
    assert np.all(f <= f0 + 1e-15) and np.all(f >= np.minimum(T, f0) - 1e-15)
    violated = vals_b < T[:, None]
    np.testing.assert_array_equal(np.where(violated, idx_b, -1), np.where(vals < T[:, None],
                                                                          idx, -1))


def test_certified_ctransform_dispatches_to_the_pruned_search(monkeypatch):
    calls = []
    real = CT.pruned_ctransform
    monkeypatch.setattr(CT, "pruned_ctransform", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(CT, "PRUNED_MIN_PAIRS", 100)
    rng = np.random.default_rng(1)
    P = ExactProblem.build(rng.normal(size=(20, 2)), rng.normal(size=(30, 2)),
                           np.full(20, 0.05), np.full(30, 1 / 30), 2)
    CT.certified_ctransform(P, np.zeros(30))
    assert not calls  # no thresholds: the blockwise pass
    CT.certified_ctransform(P, np.zeros(30), return_index=True, candidates=2,
                            below=np.zeros(20))
    assert calls
    P3 = ExactProblem.build(rng.normal(size=(20, 2)), rng.normal(size=(30, 2)),
                            np.full(20, 0.05), np.full(30, 1 / 30), 1)
    calls.clear()
    CT.certified_ctransform(P3, np.zeros(30), below=np.zeros(20))  # p = 1: blockwise
    assert not calls


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # constant patch
@given(seed=st.integers(0, 2**31), n=st.integers(20, 120),
       family=st.sampled_from(["gaussian", "student-t3", "clusters", "ring-square",
                               "lognormal"]),
       log_scale=st.sampled_from([-100, 0, 100]), tol=st.sampled_from([None, 0.01]))
def test_sparse_solver_through_the_pruned_pass_contains_the_assignment_value(
        tiny_boxes, monkeypatch, seed, n, family, log_scale, tol):
    """End to end: the sparse solver's certificates through the pruned pass (forced at every
    size) contain the exact value of scipy's assignment solver."""
    from scipy.optimize import linear_sum_assignment

    from otgen.testing.families import data_family
    from otgen.theory import wasserstein

    monkeypatch.setattr(CT, "PRUNED_MIN_PAIRS", 0)
    x, y = data_family(family, n, 2, seed=seed % 1000)
    s = 10.0 ** log_scale
    C = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    r, c = linear_sum_assignment(C)
    truth = Fraction(float(C[r, c].sum())) / n * Fraction(s) ** 2
    res = wasserstein(x * s, y * s, p=2, method="sparse", tol=tol)
    slack = Fraction(1, 10**9) * truth  # the float sum of the assignment's costs
    assert Fraction(res.lower) <= truth + slack and truth - slack <= Fraction(res.upper)
