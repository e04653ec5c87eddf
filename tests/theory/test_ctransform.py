"""The one c-transform module: the certified dual bound from any potential, against linprog."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.optimize import linprog
from scipy.spatial.distance import cdist

from otgen.theory.ctransform import c_transform_knn, lower_bound_from_potential


def _lp(x, y, a, b, p):
    """(OT value, row potential f) of the LP, by scipy's HiGHS (an independent solver)."""
    C = cdist(x, y) ** p
    n, m = C.shape
    A = np.zeros((n + m, n * m))
    for i in range(n):
        A[i, i * m:(i + 1) * m] = 1
    for j in range(m):
        A[n + j, j::m] = 1
    res = linprog(C.ravel(), A_eq=A, b_eq=np.concatenate([a, b]), method="highs")
    return res.fun, res.eqlin.marginals[:n]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 7), m=st.integers(1, 7), p=st.sampled_from([1.0, 2.0, 3.0]),
       seed=st.integers(0, 10**6), log_scale=st.sampled_from([-90, -6, 0, 6, 90]))
def test_any_potential_gives_a_valid_bound_and_the_optimal_one_is_tight(n, m, p, seed,
                                                                         log_scale):
    rng = np.random.default_rng(seed)
    s = 10.0 ** log_scale
    x, y = rng.normal(size=(n, 2)) * s, (rng.normal(size=(m, 2)) + 3) * s
    a, b = rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(m))
    ot, f_opt = _lp(x / s, y / s, a, b, p)  # the LP in unit scale, then scaled exactly
    ot *= s ** p
    assert np.isfinite(ot) and ot > 0
    f_rand = rng.normal(size=n) * s ** p
    assert lower_bound_from_potential(f_rand, x, y, a, b, p) <= ot * (1 + 1e-12)
    tight = lower_bound_from_potential(f_opt * s ** p, x, y, a, b, p)
    assert tight <= ot * (1 + 1e-12)
    assert tight >= ot * (1 - 1e-6) - 1e-9 * s ** p


def test_kantorovich_rubinstein_for_a_1_lipschitz_potential():
    """For p = 1 and a 1-Lipschitz f, f^c = -f on the support, so the bound is
    E_a f(x) - E_b f(y) (here f(u) = u_0, the first coordinate)."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(9, 3)), rng.normal(size=(11, 3)) + 1
    bound = lower_bound_from_potential(x[:, 0], x, y, p=1.0)
    assert bound >= x[:, 0].mean() - y[:, 0].mean() - 1e-12


@pytest.mark.parametrize("p", [1.0, 2.0])
def test_c_transform_knn_first_column_is_the_c_transform(p):
    rng = np.random.default_rng(4)
    x, y, g = rng.normal(size=(20, 2)), rng.normal(size=(15, 2)), rng.normal(size=15)
    vals, _ = c_transform_knn(x, y, g, p)
    np.testing.assert_allclose(vals[:, 0], (cdist(x, y) ** p - g).min(1), rtol=1e-12,
                               atol=1e-12)
