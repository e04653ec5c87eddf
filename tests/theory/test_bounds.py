"""Certified intervals: lower <= exact OT <= upper for every approximate method."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ot_truth import clouds, cost, lp_ot

from otgen.theory import gaussian_w2, sliced_wasserstein, wasserstein


def _truth(x, y, a, b, p=2.0):
    return lp_ot(x.astype(np.float64), y.astype(np.float64), a, b, p)


def _slack(x, y, p=2.0):
    """Float rounding allowed on the bounds: relative to the largest cost of the instance."""
    Cmax = float(cost(x, y, p).max())
    if x.dtype == np.float32:
        return 1e-5, 1e-6 * Cmax
    return 1e-9, 1e-12 * Cmax


def assert_certified(r, truth, x, y, p=2.0):
    rtol, atol = _slack(x, y, p)
    lo, up = float(r.lower), float(r.upper)
    assert np.isfinite(lo) and np.isfinite(up)
    assert lo <= truth + rtol * truth + atol, f"lower {lo!r} > exact {truth!r}"
    assert up >= truth - rtol * truth - atol, f"upper {up!r} < exact {truth!r}"


def assert_value_inside(r):
    lo, up, v = float(r.lower), float(r.upper), float(r.value)
    slack = 1e-5 * max(abs(lo), abs(up))  # rounding (float32 sums included)
    assert lo - slack <= v <= up + slack, (lo, v, up)


def _maybe32(inst, f32):
    x, y, a, b = inst
    if f32:
        x, y = x.astype(np.float32), y.astype(np.float32)
    return x, y, a, b


@settings(max_examples=25, deadline=None)
@given(inst=clouds(max_n=40, max_d=4, weighted=True), f32=st.booleans(),
       tol=st.sampled_from([None, 0.05, 1e-2, 1e-3]))
def test_sinkhorn_adaptive_interval(inst, f32, tol):
    x, y, a, b = _maybe32(inst, f32)
    truth = _truth(x, y, a, b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r = wasserstein(x, y, a, b, method="sinkhorn", tol=tol)
    assert_certified(r, truth, x, y)
    assert_value_inside(r)
    if r.converged:
        assert r.rel_gap <= (1e-2 if tol is None else tol)


@settings(max_examples=25, deadline=None)
@given(inst=clouds(max_n=30, max_d=3), f32=st.booleans(),
       factor=st.sampled_from([1.0, 0.1, 0.02, 0.005]))
def test_sinkhorn_fixed_eps_interval(inst, f32, factor):
    """Fixed eps, down to small eps (0.5% of the mean cost), n != m, scales 1e-2 .. 1e3."""
    x, y, a, b = _maybe32(inst, f32)
    truth = _truth(x, y, a, b)
    eps = factor * float(cost(x, y, 2.0).mean()) + 1e-300
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r = wasserstein(x, y, method="sinkhorn", eps=eps, max_iter=2000)
    assert r.eps == pytest.approx(eps)
    assert_certified(r, truth, x, y)
    assert_value_inside(r)


@pytest.mark.parametrize("max_iter", [1, 2])
@pytest.mark.parametrize("eps", [None, 1e-3])
def test_sinkhorn_nonconvergence_warns_and_stays_certified(max_iter, eps):
    rng = np.random.default_rng(max_iter)
    x, y = rng.standard_normal((40, 2)), rng.standard_normal((30, 2)) * 2 + 1
    truth = _truth(x, y, None, None)
    with pytest.warns(RuntimeWarning, match="did not converge"):
        r = wasserstein(x, y, method="sinkhorn", eps=eps, tol=1e-3 if eps is None else None,
                        max_iter=max_iter)
    assert r.converged is False
    assert_certified(r, truth, x, y)


def test_unreachable_tol_warns():
    rng = np.random.default_rng(11)
    x, y = rng.standard_normal((12, 2)), rng.standard_normal((10, 2))
    truth = _truth(x, y, None, None)
    with pytest.warns(RuntimeWarning):
        r = wasserstein(x, y, method="sinkhorn", tol=1e-9, max_iter=200)
    assert r.converged is False and r.rel_gap > 1e-9
    assert_certified(r, truth, x, y)


@settings(max_examples=30, deadline=None)
@given(inst=clouds(max_n=40, max_d=4, weighted=True), f32=st.booleans())
def test_gaussian_interval(inst, f32):
    x, y, a, b = _maybe32(inst, f32)
    truth = _truth(x, y, a, b)
    r = wasserstein(x, y, a, b, method="gaussian")
    assert r.method == "gaussian"
    assert_certified(r, truth, x, y)
    # the estimate is the Gelbrich (Bures) value of the moments, the lower bound its rigorous
    # rounding-aware version, which may sit a few ulps below
    a_ = np.full(len(x), 1 / len(x)) if a is None else np.asarray(a, np.float64)
    b_ = np.full(len(y), 1 / len(y)) if b is None else np.asarray(b, np.float64)
    moments = [(w / w.sum() @ z, np.cov(z.T, aweights=w, bias=True).reshape(z.shape[1], -1))
               for z, w in ((np.asarray(x, np.float64), a_), (np.asarray(y, np.float64), b_))]
    bures = gaussian_w2(*moments[0], *moments[1]) * a_.sum()
    assert r.lower <= r.value
    assert r.value == pytest.approx(bures, rel=1e-6, abs=1e-9 * (1 + np.abs(moments[0][1]).max()
                                                                 + np.abs(moments[1][1]).max()))


@settings(max_examples=30, deadline=None)
@given(inst=clouds(max_n=40, max_d=4, weighted=True), f32=st.booleans(),
       p=st.sampled_from([1.0, 2.0, 3.0]), L=st.integers(1, 30))
def test_sliced_interval(inst, f32, p, L):
    x, y, a, b = _maybe32(inst, f32)
    truth = _truth(x, y, a, b, p)
    r = sliced_wasserstein(x, y, a, b, p=p, n_projections=L, seed=0)
    assert_certified(r, truth, x, y, p)
    rtol, atol = _slack(x, y, p)
    # every slice is a lower bound, hence so is their average SW_p^p
    assert float(r.value) <= truth * (1 + rtol) + atol
    assert r.std_error >= 0 or L == 1


@settings(max_examples=25, deadline=None)
@given(inst=clouds(max_n=30, max_d=4, weighted=True), tol=st.sampled_from([0.0, 1e-3, 0.1]))
def test_auto_meets_tol(inst, tol):
    x, y, a, b = inst
    truth = _truth(x, y, a, b)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # small problems must meet tol silently
        r = wasserstein(x, y, a, b, tol=tol)
    assert r.converged
    assert r.rel_gap <= tol + 1e-10
    assert_certified(r, truth, x, y)


@pytest.mark.parametrize("method", ["exact", "1d"])
def test_exact_methods_have_zero_width(method):
    rng = np.random.default_rng(12)
    d = 1 if method == "1d" else 3
    x, y = rng.standard_normal((50, d)), rng.standard_normal((35, d)) + 1
    r = wasserstein(x, y, method=method)
    truth = _truth(x, y, None, None)
    assert r.rel_gap <= 1e-12
    assert r.value == pytest.approx(truth, rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(inst=clouds(max_n=40, max_d=4, weighted=True), p=st.sampled_from([1.0, 2.0, 3.0]),
       tol=st.sampled_from([None, 1e-3, 0.05]))
def test_sparse_interval(inst, p, tol):
    """method="sparse" (column generation): certified interval, tol met when converged."""
    x, y, a, b = inst
    truth = _truth(x, y, a, b, p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r = wasserstein(x, y, a, b, p=p, method="sparse", tol=tol)
    assert_certified(r, truth, x, y, p)
    assert_value_inside(r)
    if r.converged:
        assert r.rel_gap <= (1e-2 if tol is None else tol) + 1e-10


def test_sparse_small_clouds_second_round():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((26, 3))
    r = wasserstein(x, y, method="sparse", tol=0.0)
    assert_certified(r, _truth(x, y, None, None), x, y)


def test_sparse_tol_zero_converges_on_optimal_solution():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((30, 3)), rng.standard_normal((25, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        r = wasserstein(x, y, method="sparse", tol=0.0)
    assert r.converged and r.rel_gap <= 1e-10
