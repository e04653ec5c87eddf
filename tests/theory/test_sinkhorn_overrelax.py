"""Over-relaxed Sinkhorn reaches the same entropic optimum as plain Sinkhorn, in fewer sweeps.

The truth is the plain Sinkhorn fixed point (the unique entropic optimum) checked against POT's
``ot.sinkhorn2`` at the same eps; the over-relaxed potentials must reproduce its plan cost and
marginals.
"""
from __future__ import annotations

import math

import numpy as np
import ot
import pytest
import torch

from otgen.theory.costs import CostGeometry, cost_matrix
from otgen.theory.entropic import _next_omega, flush_denormals, sinkhorn_potentials


def _plan_cost(geom, a, b, f, g, eps):
    u = f + eps * geom.log_weights(geom.as_tensor(a))
    v = g + eps * geom.log_weights(geom.as_tensor(b))
    rows, cols, cost = geom.plan_stats(u, v, eps)
    return float(cost), rows.numpy(), cols.numpy()


@pytest.mark.parametrize("d,eps", [(2, 0.05), (2, 0.1), (5, 0.5)])
def test_overrelaxed_matches_plain_and_pot(d, eps):
    rng = np.random.default_rng(d)
    n = 300
    x, y = rng.normal(size=(n, d)), rng.normal(size=(n, d)) + 1
    a = np.full(n, 1 / n)
    geom = CostGeometry(x, y, 2.0, backend="dense")
    out = {}
    with flush_denormals():
        for om in ("auto", 1.0):
            f, g, it, err = sinkhorn_potentials(geom, a, a, eps, marginal_tol=1e-9,
                                                overrelax=om)
            assert err <= 1e-9
            out[om] = (_plan_cost(geom, a, a, f, g, eps), it)
    (c_auto, r_auto, k_auto), it_auto = out["auto"]
    (c_plain, _, _), it_plain = out[1.0]
    assert c_auto == pytest.approx(c_plain, rel=1e-7)
    assert np.abs(r_auto - a).sum() <= 1e-8 and np.abs(k_auto - a).sum() <= 1e-8
    # independent truth: POT's log-domain Sinkhorn on the same cost matrix
    C = cost_matrix(x, y)
    P = ot.sinkhorn(a, a, C, eps, method="sinkhorn_log", stopThr=1e-12, numItermax=100_000)
    assert c_auto == pytest.approx(float((P * C).sum()), rel=1e-6)
    assert it_auto <= it_plain


def test_fixed_omega_and_fallback_rule():
    # the rate read off plain sweeps sets omega = 2 / (1 + sqrt(1 - r)), capped at 1.9
    errs = [1.0] + [0.5 * 0.9 ** k for k in range(12)]
    omega, keep = _next_omega(errs, 1.0)
    assert keep and omega == pytest.approx(2 / (1 + math.sqrt(1 - 0.9)))
    slow = [1.0] + [0.5 * 0.999 ** k for k in range(12)]
    assert _next_omega(slow, 1.0) == (1.9, True)
    # a large increase under over-relaxation falls back to plain Sinkhorn for good
    assert _next_omega([0.1, 0.01, 0.2], 1.8) == (1.0, False)
    # no improvement for the patience window also falls back
    assert _next_omega([0.001] + [0.002] * 40, 1.8) == (1.0, False)
    # a transient increase is tolerated
    assert _next_omega([0.1, 0.05, 0.2], 1.8) == (1.8, True)


def test_wasserstein_sinkhorn_interval_still_contains_exact():
    from otgen.theory import wasserstein

    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(250, 3)), rng.standard_t(4, size=(250, 3))
    exact = ot.emd2(np.full(250, 1 / 250), np.full(250, 1 / 250), cost_matrix(x, y))
    r = wasserstein(x, y, method="sinkhorn", tol=1e-2)
    assert r.lower - 1e-12 <= exact <= r.upper + 1e-12
    assert torch.is_tensor(torch.as_tensor(r.value))
