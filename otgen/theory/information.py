r"""The VAE regularizer, split: :math:`\mathbb{E}_X \mathrm{KL}(Q(Z|X) \| P_Z) = \mathrm{KL}(Q_Z \|
P_Z) + I(X; Z)`.

The first term on the right is a POT/WAE-style penalty on the aggregate posterior only; the
second is the mutual information between inputs and codes, which the VAE also pays for and
which pushes posteriors of different inputs to overlap (Bousquet et al. 2017, Sec. 4; Hoffman &
Johnson 2016, "ELBO surgery").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp, xlogy

from .._validate import check_points, check_weights, is_tensor
from .decoders import stds_array

#: tolerance on "sums to one" for probability vectors
PROB_ATOL = 1e-9


@dataclass(frozen=True)
class KLDecomposition:
    r"""The three terms of :math:`\mathbb{E}_X \mathrm{KL}(Q(Z|X)\|P_Z) = \mathrm{KL}(Q_Z\|P_Z) +
    I(X;Z)`, in nats.

    Attributes
    ----------
    expected_kl : float
        :math:`\mathbb{E}_{X} \mathrm{KL}(Q(Z|X) \| P_Z)` (exact in both cases).
    aggregate_kl : float
        :math:`\mathrm{KL}(Q_Z \| P_Z)`.
    mutual_information : float
        :math:`I(X; Z)` under the joint law :math:`P_X(x) Q(z|x)`.
    std_error : float
        Monte-Carlo standard error of ``aggregate_kl`` and of ``mutual_information`` (they
        share their one random term, so the identity holds exactly for the estimates);
        0.0 when ``exact``.
    exact : bool
        True for discrete encoders (every term computed exactly).
    n_samples : int
        Monte-Carlo samples per data point (0 when exact).

    Examples
    --------
    >>> r = vae_kl_decomposition(probs=np.eye(2), prior=[0.5, 0.5])
    >>> r.exact, round(r.expected_kl, 6), round(r.mutual_information, 6), r.aggregate_kl
    (True, 0.693147, 0.693147, 0.0)
    >>> abs(r.residual) < 1e-12
    True

    References
    ----------
    M. D. Hoffman, M. J. Johnson. ELBO surgery: yet another way to carve up the variational
    evidence lower bound. NIPS Workshop on Advances in Approximate Bayesian Inference, 2016.
    O. Bousquet et al. The VEGAN cookbook. arXiv:1705.07642, 2017 (Section 4).
    """

    expected_kl: float
    aggregate_kl: float
    mutual_information: float
    std_error: float
    exact: bool
    n_samples: int = 0

    @property
    def residual(self) -> float:
        """``expected_kl - aggregate_kl - mutual_information`` (zero up to rounding)."""
        return self.expected_kl - self.aggregate_kl - self.mutual_information


def _prob_vector(v, n: int, name: str) -> np.ndarray:
    arr = check_weights(v, n, name)
    if abs(arr.sum() - 1.0) > PROB_ATOL:
        raise ValueError(f"{name} must be a probability vector summing to 1, got sum "
                         f"{arr.sum():.12g}; normalize it (e.g. {name} / {name}.sum())")
    return arr


def vae_kl_decomposition(*, probs=None, means=None, stds=None, prior=None, a=None,
                         n_samples: int = 256, seed=None) -> KLDecomposition:
    r"""Split the VAE's KL regularizer into an aggregate-posterior penalty and mutual information.

    .. math::
        \underbrace{\mathbb{E}_{X \sim P_X} \mathrm{KL}(Q(Z|X) \| P_Z)}_{\text{VAE regularizer}}
        = \underbrace{\mathrm{KL}(Q_Z \| P_Z)}_{\text{POT penalty}}
        + \underbrace{I(X; Z)}_{\mathbb{E}_X \mathrm{KL}(Q(Z|X) \| Q_Z)},
        \qquad Q_Z = \mathbb{E}_{P_X} Q(Z|X),

    for discrete data :math:`P_X = \sum_i a_i \delta_{x_i}` and one of two encoders:

    * **discrete** (``probs``): :math:`Q(z_k | x_i) = \mathrm{probs}_{ik}` over K codes with prior
      ``prior`` (uniform by default).  All three terms are finite sums, computed exactly
      (:math:`0 \log 0 = 0`; a term is ``inf`` when the encoder puts mass where the prior has none).
    * **Gaussian** (``means``, ``stds``): :math:`Q(Z|x_i) = N(\mu_i, \mathrm{diag}(\sigma_i^2))`,
      prior :math:`N(m, \mathrm{diag}(s^2))` (``prior=(m, s)``, default :math:`N(0, I)`).
      :math:`\mathbb{E}_X \mathrm{KL}` is closed form; :math:`Q_Z` is a Gaussian mixture, so
      :math:`I(X;Z) = \sum_i a_i\, \mathbb{E}_{Q(Z|x_i)} \log(q(Z|x_i) / q_Z(Z))` is estimated
      by stratified Monte Carlo (``n_samples`` draws from each :math:`Q(Z|x_i)`) with its
      standard error, and :math:`\mathrm{KL}(Q_Z\|P_Z) = \mathbb{E}_X\mathrm{KL} - I`.
      Sampling the log-ratio (rather than :math:`\log q_Z` alone) makes the estimate exact, with
      zero variance, when the posteriors are disjoint (:math:`I = H(X)`) or identical
      (:math:`I = 0`).  When posteriors barely overlap, the log-ratio has rare large values
      (samples landing near another posterior), and a small ``n_samples`` can underestimate
      the standard error; use thousands of draws per point when the error bar matters.

    Parameters
    ----------
    probs : array (n, K), optional
        Discrete encoder; every row must be a probability vector.
    means : array (n, dz), optional
        Gaussian encoder means.
    stds : float, array (n,) or (n, dz), optional
        Gaussian encoder standard deviations (> 0).
    prior : array (K,) or tuple (mean (dz,), std scalar or (dz,)), optional
        :math:`P_Z`; uniform over codes / standard normal by default.
    a : array (n,), optional
        :math:`P_X` weights summing to 1 (uniform by default).
    n_samples : int
        Monte-Carlo draws per data point (Gaussian encoders).
    seed : int or numpy Generator, optional
        Seed of the Monte-Carlo draws.

    Returns
    -------
    KLDecomposition
        The three terms, in nats, with the Monte-Carlo ``std_error`` (0 when exact).

    Raises
    ------
    ValueError
        Neither or both encoders given; rows of ``probs`` or ``prior`` or ``a`` not summing to 1;
        negative or non-finite probabilities; non-positive stds; shape mismatches.

    Examples
    --------
    >>> r = vae_kl_decomposition(probs=np.eye(2), prior=[0.5, 0.5])   # a lossless encoder
    >>> print(f"{r.mutual_information:.6f} {r.aggregate_kl:.1f}")   # I = log 2, Q_Z = P_Z
    0.693147 0.0

    References
    ----------
    O. Bousquet, S. Gelly, I. Tolstikhin, C.-J. Simon-Gabriel, B. Schölkopf. From optimal
    transport to generative modeling: the VEGAN cookbook. arXiv:1705.07642, 2017 (Section 4).
    M. D. Hoffman, M. J. Johnson. ELBO surgery. NIPS AABI Workshop 2016.  D. P. Kingma,
    M. Welling. Auto-Encoding Variational Bayes. ICLR 2014.
    """
    if (probs is None) == (means is None):
        raise ValueError("give exactly one encoder: probs=(n, K) for a discrete encoder, or "
                         "means=(n, dz) with stds for a Gaussian encoder")
    if probs is not None:
        if stds is not None:
            raise ValueError("stds is only used with means= (a Gaussian encoder), not probs=")
        return _discrete(probs, prior, a)
    if stds is None:
        raise ValueError("a Gaussian encoder needs stds (posterior standard deviations)")
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
            or n_samples < 2:
        raise ValueError(f"n_samples must be an integer >= 2 (for a standard error), got "
                         f"{n_samples!r}")
    return _gaussian(means, stds, prior, a, int(n_samples), seed)


def _discrete(probs, prior, a) -> KLDecomposition:
    Q = np.asarray(probs.detach().cpu() if is_tensor(probs) else probs)
    if Q.ndim != 2 or 0 in Q.shape:
        raise ValueError(f"probs must be a 2-D (n_data, n_codes) matrix of Q(z_k | x_i), got "
                         f"shape {Q.shape}")
    Q = check_points(Q, "probs").astype(np.float64)
    if np.any(Q < 0):
        raise ValueError(f"probs has negative entries (min {Q.min():.3g}); probabilities must "
                         "be >= 0")
    sums = Q.sum(1)
    bad = np.flatnonzero(np.abs(sums - 1) > PROB_ATOL)
    if bad.size:
        raise ValueError(f"probs rows must sum to 1 (each row is Q(. | x_i)); row {bad[0]} sums "
                         f"to {sums[bad[0]]:.12g} ({bad.size} bad rows)")
    n, K = Q.shape
    ax = _prob_vector(a, n, "a") if a is not None else np.full(n, 1.0 / n)
    pz = _prob_vector(prior, K, "prior") if prior is not None else np.full(K, 1.0 / K)
    qz = ax @ Q
    joint = ax[:, None] * Q

    def kl_terms(P, R):  # sum P log(P / R), 0 log 0 = 0, inf where P > 0 = R
        with np.errstate(divide="ignore"):
            return float(np.sum(xlogy(P, P) - xlogy(P, np.broadcast_to(R, P.shape))))

    expected = kl_terms(joint, ax[:, None] * pz[None, :])
    aggregate = kl_terms(qz, pz)
    mi = kl_terms(joint, ax[:, None] * qz[None, :])
    return KLDecomposition(expected, aggregate, mi, 0.0, True)


def _gaussian(means, stds, prior, a, S: int, seed) -> KLDecomposition:
    mu = check_points(means, "means").astype(np.float64)
    n, dz = mu.shape
    sd = stds_array(stds, n, dz)
    ax = _prob_vector(a, n, "a") if a is not None else np.full(n, 1.0 / n)
    pm, ps = _gaussian_prior(prior, dz)
    rng = np.random.default_rng(seed)
    # closed forms: entropies H_i and cross-entropies CE_i = -E_{Q(.|x_i)} log p(Z)
    H = 0.5 * np.sum(np.log(2 * np.pi * np.e * sd ** 2), axis=1)
    CE = np.sum(0.5 * np.log(2 * np.pi * ps ** 2) + (sd ** 2 + (mu - pm) ** 2) / (2 * ps ** 2),
                axis=1)
    expected = float(ax @ (CE - H))
    # stratified Monte Carlo of I = sum_i a_i E_{Q(.|x_i)} [log q(Z|x_i) - log q_Z(Z)]; the
    # log-ratio (not log q_Z alone) has zero variance for disjoint or identical posteriors
    loga = np.log(ax, out=np.full(n, -np.inf), where=ax > 0)
    lognorm = -0.5 * np.sum(np.log(2 * np.pi * sd ** 2), axis=1)
    means_i, vars_i = np.zeros(n), np.zeros(n)
    for i in np.flatnonzero(ax > 0):
        xi = rng.standard_normal((S, dz))
        u = (mu[i] + sd[i] * xi)[:, None, :] - mu[None]
        logq = lognorm - 0.5 * np.einsum("sik,sik->si", u / sd[None], u / sd[None])
        ratio = logq[:, i] - logsumexp(loga + logq, axis=1)
        means_i[i], vars_i[i] = ratio.mean(), ratio.var(ddof=1)
    mi = float(ax @ means_i)
    se = float(np.sqrt(np.sum(ax ** 2 * vars_i) / S))
    aggregate = expected - mi
    return KLDecomposition(expected, aggregate, mi, se, False, S)


def _gaussian_prior(prior, dz: int):
    if prior is None:
        return np.zeros(dz), np.ones(dz)
    if not (isinstance(prior, tuple) and len(prior) == 2):
        raise ValueError("prior for a Gaussian encoder must be a tuple (mean, std) describing "
                         "N(mean, diag(std^2))")
    m = np.asarray(prior[0], dtype=np.float64).reshape(-1)
    s = np.broadcast_to(np.asarray(prior[1], dtype=np.float64), (dz,)) \
        if np.ndim(prior[1]) <= 1 and np.size(prior[1]) in (1, dz) else None
    if m.shape != (dz,) or s is None:
        raise ValueError(f"prior=(mean, std) must have mean of shape ({dz},) and std a scalar or "
                         f"shape ({dz},) to match means' latent dimension {dz}")
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(s)) and np.all(s > 0)):
        raise ValueError("prior mean must be finite and prior std finite and > 0")
    return m, s.astype(np.float64)
