r"""The VEGAN-cookbook theorems as checks: exact LPs against independent truths.

Each check draws random instances (synthetic point clouds and sklearn's bundled digits), computes
both sides of a claim by *different* routes -- an encoder LP against a transport LP between
merged atoms, a min-cost flow against scipy's HiGHS dual, a Monte-Carlo estimate against
quadrature, torch's BCE against scipy's Jensen-Shannon -- and reports the worst error.  The
claims are numbered as in ``docs/theorems.md``.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.integrate import quad
from scipy.optimize import linprog
from scipy.spatial.distance import jensenshannon
from scipy.special import ndtr
from scipy.stats import entropy

from ..theory import (conditional_mean_decoder, encoder_ot, gaussian_w2, lipschitz_constant,
                      penalized_ot, sharpness, vae_kl_decomposition, wasserstein)
from .._validate import mass_matched
from ..theory.costs import cost_matrix
from .core import make_check, register

#: relative tolerance for equalities between two exact LP solutions
LP_RTOL = 1e-9


# --- instances ------------------------------------------------------------------------------
def _digits(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """n digit images (64 pixels in [0, 1]) and their labels, from sklearn's bundled set."""
    from sklearn.datasets import load_digits

    X, t = load_digits(return_X_y=True)
    idx = rng.choice(len(X), n, replace=False)
    return X[idx] / 16.0, t[idx]


def _weights(rng, n, uniform):
    w = np.full(n, 1.0 / n) if uniform else rng.random(n) + 0.05
    return w / w.sum()


def _latent(rng, m, dz, lattice):
    """Prior atoms; on a coarse lattice (with repeats) so non-injective decoders merge atoms."""
    if lattice:
        return rng.integers(-3, 4, (m, dz)).astype(np.float64) * 0.5
    return rng.standard_normal((m, dz))


def random_decoder(rng, dz, dx, kind):
    """A decoder of a given kind and, for linear ones, its exact global Lipschitz constant."""
    c = rng.standard_normal(dx)
    if kind == "linear":
        A = rng.standard_normal((dx, dz)) * rng.uniform(0.3, 3)
        return (lambda z: z @ A.T + c), float(np.linalg.norm(A, 2))
    if kind == "fold":  # |u.z - t| v: two latent points map to one output
        u, v = rng.standard_normal(dz), rng.standard_normal(dx)
        u /= np.linalg.norm(u)
        return (lambda z: np.abs(z @ u - 0.5)[:, None] * v + c), float(np.linalg.norm(v))
    if kind == "quantized":  # piecewise constant: many atoms merge
        A = rng.standard_normal((dx, dz))
        return (lambda z: np.floor(2 * z) / 2 @ A.T + c), None
    W1, b1 = rng.standard_normal((8, dz)), rng.standard_normal(8)
    W2 = rng.standard_normal((dx, 8)) / 2
    return (lambda z: np.tanh(z @ W1.T + b1) @ W2.T + c), None


def pushforward(y: np.ndarray, b: np.ndarray):
    """G#P_Z as a measure: atoms G(z_j) with equal coordinates merged, their weights summed."""
    atoms, inv = np.unique(y, axis=0, return_inverse=True)
    return atoms, np.bincount(inv.ravel(), weights=b, minlength=len(atoms))


def _instances(rng, count, kinds=("linear", "fold", "quantized", "mlp")):
    for k in range(count):
        n, m = int(rng.integers(2, 25)), int(rng.integers(2, 25))
        dx, dz = int(rng.integers(1, 5)), int(rng.integers(1, 3))
        x = rng.standard_normal((n, dx)) * rng.uniform(0.5, 3)
        a, b = _weights(rng, n, k % 2 == 0), _weights(rng, m, k % 3 == 0)
        z = _latent(rng, m, dz, lattice=k % 2 == 1)
        G, L = random_decoder(rng, dz, dx, kinds[k % len(kinds)])
        yield x, a, z, b, G, L


def digits_instance(rng, n=40, m=30):
    """Digit images, 2-D latent atoms, a linear decoder along the top principal directions.

    The decoder is ``mean + scale * z @ V[:2]`` with orthonormal rows V, so its global
    Lipschitz constant is exactly ``scale``.
    """
    x, _ = _digits(n, rng)
    mean = x.mean(0)
    V = np.linalg.svd(x - mean, full_matrices=False)[2][:2]
    scale = float(rng.uniform(0.5, 2.0))
    z = rng.standard_normal((m, 2))
    return x, np.full(n, 1 / n), z, np.full(m, 1 / m), (lambda w: mean + scale * w @ V), scale


# --- 1. Theorem A, deterministic decoder ------------------------------------------------------
@register("1. Thm A: encoder_ot == W_c(P_X, G#P_Z) (deterministic G)")
def check_theorem_a(seed=0):
    rng = np.random.default_rng(seed + 100)
    errs = []
    cases = list(_instances(rng, 16))
    x, a, z, b, G, _ = digits_instance(rng)
    cases.append((x, a, z, b, G, None))
    for k, (x, a, z, b, G, _) in enumerate(cases):
        p = [1.0, 2.0, 1.5, 3.0][k % 4]
        atoms, w = pushforward(G(z), b)
        truth = wasserstein(x, atoms, a, w, p=p, method="exact").value
        errs.append(abs(encoder_ot(x, z, G, a, b, p=p).value - truth) / max(truth, 1e-12))
    return make_check("1. Thm A: encoder_ot == W_c(P_X, G#P_Z) (deterministic G)", errs, LP_RTOL)


NAME_1B = "1b. Thm A for any cost c: encoder_ot(cost=c) == W_c(P_X, G#P_Z) (cityblock, cosine, L3)"


@register(NAME_1B)
def check_theorem_a_any_cost(seed=0):
    """Theorem A holds for every cost c; the truth is POT's network simplex on scipy's cost
    matrix between the data and the pushed-forward atoms (independent of otgen's solver)."""
    import ot
    from scipy.spatial.distance import cdist

    from ..theory import Minkowski

    rng = np.random.default_rng(seed + 150)
    errs = []
    costs = [("cityblock", lambda u, v: cdist(u, v, "cityblock")),
             ("cosine", lambda u, v: cdist(u, v, "cosine")),
             (Minkowski(3.0), lambda u, v: cdist(u, v, "minkowski", p=3.0))]
    for k, (x, a, z, b, G, _) in enumerate(_instances(rng, 9)):
        cost, matrix = costs[k % 3]
        atoms, w = pushforward(G(z), b)
        truth = float(ot.emd2(a, mass_matched(w, a), matrix(x, atoms)))
        errs.append(abs(encoder_ot(x, z, G, a, b, cost=cost).value - truth) / max(truth, 1e-12))
    return make_check(NAME_1B, errs, LP_RTOL)


# --- 2. Theorem A, random decoders ------------------------------------------------------------
def _w1_to_mixture_1d(x, a, mu, b, s):
    r"""Population :math:`W_1` between :math:`\sum a_i \delta_{x_i}` and
    :math:`\sum b_j N(\mu_j, s^2)` in 1-D: :math:`\int |F_X - F_G|` by adaptive quadrature."""
    lo, hi = min(x.min(), mu.min()) - 12 * s, max(x.max(), mu.max()) + 12 * s
    order = np.argsort(x)
    xs, cum = x[order], np.cumsum(a[order])

    def gap(t):
        fx = cum[np.searchsorted(xs, t, side="right") - 1] if t >= xs[0] else 0.0
        return abs(fx - float(b @ ndtr((t - mu) / s)))

    pts = np.unique(np.concatenate([x, mu]))
    return quad(gap, lo, hi, points=pts, limit=500, epsabs=1e-13, epsrel=1e-11)[0]


@register("2a. Thm A: W_c(P_X, P_G) <= encoder form (random decoder, population)")
def check_random_decoder_bound(seed=0):
    rng = np.random.default_rng(seed + 200)
    errs, gaps = [], []
    for _ in range(12):  # Gaussian P_X, P_Z = N(0, I), linear G: every term closed form (p = 2)
        dx = int(rng.integers(1, 6))
        dz = int(rng.integers(1, dx + 1))
        M = rng.standard_normal((dx, dx))
        m1, S1 = rng.standard_normal(dx), M @ M.T + 0.1 * np.eye(dx)
        A, c, s = rng.standard_normal((dx, dz)), rng.standard_normal(dx), rng.uniform(0.05, 2)
        w_pg = gaussian_w2(m1, S1, c, A @ A.T + s * s * np.eye(dx))
        encoder_form = gaussian_w2(m1, S1, c, A @ A.T) + dx * s * s
        errs.append(max(w_pg - encoder_form, 0.0) / encoder_form)
        gaps.append(encoder_form - w_pg)
    for _ in range(8):  # discrete P_X and P_Z, Gaussian-mixture P_G in 1-D, p = 1
        n, m = int(rng.integers(2, 12)), int(rng.integers(2, 12))
        x, z = rng.standard_normal((n, 1)) * 2, rng.standard_normal((m, 1))
        a, b = _weights(rng, n, False), _weights(rng, m, False)
        G, _ = random_decoder(rng, 1, 1, "mlp")
        s = rng.uniform(0.05, 1.5)
        w_pg = _w1_to_mixture_1d(x[:, 0], a, G(z)[:, 0], b, s)
        encoder_form = encoder_ot(x, z, G, a, b, p=1, decoder_noise=s).value
        errs.append(max(w_pg - encoder_form, 0.0) / encoder_form)
        gaps.append(encoder_form - w_pg)
    return make_check("2a. Thm A: W_c(P_X, P_G) <= encoder form (random decoder, population)",
                      errs, 1e-9, detail=f"min slack {min(gaps):.3g}")


@register("2b. Thm A: Gaussian decoder encoder form == W_2^2(P_X, G#P_Z) + d s^2")
def check_gaussian_decoder(seed=0):
    rng = np.random.default_rng(seed + 300)
    errs = []
    for x, a, z, b, G, _ in _instances(rng, 12):
        s = float(rng.uniform(0.01, 2))
        atoms, w = pushforward(G(z), b)
        truth = wasserstein(x, atoms, a, w, p=2, method="exact").value + x.shape[1] * s * s
        errs.append(abs(encoder_ot(x, z, G, a, b, p=2, decoder_noise=s).value - truth) / truth)
    return make_check("2b. Thm A: Gaussian decoder encoder form == W_2^2(P_X, G#P_Z) + d s^2",
                      errs, LP_RTOL)


# --- 3. Theorem B -----------------------------------------------------------------------------
def theorem_b_instance(rng, k):
    """Data, prior atoms, a latent grid containing the atoms, a decoder and Lip constants.

    Returns ``(x, a, z, b, grid, G, lip)`` where ``lip`` is G's Lipschitz constant on the
    finite set grid U z (what Theorem B's lambda is compared with).
    """
    if k == 0:
        x, a, z, b, G, _ = digits_instance(rng, n=30, m=20)
    else:
        x, a, z, b, G, _ = next(_instances(rng, 1, kinds=(["linear", "fold", "quantized",
                                                            "mlp"][k % 4],)))
    extra = rng.standard_normal((int(rng.integers(0, 15)), z.shape[1])) * 1.5
    grid = np.vstack([z, extra])
    return x, a, z, b, grid, G, lipschitz_constant(G, grid)


def _kantorovich_dual(x, y, a, b):
    r""":math:`\sup_{\mathrm{Lip}(f) \le 1} \sum a_i f(x_i) - \sum b_j f(y_j)`, an LP over the
    values of f on the union of supports (constraints on *all* pairs; any such f extends to a
    1-Lipschitz function on the whole space, McShane 1934), solved by scipy's HiGHS."""
    w = np.vstack([x, y])
    N = len(w)
    D = np.sqrt(cost_matrix(w, w, 2.0))
    iu, ju = np.nonzero(~np.eye(N, dtype=bool))
    rows = np.arange(len(iu))
    A = sp.csr_matrix((np.r_[np.ones(len(iu)), -np.ones(len(iu))],
                       (np.r_[rows, rows], np.r_[iu, ju])), shape=(len(iu), N))
    obj = -np.r_[a, -b]
    bounds = [(0, 0)] + [(None, None)] * (N - 1)  # f is defined up to a constant
    res = linprog(obj, A_ub=A, b_ub=D[iu, ju], bounds=bounds, method="highs",
                  options={"primal_feasibility_tolerance": 1e-10,
                           "dual_feasibility_tolerance": 1e-10})
    if res.status != 0:
        raise RuntimeError(f"HiGHS failed on the Kantorovich dual: {res.message}")
    return -float(res.fun)


@register("3a. Thm B: penalized_ot(lam) == W_1(P_X, G#P_Z) for lam >= Lip(G)")
def check_theorem_b_equal(seed=0):
    rng = np.random.default_rng(seed + 400)
    errs = []
    for k in range(10):
        x, a, z, b, grid, G, lip = theorem_b_instance(rng, k)
        atoms, w = pushforward(G(z), b)
        w1 = wasserstein(x, atoms, a, w, p=1, method="exact").value
        sharp = lipschitz_constant(G, grid, z)  # cross pairs (grid, atoms): the sharp constant
        for lam in (sharp, lip, 1.5 * lip, 4 * lip):
            v = penalized_ot(x, z, G, lam, a, b, latent_grid=grid).value
            errs.append(abs(v - w1) / w1)
    return make_check("3a. Thm B: penalized_ot(lam) == W_1(P_X, G#P_Z) for lam >= Lip(G)",
                      errs, LP_RTOL)


@register("3b. Thm B: penalized_ot(lam) <= W_1 for lam < Lip(G), strictly for some")
def check_theorem_b_relaxation(seed=0):
    rng = np.random.default_rng(seed + 500)
    errs, strict = [], 0
    for k in range(10):
        x, a, z, b, grid, G, lip = theorem_b_instance(rng, k)
        atoms, w = pushforward(G(z), b)
        w1 = wasserstein(x, atoms, a, w, p=1, method="exact").value
        for frac in (0.0, 0.25, 0.5, 0.9):
            v = penalized_ot(x, z, G, frac * lip, a, b, latent_grid=grid).value
            errs.append(max(v - w1, 0.0) / w1)
            strict += (w1 - v) > 1e-6 * w1
    chk = make_check("3b. Thm B: penalized_ot(lam) <= W_1 for lam < Lip(G), strictly for some",
                     errs, LP_RTOL, detail=f"strictly smaller in {strict}/{len(errs)}")
    chk.passed = chk.passed and strict > 0
    return chk


@register("3c. Thm B: W_1 == sup_{Lip(f)<=1} E f(X) - E f(G(Z)) (HiGHS dual LP)")
def check_theorem_b_dual(seed=0):
    rng = np.random.default_rng(seed + 600)
    errs = []
    for k in range(8):
        x, a, z, b, grid, G, lip = theorem_b_instance(rng, k)
        atoms, w = pushforward(G(z), b)
        dual = _kantorovich_dual(x, atoms, a, w)
        v = penalized_ot(x, z, G, lip, a, b, latent_grid=grid).value
        errs.append(abs(v - dual) / dual)
    return make_check("3c. Thm B: W_1 == sup_{Lip(f)<=1} E f(X) - E f(G(Z)) (HiGHS dual LP)",
                      errs, 1e-8)


# --- 4. the POT objective ---------------------------------------------------------------------
def _random_coupling(rng, a, b):
    """An exact coupling of (a, b): north-west corner rule in a random order of the atoms."""
    pi, pj = rng.permutation(len(a)), rng.permutation(len(b))
    P = np.zeros((len(a), len(b)))
    ra, rb, i, j = a[pi].copy(), b[pj].copy(), 0, 0
    while i < len(a) and j < len(b):
        t = min(ra[i], rb[j])
        P[pi[i], pj[j]] += t
        ra[i] -= t
        rb[j] -= t
        if ra[i] <= rb[j]:
            i += 1
        else:
            j += 1
    return P


@register("4a. POT: E c(X, G(Z)) >= W_c(P_X, G#P_Z) for all Q with Q_Z = P_Z; = at optimum")
def check_pot_reconstruction(seed=0):
    rng = np.random.default_rng(seed + 700)
    errs = []
    for k, (x, a, z, b, G, _) in enumerate(_instances(rng, 10)):
        p = [1.0, 2.0][k % 2]
        b = mass_matched(b, a)
        C = cost_matrix(x, G(z), p)
        atoms, w = pushforward(G(z), b)
        W = wasserstein(x, atoms, a, w, p=p, method="exact").value
        encoders = [np.outer(a, b)] + [_random_coupling(rng, a, b) for _ in range(10)]
        encoders += [0.5 * (encoders[1] + encoders[2])]
        for P in encoders:
            errs.append(max(W - float(np.sum(P * C)), 0.0) / W)
        opt = encoder_ot(x, z, G, a, b, p=p).plan
        errs.append(abs(float(np.sum(opt * C)) - W) / W)            # equality at the optimum
        errs.append(float(np.abs(opt.sum(0) - b).sum() + np.abs(opt.sum(1) - a).sum()))
    return make_check("4a. POT: E c(X, G(Z)) >= W_c(P_X, G#P_Z) for all Q with Q_Z = P_Z; "
                      "= at optimum", errs, LP_RTOL)


def aae_loss(x, a, Q, decoded, prior, disc, lam):
    r"""Adversarial auto-encoder loss (Makhzani et al. 2016) on discrete measures, in torch.

    Reconstruction :math:`\mathbb{E}\|X - G(Z)\|^2` plus ``lam`` times the discriminator's
    log-likelihood :math:`\mathbb{E}_{P_Z}\log D(Z) + \mathbb{E}_{Q_Z}\log(1 - D(Z))`, written as
    the negative binary cross-entropies a training loop uses (labels 1 = prior, 0 = encoder).
    """
    import torch
    import torch.nn.functional as F

    t = lambda v: torch.as_tensor(np.asarray(v), dtype=torch.float64)  # noqa: E731
    X, Y, Qt = t(x), t(decoded), t(Q)
    sq = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    recon = (t(a)[:, None] * Qt * sq).sum()
    qz, D = t(a) @ Qt, t(disc)
    adv = -(F.binary_cross_entropy(D, torch.ones_like(D), weight=t(prior), reduction="sum")
            + F.binary_cross_entropy(D, torch.zeros_like(D), weight=qz, reduction="sum"))
    return float(recon + lam * adv)


def pot_objective_js(x, a, Q, decoded, prior, lam):
    r"""POT objective with squared cost and the adversarial (JS) penalty, in numpy/scipy:
    :math:`\mathbb{E}\|X - G(Z)\|^2 + \lambda\,(2\,\mathrm{JS}(Q_Z, P_Z) - \log 4)`."""
    recon = float(np.sum(a[:, None] * Q * cost_matrix(x, decoded, 2.0)))
    js = jensenshannon(a @ Q, prior) ** 2  # scipy returns the JS *distance* (natural log)
    return recon + lam * (2 * js - np.log(4))


@register("4b. AAE loss (optimal discriminator) == POT objective (squared cost, JS penalty)")
def check_aae_is_pot(seed=0):
    rng = np.random.default_rng(seed + 800)
    errs = []
    for _ in range(12):
        n, K, d = int(rng.integers(2, 10)), int(rng.integers(2, 9)), int(rng.integers(1, 4))
        x, a = rng.standard_normal((n, d)), _weights(rng, n, False)
        Q = rng.random((n, K)) ** 3
        Q /= Q.sum(1, keepdims=True)
        decoded, prior = rng.standard_normal((K, d)), _weights(rng, K, False)
        lam = rng.uniform(0.1, 5)
        qz = a @ Q
        d_star = prior / (prior + qz)  # Goodfellow et al. (2014), Prop. 1
        pot = pot_objective_js(x, a, Q, decoded, prior, lam)
        errs.append(abs(aae_loss(x, a, Q, decoded, prior, d_star, lam) - pot) / abs(pot))
        for _ in range(5):  # D* maximizes the discriminator's objective
            other = aae_loss(x, a, Q, decoded, prior, rng.uniform(0.01, 0.99, K), lam)
            errs.append(max(other - pot, 0.0) / abs(pot))
    return make_check("4b. AAE loss (optimal discriminator) == POT objective (squared cost, JS "
                      "penalty)", errs, 1e-12)


# --- 5. the VAE identity ----------------------------------------------------------------------
@register("5a. VAE: E_X KL(Q(Z|X)||P_Z) == KL(Q_Z||P_Z) + I(X;Z) (discrete, exact)")
def check_vae_identity(seed=0):
    rng = np.random.default_rng(seed + 900)
    errs = []
    cases = []
    for _ in range(15):
        n, K = int(rng.integers(1, 12)), int(rng.integers(1, 10))
        Q = rng.random((n, K)) ** 4 * (rng.random((n, K)) < 0.7)
        Q[np.arange(n), rng.integers(0, K, n)] += 0.1  # every row has mass
        cases.append((Q / Q.sum(1, keepdims=True), _weights(rng, K, False),
                      _weights(rng, n, False)))
    x, t = _digits(200, rng)  # real data: soft assignment of digits to the 10 class means
    cent = np.vstack([x[t == c].mean(0) for c in range(10)])
    logits = -cost_matrix(x, cent, 2.0) / 4.0
    Q = np.exp(logits - logits.max(1, keepdims=True))
    cases.append((Q / Q.sum(1, keepdims=True), np.full(10, 0.1), np.full(200, 1 / 200)))
    for Q, prior, ax in cases:
        r = vae_kl_decomposition(probs=Q, prior=prior, a=ax)
        qz = ax @ Q  # independent truths: scipy entropies, I = H(X) + H(Z) - H(X, Z)
        expected = sum(ai * entropy(Qi, prior) for ai, Qi in zip(ax, Q))
        mi = entropy(ax) + entropy(qz) - entropy((ax[:, None] * Q).ravel())
        errs += [abs(r.expected_kl - expected), abs(r.aggregate_kl - entropy(qz, prior)),
                 abs(r.mutual_information - mi), abs(expected - entropy(qz, prior) - mi)]
    return make_check("5a. VAE: E_X KL(Q(Z|X)||P_Z) == KL(Q_Z||P_Z) + I(X;Z) (discrete, exact)",
                      errs, 1e-10)


def _mixture_terms_1d(mu, sd, a):
    """E_X KL(Q(Z|X)||P_Z), KL(Q_Z||P_Z), I(X;Z) for a 1-D Gaussian encoder and prior N(0, 1),
    by composite Simpson quadrature on a fine grid (the integrands are smooth)."""
    from scipy.integrate import simpson
    from scipy.stats import norm

    t = np.linspace((mu - 12 * sd).min(), (mu + 12 * sd).max(), 200_001)
    logq_i = norm.logpdf(t[None, :], mu[:, None], sd[:, None])         # (n, T)
    q_i = np.exp(logq_i)
    qz = a @ q_i
    logqz = np.log(np.maximum(qz, 1e-300))
    logp = norm.logpdf(t)
    agg = simpson(qz * (logqz - logp), x=t)
    mi = float(a @ simpson(q_i * (logq_i - logqz), x=t, axis=1))
    exp_kl = float(a @ simpson(q_i * (logq_i - logp), x=t, axis=1))
    return exp_kl, agg, mi


@register("5b. VAE terms, Gaussian encoders: |Monte Carlo - quadrature| / (4 SE + 1e-8)")
def check_vae_gaussian(seed=0):
    rng = np.random.default_rng(seed + 1000)
    errs = []
    for k in range(8):
        n = int(rng.integers(1, 6))
        mu, sd = rng.standard_normal(n) * 2, rng.uniform(0.2, 1.5, n)
        a = _weights(rng, n, k % 2 == 0)
        r = vae_kl_decomposition(means=mu[:, None], stds=sd, a=a, n_samples=20_000, seed=k)
        slack = 4 * r.std_error + 1e-8
        for est, truth in zip((r.expected_kl, r.aggregate_kl, r.mutual_information),
                              _mixture_terms_1d(mu, sd, a)):
            errs.append(abs(est - truth) / slack)
    return make_check("5b. VAE terms, Gaussian encoders: |Monte Carlo - quadrature| / "
                      "(4 SE + 1e-8)", errs, 1.0)


# --- 6. blur ----------------------------------------------------------------------------------
SIGMAS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2, 2.0)


def blur_curve(rng, n=80, sigmas=SIGMAS):
    """Sharpness of conditional-mean decodings of digits vs encoder posterior overlap.

    Digits get random 2-D codes :math:`\\mu_i`; the encoder is :math:`N(\\mu_i, \\sigma^2 I)`.
    For each sigma, decode every :math:`\\mu_i` with the optimal decoder :math:`E[X | Z]` and
    average the sharpness.  Overlap is :math:`1 - I(X; Z) / H(X)` (0: disjoint posteriors,
    1: identical posteriors).  Returns ``(overlap, sharpness, data_sharpness, decoded)``.
    """
    x, _ = _digits(n, rng)
    mu = rng.standard_normal((n, 2))
    overlap, sharp, decoded = [], [], []
    for s in sigmas:
        dec = conditional_mean_decoder(x, mu, s)
        y = dec(mu)
        mi = vae_kl_decomposition(means=mu, stds=s, n_samples=64,
                                  seed=int(rng.integers(2**31))).mutual_information
        overlap.append(1 - mi / np.log(n))
        sharp.append(float(sharpness(y, shape=(8, 8)).mean()))
        decoded.append(y)
    return (np.array(overlap), np.array(sharp), float(sharpness(x, shape=(8, 8)).mean()),
            decoded)


@register("6. Blur: optimal-decoder sharpness falls as posteriors overlap (digits)")
def check_blur(seed=0):
    """Error: the largest relative change of mean sharpness from any posterior width to any
    width with more overlap.  It must be negative (strictly blurrier): a decoder that does not
    blur at all scores 0 and fails."""
    rng = np.random.default_rng(seed + 1100)
    errs, first, last = [], [], []
    for _ in range(4):
        overlap, sharp, _, _ = blur_curve(rng)
        more = overlap[None, :] > overlap[:, None]          # pairs (k, l) with more overlap at l
        change = (sharp[None, :] - sharp[:, None]) / sharp[0]
        errs += list(change[more])
        if np.any(np.diff(overlap) <= 0):                  # overlap must grow with sigma
            errs.append(1.0)
        first.append(sharp[0])
        last.append(sharp[-1])
    return make_check("6. Blur: optimal-decoder sharpness falls as posteriors overlap (digits)",
                      errs, 0.0, strict=True,
                      detail=f"sharpness {np.mean(first):.3f} -> {np.mean(last):.3f}")


__all__ = ["pushforward", "random_decoder", "digits_instance", "theorem_b_instance",
           "blur_curve", "aae_loss", "pot_objective_js"]
