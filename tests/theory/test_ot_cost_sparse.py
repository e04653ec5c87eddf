"""ot_cost on a scipy.sparse cost matrix: missing entries are forbidden pairs (as in POT).

Truths: scipy's HiGHS LP with one variable per *stored* entry, and ``ot.emd2`` on the same
sparse matrix.
"""
from fractions import Fraction

import numpy as np
import ot
import pytest
import scipy.sparse as sp
from hypothesis import given, settings, strategies as st
from scipy.optimize import linprog

from otgen.theory import ot_cost


def edge_lp(rows, cols, vals, a, b):
    """min sum_k pi_k vals_k over the listed edges with marginals a, b (HiGHS)."""
    n, m, K = len(a), len(b), len(vals)
    A = np.zeros((n + m, K))
    A[rows, np.arange(K)] = 1
    A[n + cols, np.arange(K)] = 1
    res = linprog(vals, A_eq=A, b_eq=np.r_[a, b * (a.sum() / b.sum())], method="highs")
    assert res.status == 0
    return res.fun


def random_sparse(rng, n, m, density):
    """A random pattern that always contains a staircase (so a coupling exists), with costs
    spanning several orders of magnitude and some explicit zeros."""
    keep = rng.random((n, m)) < density
    for t in range(max(n, m)):  # the north-west staircase carries every marginal pair
        keep[min(t * n // max(n, m), n - 1), min(t * m // max(n, m), m - 1)] = True
        keep[min((t + 1) * n // max(n, m), n - 1) if t + 1 < max(n, m) else n - 1,
             min(t * m // max(n, m), m - 1)] = True
    rows, cols = np.nonzero(keep)
    vals = rng.random(len(rows)) ** 4 * 10.0 ** rng.integers(-3, 4, len(rows))
    vals[rng.random(len(rows)) < 0.1] = 0.0
    return rows, cols, vals


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(1, 9), m=st.integers(1, 9),
       density=st.floats(0.0, 1.0), log_scale=st.sampled_from([-250, -5, 0, 5, 250]))
def test_sparse_matches_the_edge_lp(seed, n, m, density, log_scale):
    rng = np.random.default_rng(seed)
    rows, cols, vals = random_sparse(rng, n, m, density)
    a, b = rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(m))
    try:
        truth = edge_lp(rows, cols, vals, a, b) * 10.0 ** log_scale
    except AssertionError:  # the random pattern carries no coupling: ot_cost must say so
        with pytest.raises(ValueError, match="M"):
            ot_cost(sp.coo_array((vals, (rows, cols)), shape=(n, m)), a, b)
        return
    M = sp.csr_array((vals * 10.0 ** log_scale, (rows, cols)), shape=(n, m))
    r = ot_cost(M, a, b)
    assert r.contains(truth, rtol=1e-7), (r, truth)
    plan = r.sparse_plan
    allowed = set(zip(rows.tolist(), cols.tolist()))
    assert all((i, j) in allowed for i, j in zip(plan.rows.tolist(), plan.cols.tolist()))
    f, g = r.potentials
    Cs = vals * 10.0 ** log_scale
    assert np.all(f[rows] + g[cols] <= Cs)  # feasible on the allowed pairs


def test_sparse_matches_pot_and_its_forbidden_pairs():
    """The POT example: forbidding (1, 1) forces the anti-diagonal."""
    a = b = np.array([0.5, 0.5])
    M = sp.coo_array((np.array([1.0, 5.0, 2.0]), (np.array([0, 0, 1]), np.array([0, 1, 0]))),
                     shape=(2, 2))
    r = ot_cost(M, a, b)
    assert r.contains(ot.emd2(a, b, M), rtol=1e-12)
    assert Fraction(r.lower) <= Fraction(7, 2) <= Fraction(r.upper)


def test_sparse_larger_against_pot():
    rng = np.random.default_rng(5)
    rows, cols, vals = random_sparse(rng, 60, 70, 0.15)
    a, b = rng.dirichlet(np.ones(60)), rng.dirichlet(np.ones(70))
    M = sp.csr_array((vals, (rows, cols)), shape=(60, 70))
    r = ot_cost(M, a, b)
    assert r.converged and r.contains(ot.emd2(a, b * (a.sum() / b.sum()), M), rtol=1e-9)


def test_sparse_duplicates_are_summed_like_scipy():
    a = b = np.array([0.5, 0.5])
    dup = sp.coo_array((np.array([0.25, 0.25, 3.0, 3.0]), (np.array([0, 0, 1, 1]),
                                                           np.array([0, 0, 1, 0]))),
                       shape=(2, 2))
    r = ot_cost(dup, a, b)  # (0, 0) costs 0.5 as scipy reads it
    assert r.contains(ot_cost(dup.toarray() + np.array([[0, 1e9], [0, 0]]), a, b).value,
                      rtol=1e-12)


@pytest.mark.parametrize("M,exc,match", [
    (sp.csr_array((2, 2)), ValueError, "no stored entries"),
    (sp.csr_array(np.array([[1.0, 0.0], [0.0, 0.0]])), ValueError, "row 1"),
    (sp.csr_array(np.array([[1.0, 2.0], [0.0, 0.0]]).T), ValueError, "column 1"),
    (sp.csr_array(np.array([[-1.0, 2.0]])), ValueError, "negative"),
    (sp.csr_array(np.array([[np.inf, 2.0]])), ValueError, "infinite"),
    (sp.csr_array((0, 3)), ValueError, "2-D"),
])
def test_sparse_errors(M, exc, match):
    with pytest.raises(exc, match=match):
        ot_cost(M)


def test_disconnected_pattern_is_refused():
    """Each row has an entry and each column has one, but no coupling exists: rows {0, 1}
    only reach column 0."""
    M = sp.csr_array((np.ones(3), (np.array([0, 1, 2]), np.array([0, 0, 1]))), shape=(3, 2))
    with pytest.raises(ValueError, match="no coupling"):
        ot_cost(M, np.full(3, 1 / 3), np.array([0.5, 0.5]))
