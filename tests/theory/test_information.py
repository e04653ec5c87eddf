"""vae_kl_decomposition against independent truths: scipy entropies, H(X) + H(Z) - H(X, Z),
closed-form Gaussian KL, quadrature, and the spread of repeated Monte-Carlo estimates."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import simpson
from scipy.stats import entropy, norm

from otgen.testing import discrete_encoders, probability_vectors
from otgen.theory import vae_kl_decomposition


@st.composite
def discrete_vae(draw, max_n=8, max_k=8):
    n, k = draw(st.integers(1, max_n)), draw(st.integers(1, max_k))
    return (draw(discrete_encoders(n, k)), draw(probability_vectors(k)),
            draw(probability_vectors(n, allow_zero=True)))


@settings(max_examples=300, deadline=None)
@given(discrete_vae())
def test_discrete_identity_and_each_term(case):
    Q, prior, a = case
    r = vae_kl_decomposition(probs=Q, prior=prior, a=a)
    qz = a @ Q
    expected = sum(ai * entropy(Qi, prior) for ai, Qi in zip(a, Q))
    mi = entropy(a) + entropy(qz) - entropy((a[:, None] * Q).ravel())
    assert r.exact and r.std_error == 0.0
    assert r.expected_kl == pytest.approx(expected, abs=1e-10)
    assert r.aggregate_kl == pytest.approx(entropy(qz, prior), abs=1e-10)
    assert r.mutual_information == pytest.approx(mi, abs=1e-10)
    assert abs(r.residual) <= 1e-10
    assert -1e-12 <= r.mutual_information <= entropy(a) + 1e-12   # 0 <= I(X;Z) <= H(X)


def test_discrete_extremes():
    lossless = vae_kl_decomposition(probs=np.eye(3), prior=np.full(3, 1 / 3))
    assert lossless.mutual_information == pytest.approx(np.log(3))
    assert lossless.aggregate_kl == pytest.approx(0.0, abs=1e-15)
    collapsed = vae_kl_decomposition(probs=np.tile([0.2, 0.8], (4, 1)), prior=[0.5, 0.5])
    assert collapsed.mutual_information == pytest.approx(0.0, abs=1e-15)
    assert collapsed.expected_kl == pytest.approx(0.2 * np.log(0.4) + 0.8 * np.log(1.6))
    # mass where the prior has none: infinite KL, but I(X;Z) stays finite
    r = vae_kl_decomposition(probs=np.eye(2), prior=[1.0, 0.0])
    assert r.expected_kl == np.inf and r.aggregate_kl == np.inf
    assert r.mutual_information == pytest.approx(np.log(2))


def gaussian_kl(m, s):
    """KL(N(m, s^2) || N(0, 1)) per dimension, summed."""
    return float(np.sum(np.log(1 / s) + (s ** 2 + m ** 2) / 2 - 0.5))


def test_gaussian_expected_kl_closed_form_and_single_component():
    rng = np.random.default_rng(0)
    mu, sd = rng.standard_normal((1, 3)), rng.uniform(0.3, 2, (1, 3))
    r = vae_kl_decomposition(means=mu, stds=sd, seed=0, n_samples=4000)
    assert not r.exact and r.n_samples == 4000
    assert r.expected_kl == pytest.approx(gaussian_kl(mu[0], sd[0]), rel=1e-12)
    # one data point: Q_Z = Q(Z|x), so KL(Q_Z||P_Z) = E KL and I = 0 (the log-ratio is 0)
    assert r.aggregate_kl == pytest.approx(gaussian_kl(mu[0], sd[0]), rel=1e-12)
    assert r.mutual_information == 0.0 and r.std_error == 0.0


def test_gaussian_prior_argument():
    mu, sd, pm, ps = np.array([[1.0, -1.0]]), 0.5, np.array([0.5, 0.0]), np.array([2.0, 1.0])
    r = vae_kl_decomposition(means=mu, stds=sd, prior=(pm, ps), seed=1)
    truth = np.sum(np.log(ps / sd) + (sd ** 2 + (mu[0] - pm) ** 2) / (2 * ps ** 2) - 0.5)
    assert r.expected_kl == pytest.approx(truth, rel=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_gaussian_terms_match_quadrature(seed):
    rng = np.random.default_rng(seed)
    n = 4
    mu, sd, a = rng.standard_normal(n) * 2, rng.uniform(0.2, 1.5, n), rng.random(n) + 0.1
    a /= a.sum()
    t = np.linspace((mu - 12 * sd).min(), (mu + 12 * sd).max(), 100_001)
    logqi = norm.logpdf(t[None], mu[:, None], sd[:, None])
    qi = np.exp(logqi)
    qz = a @ qi
    logqz = np.log(np.maximum(qz, 1e-300))
    agg = simpson(qz * (logqz - norm.logpdf(t)), x=t)
    mi = a @ simpson(qi * (logqi - logqz), x=t, axis=1)
    r = vae_kl_decomposition(means=mu[:, None], stds=sd, a=a, n_samples=20_000, seed=seed)
    assert abs(r.aggregate_kl - agg) < 5 * r.std_error
    assert abs(r.mutual_information - mi) < 5 * r.std_error
    assert abs(r.residual) < 1e-12


def test_gaussian_disjoint_and_identical_posteriors_are_exact():
    mu = np.arange(5.0)[:, None] * 100
    r = vae_kl_decomposition(means=mu, stds=1.0, seed=0)
    assert r.mutual_information == pytest.approx(np.log(5), abs=1e-9)   # I = H(X)
    assert r.std_error < 1e-9
    same = vae_kl_decomposition(means=np.ones((4, 2)), stds=0.5, seed=0)
    assert abs(same.mutual_information) < 1e-12                          # I = 0
    assert same.aggregate_kl == pytest.approx(gaussian_kl(np.ones(2), np.full(2, 0.5)))


def test_standard_error_matches_the_spread_of_repeated_estimates():
    rng = np.random.default_rng(5)
    mu, sd = rng.standard_normal((3, 2)), rng.uniform(0.3, 1, (3, 2))
    runs = [vae_kl_decomposition(means=mu, stds=sd, n_samples=50, seed=k) for k in range(300)]
    spread = np.std([r.mutual_information for r in runs], ddof=1)
    assert np.mean([r.std_error for r in runs]) == pytest.approx(spread, rel=0.2)


@pytest.mark.parametrize("kwargs, match", [
    (dict(probs=[[0.5, 0.4]]), r"probs rows must sum to 1.*row 0 sums to 0.9"),
    (dict(probs=[[1.5, -0.5]]), "probs has negative entries"),
    (dict(probs=[[np.nan, 1.0]]), "probs contains"),
    (dict(probs=[0.5, 0.5]), "probs must be a 2-D"),
    (dict(probs=np.eye(2), prior=[0.5, 0.6]), "prior must be a probability vector"),
    (dict(probs=np.eye(2), prior=[1.0]), "prior has 1 weights"),
    (dict(probs=np.eye(2), a=[0.2, 0.2]), "a must be a probability vector"),
    (dict(), "give exactly one encoder"),
    (dict(probs=np.eye(2), means=np.zeros((2, 1))), "give exactly one encoder"),
    (dict(probs=np.eye(2), stds=1.0), "stds is only used with means"),
    (dict(means=np.zeros((2, 1))), "needs stds"),
    (dict(means=np.zeros((2, 1)), stds=-1.0), "stds must be finite and > 0"),
    (dict(means=np.zeros((2, 1)), stds=1.0, prior=[0.0]), "prior for a Gaussian encoder"),
    (dict(means=np.zeros((2, 1)), stds=1.0, prior=(np.zeros(2), 1.0)), "mean of shape"),
    (dict(means=np.zeros((2, 1)), stds=1.0, prior=(np.zeros(1), 0.0)), "prior std finite and > 0"),
    (dict(means=np.zeros((2, 1)), stds=1.0, n_samples=1), "n_samples must be an integer >= 2"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        vae_kl_decomposition(**kwargs)
