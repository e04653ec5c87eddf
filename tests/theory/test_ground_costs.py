"""Costs other than |x - y|_2^p (``cost=``) and precomputed matrices (``ot_cost``), checked against
independent truths: scipy's cdist + linprog / linear_sum_assignment, integer costs in exact
rational arithmetic, the envelope-theorem gradient."""
from fractions import Fraction

import numpy as np
import ot
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from otgen.theory import Minkowski, ot_cost, wasserstein
from otgen.theory.ground_costs import Cosine, resolve_cost

from ot_truth import lp_matrix as lp_value

SCIPY_METRIC = {"cityblock": "cityblock", "cosine": "cosine", "euclidean": "euclidean",
                "sqeuclidean": "sqeuclidean"}


def _weights(rng, n, zeros=False):
    w = rng.random(n) + 0.1
    if zeros:
        w[rng.random(n) < 0.3] = 0.0
        w[0] = max(w[0], 0.1)
    return w / w.sum()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), name=st.sampled_from(sorted(SCIPY_METRIC)),
       n=st.integers(1, 9), m=st.integers(1, 9), d=st.integers(1, 4), zeros=st.booleans())
def test_named_costs_equal_linprog(seed, name, n, m, d, zeros):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, d)) + 0.01, rng.normal(size=(m, d)) * 2 - 0.5
    a, b = _weights(rng, n, zeros), _weights(rng, m, zeros)
    truth = lp_value(cdist(x, y, SCIPY_METRIC[name]), a, b)
    r = wasserstein(x, y, a, b, cost=name)
    assert r.contains(truth, rtol=1e-7), (r, truth)
    assert r.gap <= 1e-12 + 1e-9 * abs(r.upper) and r.converged


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), q=st.sampled_from([1.0, 1.5, 3.0]),
       p=st.sampled_from([0.5, 1.0, 2.0, 3.0]), n=st.integers(1, 8))
def test_minkowski_powers_equal_assignment(seed, q, p, n):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, 3)), rng.normal(size=(n, 3)) + 1.0
    C = cdist(x, y, "minkowski", p=q) ** p
    rows, cols = linear_sum_assignment(C)
    truth = C[rows, cols].sum() / n
    r = wasserstein(x, y, cost=Minkowski(q, p))
    assert r.contains(truth, rtol=1e-9), (r, truth)
    assert r.p == p and r.distance == pytest.approx(r.value ** (1 / p))


@pytest.mark.parametrize("scale", [1e-9, 1.0, 1e9])
def test_cityblock_integer_costs_certified_exactly(scale):
    """Points on a grid of powers of two: every cityblock cost is exact, so the assignment
    value is a rational number the interval must contain exactly."""
    rng = np.random.default_rng(3)
    step = 2.0 ** round(np.log2(scale))
    x, y = rng.integers(-50, 50, (40, 3)) * step, rng.integers(-50, 50, (40, 3)) * step + 7 * step
    C = np.abs(x[:, None, :] - y[None, :, :]).sum(-1)
    rows, cols = linear_sum_assignment(C)
    truth = sum(Fraction(v) for v in C[rows, cols]) / 40
    r = wasserstein(x, y, cost="cityblock")
    assert Fraction(r.lower) <= truth <= Fraction(r.upper)
    assert r.rel_gap < 1e-12


def test_far_clusters_cityblock_and_cosine():
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(size=(20, 2)), rng.normal(size=(20, 2)) + 1e7])
    y = np.concatenate([rng.normal(size=(20, 2)) + 0.5, rng.normal(size=(20, 2)) + 1e7 + 0.5])
    for name in ("cityblock", "cosine"):
        C = cdist(x, y, name)
        rows, cols = linear_sum_assignment(C)
        truth = C[rows, cols].sum() / 40
        r = wasserstein(x, y, cost=name)
        assert r.contains(truth, rtol=1e-8), (name, r, truth)


def test_cosine_is_scale_invariant_at_hostile_scales():
    """cos(s x, t y) = cos(x, y) for s, t > 0: the rows are rescaled exactly, so the certified
    value cannot depend on the scale (1e-200 squares underflow without the rescaling)."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(30, 4)) + 0.3
    ref = wasserstein(x, y, cost="cosine")
    for e in (-660, -30, 30, 660):  # exact scalings by powers of two: identical numbers
        r = wasserstein(np.ldexp(x, e), np.ldexp(y, -e), cost="cosine")
        assert r.value == ref.value and r.lower == ref.lower
    C = cdist(x, y, "cosine")
    rows, cols = linear_sum_assignment(C)
    for s in (1e-200, 1e-9, 1e9, 1e200):
        assert wasserstein(x * s, y / s, cost="cosine").contains(C[rows, cols].mean(), 1e-9)


def test_cosine_error_bound_holds_against_exact_rationals():
    """The cosine matrix's stated error bound, checked entry by entry against the cost
    computed in exact rational arithmetic (square roots bracketed by Fractions)."""
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(6, 5)) * 1e3, rng.normal(size=(7, 5)) * 1e-3
    cm = Cosine().matrix(x, y)
    for i in range(6):
        for j in range(7):
            xi, yj = [Fraction(v) for v in x[i]], [Fraction(v) for v in y[j]]
            dot = sum(u * v for u, v in zip(xi, yj))
            nx2, ny2 = sum(u * u for u in xi), sum(v * v for v in yj)
            # c = 1 - dot / sqrt(nx2 ny2): compare squares, |dot|/sqrt(...) = sqrt(dot^2 / ...)
            c_hat = Fraction(cm.C[i, j])
            lo, hi = 1 - (c_hat + Fraction(cm.abs_err)), 1 - (c_hat - Fraction(cm.abs_err))
            # exact cos = dot / sqrt(nx2 ny2) must lie in [lo, hi]: compare signed squares
            t = dot * abs(dot) / (nx2 * ny2)
            assert lo * abs(lo) <= t <= hi * abs(hi)


def test_callable_cost_and_gradient():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(12, 2)), rng.normal(size=(15, 2))
    fn = lambda u, v: torch.cdist(u, v) ** 1.5 + 0.25  # noqa: E731
    C = cdist(x, y) ** 1.5 + 0.25
    truth = lp_value(C, np.full(12, 1 / 12), np.full(15, 1 / 15))
    r = wasserstein(x, y, cost=fn)
    assert r.contains(truth, rtol=1e-7) and r.cost.startswith("callable")
    xt = torch.tensor(x, requires_grad=True)
    rt = wasserstein(xt, torch.tensor(y), cost=fn)
    rt.value.backward()
    # envelope theorem: d/dx_i sum_j pi_ij (|x_i - y_j|^1.5 + 1/4) with the plan fixed
    P = r.sparse_plan.to_dense()
    diff = x[:, None, :] - y[None, :, :]
    dist = np.linalg.norm(diff, axis=-1)
    expected = (P[..., None] * 1.5 * dist[..., None] ** 0.5 * diff / dist[..., None]).sum(1)
    np.testing.assert_allclose(xt.grad.numpy(), expected, rtol=1e-9, atol=1e-12)


def test_cityblock_gradient_is_the_plans_sign_sum():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(10, 3)), rng.normal(size=(10, 3)) + 0.5
    xt = torch.tensor(x, requires_grad=True)
    r = wasserstein(xt, torch.tensor(y), cost="cityblock")
    r.value.backward()
    P = r.sparse_plan.to_dense()
    expected = (P[..., None] * np.sign(x[:, None, :] - y[None, :, :])).sum(1)
    np.testing.assert_allclose(xt.grad.numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(cost="manhattan"), ValueError, "unknown cost 'manhattan'"),
    (dict(cost="sqeuclidean", p=3), ValueError, "sqeuclidean"),
    (dict(cost="cosine", p=2), ValueError, "p=2 does not apply"),
    (dict(cost=3.0), TypeError, "cost must be None"),
    (dict(cost="cityblock", method="sinkhorn"), ValueError, "Euclidean costs"),
    (dict(cost="cosine", method="sparse"), ValueError, "method='exact'"),
    (dict(cost=lambda u, v: u @ v.T), ValueError, "negative entries"),
    (dict(cost=lambda u, v: u[:, :1] - v[:1, :1].T), ValueError, r"must return the \(5, 6\)"),
    (dict(cost=lambda u, v: torch.full((len(u), len(v)), float("nan"))), ValueError, "NaN"),
    (dict(cost=Minkowski(1.0), p=2), ValueError, "does not apply"),
])
def test_cost_errors(kwargs, exc, match):
    rng = np.random.default_rng(0)
    with pytest.raises(exc, match=match):
        wasserstein(rng.normal(size=(5, 2)), rng.normal(size=(6, 2)), **kwargs)


def test_cost_input_errors():
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match="zero vector"):
        wasserstein(x, np.ones((3, 2)), cost="cosine")
    with pytest.raises(ValueError, match="underflow"):
        wasserstein(np.full((3, 2), 1e-300), np.ones((3, 2)) * 3e-300, cost="cityblock")
    with pytest.raises(ValueError, match="q >= 1"):
        Minkowski(0.5)
    with pytest.raises(ValueError, match="euclidean"):
        Minkowski(2)


def test_euclidean_names_route_to_the_point_solvers():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(3000, 2)), rng.normal(size=(3500, 2)) + 1
    r = wasserstein(x, y, cost="euclidean", tol=0.05)
    assert r.method == "sparse" and r.p == 1 and r.cost_name == "euclidean"
    assert resolve_cost(None, None).euclidean_power == 2
    assert resolve_cost("euclidean", 3).euclidean_power == 3


# --- ot_cost: a precomputed matrix -----------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(1, 10), m=st.integers(1, 10),
       log_scale=st.integers(-300, 300), zeros=st.booleans())
def test_ot_cost_equals_linprog_at_every_scale(seed, n, m, log_scale, zeros):
    rng = np.random.default_rng(seed)
    M = rng.random((n, m)) ** 3 * 10.0 ** log_scale
    a, b = _weights(rng, n, zeros), _weights(rng, m, zeros)
    truth = lp_value(M / 10.0 ** log_scale, a, b) * 10.0 ** log_scale
    r = ot_cost(M, a, b)
    assert r.contains(truth, rtol=1e-7), (r, truth)
    assert r.cost == "matrix" and r.distance == r.value


def test_ot_cost_matches_pot_and_returns_its_plan():
    rng = np.random.default_rng(8)
    M = rng.random((30, 40))
    a, b = _weights(rng, 30), _weights(rng, 40)
    r = ot_cost(M, a, b)
    assert r.contains(ot.emd2(a, b, M), rtol=1e-9)
    P = r.sparse_plan.to_dense()
    np.testing.assert_allclose(P.sum(1), a, atol=1e-15)
    np.testing.assert_allclose(P.sum(0), b, atol=1e-15)
    f, g = r.potentials
    assert np.all(f[:, None] + g[None, :] <= M)  # exactly feasible potentials


def test_ot_cost_entries_spanning_600_orders_are_certified():
    """Scaling C by 2^k pushes 1e-310 below the normal range; the interval must still
    contain the exact optimum (the identity coupling, 1e-310 in exact arithmetic)."""
    M = np.array([[1e-310, 1e300], [1e300, 1e-310]])
    r = ot_cost(M)
    assert Fraction(r.lower) <= Fraction(1e-310) <= Fraction(r.upper)


def test_ot_cost_torch_gradient_is_the_plan():
    rng = np.random.default_rng(9)
    M = torch.tensor(rng.random((8, 9)), requires_grad=True)
    r = ot_cost(M)
    r.value.backward()
    np.testing.assert_array_equal(M.grad.numpy(), r.sparse_plan.to_dense())
    assert isinstance(r.plan, torch.Tensor)


@pytest.mark.parametrize("M,kwargs,exc,match", [
    (np.ones(3), {}, ValueError, "2-D"),
    (np.ones((0, 3)), {}, ValueError, "empty"),
    (np.array([[1.0, np.nan]]), {}, ValueError, "NaN"),
    (np.array([[1.0, -1.0]]), {}, ValueError, "negative"),
    (np.array([["a", "b"]]), {}, TypeError, "real-valued"),
    (np.ones((2, 3)), dict(a=[0.5, 0.6]), ValueError, "same total mass"),
    (np.ones((2, 3)), dict(b=[1.0, 0.0]), ValueError, "3 points"),
    (np.ones((2, 3)), dict(method="sinkhorn"), ValueError, "method"),
])
def test_ot_cost_errors(M, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ot_cost(M, **kwargs)


@pytest.mark.parametrize("p", [1.0, 2.0, 4.0])
def test_euclidean_matrix_accounts_for_underflow(p):
    """penalized_ot builds Euclidean matrices: a cost of 2^-300p underflows for p = 4, and the
    stated absolute error must cover it (exact rational truth; lam = 0 and a grid equal to
    the data make the value the plain transport cost x -> G(grid))."""
    from otgen.theory import penalized_ot
    x = np.array([[0.0, 0.0], [1.0, 0.0]])
    grid = np.array([[2.0 ** -300, 0.0], [1.0, 0.0]])
    r = penalized_ot(x, grid, lambda u: u, lam=0.0, p=p)
    truth = Fraction(2) ** int(-300 * p) / 2
    assert Fraction(r.lower) <= truth <= Fraction(r.upper)


def test_encoder_and_penalized_ot_take_cost_objects():
    from otgen.theory import encoder_ot, penalized_ot
    rng = np.random.default_rng(11)
    x, z = rng.normal(size=(7, 2)), rng.normal(size=(7, 1))
    G = lambda u: np.hstack([u, 2 * u])  # noqa: E731
    for cost in ("cityblock", "cosine", Minkowski(3.0)):
        C = (Minkowski(3.0).matrix(x, G(z)).C if not isinstance(cost, str)
             else cdist(x, G(z), cost))
        rows, cols = linear_sum_assignment(C)
        truth = C[rows, cols].mean()
        r = encoder_ot(x, z, G, cost=cost)
        assert r.lower - 1e-12 <= truth <= r.upper + 1e-12
        # Theorem B equality: lam above the Lipschitz constant, grid = the latent atoms
        pen = penalized_ot(x, z, G, lam=100.0, cost=cost)
        if cost == "cityblock":  # a metric with |G(u) - G(v)|_1 = 3 |u - v|
            assert pen.lower - 1e-12 <= truth <= pen.upper + 1e-12
    with pytest.raises(ValueError, match="decoder_noise"):
        encoder_ot(x, z, G, cost="cosine", decoder_noise=0.1)


def test_cost_object_validation():
    with pytest.raises(TypeError, match="real norm exponent"):
        Minkowski(True)
    assert Minkowski(np.float32(3)).q == 3.0
    for p in (-1.0, 0.0, float("nan")):
        with pytest.raises(ValueError, match="p must be"):
            Minkowski(3, p)
    with pytest.raises(TypeError, match="real costs"):
        wasserstein(np.ones((2, 1)), np.zeros((2, 1)),
                    cost=lambda u, v: torch.cdist(u, v).to(torch.complex128))


def test_callable_cost_gradient_matches_finite_differences():
    """The envelope gradient through a callable cost, against central finite differences of the
    certified value (generic points: the optimal plan is locally constant)."""
    rng = np.random.default_rng(12)
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(8, 2)) + 0.3
    fn = lambda u, v: ((u[:, None, :] - v[None, :, :]) ** 2).sum(-1) ** 0.75  # noqa: E731
    xt = torch.tensor(x, requires_grad=True)
    wasserstein(xt, torch.tensor(y), cost=fn).value.backward()
    h, fd = 1e-6, np.zeros_like(x)
    for i in range(6):
        for k in range(2):
            xp, xm = x.copy(), x.copy()
            xp[i, k] += h
            xm[i, k] -= h
            fd[i, k] = (wasserstein(xp, y, cost=fn).value
                        - wasserstein(xm, y, cost=fn).value) / (2 * h)
    np.testing.assert_allclose(xt.grad.numpy(), fd, rtol=1e-5, atol=1e-7)
