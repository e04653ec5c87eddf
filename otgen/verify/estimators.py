"""Self-checks of the estimator core against independent truths (no otgen solver as judge)."""
from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment, linprog

from ..theory import gaussian_w2, sliced_wasserstein, wasserstein, wasserstein_1d
from ..theory.costs import cost_matrix
from .core import make_check, register


def _clouds(rng, n, m, d, shift=1.0, scale=1.0):
    x = rng.standard_normal((n, d)) * scale
    y = (rng.standard_normal((m, d)) + shift) * scale * rng.uniform(0.5, 2.0)
    return x, y


def digits_clouds(n_per_class=60, seed=0):
    """Two embedded real-data clouds: handwritten 3s and 8s from sklearn's bundled digits."""
    from sklearn.datasets import load_digits

    X, t = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    x = X[t == 3] / 16.0
    y = X[t == 8] / 16.0
    return (x[rng.choice(len(x), n_per_class, replace=False)],
            y[rng.choice(len(y), n_per_class, replace=False)])


@register("exact == assignment (scipy linear_sum_assignment)")
def check_exact_vs_assignment(seed=0):
    rng = np.random.default_rng(seed)
    errs = []
    for _ in range(20):
        n, d, p = int(rng.integers(2, 60)), int(rng.integers(1, 6)), [1, 2, 3][rng.integers(3)]
        x, y = _clouds(rng, n, n, d)
        C = cost_matrix(x, y, p)
        r, c = linear_sum_assignment(C)
        truth = C[r, c].mean()
        errs.append(abs(wasserstein(x, y, p=p, method="exact").value - truth) / truth)
    return make_check("exact == assignment (scipy linear_sum_assignment)", errs, 1e-8)


@register("exact == LP (scipy linprog, unequal weights)")
def check_exact_vs_linprog(seed=0):
    rng = np.random.default_rng(seed + 1)
    errs = []
    for _ in range(10):
        n, m, d = int(rng.integers(2, 15)), int(rng.integers(2, 15)), int(rng.integers(1, 4))
        x, y = _clouds(rng, n, m, d)
        a, b = rng.random(n) + 0.01, rng.random(m) + 0.01
        a, b = a / a.sum(), b / b.sum()
        C = cost_matrix(x, y, 2)
        A = np.vstack([np.kron(np.eye(n), np.ones(m)), np.kron(np.ones(n), np.eye(m))])
        truth = linprog(C.ravel(), A_eq=A, b_eq=np.concatenate([a, b]), method="highs").fun
        r = wasserstein(x, y, a, b, method="exact")
        errs.append(abs(r.value - truth) / truth)
    return make_check("exact == LP (scipy linprog, unequal weights)", errs, 1e-8)


@register("certified interval contains exact OT (sinkhorn, gaussian, sliced)")
def check_intervals(seed=0):
    rng = np.random.default_rng(seed + 2)
    errs = []
    for k in range(12):
        n, m, d = int(rng.integers(5, 120)), int(rng.integers(5, 120)), int(rng.integers(1, 6))
        scale = [1.0, 1e3, 1e-2][k % 3]
        x, y = _clouds(rng, n, m, d, scale=scale)
        if k % 4 == 3:
            x, y = x.astype(np.float32), y.astype(np.float32)
        truth = wasserstein(x.astype(np.float64), y.astype(np.float64), method="exact").value
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            results = [wasserstein(x, y, method="sinkhorn"),
                       wasserstein(x, y, method="sinkhorn", eps=float(truth) * 0.05),
                       wasserstein(x, y, method="gaussian"),
                       sliced_wasserstein(x, y, n_projections=20, seed=k)]
        for r in results:
            # relative violation of lower <= truth <= upper (0 when inside)
            viol = max(r.lower - truth, truth - r.upper, 0.0) / truth
            errs.append(viol)
    return make_check("certified interval contains exact OT (sinkhorn, gaussian, sliced)",
                      errs, 1e-6)


@register("1d == sorted quantiles")
def check_1d(seed=0):
    rng = np.random.default_rng(seed + 3)
    errs = []
    for _ in range(20):
        n, p = int(rng.integers(1, 200)), float(rng.choice([1, 1.5, 2, 3]))
        u, v = rng.standard_normal(n), rng.standard_exponential(n) * 3
        truth = np.mean(np.abs(np.sort(u) - np.sort(v)) ** p)
        errs.append(abs(wasserstein_1d(u, v, p=p) - truth) / max(truth, 1e-300))
        errs.append(abs(wasserstein(u[:, None], v[:, None], p=p).value - truth)
                    / max(truth, 1e-300))
    return make_check("1d == sorted quantiles", errs, 1e-10)


@register("gaussian_w2 == diagonal closed form")
def check_gaussian_diag(seed=0):
    rng = np.random.default_rng(seed + 4)
    errs = []
    for _ in range(20):
        d = int(rng.integers(1, 10))
        m1, m2 = rng.standard_normal(d), rng.standard_normal(d)
        s1, s2 = rng.uniform(0.1, 3, d), rng.uniform(0.1, 3, d)
        truth = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
        errs.append(abs(gaussian_w2(m1, np.diag(s1), m2, np.diag(s2)) - truth) / truth)
    return make_check("gaussian_w2 == diagonal closed form", errs, 1e-10)


@register("translation: W_p(P, P + t) == |t| (all methods)")
def check_translation(seed=0):
    rng = np.random.default_rng(seed + 5)
    errs = []
    for _ in range(8):
        n, d = int(rng.integers(5, 80)), int(rng.integers(1, 5))
        x, t = rng.standard_normal((n, d)), rng.standard_normal(d) * 3
        for p in (1.0, 2.0, 3.0):
            for method in ("exact", "auto"):
                r = wasserstein(x, x + t, p=p, method=method)
                errs.append(abs(r.distance - np.linalg.norm(t)) / np.linalg.norm(t))
    return make_check("translation: W_p(P, P + t) == |t| (all methods)", errs, 1e-8)


@register("exact interval on real data (digits 3 vs 8, 64-D) contains sinkhorn")
def check_digits(seed=0):
    x, y = digits_clouds(seed=seed)
    exact = wasserstein(x, y, method="exact")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sk = wasserstein(x, y, method="sinkhorn", tol=1e-2)
    errs = [exact.rel_gap, max(sk.lower - exact.value, exact.value - sk.upper, 0) / exact.value]
    return make_check("exact interval on real data (digits 3 vs 8, 64-D) contains sinkhorn",
                      errs, 1e-8, detail=f"W_2^2={exact.value:.4f}")


#: methods exercised by the hostile-layout claim, and the exponents each accepts
HOSTILE_METHODS = ("exact", "sparse", "auto", "sinkhorn", "1d", "gaussian", "sliced")


@register("certified intervals hold on hostile layouts")
def check_hostile_layouts(seed=0, per_method=40):
    """Far-apart clusters (1e2..1e8 spreads), scales 1e-9..1e9, p in {0.5, 1, 1.5, 2, 3}, zero,
    tiny and dyadic weights, duplicated points, float32: every method's interval must contain
    the exact value (truth without otgen: assignment of expanded point sets, exact rationals in
    1-D), tolerance 0.  Error = violation relative to the true value."""
    from hypothesis import HealthCheck, given, settings

    from ..testing import hostile_layouts, truth_interval

    errs, worst = [], []
    for method in HOSTILE_METHODS:
        strategy = (hostile_layouts(max_dim=1, p_values=(1.0, 1.5, 2.0, 3.0)) if method == "1d"
                    else hostile_layouts(p_values=(2.0,)) if method == "gaussian"
                    else hostile_layouts(p_values=(1.0, 1.5, 2.0, 3.0)) if method == "sliced"
                    else hostile_layouts())

        @settings(max_examples=per_method, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def run(pb):
            lo, hi = truth_interval(pb)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                if method == "sliced":
                    r = sliced_wasserstein(pb.x, pb.y, pb.a, pb.b, p=pb.p, n_projections=20,
                                           seed=seed)
                elif method == "sinkhorn":
                    r = wasserstein(pb.x, pb.y, pb.a, pb.b, p=pb.p, method=method, tol=0.1,
                                    max_iter=300)
                else:
                    r = wasserstein(pb.x, pb.y, pb.a, pb.b, p=pb.p, method=method)
            scale = max(abs(hi), 1e-300)
            viol = max(r.lower - hi, lo - r.upper, 0.0) / scale
            if not (np.isfinite(r.lower) and np.isfinite(r.upper)):
                viol = np.inf
            if viol > 0:
                worst.append(f"{method}: {pb!r}")
            errs.append(viol)

        run()
    return make_check("certified intervals hold on hostile layouts", errs, 0.0,
                      detail=worst[0] if worst else f"{len(errs)} instances, "
                      f"{len(HOSTILE_METHODS)} methods")
