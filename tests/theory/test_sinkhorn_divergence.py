"""Debiased Sinkhorn divergence S_eps in otgen's cost units (|x - y|^p, eps in those units).

Truths: POT's log-domain Sinkhorn run to convergence (``ot.solve`` with ``reg_type="KL"``, whose
``value`` is the entropic objective <P, C> + eps KL(P | a x b); ``ot.sinkhorn2`` would return only
the linear part <P, C>), and the exact LP for the eps -> 0 limit.
"""
from __future__ import annotations

import warnings

import numpy as np
import ot
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ot_truth import clouds, cost, entropic_ot_self, lp_ot

from otgen.theory import sinkhorn_divergence


def pot_entropic(x, y, a, b, eps, p):
    C = cost(x, y, p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = ot.solve(C, a, b, reg=eps, reg_type="KL", method="sinkhorn_log",
                       max_iter=20_000, tol=1e-9)
    return float(res.value)


def pot_divergence(x, y, a, b, eps, p):
    """Debiased divergence: POT for OT_eps(x, y); the self terms OT_eps(x, x) by the symmetric
    averaged fixed point (plain alternating Sinkhorn, POT's, crawls on symmetric problems;
    the two agree, see test_reference_self_term_matches_pot)."""
    return (pot_entropic(x, y, a, b, eps, p) - 0.5 * entropic_ot_self(x, a, eps, p)
            - 0.5 * entropic_ot_self(y, b, eps, p))


def test_reference_self_term_matches_pot():
    x, _, a, _ = _instance(3)
    for p, eps in [(2, 5.0), (1, 1.0)]:
        assert entropic_ot_self(x, a, eps, p) == pytest.approx(pot_entropic(x, x, a, a, eps, p),
                                                               rel=1e-7)


def _instance(seed, n=6, m=5):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((n, 2)), rng.standard_normal((m, 2)) * 1.5 + 0.5
    return x, y, np.full(n, 1 / n), np.full(m, 1 / m)


@settings(max_examples=15, deadline=None)
@given(inst=clouds(max_n=20, max_d=3, weighted=True, min_n=2), p=st.sampled_from([1, 2]),
       factor=st.sampled_from([1.0, 0.1]))
def test_symmetric_nonnegative_and_zero_on_diagonal(inst, p, factor):
    x, y, a, b = inst
    scale = float(cost(x, y, p).max())
    eps = factor * float(cost(x, y, p).mean())
    sxy = sinkhorn_divergence(x, y, a, b, p=p, eps=eps)
    syx = sinkhorn_divergence(y, x, b, a, p=p, eps=eps)
    assert sxy == pytest.approx(syx, rel=1e-6, abs=1e-9 * scale)
    assert sxy >= -1e-9 * scale
    assert abs(sinkhorn_divergence(x, x, a, a, p=p, eps=eps)) <= 1e-9 * scale
    # S_eps <= OT_eps(x, y) <= ... and S_eps > 0 for distinct measures is not guaranteed to be
    # resolvable in float; but for clouds a mean-shift apart it must be clearly positive
    shift = np.zeros(x.shape[1])
    shift[0] = 3 * np.sqrt(scale) + 1.0
    assert sinkhorn_divergence(x, x + shift, a, a, p=p, eps=eps) > 0


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("eps", [2.0, 0.5])
def test_matches_pot_debiased_convention(p, eps):
    """Unit convention (cost |x-y|^p, eps in cost units, factor p): with a fine eps-scaling
    GeomLoss's answer matches the converged POT value. A wrong blur or factor-p conversion
    would be off by tens of percent."""
    x, y, _, _ = _instance(1)
    rng = np.random.default_rng(2)
    a, b = rng.random(6) + 0.1, rng.random(5) + 0.1
    a, b = a / a.sum(), b / b.sum()
    truth = pot_divergence(x, y, a, b, eps, p)
    assert sinkhorn_divergence(x, y, a, b, p=p, eps=eps, scaling=0.99) == pytest.approx(
        truth, rel=2e-3)


@pytest.mark.xfail(strict=True, reason=(
    "entropic.sinkhorn_divergence: GeomLoss does one Sinkhorn step per eps level and stops at "
    "the target eps unconverged; with the default scaling=0.99 it is ~0.5% off the converged "
    "S_eps on this instance (eps=0.5, p=2), so rel=1e-3 is not met (known limitation)"))
def test_matches_pot_debiased_default_scaling():
    x, y, a, b = _instance(12)
    truth = pot_divergence(x, y, a, b, 0.5, 2)
    assert sinkhorn_divergence(x, y, p=2, eps=0.5) == pytest.approx(truth, rel=1e-3)


def test_converges_to_exact_w2_as_eps_vanishes():
    """S_eps -> W_2^2 (exact LP) as eps -> 0 (with a fine eps-scaling)."""
    x, y, _, _ = _instance(1, 30, 25)
    W = lp_ot(x, y, p=2.0)
    mean = float(cost(x, y, 2.0).mean())
    errs = [abs(sinkhorn_divergence(x, y, eps=f * mean, scaling=0.99) - W) / W
            for f in (0.1, 1e-2, 1e-3)]
    assert errs[0] > 0.02  # eps matters at large eps (the test can tell the difference)
    assert errs[-1] <= 1e-2


def test_converges_to_exact_w2_default_scaling():
    x, y, _, _ = _instance(1, 30, 25)
    W = lp_ot(x, y, p=2.0)
    mean = float(cost(x, y, 2.0).mean())
    assert sinkhorn_divergence(x, y, eps=1e-3 * mean) == pytest.approx(W, rel=1e-2)
