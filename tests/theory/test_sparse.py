"""Sparse column-generation solver: exact against scipy, certified when stopped early."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.optimize import linear_sum_assignment, linprog
from scipy.spatial.distance import cdist

from otgen._validate import check_measures
from otgen.theory import wasserstein
from otgen.theory.ctransform import c_transform_knn
from otgen.theory.sparse import solve_sparse


def brute_cost(x, y, p):
    return (np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))) ** p


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), m=st.integers(1, 40), d=st.integers(1, 10),
       p=st.sampled_from([1.0, 2.0, 3.0]), k=st.integers(1, 5), seed=st.integers(0, 10**6))
def test_c_transform_knn_matches_brute_force(n, m, d, p, k, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, d)) * 3, rng.normal(size=(m, d)) + 1
    g = rng.normal(size=m) * rng.uniform(0, 20)
    vals, idx = c_transform_knn(x, y, g, p, k)
    R = brute_cost(x, y, p) - g[None, :]
    kk = min(k, m)
    np.testing.assert_allclose(vals, np.sort(R, axis=1)[:, :kk], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.take_along_axis(R, idx, 1), vals, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("d,p", [(2, 2.0), (3, 1.0), (12, 2.0)])
def test_sparse_is_exact_vs_assignment(d, p):
    # subsample far smaller than n, so several column-generation rounds are needed
    rng = np.random.default_rng(d)
    n = 300
    x, y = rng.normal(size=(n, d)), rng.normal(size=(n, d)) * [1.5] + 0.7
    C = brute_cost(x, y, p)
    r, c = linear_sum_assignment(C)
    truth = C[r, c].mean()
    res = solve_sparse(check_measures(x, y), p, coarsest=40, neighbours=3)
    assert res.converged
    assert abs(res.upper - truth) <= 1e-9 * truth
    assert res.lower <= truth * (1 + 1e-12)
    assert abs(res.lower - truth) <= 1e-8 * truth
    assert res.n_iter >= 2  # it really grew the graph


def test_sparse_unequal_weights_vs_linprog():
    rng = np.random.default_rng(3)
    n, m = 60, 45
    x, y = rng.normal(size=(n, 2)), rng.normal(size=(m, 2)) + 1
    a, b = rng.random(n) + 0.05, rng.random(m) + 0.05
    a, b = a / a.sum(), b / b.sum()
    C = brute_cost(x, y, 2)
    A = np.vstack([np.kron(np.eye(n), np.ones(m)), np.kron(np.ones(n), np.eye(m))])
    truth = linprog(C.ravel(), A_eq=A, b_eq=np.concatenate([a, b]), method="highs").fun
    res = solve_sparse(check_measures(x, y, a, b), 2.0, coarsest=10, neighbours=2)
    assert abs(res.upper - truth) <= 1e-8 * truth
    assert res.lower <= truth * (1 + 1e-10)
    i, j, mass = (res.plan.rows, res.plan.cols, res.plan.mass)
    np.testing.assert_allclose(np.bincount(i, mass, minlength=n), a, atol=1e-12)
    np.testing.assert_allclose(np.bincount(j, mass, minlength=m), b, atol=1e-12)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10**6), tol=st.sampled_from([0.2, 0.05, 0.01]))
def test_sparse_early_stop_interval_is_certified(seed, tol):
    rng = np.random.default_rng(seed)
    n = 200
    x, y = rng.normal(size=(n, 2)), rng.standard_t(3, size=(n, 2)) + 1
    C = brute_cost(x, y, 2)
    r, c = linear_sum_assignment(C)
    truth = C[r, c].mean()
    res = solve_sparse(check_measures(x, y), 2.0, tol=tol, coarsest=20, neighbours=2)
    assert res.lower <= truth * (1 + 1e-12) and truth <= res.upper * (1 + 1e-12)
    if res.converged:
        assert (res.upper - res.lower) <= tol * res.upper * (1 + 1e-12)


def test_public_sparse_method_and_torch_gradient():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(50, 2)), requires_grad=True)
    y = torch.tensor(rng.normal(size=(50, 2)) + 2)
    res = wasserstein(x, y, method="sparse", tol=1e-9)
    res.value.backward()
    # envelope theorem with the optimal assignment: d/dx_i mean |x_i - y_s(i)|^2
    C = brute_cost(x.detach().numpy(), y.numpy(), 2)
    r, c = linear_sum_assignment(C)
    expected = 2 * (x.detach().numpy()[r] - y.numpy()[c]) / 50
    np.testing.assert_allclose(x.grad.numpy()[r], expected, atol=1e-10)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
def test_c_transform_knn_many_blocks_matches_brute_force(monkeypatch, p):
    # force the blockwise path (d > KDTREE_MAX_DIM) through several blocks and a partial last one
    import otgen.theory.neighbours as sparse_mod

    monkeypatch.setattr(sparse_mod, "BLOCK_ENTRIES", 7 * 23)
    rng = np.random.default_rng(5)
    x, y, g = rng.normal(size=(52, 12)), rng.normal(size=(23, 12)), rng.normal(size=23)
    vals, idx = c_transform_knn(x, y, g, p, k=3)
    full = cdist(x, y) ** p - g[None, :]
    np.testing.assert_allclose(vals, np.sort(full, axis=1)[:, :3], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.take_along_axis(full, idx, 1), vals, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("d", [1, 3, 8, 9, 64])
def test_nearest_neighbours_match_brute_force(d):
    from otgen.theory.neighbours import nearest_neighbours

    rng = np.random.default_rng(d)
    q, pts = rng.normal(size=(70, d)), rng.normal(size=(130, d))
    idx = nearest_neighbours(q, pts, 5)
    D = cdist(q, pts)
    assert idx.shape == (70, 5)
    np.testing.assert_allclose(np.take_along_axis(D, idx, 1), np.sort(D, 1)[:, :5], rtol=1e-10)
