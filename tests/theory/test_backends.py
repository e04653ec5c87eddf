"""The three reduction backends of CostGeometry (dense, blocks, KeOps) agree with brute force.

KeOps compiles each formula with g++ on first use (cached afterwards), so these tests are the
slow ones of the theory suite on a fresh machine."""
import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from otgen.theory import wasserstein
from otgen.theory import costs
from otgen.theory.costs import CostGeometry


def brute(x, y, p):
    return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)) ** p


@pytest.fixture(scope="module")
def instance():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(37, 3)), rng.normal(size=(29, 3)) + 0.5
    h_m, h_n = rng.normal(size=29), rng.normal(size=37)
    return x, y, h_m, h_n


@pytest.mark.parametrize("backend", ["dense", "blocks", "keops"])
@pytest.mark.parametrize("p", [1.0, 2.0])
def test_reductions_match_brute_force(instance, backend, p, monkeypatch):
    pytest.importorskip("pykeops") if backend == "keops" else None
    monkeypatch.setattr(costs, "BLOCK_ENTRIES", 200)  # several blocks even on tiny clouds
    x, y, h_m, h_n = instance
    geom = CostGeometry(x, y, p, backend=backend)
    C = brute(x, y, p)
    eps = 0.3
    np.testing.assert_allclose(geom.softmin(h_m, eps).numpy(),
                               -eps * logsumexp((h_m[None, :] - C) / eps, axis=1), rtol=1e-9)
    np.testing.assert_allclose(geom.softmin(h_n, eps, transpose=True).numpy(),
                               -eps * logsumexp((h_n[:, None] - C) / eps, axis=0), rtol=1e-9)
    np.testing.assert_allclose(geom.cmin(h_m).numpy(), (C - h_m[None, :]).min(1), rtol=1e-9,
                               atol=1e-12)
    P = np.exp((h_n[:, None] + h_m[None, :] - C) / eps)
    rows, cols, cost = geom.plan_stats(h_n, h_m, eps)
    np.testing.assert_allclose(rows.numpy(), P.sum(1), rtol=1e-9)
    np.testing.assert_allclose(cols.numpy(), P.sum(0), rtol=1e-9)
    assert float(cost) == pytest.approx((P * C).sum(), rel=1e-9)
    assert float(geom.bilinear(h_n, h_m)) == pytest.approx(h_n @ C @ h_m, rel=1e-9)


@pytest.mark.parametrize("backend", ["blocks", "keops"])
def test_sinkhorn_interval_with_each_backend(backend, monkeypatch):
    pytest.importorskip("pykeops") if backend == "keops" else None
    monkeypatch.setattr(costs, "BLOCK_ENTRIES", 500)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 2)), rng.normal(size=(50, 2)) + 1
    exact = wasserstein(x, y, method="exact").value
    r = wasserstein(x, y, method="sinkhorn", eps=0.05, backend=backend)
    assert r.lower <= exact * (1 + 1e-12) and exact <= r.upper * (1 + 1e-12)
    assert r.info["backend"] == backend
    # gradient through the implicit (blockwise) plan when no dense plan is kept must equal the
    # envelope gradient sum_j P_ij * 2 (x_i - y_j) computed from the dense plan of the same solve
    from otgen.theory import SinkhornConfig

    P = r.plan
    expected = 2 * (P.sum(1)[:, None] * x - P @ y)
    xt = torch.tensor(x, requires_grad=True)
    rt = wasserstein(xt, torch.tensor(y), method="sinkhorn", eps=0.05, backend=backend,
                     sinkhorn=SinkhornConfig(dense_plan_max=0))
    assert rt.plan is None
    rt.value.backward()
    np.testing.assert_allclose(xt.grad.numpy(), expected, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("backend", ["dense", "blocks"])
def test_softmin_with_zero_weights_and_repeated_calls(instance, backend, monkeypatch):
    # h = g + eps log b is -inf where b_j = 0; the in-place block log-sum-exp must agree with
    # scipy, also when the scratch block is reused by several calls in a row
    monkeypatch.setattr(costs, "BLOCK_ENTRIES", 200)
    x, y, h_m, _ = instance
    h = h_m.copy()
    h[::3] = -np.inf
    geom = CostGeometry(x, y, 2.0, backend=backend)
    C = brute(x, y, 2.0)
    for eps in (0.3, 0.05, 0.3):
        np.testing.assert_allclose(geom.softmin(h, eps).numpy(),
                                   -eps * logsumexp((h[None, :] - C) / eps, axis=1), rtol=1e-9)
        np.testing.assert_allclose(geom.cmin(h_m).numpy(), (C - h_m[None, :]).min(1),
                                   rtol=1e-9, atol=1e-12)
    assert np.all(np.isposinf(geom.softmin(np.full(len(y), -np.inf), 0.3).numpy()))


def test_keops_cost_for_fractional_p_is_accurate():
    """KeOps' float power is only ~1e-8 accurate; otgen's lazy cost (exp(p/2 log S)) must
    match cdist to ~1e-14 (its certificate assumes (p 745 + 8) u)."""
    pytest.importorskip("pykeops")
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(30, 3))
    y[0] = x[0]  # a zero cost: log 0 = -inf must give 0
    u, v = rng.random(40), rng.random(30)
    geom = CostGeometry(x, y, 1.5, backend="keops")
    ref = u @ cdist(x - x.mean(0), y - x.mean(0)) ** 1.5 @ v  # translation invariant
    assert float(geom.bilinear(u, v)) == pytest.approx(ref, rel=1e-13)
