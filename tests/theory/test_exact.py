"""method="exact" against scipy's assignment solver and LP solver (independent truths)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from ot_truth import assignment_ot, clouds, cost, lp_ot

from otgen.theory import wasserstein

RTOL = 1e-8


def _close(value, truth, C):
    """|value - truth| <= 1e-8 relative (plus a 1e-12-of-the-largest-cost floor for truth ~ 0)."""
    return abs(value - truth) <= RTOL * abs(truth) + 1e-12 * float(np.max(C))


@settings(max_examples=40, deadline=None)
@given(inst=clouds(max_n=40, max_d=5, equal=True),
       p=st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0]))
def test_exact_equals_assignment(inst, p):
    x, y, _, _ = inst
    truth, sigma = assignment_ot(x, y, p)
    r = wasserstein(x, y, p=p, method="exact")
    C = cost(x, y, p)
    assert r.method == "exact" and r.converged
    assert _close(r.value, truth, C)
    assert _close(r.lower, truth, C) and _close(r.upper, truth, C)
    assert r.lower <= r.upper * (1 + 1e-12) + 1e-300
    # plan: a coupling of the uniform marginals whose cost is the optimum
    P = np.asarray(r.plan)
    n = len(x)
    assert P.shape == (n, n) and P.min() >= 0
    np.testing.assert_allclose(P.sum(1), 1 / n, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(P.sum(0), 1 / n, rtol=1e-12, atol=1e-15)
    assert _close(float((P * C).sum()), truth, C)
    # potentials: dual feasible and their value is the optimum (strong duality)
    f, g = (np.asarray(t) for t in r.potentials)
    assert np.all(f[:, None] + g[None, :] <= C + 1e-9 * C.max() + 1e-300)
    assert _close(f.mean() + g.mean(), truth, C)
    assert r.distance == pytest.approx(truth ** (1 / p), rel=1e-8, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(inst=clouds(max_n=15, max_d=3, weighted=True), p=st.sampled_from([1.0, 2.0, 3.0]))
def test_exact_equals_linprog_unequal_weights(inst, p):
    x, y, a, b = inst
    truth = lp_ot(x, y, a, b, p)
    r = wasserstein(x, y, a, b, p=p, method="exact")
    C = cost(x, y, p)
    assert _close(r.value, truth, C)
    assert _close(r.lower, truth, C) and _close(r.upper, truth, C)
    P = np.asarray(r.plan)
    np.testing.assert_allclose(P.sum(1), a, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(P.sum(0), b, rtol=1e-10, atol=1e-15)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), n=st.integers(1, 12), m=st.integers(1, 12), d=st.integers(1, 3))
def test_exact_on_raw_hypothesis_arrays(data, n, m, d):
    """Arbitrary (shrinkable) coordinates: duplicates, zeros, wide ranges, ties."""
    elems = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)
    x = data.draw(arrays(np.float64, (n, d), elements=elems))
    y = data.draw(arrays(np.float64, (m, d), elements=elems))
    a = data.draw(arrays(np.int64, n, elements=st.integers(0, 10))).astype(np.float64)
    if a.sum() == 0:
        a = np.ones(n)  # zero weights included, but not all of them
    b = np.full(m, a.sum() / m)
    truth = lp_ot(x, y, a, b, 2.0)
    r = wasserstein(x, y, a, b, p=2, method="exact")
    C = cost(x, y, 2.0)
    assert abs(r.value - truth) <= 1e-8 * truth + 1e-9 * max(C.max(), 1e-300) * a.sum()


def test_unnormalized_weights_scale_the_cost():
    """Total mass s multiplies the cost by s (the LP is homogeneous); masses equal within 1e-6."""
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((9, 2)), rng.standard_normal((7, 2))
    a, b = rng.random(9) + 0.1, rng.random(7) + 0.1
    a, b = 5 * a / a.sum(), 5 * b / b.sum() * (1 + 3e-7)
    truth = lp_ot(x, y, a, b, 2.0)
    assert wasserstein(x, y, a, b, method="exact").value == pytest.approx(truth, rel=1e-8)


def test_zero_weights_are_ignored():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((8, 2)), rng.standard_normal((6, 2))
    a = np.r_[np.zeros(3), np.full(5, 0.2)]
    truth = lp_ot(x[3:], y, None, None, 2.0)
    assert wasserstein(x, y, a, None, method="exact").value == pytest.approx(truth, rel=1e-8)


def test_single_points():
    x, y = np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]])
    for p in (0.5, 1, 2, 3):
        r = wasserstein(x, y, p=p, method="exact")
        assert r.value == pytest.approx(5.0 ** p, rel=1e-14)
        assert r.lower == pytest.approx(5.0 ** p, rel=1e-14)


def test_identical_clouds_cost_zero():
    x = np.random.default_rng(5).standard_normal((20, 3))
    r = wasserstein(x, x[::-1].copy(), method="exact")
    assert abs(r.value) <= 1e-14 and abs(r.lower) <= 1e-12 and abs(r.upper) <= 1e-14


def test_float32_inputs_solved_in_float64():
    """float32 points are solved exactly as the float64 numbers they represent."""
    rng = np.random.default_rng(6)
    x = (rng.standard_normal((25, 2)) * 1e3 + 1e4).astype(np.float32)
    y = (rng.standard_normal((25, 2)) * 1e3 + 1e4).astype(np.float32)
    truth, _ = assignment_ot(x.astype(np.float64), y.astype(np.float64), 2.0)
    assert wasserstein(x, y, method="exact").value == pytest.approx(truth, rel=1e-8)


def test_simplex_iteration_cap_warns_and_keeps_valid_interval():
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((60, 3)), rng.standard_normal((60, 3)) + 0.5
    truth, _ = assignment_ot(x, y, 2.0)
    with pytest.warns(RuntimeWarning, match="max_iter"):
        r = wasserstein(x, y, method="exact", max_iter=3)
    assert r.converged is False
    assert r.lower <= truth * (1 + 1e-12) and truth <= r.upper * (1 + 1e-12)
    assert r.upper > truth * (1 + 1e-6)  # it really stopped early (test can fail)


def test_auto_with_tol_zero_is_exact_and_converged():
    rng = np.random.default_rng(8)
    for _ in range(5):
        x, y = rng.standard_normal((40, 3)) * 1e3, rng.standard_normal((30, 3)) * 1e3
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            r = wasserstein(x, y, tol=0.0)
        assert r.method == "exact" and r.converged
        assert r.value == pytest.approx(lp_ot(x, y, p=2.0), rel=1e-8)


@pytest.mark.parametrize("scale", [1e-4, 1e-2, 1.0, 1e4])
def test_exact_interval_has_zero_width_at_every_scale(scale):
    """The LP duality gap is rounding only, relative to the costs whatever their magnitude
    (POT's potentials have absolute errors ~(n + m) * 1e-16 * (max C + 1) unless C is scaled)."""
    rng = np.random.default_rng(9)
    for _ in range(5):
        n, m = rng.integers(20, 60, 2)
        x, y = rng.standard_normal((n, 2)) * scale, rng.standard_normal((m, 2)) * scale
        a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
        r = wasserstein(x, y, a / a.sum(), b / b.sum(), method="exact")
        assert r.rel_gap <= 1e-11
        f, g = (np.asarray(t) for t in r.potentials)
        C = cost(x, y, 2.0)
        assert np.all(f[:, None] + g[None, :] <= C * (1 + 1e-12))
