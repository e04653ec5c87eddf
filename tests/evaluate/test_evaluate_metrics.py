"""Every number of otgen.evaluate against an independent truth: POT's exact LP, scipy's sqrtm,
explicit double loops over the kernel and the k-NN balls, a closed-form population W_2^2."""
from __future__ import annotations

import itertools

import numpy as np
import ot
import pytest
from scipy.linalg import sqrtm

from otgen.evaluate import evaluate, frechet_distance, kernel_mmds, prdc
from otgen.evaluate.curve import fit_power_law, sample_size_curve
from otgen.evaluate.jackknife import group_labels
from otgen.evaluate.mmd import SCALES

QUICK = dict(repeats=0, curve=False)


def _pair(n=300, d=3, shift=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, d)) * 1.3 + shift


def test_certified_w_contains_pot_emd2():
    x, y = _pair()
    res = evaluate(x, y, seed=0, **QUICK)
    a, b = np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y))
    w2 = ot.emd2(a, b, ot.dist(x, y))
    w1 = ot.emd2(a, b, ot.dist(x, y, metric="euclidean"))
    for got, truth in ((res.w2sq, w2), (res.w1, w1)):
        assert got["lower"] - 1e-9 * truth <= truth <= got["upper"] + 1e-9 * truth
        assert got["value"] == pytest.approx(truth, rel=1e-2)
    assert res.n == 300 and res.w2sq["ci"] is None


def _frechet_truth(x, y):
    m1, m2 = x.mean(0), y.mean(0)
    S1, S2 = np.cov(x.T, bias=True), np.cov(y.T, bias=True)
    r1 = sqrtm(S1)
    return float(((m1 - m2) ** 2).sum() + np.trace(S1 + S2 - 2 * np.real(sqrtm(r1 @ S2 @ r1))))


def test_frechet_is_the_closed_form_and_below_the_certified_w2():
    x, y = _pair(shift=0.5)
    y[:, 0] = np.abs(y[:, 0])  # not Gaussian: a real gap
    res = evaluate(x, y, seed=0, **QUICK)
    truth = _frechet_truth(x, y)
    assert res.frechet["value"] == pytest.approx(truth, rel=1e-8)
    assert frechet_distance(x, y)[0] == pytest.approx(truth, rel=1e-8)
    assert res.frechet["value"] <= res.w2sq["upper"] and res.frechet["holds"]
    gap = res.frechet["gap_to_w2sq"]
    assert gap["value"] == pytest.approx(res.w2sq["value"] - truth)
    assert gap["lower"] > 0.01  # the non-Gaussian part is visible


def test_frechet_jackknife_matches_recomputation():
    x, y = _pair(n=60, d=2)
    rng = np.random.default_rng(1)
    groups = (group_labels(60, rng), group_labels(60, rng))
    value, se = frechet_distance(x, y, groups)
    leave = [_frechet_truth(x[groups[0] != g], y[groups[1] != g]) for g in range(10)]
    G = len(leave)
    truth_se = np.sqrt((G - 1) / G * np.sum((np.array(leave) - np.mean(leave)) ** 2))
    assert se == pytest.approx(truth_se, rel=1e-6)


def _kernel(kind, a, b, h, d):
    sq = float(((a - b) ** 2).sum())
    if kind == "poly":
        return (float(a @ b) / d + 1) ** 3
    scales = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
    if kind == "imq":
        return np.mean([s * h / (s * h + sq) for s in scales])
    return np.mean([np.exp(-sq / (s * h)) for s in scales])


def _mmd_loop(kind, x, y, h):
    n, m, d = len(x), len(y), x.shape[1]
    kxx = sum(_kernel(kind, x[i], x[j], h, d) for i, j in itertools.permutations(range(n), 2))
    kyy = sum(_kernel(kind, y[i], y[j], h, d) for i, j in itertools.permutations(range(m), 2))
    kxy = sum(_kernel(kind, x[i], y[j], h, d) for i in range(n) for j in range(m))
    return kxx / (n * (n - 1)) + kyy / (m * (m - 1)) - 2 * kxy / (n * m)


@pytest.mark.parametrize("kind", ["imq", "rbf", "poly"])
def test_mmd_matches_the_double_loop_and_its_jackknife(kind):
    assert SCALES == (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(20, 2)), rng.normal(size=(20, 2)) + 0.7
    groups = (group_labels(20, rng, 5), group_labels(20, rng, 5))
    value, se = kernel_mmds(x, y, bandwidth=1.7, groups=groups)[kind]
    assert value == pytest.approx(_mmd_loop(kind, x, y, 1.7), rel=1e-10, abs=1e-12)
    leave = np.array([_mmd_loop(kind, x[groups[0] != g], y[groups[1] != g], 1.7)
                      for g in range(5)])
    assert se == pytest.approx(np.sqrt(4 / 5 * ((leave - leave.mean()) ** 2).sum()), rel=1e-8)


def test_mmd_blocks_agree_with_one_block(monkeypatch):
    from otgen.evaluate import mmd as mmd_module

    x, y = _pair(n=50, d=2)
    whole = kernel_mmds(x, y, bandwidth=2.0)
    monkeypatch.setattr(mmd_module, "BLOCK_ENTRIES", 7 * 50)  # blocks of 7 rows
    blocked = kernel_mmds(x, y, bandwidth=2.0)
    for k in whole:
        assert blocked[k][0] == pytest.approx(whole[k][0], rel=1e-12)


def test_mmd_is_zero_within_a_few_se_for_one_law_and_positive_otherwise():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(300, 3)), rng.normal(size=(300, 3))
    same = evaluate(x, y, seed=0, **QUICK)
    shifted = evaluate(x, y + 0.5, seed=0, **QUICK)
    for key in ("mmd_imq", "mmd_rbf", "kid"):
        assert abs(same.__dict__[key]["value"]) < 4 * same.__dict__[key]["se"], key
        e = shifted.__dict__[key]
        assert e["value"] > 4 * e["se"] > 0, key


def _prdc_brute(x, y, k):
    def radii(a):
        D = np.linalg.norm(a[:, None] - a[None], axis=-1)
        return np.sort(D, axis=1)[:, k]  # index 0 is the point itself
    r, s = radii(x), radii(y)
    D = np.linalg.norm(y[:, None] - x[None], axis=-1)  # D[j, i] = |y_j - x_i|
    precision = np.mean([any(D[j, i] <= r[i] for i in range(len(x))) for j in range(len(y))])
    recall = np.mean([any(D[j, i] <= s[j] for j in range(len(y))) for i in range(len(x))])
    density = sum(D[j, i] <= r[i] for j in range(len(y)) for i in range(len(x))) / (k * len(y))
    coverage = np.mean([min(D[:, i]) <= r[i] for i in range(len(x))])
    return dict(precision=precision, recall=recall, density=density, coverage=coverage)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prdc_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(12, 2)), rng.normal(size=(10, 2)) * 0.8 + 0.4
    got, truth = prdc(x, y, k=3), _prdc_brute(x, y, 3)
    for key, value in truth.items():
        assert got[key][0] == pytest.approx(value, abs=1e-12), key
    ind = [any(np.linalg.norm(y[j] - x[i]) <= np.sort(np.linalg.norm(x - x[i], axis=1))[3]
               for i in range(12)) for j in range(10)]
    assert got["precision"][1] == pytest.approx(np.std(ind, ddof=1) / np.sqrt(10))


def test_prdc_blocks_agree_with_one_block(monkeypatch):
    from otgen.evaluate import manifold

    x, y = _pair(n=80, d=2, shift=0.3)
    whole = prdc(x, y)
    monkeypatch.setattr(manifold, "BLOCK_ENTRIES", 9 * 80)
    assert prdc(x, y) == whole


def test_prdc_one_law_near_one_disjoint_zero():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(400, 2)), rng.normal(size=(400, 2))
    same = prdc(x, y)
    assert same["precision"][0] > 0.85 and same["recall"][0] > 0.85
    assert 0.8 < same["density"][0] < 1.2 and same["coverage"][0] > 0.85
    far = prdc(x, y + 50.0)
    assert all(far[key][0] == 0.0 for key in far)


def test_bootstrap_ci_covers_the_population_w2sq():
    """x ~ N(0, 1), y ~ N(1, 1): W_2^2 = 1 (gaussian_w2).  90% intervals: expect ~36/40."""
    rng = np.random.default_rng(5)
    hits = []
    for t in range(40):
        x, y = rng.normal(size=(200, 1)), rng.normal(size=(200, 1)) + 1.0
        ci = evaluate(x, y, seed=t, repeats=40, curve=False).w2sq["ci"]
        hits.append(ci[0] <= 1.0 <= ci[1])
    assert 0.7 <= np.mean(hits) <= 1.0, np.mean(hits)
    assert ci[1] - ci[0] < 1.0  # not trivially wide


def test_power_law_fit_recovers_a_known_curve():
    sizes = [50, 100, 200, 400]
    values = [2.0 + 0.3 * (s / 400) ** -0.5 for s in sizes]
    fit = fit_power_law(sizes, values)
    assert fit["exponent"] == pytest.approx(0.5, abs=0.03)
    assert fit["extrapolated"] == pytest.approx(2.0, abs=0.02)
    assert fit["bias_at_n"] == pytest.approx(0.3, abs=0.02)
    assert fit_power_law(sizes[:2], values[:2]) is None


def test_sample_size_curve_means_and_drift():
    x, y = _pair(n=64, d=2)
    calls = []

    def measure(a, b):
        calls.append(len(a))
        return {"size": float(len(a))}

    out = sample_size_curve(x, y, measure, {"size": 64.0}, minimum=8, repeats=3,
                            rng=np.random.default_rng(0))
    assert out["sizes"] == [8, 16, 32, 64] and sorted(set(calls)) == [8, 16, 32]
    q = out["quantities"]["size"]
    assert q["mean"] == [8.0, 16.0, 32.0, 64.0] and q["drift"] == 32.0
    assert q["std"] == [0.0, 0.0, 0.0, 0.0]


def test_evaluate_curve_keys_and_unbiased_have_no_fit():
    x, y = _pair(n=96, d=2)
    res = evaluate(x, y, seed=0, repeats=0, curve_repeats=2)
    c = res.sample_size_curve
    assert c["sizes"] == [12, 24, 48, 96]
    assert c["quantities"]["w2sq"]["mean"][-1] == res.w2sq["value"]
    assert c["quantities"]["kid"]["fit"] is None and c["quantities"]["w2sq"]["fit"] is not None


def test_seed_makes_evaluate_deterministic():
    x, y = _pair(n=200, d=2)
    a = evaluate(x, y, n=100, seed=3, repeats=5).to_dict()
    b = evaluate(x, y, n=100, seed=3, repeats=5).to_dict()
    a["settings"].pop("time_s"), b["settings"].pop("time_s")
    assert a == b
