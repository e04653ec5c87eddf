"""Large exact problems return the plan's support only; gradients and bounds are unchanged."""
import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

import otgen.theory.certify as certify
from otgen.theory import wasserstein


def test_support_instead_of_dense_plan(monkeypatch):
    monkeypatch.setattr(certify, "DENSE_PLAN_MAX", 100)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) + 0.5
    C = ((x[:, None] - y[None]) ** 2).sum(-1)
    r, c = linear_sum_assignment(C)
    res = wasserstein(x, y, method="exact")
    assert res.plan is None
    assert abs(res.value - C[r, c].mean()) <= 1e-12 * res.value
    xt = torch.tensor(x, requires_grad=True)
    wasserstein(xt, torch.tensor(y), method="exact").value.backward()
    # envelope gradient with the optimal assignment (unique for generic points)
    expected = np.zeros_like(x)
    expected[r] = 2 * (x[r] - y[c]) / 30
    np.testing.assert_allclose(xt.grad.numpy(), expected, atol=1e-12)
