"""The quantized solver (clusters -> refined coupling + extended potential) against independent
exact values: scipy's linear_sum_assignment (uniform weights) and HiGHS (any weights).

Each instance is small, so the first attempt (clusters of 4 or 16 points) is forced to be the
answer (no refinement): the interval must contain the exact optimum on every data family,
including far-apart clusters and coordinates scaled by 1e-9 .. 1e9.
"""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import otgen.theory.quantized as Q
from otgen._validate import check_measures
from otgen.theory import wasserstein
from otgen.theory.choose import QUANTIZED_MIN_PAIRS, choose_method
from ot_truth import assignment_ot, lp_ot

FAMILIES = ["gaussian", "student-t3", "clusters", "ring-square", "lognormal", "far"]


def sample(family, n, m, d, rng):
    if family == "gaussian":
        return rng.normal(size=(n, d)), rng.normal(size=(m, d)) + 1
    if family == "student-t3":
        return rng.normal(size=(n, d)), rng.standard_t(3, size=(m, d)) + 1
    if family == "clusters":
        centres = rng.normal(size=(6, d)) * 4
        return (centres[rng.integers(6, size=n)] + 0.05 * rng.normal(size=(n, d)),
                centres[rng.integers(6, size=m)] + 0.05 * rng.normal(size=(m, d)))
    if family == "ring-square":
        t = rng.uniform(0, 2 * np.pi, n)
        ring = np.zeros((n, d))
        ring[:, 0], ring[:, min(1, d - 1)] = np.cos(t), np.sin(t)
        return ring, rng.uniform(-1, 1, size=(m, d))
    if family == "lognormal":
        return rng.lognormal(size=(n, d)), rng.lognormal(size=(m, d)) + 0.5
    x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d))  # far: half of y 1e6 away
    y[: m // 2] += 1e6
    return x, y


@pytest.fixture
def one_attempt(monkeypatch):
    monkeypatch.setattr(Q, "MAX_REFINEMENTS", 0)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # constant patch
@given(seed=st.integers(0, 2**31), family=st.sampled_from(FAMILIES), d=st.integers(1, 3),
       size=st.sampled_from([4, 16]), log_scale=st.sampled_from([-9, 0, 9]),
       weighted=st.booleans())
def test_interval_contains_the_exact_optimum(one_attempt, seed, family, d, size, log_scale,
                                             weighted):
    rng = np.random.default_rng(seed)
    n = m = 160 if weighted else 240
    x, y = sample(family, n, m, d, rng)
    x, y = x * 10.0 ** log_scale, y * 10.0 ** log_scale
    if weighted:
        a, b = rng.random(n) + 0.05, rng.random(m) + 0.05
        a, b = a / a.sum(), b / b.sum()
        truth = lp_ot(x, y, a, b, 2.0)
    else:
        a = b = None
        truth = assignment_ot(x, y, 2.0)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a coarse first attempt may miss tol: still certified
        out = Q.solve_quantized(check_measures(x, y, a, b), 2.0, tol=1e-2, cluster_size=size)
    # the judges round too: HiGHS to 1e-10 relative, the assignment sum to ~1e-15
    slack = 1e-9 if weighted else 1e-12
    assert out.lower <= truth * (1 + slack)
    assert truth <= out.upper * (1 + slack)
    assert out.info["cluster_size"] == size
    i, j, mass = out.plan.rows, out.plan.cols, out.plan.mass
    wa = np.full(n, 1 / n) if a is None else a
    wb = np.full(m, 1 / m) if b is None else b
    np.testing.assert_allclose(np.bincount(i, mass, n), wa, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(np.bincount(j, mass, m), wb, rtol=1e-9, atol=1e-15)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(1, 90), m=st.integers(1, 90),
       size=st.sampled_from([1, 2, 4, 8]), zeros=st.booleans())
def test_refined_plan_is_a_coupling_of_the_weights(seed, n, m, size, zeros):
    """refine_plan turns any coupling of the cluster masses into one of (a, b)."""
    rng = np.random.default_rng(seed)
    xs, ys = rng.normal(size=(n, 2)), rng.normal(size=(m, 2))
    a, b = rng.random(n), rng.random(m)
    if zeros:
        a[rng.random(n) < 0.3] = 0.0
        b[rng.random(m) < 0.3] = 0.0
    a[0], b[0] = a[0] + 0.1, b[0] + 0.1
    a, b = a / a.sum(), b / b.sum()
    A = np.bincount(np.arange(n) // size, a)
    B = np.bincount(np.arange(m) // size, b)
    # an arbitrary coupling of the cluster masses: the independent one, sparsified by rows
    Pi = np.outer(A, B)
    ci, cj = np.nonzero(Pi)
    i, j, mass = Q.refine_plan(xs, ys, a, b, size, (ci, cj, Pi[ci, cj]), np.array([0.6, 0.8]))
    assert np.all(mass >= 0)
    np.testing.assert_allclose(np.bincount(i, mass, n), a, atol=1e-14)
    np.testing.assert_allclose(np.bincount(j, mass, m), b, atol=1e-14)
    # every pair joins a point of cluster k with one of cluster l for a coarse pair (k, l)
    pairs = set(zip((i // size).tolist(), (j // size).tolist()))
    assert pairs <= set(zip(ci.tolist(), cj.tolist()))


def test_public_method_and_refinement_to_the_sparse_solver(monkeypatch):
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + 1
    truth = assignment_ot(x, y, 2.0)[0]
    # a tol the clusters cannot meet: refined 16 -> 4 -> 1 (the sparse solver)
    monkeypatch.setattr(Q, "FIRST_CLUSTERS", 5)
    res = wasserstein(x, y, method="quantized", tol=1e-6)
    assert res.method == "quantized"
    assert res.lower <= truth * (1 + 1e-12) and truth <= res.upper * (1 + 1e-12)
    assert res.converged
    monkeypatch.setattr(Q, "FIRST_CLUSTERS", 20)  # clusters of 4 points at n = 300
    res = wasserstein(x, y, method="quantized", tol=0.05)
    assert res.lower <= truth * (1 + 1e-12) and truth <= res.upper * (1 + 1e-12)
    assert res.converged and (res.upper - res.lower) <= 0.05 * res.upper
    # torch in, torch out, with the gradient of the plan's cost
    torch = pytest.importorskip("torch")
    xt = torch.tensor(x, requires_grad=True)
    rt = wasserstein(xt, torch.tensor(y), method="quantized", tol=0.05)
    assert isinstance(rt.value, torch.Tensor) and rt.lower == res.lower
    rt.value.backward()
    assert xt.grad is not None and bool(torch.isfinite(xt.grad).all())


def test_quantized_rejects_what_it_cannot_certify():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 2)), rng.normal(size=(50, 2))
    with pytest.raises(ValueError, match="p=2"):
        wasserstein(x, y, p=1, method="quantized")
    with pytest.raises(ValueError, match="dimension 4"):
        wasserstein(np.c_[x, x], np.c_[y, y], p=2, method="quantized")


def test_auto_picks_quantized_by_the_documented_rule():
    # otgen/theory/choose.py rule 4: p = 2, d <= 3, n m >= QUANTIZED_MIN_PAIRS
    big = int(np.ceil(np.sqrt(QUANTIZED_MIN_PAIRS)))
    assert choose_method(big, big, 2, 2.0, tol=0.01) == "quantized"
    assert choose_method(big, big, 3, 2.0, tol=0.01) == "quantized"
    assert choose_method(big - 100, big - 100, 2, 2.0, tol=0.01) == "sparse"
    assert choose_method(big, big, 4, 2.0, tol=0.01) == "sparse"
    assert choose_method(big, big, 2, 1.0, tol=0.01) == "sparse"
    assert choose_method(big, big, 2, 2.0, tol=0) == "exact"
    assert choose_method(big, big, 1, 2.0, tol=0.01) == "1d"


@pytest.mark.parametrize("d, scale", [(2, 1e-150), (3, 1e140), (1, 1.0)])
def test_identical_points_and_a_nonnegative_lower_bound(one_attempt, d, scale):
    """Found by an adversarial review: all points identical crashed the potential extension
    (a 2^1080 scale, a zero smoothing eps); and OT >= 0 bounds the lower side for free."""
    x = np.full((17, d), scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = Q.solve_quantized(check_measures(x, x.copy()), 2.0, tol=1e-2, cluster_size=4)
    assert out.lower == 0.0 and 0.0 <= out.upper <= 1e-290  # the underflow allowance
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = x + 1e-12 * rng.normal(size=(400, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = Q.solve_quantized(check_measures(x, y), 2.0, tol=1e-2, cluster_size=16)
    assert 0.0 <= out.lower <= assignment_ot(x, y, 2.0)[0] * (1 + 1e-12) <= out.upper * (1 + 1e-12)
