"""The coarse-to-fine sparse solver on every data family, against independent exact truths.

Truths: ``scipy.optimize.linear_sum_assignment`` (uniform weights, n = m: the LP's optimum is an
assignment) and ``scipy.optimize.linprog`` (any weights), on costs of coordinate differences.
``coarsest`` is set far below n so that every instance runs several levels.
"""
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy.optimize import linear_sum_assignment, linprog

from otgen._validate import check_measures
from otgen.testing import FAMILIES, data_family
from otgen.theory import wasserstein
from otgen.theory.certificate import ExactProblem
from otgen.theory.ctransform import certified_ctransform, gram_ctransform
from otgen.theory.choose import choose_method
from otgen.theory.coarse_to_fine import (FACTOR, children_edges, clusters, level_sizes,
                                         tree_order)
from otgen.theory.simplex import SparsePlan
from otgen.theory.sparse import solve_sparse


def brute_cost(x, y, p):
    return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)) ** p


@settings(max_examples=30, deadline=None)
@given(family=st.sampled_from(FAMILIES), n=st.integers(20, 90), d=st.sampled_from([2, 3, 5]),
       p=st.sampled_from([1.0, 1.5, 2.0]), coarsest=st.integers(2, 12),
       seed=st.integers(0, 10**6))
def test_exact_on_every_family_vs_assignment(family, n, d, p, coarsest, seed):
    x, y = data_family(family, n, d, seed)
    C = brute_cost(x, y, p)
    r, c = linear_sum_assignment(C)
    truth = C[r, c].mean()
    res = solve_sparse(check_measures(x, y), p, coarsest=coarsest)
    assert res.info["levels"] >= 2
    assert res.converged
    assert res.lower <= truth * (1 + 1e-12) and truth <= res.upper * (1 + 1e-12)
    assert res.upper - res.lower <= 1e-9 * truth + 1e-300


@settings(max_examples=20, deadline=None)
@given(family=st.sampled_from(FAMILIES), n=st.integers(30, 120), seed=st.integers(0, 10**6),
       tol=st.sampled_from([0.1, 0.01]))
def test_tolerance_stop_is_certified_on_every_family(family, n, seed, tol):
    x, y = data_family(family, n, 2, seed)
    C = brute_cost(x, y, 2.0)
    r, c = linear_sum_assignment(C)
    truth = C[r, c].mean()
    res = solve_sparse(check_measures(x, y), 2.0, tol=tol, coarsest=8)
    assert res.lower <= truth * (1 + 1e-12) and truth <= res.upper * (1 + 1e-12)
    if res.converged:
        assert res.upper - res.lower <= tol * res.upper * (1 + 1e-12)


@pytest.mark.parametrize("family", FAMILIES)
def test_unequal_sizes_and_weights_vs_linprog(family):
    rng = np.random.default_rng(FAMILIES.index(family))
    x, _ = data_family(family, 37, 2, seed=1)
    _, y = data_family(family, 29, 2, seed=2)
    a, b = rng.random(37) + 0.01, rng.random(29) + 0.01
    a, b = a / a.sum(), b / b.sum()
    C = brute_cost(x, y, 2.0)
    n, m = C.shape
    A = np.vstack([np.kron(np.eye(n), np.ones(m)), np.kron(np.ones(n), np.eye(m))])
    truth = linprog(C.ravel(), A_eq=A, b_eq=np.concatenate([a, b]), method="highs").fun
    res = solve_sparse(check_measures(x, y, a, b), 2.0, coarsest=4)
    assert abs(res.upper - truth) <= 1e-8 * truth
    assert res.lower <= truth * (1 + 1e-10)
    i, j, mass = (res.plan.rows, res.plan.cols, res.plan.mass)  # in the caller's order, marginals exact to float rounding
    np.testing.assert_allclose(np.bincount(i, mass, minlength=n), a, atol=1e-12)
    np.testing.assert_allclose(np.bincount(j, mass, minlength=m), b, atol=1e-12)
    assert np.all(res.potentials[0][:, None] + res.potentials[1][None, :]
                  <= C * (1 + 1e-12) + 1e-12)


def test_levels_clusters_and_children():
    assert level_sizes(100, 90, coarsest=10) == [1, 4, 16]
    assert level_sizes(10, 10, coarsest=10) == [1]
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(50, 3)), rng.random(50)
    order = tree_order(x)
    assert sorted(order) == list(range(50))
    cx, cw = clusters(x, w, 4)
    assert len(cx) == 13 and np.isclose(cw.sum(), w.sum())
    np.testing.assert_allclose(cx[3], (w[12:16, None] * x[12:16]).sum(0) / w[12:16].sum())
    # every child pair of a support pair, clipped to the last (partial) cluster
    plan = SparsePlan(np.array([0, 12]), np.array([1, 0]), np.ones(2), None, None, 1.0)
    codes = children_edges(plan, FACTOR, 50, 40)
    pairs = {(int(c) // 40, int(c) % 40) for c in codes}
    expected = {(i, j) for i in range(4) for j in range(4, 8)}
    expected |= {(i, j) for i in range(48, 50) for j in range(4)}
    assert pairs == expected


def _exact_min(X, Y, g):
    """min_j |x_i - y_j|^2 - g_j in exact rational arithmetic."""
    out = []
    for xi in X:
        vals = [sum((Fraction(a) - Fraction(b)) ** 2 for a, b in zip(xi, yj)) - Fraction(gj)
                for yj, gj in zip(Y, g)]
        out.append(min(vals))
    return out


@settings(max_examples=25, deadline=None)
@given(d=st.sampled_from([8, 16, 40]), offset=st.sampled_from([0.0, 1e3, 1e8, -3e12]),
       spread=st.sampled_from([1e-6, 1.0, 1e6]), gscale=st.sampled_from([0.0, 1e-3, 1.0]),
       seed=st.integers(0, 10**6))
def test_blas_ctransform_is_a_certified_lower_bound(d, offset, spread, gscale, seed):
    rng = np.random.default_rng(seed)
    x = offset + spread * rng.normal(size=(6, d))
    y = offset + spread * rng.normal(size=(5, d)) * rng.uniform(0.1, 3)
    P = ExactProblem.build(x, y, np.full(6, 1 / 6), np.full(5, 1 / 5), 2.0)
    g, h = gscale * rng.normal(size=5), gscale * rng.normal(size=6)
    f, idx = gram_ctransform(P, g, return_index=True)
    assert all(Fraction(fi) <= e for fi, e in zip(f, _exact_min(P.X, P.Y, g)))
    f_t = gram_ctransform(P, h, transpose=True)
    assert all(Fraction(fi) <= e for fi, e in zip(f_t, _exact_min(P.Y, P.X, h)))
    # the bound is not vacuous: within the stated error of the coordinate-difference form
    f_cd = certified_ctransform(P, g)
    assert np.all(np.abs(f - f_cd) <= 1e-12 * (1 + np.abs(f_cd)))


def test_auto_follows_the_documented_rule():
    # docs/guide-estimators.md and otgen/theory/choose.py: 1d by sorting, exact up to 1e7
    # entries or tol == 0, sinkhorn on CUDA, otherwise the coarse-to-fine sparse solver
    assert choose_method(10**6, 10**6, 1, 2.0) == "1d"
    assert choose_method(3000, 3000, 2, 2.0) == "exact"
    assert choose_method(20000, 20000, 2, 2.0, tol=0) == "exact"
    assert choose_method(20000, 20000, 64, 2.0, tol=0.01) == "sparse"
    assert choose_method(20000, 20000, 2, 2.0, device="cuda") == "sinkhorn"
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(3500, 2)), rng.normal(size=(3500, 2)) + 1
    res = wasserstein(x, y, tol=0.01)
    assert res.method == "sparse" and res.info["levels"] >= 2 and res.converged


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 6), m=st.integers(1, 3000), k=st.integers(1, 9), seed=st.integers(0, 2**16),
       ties=st.booleans())
def test_smallest_k_is_a_row_sort(n, m, k, seed, ties):
    """The chunked top-k returns each row's k smallest values (numpy's sort is the truth) and
    columns holding exactly those values, also with ties and a short last chunk."""
    from otgen.theory.neighbours import smallest_k
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(n, m))
    if ties:
        W = np.round(W, 1)
    k = min(k, m)
    vals, cols = smallest_k(torch.as_tensor(W), k)
    np.testing.assert_array_equal(vals.numpy(), np.sort(W, axis=1)[:, :k])
    np.testing.assert_array_equal(np.take_along_axis(W, cols.numpy(), 1), vals.numpy())
    assert all(len(set(r)) == k for r in cols.numpy().tolist())
