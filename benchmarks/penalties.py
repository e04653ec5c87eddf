"""Penalty benchmark: which latent penalty F(Q_Z, P_Z) tracks the true W_2 it stands in for.

    python -m benchmarks.penalties            # full: d in {2, 8, 32, 64}, batches 64..4096
                                              # (~20-35 min on one core of this machine)
    python -m benchmarks.penalties --quick    # d in {2, 8, 32}, batches 64..1024 (< 3 min, 2 cores)
    python -m benchmarks.penalties --tiny     # smoke test (the test suite runs this)
    python -m benchmarks.penalties --replot   # redraw md + PNGs from the saved JSON

P_Z = N(0, I_d).  Six families of Q_Z, each a ladder of levels (level 0: Q_Z = P_Z):

* closed form (Gaussian Q_Z, W_2 by the Bures formula, otgen.theory.gaussian_w2): shifted means,
  scaled covariances, rotated anisotropic covariances;
* no closed form, moment-matched (mean 0, covariance I, so only non-Gaussianity separates them
  from P_Z): a 2^k-mode Gaussian mixture, scaled Student-t marginals, Gaussian/uniform blends.
  The non-Gaussian part lives in k = min(d, 2) coordinates, rotated by a fixed random rotation;
  the other d - k coordinates are N(0, 1).  Because the squared cost splits over coordinates,
  W_2(Q_Z, P_Z) = W_2(k-dim block, N(0, I_k)) exactly, and that k-dim value is estimated by
  otgen's exact solver on large samples (certified interval of the sample OT, spread over
  independent draws), plus a 1-D quantile cross-check (the block has independent coordinates).

At every (family, d, batch size, level) fresh minibatches of Q_Z and P_Z are drawn ``repeats``
times and every penalty is evaluated on the same pair, with the penalty functions the models
train with (otgen.models.penalties) and otgen's exact solver.  A permutation test at batch 128
gives each penalty's power against mean shifts.  Writes docs/benchmarks_penalties.json,
docs/benchmarks-penalties.md, docs/benchmarks-penalties-<family>.png,
docs/benchmarks-penalties-minibatch-bias.png and docs/benchmarks-penalties-power.png.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
import warnings
import zlib
from pathlib import Path

import numpy as np

from .common import machine_info

DOCS = Path(__file__).resolve().parent.parent / "docs"
CLOSED = ("shift", "scale", "rotated-anisotropic")
NONGAUSS = ("mixture", "student-t", "uniform-blend")
FAMILIES = CLOSED + NONGAUSS
#: level parameters of the non-Gaussian families (index 0: Q_Z = P_Z).  mixture: per coordinate
#: 1/2 N(-a, 1 - a^2) + 1/2 N(a, 1 - a^2); student-t: 1/nu of t_nu scaled to unit variance;
#: uniform-blend: sqrt(1 - t) N(0, 1) + sqrt(t) U(-sqrt 3, sqrt 3)
NG_PARAMS = {"mixture": (0.0, 0.7, 0.85, 0.93, 0.98),
             "student-t": (0.0, 1 / 12, 1 / 6, 1 / 4, 1 / 3),
             "uniform-blend": (0.0, 0.5, 0.75, 0.9, 1.0)}
NG_BLOCK = 2
#: penalties whose population value is W_2^2 itself (bias vs W_2^2 is meaningful for these)
W2_SCALE = ("exact-w2", "sinkhorn")
SINKHORN_EPS = 0.1
PENALTY_NAMES = ("mmd-imq", "mmd-rbf-median", "kl-moment", "sliced-w2", "sinkhorn", "exact-w2")

CONFIGS = {
    "tiny": dict(dims=(2, 8), batches=(64, 128), levels=(0.0, 0.5, 2.0), ng_levels=(0, 2, 4),
                 repeats=2, repeats_at={}, sinkhorn_max_n=128, ng_batches=(64, 128),
                 big=None, truth_n=300, truth_draws=2, truth_method="exact",
                 gan_steps=20, gan_batches=(64, 128), gan_dims=(2,), gan_repeats=1,
                 bias_repeats=3, bias_repeats_at={}, bias_batches=(64, 128),
                 power_n=128, power_dims=(2,), shifts=(0.0, 1.0), power_trials=3, power_perms=19,
                 power_sinkhorn_perms=19, power_gan_steps=20),
    "quick": dict(dims=(2, 8, 32), batches=(64, 256, 1024), levels=(0.0, 0.5, 1.0, 2.0),
                  ng_levels=(0, 2, 3, 4), repeats=2, repeats_at={1024: 1}, sinkhorn_max_n=256,
                  ng_batches=(64, 256), big=None, truth_n=1000, truth_draws=2,
                  truth_method="exact", gan_steps=100, gan_batches=(64, 256, 1024),
                  gan_dims=(8,), gan_repeats=1, bias_repeats=4, bias_repeats_at={1024: 2},
                  bias_batches=(64, 256, 1024), power_n=128, power_dims=(2, 8, 32),
                  shifts=(0.0, 0.5, 1.0), power_trials=8, power_perms=39,
                  power_sinkhorn_perms=19, power_gan_steps=100),
    "full": dict(dims=(2, 8, 32, 64), batches=(64, 256, 1024), levels=(0.0, 0.25, 0.5, 1.0, 2.0),
                 ng_levels=(0, 1, 2, 3, 4), repeats=3, sinkhorn_max_n=256, repeats_at={},
                 ng_batches=(64, 256, 1024),
                 big=dict(n=4096, dims=(8, 64), families=CLOSED, repeats=1),
                 truth_n=4000, truth_draws=3, truth_method="exact",
                 gan_steps=200, gan_batches=(64, 256, 1024), gan_dims=(2, 8, 32, 64),
                 gan_repeats=2, bias_repeats=4, bias_repeats_at={2048: 2, 4096: 2},
                 bias_batches=(64, 128, 256, 512, 1024, 2048, 4096), power_n=128,
                 power_dims=(2, 8, 32, 64), shifts=(0.0, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5),
                 power_trials=20, power_perms=99, power_sinkhorn_perms=39, power_gan_steps=200),
}


# ----------------------------------------------------------------------------- distributions
def _seed(*key):
    """Deterministic seed from a key (hash() of str is randomized per process)."""
    return zlib.crc32(repr(key).encode())


def _orthogonal(d, rng):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def family_gaussian(family, d, w, rng_rot):
    """(mean, cov) of Q_Z in ``family`` at true W_2 = w from N(0, I)."""
    if family == "shift":
        return np.full(d, w / math.sqrt(d)), np.eye(d)
    if family == "scale":  # cov = s^2 I, W_2^2 = d (s - 1)^2
        return np.zeros(d), (1.0 + w / math.sqrt(d)) ** 2 * np.eye(d)
    if family == "rotated-anisotropic":
        # eigenvalues exp(a g_k), g_k evenly spaced in [-1, 1], rotated by a fixed random R;
        # W_2^2 = sum_k (exp(a g_k / 2) - 1)^2, increasing in a: solve for a by bisection
        g = np.linspace(-1.0, 1.0, d) if d > 1 else np.ones(1)
        R = _orthogonal(d, rng_rot)

        def w2(a):
            return float(np.sqrt(np.sum((np.exp(a * g / 2) - 1.0) ** 2)))

        lo, hi = 0.0, 1.0
        while w2(hi) < w:
            hi *= 2
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if w2(mid) < w else (lo, mid)
        lam = np.exp(0.5 * (lo + hi) * g)
        return np.zeros(d), (R * lam) @ R.T
    raise ValueError(family)


def true_w2(mean, cov):
    from otgen.theory import gaussian_w2

    d = len(mean)
    return math.sqrt(max(float(gaussian_w2(mean, cov, np.zeros(d), np.eye(d))), 0.0))


def sample(mean, cov, n, rng):
    L = np.linalg.cholesky(cov + 1e-12 * np.eye(len(mean)))
    return mean + rng.standard_normal((n, len(mean))) @ L.T


def block_sample(family, param, k, n, rng):
    """n points of the k-dim non-Gaussian block (independent coordinates, mean 0, variance 1)."""
    g = rng.standard_normal((n, k))
    if family == "mixture":
        return param * rng.choice((-1.0, 1.0), size=(n, k)) + math.sqrt(1.0 - param ** 2) * g
    if family == "student-t":
        if param == 0:
            return g
        nu = 1.0 / param
        return rng.standard_t(nu, size=(n, k)) * math.sqrt((nu - 2.0) / nu)
    if family == "uniform-blend":
        u = rng.uniform(-math.sqrt(3.0), math.sqrt(3.0), size=(n, k))
        return math.sqrt(1.0 - param) * g + math.sqrt(param) * u
    raise ValueError(family)


def ng_sample(family, param, d, n, rng, R):
    """Q_Z of a non-Gaussian family in R^d: the block in the first k coordinates, N(0, 1) in the
    others, then the fixed rotation R (W_2 to N(0, I) is rotation invariant)."""
    k = min(d, NG_BLOCK)
    x = np.concatenate([block_sample(family, param, k, n, rng),
                        rng.standard_normal((n, d - k))], axis=1)
    return x @ R.T


def quantile_w2(family, param, k=NG_BLOCK, n=1_000_000, seed=0):
    """Cross-check: W_2 of the block by the 1-D quantile coupling of each (independent, identical)
    coordinate, from n = 1e6 1-D samples against exact normal quantiles."""
    from scipy.stats import norm

    x = np.sort(block_sample(family, param, 1, n, np.random.default_rng(seed))[:, 0])
    g = norm.ppf((np.arange(n) + 0.5) / n)
    return math.sqrt(k * float(np.mean((x - g) ** 2)))


def ground_truths(cfg, log=print):
    """Large-sample W_2 of each non-Gaussian level: otgen exact OT between truth_n points of the
    k-dim block and truth_n points of N(0, I_k), truth_draws independent draws."""
    from otgen.theory import wasserstein

    out = {}
    for fam in NONGAUSS:
        rows = []
        for li in cfg["ng_levels"]:
            param = NG_PARAMS[fam][li]
            vals, lows, ups, secs = [], [], [], []
            for r in range(cfg["truth_draws"]):
                rng = np.random.default_rng(_seed(fam, li, r, "truth"))
                xq = block_sample(fam, param, NG_BLOCK, cfg["truth_n"], rng)
                xp = rng.standard_normal((cfg["truth_n"], NG_BLOCK))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    res = wasserstein(xq, xp, p=2, method=cfg["truth_method"], tol=1e-3)
                vals.append(float(res.value))
                lows.append(float(res.lower))
                ups.append(float(res.upper))
                secs.append(float(res.time_s))
            w2 = [math.sqrt(max(v, 0.0)) for v in vals]
            rows.append(dict(level=li, param=param, w2=float(np.mean(w2)),
                             w2_draws=w2, w2sq_lower=min(lows), w2sq_upper=max(ups),
                             certified_w2=[math.sqrt(max(min(lows), 0.0)),
                                           math.sqrt(max(max(ups), 0.0))],
                             draw_std=float(np.std(w2, ddof=1)) if len(w2) > 1 else 0.0,
                             quantile_w2=quantile_w2(fam, param), n=cfg["truth_n"],
                             draws=cfg["truth_draws"], time_s=float(np.sum(secs))))
        ws = [r["w2"] for r in rows]
        out[fam] = dict(levels=rows, monotone=bool(all(b > a for a, b in zip(ws, ws[1:]))))
        log(f"ground truth {fam:14s} W_2 = {', '.join(f'{w:.3f}' for w in ws)}"
            f"{'' if out[fam]['monotone'] else '  NOT MONOTONE'}")
    return out


# ----------------------------------------------------------------------------- penalties
def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def mmd_rbf_median(q, p):
    """RBF MMD^2 (otgen.models.penalties.mmd) with one width C = median pooled squared distance
    (the median heuristic, expressed through the ``scales`` argument: C = 2 d_z s)."""
    import torch

    from otgen.models.penalties import sq_dists, mmd

    z = torch.cat([q, p])
    med = float(torch.median(sq_dists(z, z)[torch.triu_indices(len(z), len(z), 1).unbind()]))
    return mmd(q, p, kernel="rbf", scales=(max(med, 1e-12) / (2.0 * q.shape[1]),))


def kl_moment_matched(q):
    """KL(N(mean(q), cov(q)) || N(0, I)), full covariance (torch.distributions; 1e-6 jitter)."""
    import torch
    from torch.distributions import MultivariateNormal, kl_divergence

    q = q.double()
    d = q.shape[1]
    m = q.mean(0)
    c = torch.cov(q.T).reshape(d, d) + 1e-6 * torch.eye(d, dtype=q.dtype)
    return kl_divergence(MultivariateNormal(m, c), MultivariateNormal(torch.zeros_like(m),
                                                                      torch.eye(d, dtype=q.dtype)))


def evaluate_penalties(qn, pn, seed, sinkhorn=True):
    """Every (non-adversarial) penalty on one minibatch pair; returns {name: (value, seconds)}."""
    import torch

    from otgen.models.penalties import mmd, sliced_w2
    from otgen.theory import sinkhorn_divergence, wasserstein

    q, p = torch.as_tensor(qn, dtype=torch.float32), torch.as_tensor(pn, dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    out = {}
    with torch.no_grad():
        out["mmd-imq"] = _timed(lambda: float(mmd(q, p, kernel="imq")))
        out["mmd-rbf-median"] = _timed(lambda: float(mmd_rbf_median(q, p)))
        out["kl-moment"] = _timed(lambda: float(kl_moment_matched(q)))
        out["sliced-w2"] = _timed(lambda: float(sliced_w2(q, p, n_projections=50, generator=gen)))
        # scaling=0.9 + tensorized (= otgen.models.penalties.sinkhorn_penalty): the 0.99 schedule
        # took 20-60 s per call at n=1024, d=32 on 2 cores; the value moves by < 0.5%
        if sinkhorn:
            out["sinkhorn"] = _timed(lambda: float(sinkhorn_divergence(
                q, p, eps=SINKHORN_EPS, scaling=0.9, backend="tensorized")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out["exact-w2"] = _timed(lambda: float(wasserstein(qn, pn, method="exact").value))
    return out


def train_adversary(draw_q, d, steps, batch, rng, seed):
    """otgen's LatentAdversary (hidden 64x64) after ``steps`` Adam steps on fresh batches."""
    import torch

    from otgen.models.penalties import LatentAdversary

    torch.manual_seed(seed)
    adv = LatentAdversary(d, hidden=(64, 64))
    opt = torch.optim.Adam(adv.parameters(), lr=1e-3)
    for _ in range(steps):
        q = torch.as_tensor(draw_q(batch, rng), dtype=torch.float32)
        p = torch.as_tensor(rng.standard_normal((batch, d)), dtype=torch.float32)
        loss = adv.discriminator_loss(q, p)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return adv


def js_adversary(draw_q, d, steps, batch, rng, seed):
    """Train the adversary, return its JS lower bound (nats) on a held-out batch pair and the
    wall time (training included)."""
    import torch

    t0 = time.perf_counter()
    adv = train_adversary(draw_q, d, steps, batch, rng, seed)
    with torch.no_grad():
        q = torch.as_tensor(draw_q(batch, rng), dtype=torch.float32)
        p = torch.as_tensor(rng.standard_normal((batch, d)), dtype=torch.float32)
        val = float(adv.js_lower_bound(q, p))
    return val, time.perf_counter() - t0


# ----------------------------------------------------------------------------- runs
def family_draw(family, d, li, cfg, truths):
    """(draw(n, rng), true W_2) for level index li of ``family`` in dimension d."""
    if family in CLOSED:
        m, c = family_gaussian(family, d, cfg["levels"][li], np.random.default_rng(1000 + d))
        return (lambda n, rng: sample(m, c, n, rng)), true_w2(m, c)
    R = _orthogonal(d, np.random.default_rng(2000 + d))
    param = NG_PARAMS[family][cfg["ng_levels"][li]]
    truth = truths[family]["levels"][li]["w2"]
    return (lambda n, rng: ng_sample(family, param, d, n, rng, R)), truth


def run_grid(cfg, truths, log=print):
    """Raw evaluations: one row per (family, d, n, level, repeat, penalty)."""
    rows = []
    big = cfg.get("big") or {}
    for d in cfg["dims"]:
        for fi, family in enumerate(FAMILIES):
            nlev = len(cfg["levels"] if family in CLOSED else cfg["ng_levels"])
            draws = [family_draw(family, d, li, cfg, truths) for li in range(nlev)]
            batches = list(cfg["batches"] if family in CLOSED else cfg["ng_batches"])
            if d in big.get("dims", ()) and family in big.get("families", ()):
                batches.append(big["n"])
            for n in batches:
                t0 = time.perf_counter()
                reps = big["repeats"] if big and n == big["n"] else cfg["repeats_at"].get(
                    n, cfg["repeats"])
                for li, (draw, w) in enumerate(draws):
                    for r in range(reps):
                        seed = _seed(d, fi, n, li, r)
                        rng = np.random.default_rng(seed)
                        qn, pn = draw(n, rng), rng.standard_normal((n, d))
                        res = evaluate_penalties(qn, pn, seed, sinkhorn=n <= cfg["sinkhorn_max_n"])
                        for name, (val, t) in res.items():
                            rows.append(dict(penalty=name, family=family, d=d, n=n, level=li,
                                             true_w2=w, value=val, time_s=t, repeat=r))
                log(f"{family:20s} d={d:3d} n={n:5d}  {time.perf_counter() - t0:6.1f} s")
            if d in cfg["gan_dims"] and cfg["gan_steps"] > 0:
                t0 = time.perf_counter()
                for n in cfg["gan_batches"]:
                    for li, (draw, w) in enumerate(draws):
                        for r in range(cfg["gan_repeats"]):
                            seed = _seed(d, fi, n, li, r, "gan")
                            val, t = js_adversary(draw, d, cfg["gan_steps"], n,
                                                  np.random.default_rng(seed), seed)
                            rows.append(dict(penalty="adversarial-js", family=family, d=d, n=n,
                                             level=li, true_w2=w, value=val, time_s=t,
                                             repeat=r))
                log(f"{family:20s} d={d:3d} adversarial JS  {time.perf_counter() - t0:6.1f} s")
    return rows


def minibatch_bias(cfg):
    """E W_2^2(minibatch of Q, independent minibatch of P) vs the population W_2^2, exact solver,
    for Q = P (population 0) and Q = P shifted by W_2 = 1 (population 1)."""
    from otgen.theory import wasserstein

    out = []
    for d in cfg["dims"]:
        for shift in (0.0, 1.0):
            for n in cfg["bias_batches"]:
                vals, times = [], []
                for r in range(cfg["bias_repeats_at"].get(n, cfg["bias_repeats"])):
                    rng = np.random.default_rng(_seed(d, n, shift, r, "bias"))
                    x = rng.standard_normal((n, d)) + shift / math.sqrt(d)
                    y = rng.standard_normal((n, d))
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)
                        v, t = _timed(lambda: float(wasserstein(x, y, method="exact").value))
                    vals.append(v)
                    times.append(t)
                out.append(dict(d=d, n=n, population_w2sq=shift ** 2, mean=float(np.mean(vals)),
                                std=float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
                                bias=float(np.mean(vals)) - shift ** 2,
                                time_s=float(np.median(times)), repeats=len(vals)))
    return out


def permutation_statistics(q, p, perms, seed, sinkhorn_loss, sinkhorn_perms=None):
    """Every non-adversarial penalty on the observed split (index 0) and on ``perms`` random
    relabellings of the pooled sample.  Same statistics as evaluate_penalties, computed in batch:
    the MMD kernels (the median width is a function of the pooled sample, hence permutation
    invariant) and the sliced projections once on the pooled sample, exact W_2^2 by POT's network
    simplex (the solver otgen's exact method wraps) on sub-blocks of the pooled cost matrix,
    Sinkhorn by GeomLoss on a batch of the first ``sinkhorn_perms`` relabellings (it dominates the
    cost).  Returns {name: array}, index 0 = observed split."""
    import ot
    import torch

    from otgen.models.penalties import MMD_SCALES, sq_dists

    n, d = q.shape
    z = torch.as_tensor(np.concatenate([q, p]), dtype=torch.float32)
    rng = np.random.default_rng(seed)
    idx = np.stack([np.arange(2 * n)] + [rng.permutation(2 * n) for _ in range(perms)])
    iq, ip = torch.as_tensor(idx[:, :n]), torch.as_tensor(idx[:, n:])
    A = torch.zeros(len(idx), 2 * n)
    A.scatter_(1, iq, 1.0)
    out = {}
    D2 = sq_dists(z, z)

    def mmd_from(K):
        K = K - torch.diag(torch.diagonal(K))
        B = 1.0 - A
        sqq = ((A @ K) * A).sum(1)
        spp = ((B @ K) * B).sum(1)
        sqp = ((A @ K) * B).sum(1)
        return (sqq / (n * (n - 1)) + spp / (n * (n - 1)) - 2.0 * sqp / (n * n)).numpy()

    base = 2.0 * d
    out["mmd-imq"] = mmd_from(sum((base * s) / (base * s + D2) for s in MMD_SCALES))
    med = float(torch.median(D2[torch.triu_indices(2 * n, 2 * n, 1).unbind()]))
    out["mmd-rbf-median"] = mmd_from(torch.exp(-D2 / max(med, 1e-12)))
    zq = z.double()[iq]  # (P, n, d)
    m = zq.mean(1)
    c = (zq - m[:, None]).transpose(1, 2) @ (zq - m[:, None]) / (n - 1)
    c = c + 1e-6 * torch.eye(d, dtype=c.dtype)
    out["kl-moment"] = (0.5 * (torch.diagonal(c, dim1=1, dim2=2).sum(1) + (m ** 2).sum(1) - d
                               - torch.logdet(c))).numpy()
    gen = torch.Generator().manual_seed(seed)
    theta = torch.randn(d, 50, generator=gen)
    theta = theta / theta.norm(dim=0, keepdim=True)
    proj = z @ theta
    a_, _ = torch.sort(proj[iq], dim=1)
    b_, _ = torch.sort(proj[ip], dim=1)
    out["sliced-w2"] = (a_ - b_).pow(2).mean((1, 2)).numpy()
    zd = np.concatenate([q, p]).astype(np.float64)
    C = ot.dist(zd, zd)
    w = np.full(n, 1.0 / n)
    out["exact-w2"] = np.array([ot.emd2(w, w, C[np.ix_(i, j)], numItermax=10 ** 7)
                                for i, j in zip(idx[:, :n], idx[:, n:])])
    ks = len(idx) if sinkhorn_perms is None else sinkhorn_perms + 1
    with torch.no_grad():
        out["sinkhorn"] = (2.0 * sinkhorn_loss(z[iq[:ks]], z[ip[:ks]])).numpy()
    return out


def power_test(cfg, log=print):
    """Permutation tests (level 5%) of Q_Z = N(delta e / sqrt(d), I) against P_Z = N(0, I) from one
    batch pair of size power_n; power = fraction of power_trials with p <= 0.05.  The adversary
    is trained on power_gan_steps fresh batch pairs, then tested on a held-out pair (a classifier
    two-sample test: its statistic is fixed before the held-out data are seen, so permuting the
    held-out pair calibrates it exactly)."""
    import torch
    import torch.nn.functional as F
    from geomloss import SamplesLoss

    sk = SamplesLoss("sinkhorn", p=2, blur=math.sqrt(SINKHORN_EPS / 2), scaling=0.9,
                     debias=True, backend="tensorized")
    n, B = cfg["power_n"], cfg["power_perms"]
    out = []
    for d in cfg["power_dims"]:
        t0 = time.perf_counter()
        for delta in cfg["shifts"]:
            pvals, times = {}, {}
            for t in range(cfg["power_trials"]):
                seed = _seed(d, delta, t, "power")
                rng = np.random.default_rng(seed)
                shift = delta / math.sqrt(d)
                q = rng.standard_normal((n, d)) + shift
                p = rng.standard_normal((n, d))
                t1 = time.perf_counter()
                stats = permutation_statistics(q, p, B, seed, sk, cfg["power_sinkhorn_perms"])
                times.setdefault("non-adversarial (all six)", []).append(time.perf_counter() - t1)
                if cfg["power_gan_steps"] > 0:
                    t1 = time.perf_counter()
                    adv = train_adversary(lambda m, r: r.standard_normal((m, d)) + shift, d,
                                          cfg["power_gan_steps"], n, rng, seed)
                    hq = rng.standard_normal((n, d)) + shift
                    hp = rng.standard_normal((n, d))
                    with torch.no_grad():
                        logit = adv.disc(torch.as_tensor(np.concatenate([hq, hp]),
                                                         dtype=torch.float32)).reshape(-1)
                    idx = np.stack([np.arange(2 * n)] + [rng.permutation(2 * n)
                                                         for _ in range(B)])
                    lq, lp = logit[torch.as_tensor(idx[:, :n])], logit[torch.as_tensor(idx[:, n:])]
                    stats["adversarial-js"] = (math.log(2.0) - 0.5 * (
                        F.softplus(-lp).mean(1) + F.softplus(lq).mean(1))).numpy()
                    times.setdefault("adversarial-js", []).append(time.perf_counter() - t1)
                for pen, s in stats.items():
                    pvals.setdefault(pen, []).append(float((1 + np.sum(s[1:] >= s[0])) / len(s)))
            for pen, pv in pvals.items():
                out.append(dict(penalty=pen, d=d, n=n, shift_w2=delta,
                                power=float(np.mean(np.array(pv) <= 0.05)), pvalues=pv,
                                trials=len(pv), perms=cfg["power_sinkhorn_perms"]
                                if pen == "sinkhorn" else B))
            out.append(dict(penalty="_time", d=d, n=n, shift_w2=delta,
                            time_s={k: float(np.median(v)) for k, v in times.items()}))
        log(f"power d={d:3d}  {time.perf_counter() - t0:6.1f} s")
    return out


def smallest_detectable(power, threshold=0.8):
    """{(penalty, d): smallest shift with power >= threshold (None: none in the ladder)}."""
    res = {}
    for r in power:
        if r["penalty"] == "_time" or r["shift_w2"] == 0:
            continue
        key = (r["penalty"], r["d"])
        res.setdefault(key, None)
        if r["power"] >= threshold and (res[key] is None or r["shift_w2"] < res[key]):
            res[key] = r["shift_w2"]
    return res


def _n_cores(affinity):
    """Core count from machine_info's affinity (a list of cores; older JSON stored a count)."""
    return len(affinity) if isinstance(affinity, list) else affinity


def summarize(rows):
    """Per (penalty, family, d, n): Spearman with true W_2 over all evaluations, monotonicity
    violations of the level means, value at Q = P (its bias: every divergence is 0 there), noise,
    bias vs W_2^2 for the W_2^2-scale penalties, median time per evaluation."""
    from scipy.stats import spearmanr

    keys = sorted({(r["penalty"], r["family"], r["d"], r["n"]) for r in rows})
    out = []
    for pen, fam, d, n in keys:
        rs = [r for r in rows if (r["penalty"], r["family"], r["d"], r["n"]) == (pen, fam, d, n)]
        levels = sorted({r["level"] for r in rs})
        vals = [[r["value"] for r in rs if r["level"] == li] for li in levels]
        truth = [next(r["true_w2"] for r in rs if r["level"] == li) for li in levels]
        means = [float(np.mean(v)) for v in vals]
        stds = [float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for v in vals]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rho = spearmanr([r["true_w2"] for r in rs], [r["value"] for r in rs]).statistic
        rho = None if rho is None or not np.isfinite(rho) else float(rho)
        span = means[-1] - means[0]
        row = dict(penalty=pen, family=fam, d=d, n=n, true_w2=truth, mean=means, std=stds,
                   spearman=rho,
                   monotonicity_violations=int(sum(b <= a for a, b in zip(means, means[1:]))),
                   monotonicity_pairs=len(means) - 1, value_at_null=means[0], std_at_null=stds[0],
                   noise_to_signal=(float(np.mean(stds)) / span) if span > 0 else None,
                   time_s=float(np.median([r["time_s"] for r in rs])))
        if pen in W2_SCALE:
            row["bias_vs_w2sq"] = [m - t ** 2 for m, t in zip(means, truth)]
        out.append(row)
    return out


# ----------------------------------------------------------------------------- reporting
def spearman_table(summary, families=FAMILIES):
    """{penalty: {(d, n): (mean Spearman over ``families``, minimum over them)}}."""
    tab = {}
    for s in summary:
        if s["family"] in families:
            tab.setdefault(s["penalty"], {}).setdefault((s["d"], s["n"]), []).append(s["spearman"])
    return {p: {k: (float(np.mean([x for x in v if x is not None])) if any(x is not None for x in v)
                    else None,
                    min((x for x in v if x is not None), default=None)) for k, v in t.items()}
            for p, t in tab.items()}


def plot_family(summary, family, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [s for s in summary if s["family"] == family]
    dims = sorted({s["d"] for s in rows})
    batches = sorted({s["n"] for s in rows})
    pens = sorted({s["penalty"] for s in rows})
    colors = {p: plt.cm.tab10(i % 10) for i, p in enumerate(pens)}
    fig, axes = plt.subplots(len(batches), len(dims), figsize=(4.2 * len(dims),
                                                                3.3 * len(batches)),
                             squeeze=False)
    for i, n in enumerate(batches):
        for j, d in enumerate(dims):
            ax = axes[i][j]
            for s in rows:
                if s["d"] != d or s["n"] != n:
                    continue
                scale = max(abs(m) for m in s["mean"]) or 1.0  # normalised: max |mean| = 1
                rho = "nan" if s["spearman"] is None else f"{s['spearman']:.2f}"
                lab = s["penalty"] + f" ρ={rho}"
                ax.errorbar(s["true_w2"], np.array(s["mean"]) / scale,
                            yerr=np.array(s["std"]) / scale, marker="o", ms=3, capsize=2,
                            color=colors[s["penalty"]], label=lab)
            ax.set(title=f"{family}, d={d}, batch n={n}",
                   xlabel="true W_2(Q_Z, N(0,I))" + (" (large-sample plug-in)"
                                                     if family in NONGAUSS else ""),
                   ylabel="penalty / max |mean|")
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=6)
            else:
                ax.text(0.5, 0.5, "not measured in this mode", ha="center", va="center",
                        transform=ax.transAxes, color="gray")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_bias(bias, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, pop in zip(axes, (0.0, 1.0)):
        for d in sorted({b["d"] for b in bias}):
            bs = [b for b in bias if b["d"] == d and b["population_w2sq"] == pop]
            ax.errorbar([b["n"] for b in bs], [b["bias"] for b in bs],
                        yerr=[b["std"] for b in bs], marker="o", capsize=2, label=f"d={d}")
        ax.set(xscale="log", yscale="log", xlabel="minibatch size n",
               ylabel="E W_2^2(minibatches) - W_2^2(population)",
               title=f"minibatch OT bias, population W_2^2 = {pop:g}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _g(x, missing):
    """A shift (or None / inf for 'not reached') as text."""
    return missing if x is None or x == math.inf else format(x, "g")


def _f(x, fmt=".2f"):
    return "n/a" if x is None else format(x, fmt)


def plot_power(power, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in power if r["penalty"] != "_time"]
    dims = sorted({r["d"] for r in rows})
    pens = sorted({r["penalty"] for r in rows})
    colors = {p: plt.cm.tab10(i % 10) for i, p in enumerate(pens)}
    fig, axes = plt.subplots(1, len(dims), figsize=(4.2 * len(dims), 3.6), squeeze=False)
    for ax, d in zip(axes[0], dims):
        for p in pens:
            rs = sorted((r for r in rows if r["d"] == d and r["penalty"] == p),
                        key=lambda r: r["shift_w2"])
            ax.plot([r["shift_w2"] for r in rs], [r["power"] for r in rs], marker="o", ms=3,
                    color=colors[p], label=p)
        ax.axhline(0.05, color="gray", lw=0.8, ls=":")
        ax.axhline(0.8, color="gray", lw=0.8, ls="--")
        ax.set(title=f"d={d}, batch n={rows[0]['n']}", xlabel="mean shift = W_2(Q_Z, P_Z)",
               ylabel="power (permutation test, 5%)", ylim=(-0.03, 1.03))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _ranking(tab, nts, d, n, pens):
    scored = []
    for p in pens:
        if (d, n) not in tab.get(p, {}):
            continue
        worst = tab[p][(d, n)][1] if tab[p][(d, n)][1] is not None else -1.0
        ns = float(np.mean(nts.get((p, d, n), [np.inf])))
        scored.append((round(worst / 0.05) * 0.05, -ns, worst, ns, p))
    scored.sort(reverse=True)
    return scored


def findings(summary, bias, power, truths, cfg):
    """Prose summary computed from the numbers."""
    closed, ng = spearman_table(summary, CLOSED), spearman_table(summary, NONGAUSS)
    nts = {}
    for s in summary:
        if s["noise_to_signal"] is not None and s["family"] in CLOSED:
            nts.setdefault((s["penalty"], s["d"], s["n"]), []).append(s["noise_to_signal"])
    lines = ["### Findings (generated from the tables below)", "",
             "Ranking per (d, n) on the closed-form Gaussian families: worst-family Spearman "
             "first (rounded to 0.05), then the mean noise/signal ratio (std over repeats / range "
             "of the mean over the W_2 ladder).  Then the worst Spearman over the three "
             "moment-matched non-Gaussian families.", ""]
    pens = [p for p in PENALTY_NAMES]
    dn = sorted({k for t in closed.values() for k in t})
    for d in cfg["dims"]:
        parts = []
        for n in sorted({k[1] for k in dn if k[0] == d}):
            scored = _ranking(closed, nts, d, n, pens)
            if not scored:
                continue
            top = ", ".join(f"{s[4]} (ρ_worst {s[2]:.2f}, n/s {s[3]:.2f})" for s in scored[:2])
            last = scored[-1]
            ngs = sorted(((ng[p][(d, n)][1], p) for p in pens if (d, n) in ng.get(p, {})
                          and ng[p][(d, n)][1] is not None), reverse=True)
            ngtxt = ("; non-Gaussian worst ρ: " + ", ".join(f"{p} {v:.2f}" for v, p in ngs)
                     if ngs else "")
            parts.append(f"n={n}: {top}; last {last[4]} (ρ_worst {last[2]:.2f}){ngtxt}")
        lines.append(f"- **d = {d}**: " + "; ".join(parts) + ".")
    lines.append("")
    if power:
        sd8, sd5 = smallest_detectable(power, 0.8), smallest_detectable(power, 0.5)
        pn = power[0]["n"]
        for d in sorted({r["d"] for r in power}):
            items = sorted(((sd8.get((p, d)) if sd8.get((p, d)) is not None else math.inf, p)
                            for p in {r["penalty"] for r in power if r["penalty"] != "_time"}))
            lines.append(f"- Smallest mean shift (W_2) detected with power >= 0.8 at batch {pn}, "
                         f"d = {d}: " + ", ".join(
                             f"{p} {_g(v, '> ' + format(max(cfg['shifts']), 'g'))}"
                             f" (0.5: {_g(sd5.get((p, d)), '-')})"
                             for v, p in items) + ".")
        null = [r for r in power if r["penalty"] != "_time" and r["shift_w2"] == 0]
        if null:
            lines.append(f"- Type-I error at shift 0 (nominal 0.05, {null[0]['trials']} trials "
                         f"each): mean {np.mean([r['power'] for r in null]):.2f}, max "
                         f"{max(r['power'] for r in null):.2f}.")
    adv = [s for s in summary if s["penalty"] == "adversarial-js"]
    if adv:
        parts = []
        for n in sorted({s["n"] for s in adv}):
            a_c = [s["spearman"] for s in adv if s["n"] == n and s["family"] in CLOSED
                   and s["spearman"] is not None]
            a_n = [s["spearman"] for s in adv if s["n"] == n and s["family"] in NONGAUSS
                   and s["spearman"] is not None]
            t = float(np.median([s["time_s"] for s in adv if s["n"] == n]))
            parts.append(f"n={n}: worst ρ {min(a_c, default=float('nan')):.2f} (Gaussian), "
                         f"{min(a_n, default=float('nan')):.2f} (non-Gaussian), {t:.2f} s")
        lines.append(f"- Adversarial JS ({cfg['gan_steps']} discriminator steps per evaluation, "
                     f"d in {list(cfg['gan_dims'])}, bounded by log 2 = 0.69 nats): "
                     + "; ".join(parts) + ".")
    n_mid = cfg["batches"][len(cfg["batches"]) // 2]
    for d in cfg["dims"]:
        ex = [s for s in summary if s["penalty"] == "exact-w2" and s["d"] == d and s["n"] == n_mid
              and s["family"] in CLOSED]
        if ex:
            null = float(np.mean([s["value_at_null"] for s in ex]))
            sig = float(np.mean([s["mean"][-1] - s["mean"][0] for s in ex]))
            lines.append(f"- Minibatch exact W_2^2 at d={d}, n={n_mid}: value at Q = P is "
                         f"{null:.3g} while the Gaussian W_2 ladder (0 to {max(cfg['levels']):g}, "
                         f"W_2^2 up to {max(cfg['levels']) ** 2:g}) moves it by {sig:.3g}"
                         + (": the penalty is mostly minibatch bias." if null > sig else
                            f" (bias = {null / sig:.0%} of it)."))
    for d in cfg["dims"]:
        b = [x for x in bias if x["d"] == d and x["population_w2sq"] == 0.0]
        if len(b) >= 2:
            slope = np.polyfit(np.log([x["n"] for x in b]), np.log([max(x["mean"], 1e-12)
                                                                      for x in b]), 1)[0]
            lines.append(f"- Minibatch exact W_2^2 between two samples of the *same* N(0, I_{d}) "
                         f"is {b[0]['mean']:.3g} at n={b[0]['n']} and {b[-1]['mean']:.3g} at "
                         f"n={b[-1]['n']} (population value 0; decay ~ n^{slope:.2f}).")
    tparts = []
    for n in sorted({s["n"] for s in summary}):
        ts = {p: float(np.median([s["time_s"] for s in summary
                                  if s["penalty"] == p and s["n"] == n]))
              for p in PENALTY_NAMES + ("adversarial-js",)
              if any(s["penalty"] == p and s["n"] == n for s in summary)}
        tparts.append(f"n={n}: " + ", ".join(f"{p} {v * 1e3:.3g}" for p, v in ts.items()))
    lines.append("- Median time per evaluation in ms (1 thread, all d; adversarial JS includes its "
                 f"{cfg['gan_steps']} training steps): " + "; ".join(tparts) + ".")
    if truths:
        mono = [f for f, t in truths.items() if not t["monotone"]]
        lines.append("- Ground truths of the non-Gaussian ladders are "
                     + ("monotone in every family." if not mono else
                        f"NOT monotone in {', '.join(mono)} (Spearman there is unreliable)."))
    lines.append("")
    return lines


def markdown(summary, bias, power, truths, info, wall, mode, cfg, stages=None):
    big = cfg.get("big") or {}
    L = ["## Latent penalties vs the true W_2 (`benchmarks/penalties.py`)", "",
         f"Mode `{mode}`; wall time of this run: {wall:.0f} s ({wall / 60:.1f} min).  Machine: "
         f"{info['cpu_count']} CPU cores ({info.get('platform', info['machine'])}), process "
         f"pinned to {_n_cores(info.get('cpu_affinity', '?'))} core(s), torch threads "
         f"{info['torch_threads']}, CUDA {'yes' if info.get('cuda') else 'no'}; otgen "
         f"{info.get('otgen', '?')}, numpy {info['numpy']}, scipy {info['scipy']}, POT "
         f"{info['pot']}, geomloss {info['geomloss']}, pykeops {info.get('pykeops', '?')}, "
         f"torch {info['torch']}, Python {info['python']}."
         + (f"  Stages: {', '.join(f'{k} {v:.0f} s' for k, v in stages.items())}."
            if stages else "")
         + (f"  Load average (1 min) at start / end: {info['loadavg_start']:.1f} / "
            f"{info['loadavg_end']:.1f} (the machine is shared; timings are inflated by that)."
            if "loadavg_start" in info else ""), ""]
    L += findings(summary, bias, power, truths, cfg)
    skipped = [f"Sinkhorn only at n <= {cfg['sinkhorn_max_n']} (4096^2 Sinkhorn took ~110 s per "
               "call, 1024^2 several seconds, on this machine; at n >= 1024 eps = 0.1 Sinkhorn "
               "and exact W_2^2 had identical Spearman in every cell of earlier runs)",
               f"non-Gaussian families at n in {list(cfg['ng_batches'])}",
               f"{cfg['repeats']} repeats per level"
               + "".join(f", {v} at n = {k}" for k, v in cfg["repeats_at"].items())]
    if big:
        skipped.append(f"n = {big['n']} only for d in {list(big['dims'])}, the closed-form "
                       f"families, {big['repeats']} repeat(s), no Sinkhorn (an MMD at n = 4096 "
                       "takes ~3.5 s and exact W_2^2 ~7 s per call here)")
    L += ["### Setup", "",
          "P_Z = N(0, I_d).  **Closed-form families** (Gaussian Q_Z, true W_2 by the Bures "
          "formula, "
          "`otgen.theory.gaussian_w2`): **shift** (mean along (1,...,1)/sqrt(d)), **scale** (cov "
          "s^2 I), **rotated-anisotropic** (cov R diag(exp(a g_k)) R^T, g_k evenly spaced in "
          f"[-1, 1], fixed random rotation R); W_2 levels {list(cfg['levels'])}.",
          "",
          "**Non-Gaussian families** (no closed form; every level has mean 0 and covariance I, so "
          "only non-Gaussianity separates Q_Z from P_Z): in k = min(d, 2) coordinates, each "
          "coordinate independently **mixture** 1/2 N(-a, 1-a^2) + 1/2 N(a, 1-a^2) (a 4-mode "
          "mixture in 2-D), **student-t** t_nu scaled to unit variance, **uniform-blend** "
          "sqrt(1-t) N(0,1) + sqrt(t) U(-sqrt 3, sqrt 3); the other d - k coordinates N(0, 1); "
          "the whole vector rotated by a fixed random rotation.  The squared cost splits over "
          "coordinates and the last d - k coordinates are identical N(0, 1), so W_2(Q_Z, P_Z) "
          "equals the W_2 of the k-dim block to N(0, I_k) in every d.  That block value is the "
          f"ground truth, estimated by `otgen.theory.wasserstein(method='{cfg['truth_method']}')` "
          f"between {cfg['truth_n']} points of the block and {cfg['truth_n']} points of "
          f"N(0, I_k), {cfg['truth_draws']} independent draws.  **This is itself a plug-in "
          "estimate**: the certified interval bounds the OT cost between the two *samples*, not "
          "the population W_2, and the plug-in is biased upward (for two samples of the same "
          "N(0, I_2) it is not 0, see level 0 in the table); the spread over draws is its "
          "sampling error.  It is only tolerable because k = 2: in d = 64 a plug-in on 4000 "
          "points would be dominated by its bias (the minibatch-bias table below).  The column "
          "'1-D quantile' recomputes the same W_2 from the product structure (sqrt(k) x the 1-D "
          "quantile-coupling W_2 on 10^6 samples), which has almost no bias: it shows how much "
          "the plug-in overstates the small levels.  Spearman only uses the ranks of the "
          "ladder, which both agree on when the ladder is monotone (checked below).",
          "",
          "At each (family, d, batch n, level) independent minibatch pairs are drawn and every "
          "penalty sees the same pair.  In this mode: " + "; ".join(skipped) + ".",
          "",
          "Penalties (float32, as in training, except exact W_2^2 in float64):",
          "- `mmd-imq`: `otgen.models.penalties.mmd`, IMQ, WAE scales C = 2 d s, s in "
          "(0.1 .. 10), unbiased U-statistic (can be < 0).",
          "- `mmd-rbf-median`: the same function with kernel='rbf' and a single width C = median "
          "pooled squared distance (median heuristic).",
          "- `kl-moment`: KL(N(mean, cov of the Q batch) || N(0, I)), full covariance (+1e-6 I); "
          "`kl_gaussian` is the per-sample diagonal VAE term and does not apply to samples.  It "
          "only sees the first two moments, so it is blind by construction to the non-Gaussian "
          "families.",
          "- `sliced-w2`: `sliced_w2`, 50 projections (SW_2^2, not W_2^2: about W_2^2 / d for "
          "a shift).",
          f"- `sinkhorn`: `otgen.theory.sinkhorn_divergence`, eps = {SINKHORN_EPS}, "
          "scaling 0.9, tensorized (= `sinkhorn_penalty`).",
          "- `exact-w2`: minibatch W_2^2 by `otgen.theory.wasserstein(method='exact')`.",
          f"- `adversarial-js`: `LatentAdversary` (hidden 64x64), {cfg['gan_steps']} Adam steps "
          "(lr 1e-3) on fresh batch pairs of the given size, then its JS lower bound (nats) on a "
          f"held-out pair; batch sizes {list(cfg['gan_batches'])}, d in {list(cfg['gan_dims'])}, "
          f"{cfg['gan_repeats']} repeat(s); its time includes training.", ""]
    if truths:
        L += ["### Ground truths of the non-Gaussian families (large-sample exact OT)", "",
              "W_2 = mean over draws of sqrt(sample W_2^2); certified = [sqrt(min lower), "
              "sqrt(max upper)] of the solver's certified intervals over the draws (bounds on "
              "the sample OT); draw std = std over the independent draws (sampling error).", "",
              "| family | parameter | W_2 (large sample) | per draw | certified sample-OT interval "
              "| draw std | 1-D quantile | n x draws | solver time (s) |",
              "|---|---|---|---|---|---|---|---|---|"]
        for fam, t in truths.items():
            pname = {"mixture": "a", "student-t": "1/nu", "uniform-blend": "t"}[fam]
            for r in t["levels"]:
                L.append(f"| {fam} | {pname} = {r['param']:.3g} | {r['w2']:.4f} | "
                         + ", ".join(f"{w:.4f}" for w in r["w2_draws"])
                         + f" | [{r['certified_w2'][0]:.5f}, {r['certified_w2'][1]:.5f}] | "
                         f"{r['draw_std']:.2g} | {r['quantile_w2']:.4f} | {r['n']} x {r['draws']} "
                         f"| {r['time_s']:.1f} |")
            L.append(f"| {fam} | monotone ladder: {'yes' if t['monotone'] else '**no**'} "
                     "| | | | | | | |")
        L.append("")
    for title, fams in (("closed-form Gaussian families", CLOSED),
                        ("moment-matched non-Gaussian families", NONGAUSS)):
        tab = spearman_table(summary, fams)
        dn = sorted({k for t in tab.values() for k in t})
        if not dn:
            continue
        L += [f"### Spearman rank correlation with the true W_2, {title} (mean over the "
              "families / worst family)", "",
              "| penalty | " + " | ".join(f"d={d} n={n}" for d, n in dn) + " |",
              "|---|" + "---|" * len(dn)]
        for p in sorted(tab):
            L.append(f"| {p} | " + " | ".join(
                (f"{_f(tab[p][k][0])} / {_f(tab[p][k][1])}" if k in tab[p] else "")
                for k in dn) + " |")
        L.append("")
    if power:
        shifts = sorted({r["shift_w2"] for r in power if r["penalty"] != "_time"})
        sd8, sd5 = smallest_detectable(power, 0.8), smallest_detectable(power, 0.5)
        r0 = next(r for r in power if r["penalty"] != "_time")
        L += [f"### Power against a mean shift at batch n = {r0['n']} (permutation test, 5%)", "",
              f"Q_Z = N(delta (1,...,1)/sqrt(d), I), so W_2 = delta.  Each trial draws one batch "
              f"pair of {r0['n']}; the p-value comes from {r0['perms']} random relabellings "
              f"(Sinkhorn: the first {cfg['power_sinkhorn_perms']}, its batched GeomLoss call "
              "dominates the cost) "
              f"of the pooled {2 * r0['n']} points (the observed split counted as one of them); "
              "power "
              f"= fraction of {r0['trials']} trials with p <= 0.05 (binomial standard error up "
              f"to {0.5 / math.sqrt(r0['trials']):.2f}).  Adversarial JS: trained on "
              f"{cfg['power_gan_steps']} *extra* fresh batch pairs, then permutation-tested on a "
              "held-out pair (a classifier two-sample test; exact level, but the adversary saw "
              "more data than the other statistics, as it does in training).  The permutation "
              "statistics are the benchmark's penalties computed in batch (exact W_2^2 by POT's "
              "network simplex on sub-blocks of the pooled cost matrix, Sinkhorn by GeomLoss on "
              "a batch of all relabellings).", "",
              "| penalty | d | " + " | ".join(f"{s:g}" for s in shifts)
              + " | smallest shift, power >= 0.8 | >= 0.5 |",
              "|---|---|" + "---|" * len(shifts) + "---|---|"]
        for p in sorted({r["penalty"] for r in power if r["penalty"] != "_time"}):
            for d in sorted({r["d"] for r in power}):
                pw = {r["shift_w2"]: r["power"] for r in power if r["penalty"] == p
                      and r["d"] == d}
                L.append(f"| {p} | {d} | " + " | ".join(_f(pw.get(s)) for s in shifts)
                         + f" | {_g(sd8.get((p, d)), 'none')} | {_g(sd5.get((p, d)), 'none')} |")
        tm = [r for r in power if r["penalty"] == "_time"]
        if tm:
            L += ["", "Median time per trial (observed + all relabellings): " + "; ".join(
                f"d={d}: " + ", ".join(
                    f"{k} {np.median([r['time_s'].get(k, np.nan) for r in tm if r['d'] == d]):.2f}"
                    " s" for k in tm[0]["time_s"])
                for d in sorted({r["d"] for r in tm})) + "."]
        L += ["", "![power](benchmarks-penalties-power.png)", ""]
    adv = [s for s in summary if s["penalty"] == "adversarial-js"]
    if adv:
        L += ["### Adversarial JS across batch sizes", "",
              "| d | n | worst ρ Gaussian families | worst ρ non-Gaussian | mean ρ (all 6) | "
              "median time / eval (s) |", "|---|---|---|---|---|---|"]
        for d in sorted({s["d"] for s in adv}):
            for n in sorted({s["n"] for s in adv}):
                rs = [s for s in adv if s["d"] == d and s["n"] == n]
                gc = [s["spearman"] for s in rs
                      if s["family"] in CLOSED and s["spearman"] is not None]
                gn = [s["spearman"] for s in rs
                      if s["family"] in NONGAUSS and s["spearman"] is not None]
                al = gc + gn
                L.append(f"| {d} | {n} | {_f(min(gc, default=None))} | "
                         f"{_f(min(gn, default=None))} | {_f(float(np.mean(al)) if al else None)} "
                         f"| {np.median([s['time_s'] for s in rs]):.2f} |")
        L.append("")
    L += ["### Per penalty, family, d, n", "",
          "Spearman over all evaluations (levels x repeats); violations = adjacent level means "
          "that do not increase; value at Q = P is the bias (the population value is 0 for every "
          "penalty); noise/signal = mean std over levels / (mean at top level - mean at Q = P); "
          "bias vs W_2^2 at the top level for the W_2^2-scale penalties.", "",
          "| penalty | family | d | n | Spearman | violations | value at Q=P (std) | "
          "noise/signal | bias vs W_2^2 at top | time / eval (ms) |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for s in summary:
        top = _f(s["bias_vs_w2sq"][-1], ".3g") if "bias_vs_w2sq" in s else ""
        L.append(f"| {s['penalty']} | {s['family']} | {s['d']} | {s['n']} | {_f(s['spearman'])} "
                 f"| {s['monotonicity_violations']}/{s['monotonicity_pairs']} | "
                 f"{s['value_at_null']:.3g} ({s['std_at_null']:.2g}) | "
                 f"{_f(s['noise_to_signal'], '.2g')} | {top} | {s['time_s'] * 1e3:.1f} |")
    L += ["", "### Minibatch OT bias (exact W_2^2 between independent minibatches)", "",
          "| d | n | population W_2^2 | E minibatch W_2^2 | std | repeats | bias | time (ms) |",
          "|---|---|---|---|---|---|---|---|"]
    for b in bias:
        L.append(f"| {b['d']} | {b['n']} | {b['population_w2sq']:g} | {b['mean']:.4g} | "
                 f"{b['std']:.2g} | {b.get('repeats', '')} | {b['bias']:.4g} | "
                 f"{b['time_s'] * 1e3:.1f} |")
    L += ["", "![minibatch bias](benchmarks-penalties-minibatch-bias.png)", ""]
    L += ["### Limits of this run", "",
          f"- Not measured: Sinkhorn at n > {cfg['sinkhorn_max_n']}; "
          + (f"n = {big['n']} outside d in {list(big['dims'])} and for the non-Gaussian families; "
             if big else "n = 4096 (full mode only); ")
          + "power against anything but a mean shift; any GPU timing (none was available).",
          "- The non-Gaussian ground truths are large-sample plug-in values (see Setup): they rank "
          "the levels correctly but overstate the small levels; the Spearman numbers only use "
          "the ranks.",
          "- Adversarial JS is not a function of one batch pair: its power and its Spearman "
          "include the extra batches it trains on.",
          "- Spearman over levels x repeats with ties in the truth is capped below 1 "
          "(e.g. 0.98 for 5 levels x 3 repeats); differences under ~0.05 are repeat noise.", ""]
    for fam in FAMILIES:
        if any(s["family"] == fam for s in summary):
            L.append(f"![{fam}](benchmarks-penalties-{fam}.png)")
    L.append("")
    return "\n".join(L)


def report(data, out):
    """PNGs and markdown from the saved results (shared by a run and --replot)."""
    summary, cfg = data["summary"], data["config"]
    for fam in FAMILIES:
        if any(s["family"] == fam for s in summary):
            plot_family(summary, fam, out / f"benchmarks-penalties-{fam}.png")
    plot_bias(data["minibatch_bias"], out / "benchmarks-penalties-minibatch-bias.png")
    if data.get("power"):
        plot_power(data["power"], out / "benchmarks-penalties-power.png")
    md = markdown(summary, data["minibatch_bias"], data.get("power", []),
                  data.get("ground_truths", {}), data["machine"], data["wall_s"], data["mode"],
                  cfg, data.get("stage_wall_s"))
    (out / "benchmarks-penalties.md").write_text(md)
    print(md.split("### Setup")[0])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="d <= 32, batches <= 1024 (< 3 min)")
    ap.add_argument("--tiny", action="store_true", help="smoke test (seconds)")
    ap.add_argument("--out", type=Path, default=DOCS, help="output folder (default docs/)")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")),
                    help="torch threads (default $OMP_NUM_THREADS or 1: faster than 2 for these "
                         "small matrices)")
    ap.add_argument("--replot", action="store_true",
                    help="redraw the PNGs and markdown from the saved JSON without re-measuring "
                         "(ground truths included)")
    args = ap.parse_args(argv)
    import torch

    if args.replot:
        report(json.loads((args.out / "benchmarks_penalties.json").read_text()), args.out)
        return

    torch.set_num_threads(args.threads)
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    cfg = CONFIGS[mode]
    log = lambda s: print(s, flush=True)  # noqa: E731
    load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    t0 = time.perf_counter()
    stages = {}
    partial = Path(os.environ.get("PENALTIES_PARTIAL", "/tmp/benchmarks_penalties_partial.json"))

    def stage(name, value):
        stages[name] = time.perf_counter() - t0 - sum(stages.values())
        log(f"stage {name} done: {stages[name]:.0f} s (total {time.perf_counter() - t0:.0f} s)")
        done[name] = value
        if mode == "full":  # raw results so far, in case the long run is stopped
            partial.write_text(json.dumps({"stages": stages, **done}))
        return value

    done = {}
    truths = stage("ground_truths", ground_truths(cfg, log))
    power = stage("power", power_test(cfg, log))
    bias = stage("minibatch_bias", minibatch_bias(cfg))
    rows = stage("grid", run_grid(cfg, truths, log))
    summary = summarize(rows)
    wall = time.perf_counter() - t0
    info = machine_info()
    if load0 is not None:
        info["loadavg_start"], info["loadavg_end"] = load0, os.getloadavg()[0]
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    sd = {f"{p},d={d}": v for (p, d), v in smallest_detectable(power, 0.8).items()}
    data = {"mode": mode, "config": cfg, "machine": info, "wall_s": wall,
            "stage_wall_s": stages, "ground_truths": truths,
            "spearman": {fams: {p: {f"d={d},n={n}": {"mean_over_families": v[0],
                                                     "worst_family": v[1]}
                                    for (d, n), v in t.items()}
                                for p, t in spearman_table(summary, FAM).items()}
                         for fams, FAM in (("closed", CLOSED), ("non_gaussian", NONGAUSS))},
            "smallest_detectable_shift_power_0.8": sd, "power": power,
            "summary": summary, "minibatch_bias": bias, "rows": rows}
    (out / "benchmarks_penalties.json").write_text(json.dumps(data, indent=1))
    report(data, out)
    print(f"wall time {wall:.1f} s; stages " + ", ".join(f"{k} {v:.0f} s"
                                                          for k, v in stages.items()))


if __name__ == "__main__":
    main()
