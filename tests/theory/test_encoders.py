"""otgen.theory.encoders against independent truths: scipy HiGHS LPs, brute force over
permutations, closed forms, scipy's noncentral chi-square, Bayes' rule written out."""
from __future__ import annotations

import itertools

import mpmath
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from scipy.stats import multivariate_normal, ncx2

from otgen.testing import encoder_problems, latent_samples, lipschitz_maps, point_clouds
from otgen.theory import (conditional_mean_decoder, encoder_ot, lipschitz_constant,
                          penalized_ot, sharpness)
from otgen.theory.encoders import _noisy_cost

SETTINGS = settings(max_examples=150, deadline=None)
HIGHS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}


# --- independent truths ---------------------------------------------------------------------
def dist(x, y, p=1.0):
    return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)) ** p


def transport_lp(C, a, b):
    """min <P, C> over couplings of (a, b), by scipy HiGHS."""
    n, m = C.shape
    A = sp.vstack([sp.kron(sp.eye(n), np.ones((1, m))), sp.kron(np.ones((1, n)), sp.eye(m))])
    r = linprog(C.ravel(), A_eq=A.tocsr(), b_eq=np.r_[a, b * a.sum() / b.sum()],
                method="highs", options=HIGHS)
    assert r.status == 0, r.message
    return r.fun


def flow_lp(c1, c2, lam, a, b):
    """The min-cost flow data -> grid -> atoms, written as in penalized_ot's docstring."""
    n, K = c1.shape
    m = c2.shape[1]
    nv = n * K + K * m
    rows = [sp.hstack([sp.kron(sp.eye(n), np.ones((1, K))), sp.csr_matrix((n, K * m))]),
            sp.hstack([sp.kron(np.ones((1, n)), sp.eye(K)), -sp.kron(sp.eye(K), np.ones((1, m)))]),
            sp.hstack([sp.csr_matrix((m, n * K)), sp.kron(np.ones((1, K)), sp.eye(m))])]
    r = linprog(np.r_[c1.ravel(), lam * c2.ravel()], A_eq=sp.vstack(rows).tocsr(),
                b_eq=np.r_[a, np.zeros(K), b * a.sum() / b.sum()], bounds=(0, None),
                method="highs", options=HIGHS)
    assert r.status == 0 and r.x.shape == (nv,), r.message
    return r.fun


def merged(y, b):
    atoms, inv = np.unique(y, axis=0, return_inverse=True)
    return atoms, np.bincount(inv.ravel(), weights=b)


def close(u, v, scale):
    return abs(u - v) <= 1e-7 * (1 + scale)


# --- Theorem A --------------------------------------------------------------------------------
@SETTINGS
@given(encoder_problems(), st.sampled_from([1.0, 2.0]))
def test_theorem_a_encoder_ot_equals_ot_of_the_pushforward(problem, p):
    x, a, z, b, G = problem
    atoms, w = merged(G(z), b)
    C = dist(x, atoms, p)
    r = encoder_ot(x, z, G, a, b, p=p)
    assert close(r.value, transport_lp(C, a, w), C.max())


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5).flatmap(lambda n: st.tuples(point_clouds(n, 2), point_clouds(n, 1))),
       lipschitz_maps(1, 2))
def test_uniform_equal_sizes_brute_force_over_permutations(clouds, G):
    x, z = clouds
    n = len(x)
    C = dist(x, G(z), 2.0)
    best = min(C[np.arange(n), list(s)].mean() for s in itertools.permutations(range(n)))
    assert close(encoder_ot(x, z, G).value, best, C.max())


@SETTINGS
@given(encoder_problems(allow_zero_weights=True))
def test_plan_is_an_encoder_with_aggregate_equal_to_the_prior(problem):
    x, a, z, b, G = problem
    r = encoder_ot(x, z, G, a, b)
    C = dist(x, G(z), 2.0)
    np.testing.assert_allclose(r.plan.sum(1), a, atol=1e-12)
    np.testing.assert_allclose(r.plan.sum(0), b, atol=1e-12)
    np.testing.assert_allclose(r.encoder.sum(1), 1.0, atol=1e-12)
    np.testing.assert_allclose(a @ r.encoder, b, atol=1e-12)      # Q_Z = P_Z
    assert np.all(r.encoder >= 0)
    assert close(r.value, float(np.sum(r.plan * C)), C.max())
    assert r.lower <= r.upper and close(r.lower, r.upper, C.max())
    np.testing.assert_array_equal(r.decoded, G(z))


def test_encoder_form_with_merged_atoms_hand_example():
    # G folds z = -1 and z = 1 onto the same point: G#P_Z = {(1, 0): 2/3, (0, 0): 1/3}
    z = np.array([[-1.0], [0.0], [1.0]])
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 3.0]])
    r = encoder_ot(x, z, lambda w: np.hstack([np.abs(w), 0 * w]), p=1)
    assert r.value == pytest.approx(3.0 / 3)       # (0,3) -> (0,0) costs 3, others 0


@SETTINGS
@given(encoder_problems(), st.floats(0.01, 3.0))
def test_gaussian_decoder_p2_adds_d_s2(problem, s):
    x, a, z, b, G = problem
    atoms, w = merged(G(z), b)
    C = dist(x, atoms, 2.0)
    truth = transport_lp(C, a, w) + x.shape[1] * s * s
    assert close(encoder_ot(x, z, G, a, b, p=2, decoder_noise=s).value, truth, C.max())


@pytest.mark.parametrize("p", [0.5, 1.0, 1.5, 3.0])
@pytest.mark.parametrize("d", [1, 2, 5])
def test_noisy_cost_is_the_noncentral_chi_moment(p, d):
    # ||x - y - s xi||^2 / s^2 ~ ncx2(d, ||x - y||^2 / s^2): integrate t^(p/2) against scipy's pdf
    rng = np.random.default_rng(d)
    x, y, s = rng.standard_normal((3, d)), rng.standard_normal((2, d)), 0.7
    got = _noisy_cost(x, y, p, s)
    r2 = dist(x, y, 2.0)
    for i, j in itertools.product(range(3), range(2)):
        truth = s ** p * ncx2.expect(lambda t: t ** (p / 2), args=(d, r2[i, j] / s ** 2),
                                     epsabs=1e-13, epsrel=1e-12)
        assert got[i, j] == pytest.approx(truth, rel=1e-8)


def test_noisy_cost_folded_normal_closed_form_p1_d1():
    from scipy.stats import norm

    mu, s = np.linspace(-3, 3, 13), 0.4
    truth = (s * np.sqrt(2 / np.pi) * np.exp(-mu ** 2 / (2 * s * s))
             + mu * (1 - 2 * norm.cdf(-mu / s)))
    got = _noisy_cost(mu[:, None], np.zeros((1, 1)), 1.0, s)[:, 0]
    np.testing.assert_allclose(got, truth, rtol=1e-12)


@pytest.mark.parametrize("p", [0.5, 1.0, 3.0])
@pytest.mark.parametrize("d", [1, 64, 784])
def test_noisy_cost_tiny_noise_asymptotic_branch(p, d):
    # huge noncentrality: compare with the moment formula evaluated in 50-digit arithmetic
    mpmath.mp.dps = 50
    r, s = 2.0, 1e-7
    u = mpmath.mpf(r) ** 2 / (2 * mpmath.mpf(s) ** 2)
    truth = (mpmath.mpf(s) ** p * mpmath.mpf(2) ** (mpmath.mpf(p) / 2)
             * mpmath.gamma((d + mpmath.mpf(p)) / 2) / mpmath.gamma(mpmath.mpf(d) / 2)
             * mpmath.hyp1f1(-mpmath.mpf(p) / 2, mpmath.mpf(d) / 2, -u))
    x = np.zeros((1, d))
    x[0, 0] = r
    got = _noisy_cost(x, np.zeros((1, d)), p, s)[0, 0]
    assert np.isfinite(got) and got == pytest.approx(float(truth), rel=1e-12)


def test_decoder_noise_monte_carlo_with_the_optimal_plan():
    # the noise average of the optimal plan's cost, by simulation (p = 1: no shortcut formula)
    rng = np.random.default_rng(0)
    x, z = rng.standard_normal((6, 2)), rng.standard_normal((6, 1))
    G = lambda w: np.hstack([w, w ** 2])  # noqa: E731
    s = 0.5
    r = encoder_ot(x, z, G, p=1, decoder_noise=s)
    i, j = np.nonzero(r.plan)
    xi = rng.standard_normal((200_000, 2))
    per = [np.linalg.norm(x[ii] - G(z)[jj] - s * xi, axis=1) for ii, jj in zip(i, j)]
    mc = sum(r.plan[ii, jj] * v.mean() for ii, jj, v in zip(i, j, per))
    se = np.sqrt(sum(r.plan[ii, jj] ** 2 * v.var() for ii, jj, v in zip(i, j, per)) / len(xi))
    assert abs(r.value - mc) < 5 * se


def test_torch_inputs_and_torch_decoder():
    torch.manual_seed(0)
    x, z = torch.randn(7, 3, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    lin = torch.nn.Linear(2, 3).double()
    r = encoder_ot(x, z, lin)
    with torch.no_grad():
        y = lin(z).numpy()
    assert isinstance(r.plan, torch.Tensor)
    assert close(r.value, transport_lp(dist(x.numpy(), y, 2.0), np.full(7, 1 / 7),
                                       np.full(5, 1 / 5)), 10.0)
    assert lipschitz_constant(lin) == pytest.approx(np.linalg.svd(lin.weight.detach().numpy(),
                                                                  compute_uv=False)[0])


# --- Theorem B --------------------------------------------------------------------------------
@st.composite
def penalized_problems(draw):
    x, a, z, b, G = draw(encoder_problems())
    extra = draw(point_clouds(dim=z.shape[1], min_points=1, max_points=4, scale=3.0))
    with_atoms = draw(st.booleans())
    grid = np.vstack([z, extra]) if with_atoms else extra
    return x, a, z, b, G, grid, with_atoms


@SETTINGS
@given(penalized_problems(), st.floats(0, 10), st.sampled_from([1.0, 2.0]))
def test_penalized_ot_equals_the_min_cost_flow_lp(problem, lam, p):
    x, a, z, b, G, grid, _ = problem
    c1, c2 = dist(x, G(grid), p), dist(grid, z)
    r = penalized_ot(x, z, G, lam, a, b, latent_grid=grid, p=p)
    scale = c1.max() + lam * c2.max()
    assert close(r.value, flow_lp(c1, c2, lam, a, b), scale)
    # the returned flow is feasible and its parts add up
    np.testing.assert_allclose(r.encoder_plan.sum(1), a, atol=1e-12)
    np.testing.assert_allclose(r.latent_plan.sum(0), b, atol=1e-12)
    np.testing.assert_allclose(r.encoder_plan.sum(0), r.latent_plan.sum(1), atol=1e-12)
    np.testing.assert_allclose(r.aggregate, r.encoder_plan.sum(0), atol=1e-15)
    assert close(r.reconstruction, float(np.sum(r.encoder_plan * c1)), scale)
    assert close(r.penalty, float(np.sum(r.latent_plan * c2)), scale)
    assert close(r.value, r.reconstruction + lam * r.penalty, scale)
    # the latent plan is an optimal coupling of (Q_Z, P_Z): penalty = W_1(Q_Z, P_Z)
    keep = r.aggregate > 0
    if keep.any():
        assert close(r.penalty, transport_lp(c2[keep], r.aggregate[keep], b), c2.max())


@SETTINGS
@given(penalized_problems(), st.floats(1.0, 3.0))
def test_theorem_b_equality_above_the_lipschitz_constant(problem, factor):
    x, a, z, b, G, grid, with_atoms = problem
    atoms, w = merged(G(z), b)
    w1 = transport_lp(dist(x, atoms), a, w)
    for lam in (factor * G.constant, factor * lipschitz_constant(G, grid, z)):
        v = penalized_ot(x, z, G, lam, a, b, latent_grid=grid).value
        if with_atoms:
            assert close(v, w1, w1)
        else:   # restricted encoders: the triangle inequality still gives the lower bound
            assert v >= w1 - 1e-7 * (1 + w1)


@SETTINGS
@given(penalized_problems(), st.floats(0, 1))
def test_theorem_b_relaxation_below_the_lipschitz_constant(problem, frac):
    x, a, z, b, G, grid, with_atoms = problem
    assume(with_atoms)
    atoms, w = merged(G(z), b)
    w1 = transport_lp(dist(x, atoms), a, w)
    v = penalized_ot(x, z, G, frac * G.constant, a, b, latent_grid=grid).value
    assert v <= w1 + 1e-7 * (1 + w1)


@SETTINGS
@given(penalized_problems())
def test_lam_zero_is_nearest_decoded_grid_point(problem):
    x, a, z, b, G, grid, _ = problem
    C = dist(x, G(grid))
    assert close(penalized_ot(x, z, G, 0.0, a, b, latent_grid=grid).value,
                 float(a @ C.min(1)), C.max())


@pytest.mark.parametrize("lam", [0.0, 1.0, 4.0, 9.9, 10.0, 25.0])
def test_theorem_b_strictly_smaller_below_lip_closed_form(lam):
    # x = {0, 0}, z = {0, 1}, G(z) = 10 z: Lip = 10, W_1 = 5.  Sending the latent mass of z = 1
    # to u = 0 costs lam / 2, so the penalized value is min(5, lam / 2).
    x, z = np.zeros((2, 1)), np.array([[0.0], [1.0]])
    r = penalized_ot(x, z, lambda w: 10 * w, lam)
    assert r.value == pytest.approx(min(5.0, lam / 2), abs=1e-12)
    assert lipschitz_constant(lambda w: 10 * w, z) == pytest.approx(10.0)


def test_grid_without_the_prior_atoms_can_exceed_w1():
    # W_1 = 0 (G = identity, x = z), but the only grid point 0.5 costs 0.5 + lam * 0.5
    z = np.array([[0.0], [1.0]])
    r = penalized_ot(z, z, lambda w: w, 2.0, latent_grid=[[0.5]])
    assert r.value == pytest.approx(0.5 + 2.0 * 0.5)
    np.testing.assert_allclose(r.latent_grid, [[0.5]])


# --- Lipschitz constants ----------------------------------------------------------------------
@SETTINGS
@given(lipschitz_maps(2, 3), point_clouds(dim=2, min_points=2), point_clouds(dim=2))
def test_lipschitz_constant_pairwise_is_brute_force_and_below_the_known_constant(G, z, w):
    gz, gw = G(z), G(w)
    brute = max((np.linalg.norm(gz[i] - gz[j]) / np.linalg.norm(z[i] - z[j])
                 for i in range(len(z)) for j in range(len(z))
                 if np.linalg.norm(z[i] - z[j]) > 0), default=0.0)
    cross = max((np.linalg.norm(gz[i] - gw[j]) / np.linalg.norm(z[i] - w[j])
                 for i in range(len(z)) for j in range(len(w))
                 if np.linalg.norm(z[i] - w[j]) > 0), default=0.0)
    assert lipschitz_constant(G, z) == pytest.approx(brute, rel=1e-9, abs=1e-300)
    assert lipschitz_constant(G, z, w) == pytest.approx(cross, rel=1e-9, abs=1e-300)
    # outputs carry rounding ~ ulp(|G|), magnified by 1 / (distance of the closest pair)
    d = dist(z, z)
    slack = 1e-13 * (1 + np.abs(gz).max()) / d[d > 0].min(initial=np.inf)
    assert lipschitz_constant(G, z) <= G.constant * (1 + 1e-9) + slack


@SETTINGS
@given(lipschitz_maps(3, 2, kinds=("linear",)), point_clouds(dim=3, min_points=1))
def test_lipschitz_constant_exact_for_linear_maps(G, z):
    assert lipschitz_constant(G.matrix) == pytest.approx(G.constant, rel=1e-9)
    assert lipschitz_constant(G, z, linear=True) == pytest.approx(G.constant, rel=1e-6)


def test_lipschitz_constant_hand_values():
    A = np.array([[3.0, 0.0], [0.0, -4.0]])
    assert lipschitz_constant(A) == pytest.approx(4.0)
    assert lipschitz_constant(lambda z: z @ A.T + 7, np.eye(2), linear=True) == pytest.approx(4.0)
    assert lipschitz_constant(np.abs, np.array([[-1.0], [2.0]])) == pytest.approx(1 / 3)
    assert lipschitz_constant(np.abs, np.array([[5.0], [5.0]])) == 0.0


# --- conditional-mean decoder and sharpness ---------------------------------------------------
def test_conditional_mean_is_bayes_rule():
    rng = np.random.default_rng(1)
    x, mu = rng.random((6, 5)), rng.standard_normal((6, 2))
    sd, a = rng.uniform(0.3, 1.0, (6, 2)), rng.random(6) + 0.1
    a /= a.sum()
    z = rng.standard_normal((4, 2))
    dens = np.array([[a[i] * multivariate_normal(mu[i], np.diag(sd[i] ** 2)).pdf(zz)
                      for i in range(6)] for zz in z])
    truth = (dens / dens.sum(1, keepdims=True)) @ x
    np.testing.assert_allclose(conditional_mean_decoder(x, mu, sd, a)(z), truth, rtol=1e-10)


def test_conditional_mean_minimizes_expected_squared_loss():
    rng = np.random.default_rng(2)
    x, mu = rng.random((8, 4)), rng.standard_normal((8, 1))
    dec = conditional_mean_decoder(x, mu, 0.7)
    z = rng.standard_normal((3, 1))
    w = dec.posterior(z)
    loss = lambda y: np.einsum("ji,jid->j", w, (x[None] - y[:, None]) ** 2)  # noqa: E731
    best = loss(dec(z))
    for _ in range(20):
        assert np.all(loss(dec(z) + 0.01 * rng.standard_normal((3, 4))) > best)


def test_conditional_mean_limits():
    rng = np.random.default_rng(3)
    x, mu = rng.random((5, 9)), np.arange(5.0)[:, None] * 10
    np.testing.assert_allclose(conditional_mean_decoder(x, mu, 0.01)(mu), x, atol=1e-12)
    same = conditional_mean_decoder(x, np.zeros((5, 1)), 1.0, a=[0.1, 0.2, 0.3, 0.2, 0.2])
    np.testing.assert_allclose(same(rng.standard_normal((3, 1))),
                               np.tile([0.1, 0.2, 0.3, 0.2, 0.2] @ x, (3, 1)), atol=1e-12)


def test_sharpness_against_scipy_laplace():
    from scipy.ndimage import laplace

    rng = np.random.default_rng(4)
    imgs = rng.random((3, 7, 9))
    truth = [laplace(im)[1:-1, 1:-1].var() for im in imgs]
    np.testing.assert_allclose(sharpness(imgs), truth, rtol=1e-12)
    np.testing.assert_allclose(sharpness(imgs.reshape(3, -1), shape=(7, 9)), truth, rtol=1e-12)
    assert sharpness(imgs[0]) == pytest.approx(truth[0], rel=1e-12)


def test_sharpness_hand_values():
    assert sharpness(np.full((5, 5), 3.0)) == 0.0
    assert sharpness(np.indices((6, 4)).sum(0) * 2.0) == 0.0   # linear ramp: zero Laplacian
    checker = (-1.0) ** np.indices((6, 6)).sum(0)             # Laplacian = -8 c on the interior
    assert sharpness(checker) == pytest.approx(64.0)
    assert sharpness(0.5 * checker) == pytest.approx(16.0)    # quadratic in contrast


# --- bad input --------------------------------------------------------------------------------
X, Z = np.zeros((3, 2)), np.zeros((4, 1))
OK = lambda z: np.hstack([z, z])  # noqa: E731


@pytest.mark.parametrize("G, match", [
    (lambda z: np.zeros((3, 2)), r"G must map .* got shape \(3, 2\)"),
    (lambda z: np.zeros((4, 3)), r"G must map .* got shape \(4, 3\)"),
    (lambda z: np.zeros(4), r"G must map .* got shape \(4,\)"),
    (lambda z: np.full((4, 2), np.nan), r"G\(z\) contains .*NaN"),
    (lambda z: None, r"G must map"),
])
def test_bad_decoder_output(G, match):
    with pytest.raises(ValueError, match=match):
        encoder_ot(X, Z, G)
    with pytest.raises(ValueError, match=match):
        penalized_ot(X, Z, G, 1.0)


def test_bad_arguments_name_themselves():
    with pytest.raises(TypeError, match="G must be a callable"):
        encoder_ot(X, Z, "not a function")
    with pytest.raises(ValueError, match="lam must be >= 0"):
        penalized_ot(X, Z, OK, -1.0)
    with pytest.raises(ValueError, match="lam must be >= 0"):
        penalized_ot(X, Z, OK, float("nan"))
    with pytest.raises(ValueError, match="latent_grid has dimension 2 but the latent atoms z"):
        penalized_ot(X, Z, OK, 1.0, latent_grid=np.zeros((5, 2)))
    with pytest.raises(ValueError, match="latent_grid contains"):
        penalized_ot(X, Z, OK, 1.0, latent_grid=[[np.inf]])
    with pytest.raises(ValueError, match="decoder_noise must be >= 0"):
        encoder_ot(X, Z, OK, decoder_noise=-0.1)
    with pytest.raises(ValueError, match="p must be > 0"):
        encoder_ot(X, Z, OK, p=0)
    with pytest.raises(ValueError, match="same total mass"):
        encoder_ot(X, Z, OK, a=[1, 1, 1], b=[1, 1, 1, 1])
    with pytest.raises(ValueError, match="b has 2 weights"):
        encoder_ot(X, Z, OK, b=[0.5, 0.5])
    with pytest.raises(ValueError, match="z is required"):
        lipschitz_constant(OK)
    with pytest.raises(ValueError, match="not affine"):
        lipschitz_constant(np.abs, np.array([[-1.0], [2.0]]), linear=True)
    with pytest.raises(ValueError, match="different values at equal latent points"):
        rng = np.random.default_rng(0)
        lipschitz_constant(lambda z: z + rng.random(z.shape), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="other has dimension"):
        lipschitz_constant(OK, Z, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="means has 2 rows but x has 3"):
        conditional_mean_decoder(X, np.zeros((2, 1)), 1.0)
    with pytest.raises(ValueError, match="stds must be finite and > 0"):
        conditional_mean_decoder(X, np.zeros((3, 1)), 0.0)
    with pytest.raises(ValueError, match="stds must be a scalar"):
        conditional_mean_decoder(X, np.zeros((3, 1)), np.ones(5))
    with pytest.raises(ValueError, match="at least 3x3"):
        sharpness(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="shape=.* needs images flattened to 64"):
        sharpness(np.zeros((3, 60)), shape=(8, 8))
    with pytest.raises(ValueError, match="NaN"):
        sharpness(np.full((4, 4), np.nan))


@given(latent_samples(dim=1))
@settings(max_examples=20, deadline=None)
def test_decoder_called_with_validated_float_array(prior):
    z, b = prior
    seen = []
    encoder_ot(np.zeros((2, 1)), z.astype(np.float32), lambda w: (seen.append(w.dtype), w)[1],
               b=b)
    assert seen == [np.float32]   # float32 latents stay float32 for the user's G
