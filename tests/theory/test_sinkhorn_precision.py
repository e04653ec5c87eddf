"""Float32 Sinkhorn sweeps finished in float64: same certified answer, never a wrong one.

The sweeps that find the potentials may run in float32 (dense, blocks, KeOps backends); the
certificates are float64 reductions.  Truths: scipy's HiGHS LP (``ot_truth.lp_ot``), scipy's
float64 log-sum-exp, and POT's converged log-domain Sinkhorn at the same eps.
"""
from __future__ import annotations

import numpy as np
import ot
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

from otgen._validate import check_measures
from otgen.theory import costs
from otgen.theory.costs import CostGeometry, cost_matrix
from ot_truth import lp_ot
from otgen.theory.entropic import flush_denormals, solve_sinkhorn
from otgen.theory.sinkhorn_config import EpsSchedule, SinkhornConfig


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(costs, "BLOCK_ENTRIES", 600)  # several blocks even on tiny clouds


@pytest.mark.parametrize("eps", [3.0, 0.05, 1e-3])
def test_float32_block_softmin_matches_float64_logsumexp(small_blocks, eps):
    # at small eps most terms underflow float32 (and are clamped before exp); the soft-min must
    # still match scipy's float64 log-sum-exp to float32 accuracy, -inf entries included
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(41, 4)) * 3, rng.normal(size=(33, 4)) * 3 + 1
    h = rng.normal(size=33)
    h[::4] = -np.inf
    C = cost_matrix(x, y)
    want = -eps * logsumexp((h[None, :] - C) / eps, axis=1)
    geom = CostGeometry(x, y, 2.0, backend="blocks", dtype=torch.float32)
    with flush_denormals():
        got = geom.softmin(torch.tensor(h, dtype=torch.float32), eps).double().numpy()
    # float32 rounding of costs up to ~300 in the matrix-product form: ~1e-4 absolute
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=3e-4)


def _solve(x, y, backend="blocks", eps=None, tol=None, **kw):
    return solve_sinkhorn(check_measures(x, y, None, None), 2.0, eps=eps, tol=tol,
                          config=SinkhornConfig(backend=backend, **kw))


@pytest.mark.parametrize("d,backend",
                         [(2, "blocks"), (8, "blocks"), (2, "keops"), (8, "dense")])
def test_float32_sweeps_give_the_float64_answer(small_blocks, d, backend):
    pytest.importorskip("pykeops") if backend == "keops" else None
    rng = np.random.default_rng(d)
    x, y = rng.normal(size=(60, d)), rng.normal(size=(50, d)) + 1
    exact = lp_ot(x, y)
    out = {sd: _solve(x, y, backend, eps=0.1, sweep_dtype=sd) for sd in ("float32", "float64")}
    assert all(r.info["backend"] == backend for r in out.values())
    for r in out.values():
        assert r.converged and r.info["marginal_error"] <= 1e-5
        assert r.lower <= exact * (1 + 1e-12) and exact <= r.upper * (1 + 1e-12)
    # one entropic optimum: the two potentials give the same plan cost (POT's as the judge)
    a = np.full(60, 1 / 60)
    b = np.full(50, 1 / 50)
    C = cost_matrix(x, y)
    P = ot.sinkhorn(a, b, C, 0.1, method="sinkhorn_log", stopThr=1e-12, numItermax=100_000)
    for r in out.values():
        assert r.value == pytest.approx(float((P * C).sum()), rel=1e-4)


def test_with_dtype_casts_the_stored_matrix_and_keeps_the_original():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(30, 3)) + 1e3, rng.normal(size=(20, 3)) + 1e3  # far from 0
    geom = CostGeometry(x, y, 2.0, backend="dense")
    g32 = geom.with_dtype(torch.float32)
    assert g32.backend == "dense" and g32.C.dtype == torch.float32
    assert geom.C.dtype == torch.float64 and geom.x.dtype == torch.float64
    # the float32 matrix is the float64 one rounded: within float32 rounding of scipy's
    # difference-based costs (the points are centred first, so 1e3 offsets do not cancel)
    truth = torch.as_tensor(cost_matrix(x, y), dtype=torch.float32)
    torch.testing.assert_close(g32.C, truth, rtol=2 ** -23, atol=0)
    blocks32 = CostGeometry(x, y, 2.0, backend="blocks").with_dtype(torch.float32)
    assert blocks32.C is None and blocks32.x.dtype == torch.float32


def test_float32_stall_hands_over_to_float64(small_blocks):
    # at eps = 1e-2 with costs up to ~200, float32 rounding in the exponent keeps the float32
    # sweeps' marginal error near 7e-2, far above the tolerance (measured: they stop after ~160
    # sweeps without progress); the float64 sweeps must then finish the solve from there
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(30, 2)) * 3, rng.normal(size=(30, 2)) * 3 + 2
    exact = lp_ot(x, y)
    r = _solve(x, y, eps=1e-2, marginal_tol=1e-3, sweep_dtype="float32", max_iter=5000)
    assert r.converged and r.info["marginal_error"] <= 1e-3
    assert r.lower <= exact * (1 + 1e-12) and exact <= r.upper * (1 + 1e-12)
    assert r.upper - r.lower <= 1e-2 * exact


@settings(max_examples=60, deadline=None)
@given(gap=st.floats(1e-6, 1e3), tol=st.floats(1e-6, 0.9))
def test_eps_step_is_bounded_and_aims_below_tol(gap, tol):
    s = EpsSchedule().shrink(gap, tol)
    assert 1 / 16 <= s <= 1 / 2
    # if the gap shrank linearly with eps, the next round would land at or below tol
    # (unless the step was clipped at 1/16)
    assert gap * s <= tol or s == 1 / 16


def test_adaptive_solver_meets_tol_on_the_blocks_backend(small_blocks):
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(80, 16)), rng.normal(size=(70, 16)) + 1
    exact = lp_ot(x, y)
    r = _solve(x, y, tol=0.02)
    assert r.converged
    assert r.lower <= exact * (1 + 1e-12) and exact <= r.upper * (1 + 1e-12)
    assert (r.upper - r.lower) / r.upper <= 0.02 + 1e-12
    # the refinement history is strictly decreasing in eps, by factors in [2, 16]
    eps = [e for e, _, _ in r.info["eps_history"]]
    assert all(2 - 1e-9 <= e0 / e1 <= 16 + 1e-9 for e0, e1 in zip(eps, eps[1:]))
