"""OTResult.sparse_plan: the coupling behind the upper bound, at any size (independent truths:
the marginals, linear_sum_assignment / linprog optimal costs)."""
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment, linprog
from scipy.spatial.distance import cdist

from otgen.theory import SparseCoupling, wasserstein


def _check_marginals(sp: SparseCoupling, a, b):
    np.testing.assert_allclose(np.bincount(sp.rows, sp.mass, sp.shape[0]), a, atol=1e-15)
    np.testing.assert_allclose(np.bincount(sp.cols, sp.mass, sp.shape[1]), b, atol=1e-15)
    assert (sp.mass > 0).all()


@pytest.mark.parametrize("method", ["exact", "sparse"])
def test_sparse_plan_beyond_the_dense_size_is_an_optimal_assignment(method):
    """n = m = 2,100 (past the dense-plan size): plan is None, the sparse plan is a
    permutation whose cost is the assignment optimum (exact) or within tol of it (sparse)."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(2100, 2)), rng.normal(size=(2100, 2)) + 0.5
    r = wasserstein(x, y, p=2, method=method, tol=None if method == "exact" else 0.01)
    sp = r.sparse_plan
    assert r.plan is None and isinstance(sp, SparseCoupling) and sp.shape == (2100, 2100)
    _check_marginals(sp, np.full(2100, 1 / 2100), np.full(2100, 1 / 2100))
    C = cdist(x, y, "sqeuclidean")
    cost = float((sp.mass * C[sp.rows, sp.cols]).sum())
    ri, ci = linear_sum_assignment(C)
    best = C[ri, ci].mean()
    assert best * (1 - 1e-12) <= cost <= r.upper * (1 + 1e-12)
    if method == "exact":
        assert cost == pytest.approx(best, rel=1e-12)


def test_sparse_plan_with_weights_matches_linprog_and_its_views():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(5, 3))
    a, b = rng.random(7), rng.random(5)
    a, b = a / a.sum(), b / b.sum()
    r = wasserstein(x, y, a, b, p=1, method="exact")
    sp = r.sparse_plan
    _check_marginals(sp, a, b)
    C = cdist(x, y)
    A_eq = np.vstack([np.kron(np.eye(7), np.ones(5)), np.kron(np.ones(7), np.eye(5))])
    lp = linprog(C.ravel(), A_eq=A_eq, b_eq=np.concatenate([a, b]), bounds=(0, None))
    assert float((sp.mass * C[sp.rows, sp.cols]).sum()) == pytest.approx(lp.fun, rel=1e-9)
    np.testing.assert_array_equal(sp.to_dense(), r.plan)
    np.testing.assert_array_equal(sp.to_scipy().toarray(), r.plan)
    assert "nnz=" in repr(sp) and len(sp) == sp.mass.size


def test_entropic_and_closed_form_results_have_no_sparse_plan():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    assert wasserstein(x, y, method="gaussian").sparse_plan is None
    assert wasserstein(x, y, method="sinkhorn", tol=0.05).sparse_plan is None
