"""Penalties F(Q_Z, P_Z): hand-computed values, closed forms, hard inequalities."""
import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from otgen.models.penalties import (LatentAdversary, Penalty, gradient_penalty, kl_gaussian, mmd,
                                    sinkhorn_penalty, sliced_w2)
from otgen.theory import wasserstein

Q = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
P = torch.tensor([[0.0], [3.0]], dtype=torch.float64)


def test_mmd_imq_by_hand():
    # d_z = 1, sigma_z = 1, one scale s = 1: C = 2, k(x, y) = 2 / (2 + (x - y)^2)
    # kqq(0,1) = 2/3, kpp(0,3) = 2/11, kqp: 1, 2/11, 2/3, 1/3 -> -8/33
    assert float(mmd(Q, P, scales=(1.0,))) == pytest.approx(-8 / 33, rel=1e-12)
    # two scales add: s = 0.5 -> C = 1
    c1 = 1 / 2 + 1 / 10 - 0.5 * (1 + 1 / 10 + 1 / 2 + 1 / 5)
    assert float(mmd(Q, P, scales=(1.0, 0.5))) == pytest.approx(-8 / 33 + c1, rel=1e-12)


def test_mmd_rbf_by_hand():
    e = math.exp
    want = e(-0.5) + e(-4.5) - 0.5 * (1 + e(-4.5) + e(-0.5) + e(-2))
    assert float(mmd(Q, P, kernel="rbf", scales=(1.0,))) == pytest.approx(want, rel=1e-12)


def test_mmd_sigma_z_sets_the_width():
    # C = 2 dz sigma_z^2 s: sigma_z = 2, s = 1/4 is the same kernel as sigma_z = 1, s = 1
    assert float(mmd(Q, P, sigma_z=2.0, scales=(0.25,))) == pytest.approx(-8 / 33, rel=1e-12)


def test_mmd_unbiased_under_the_null():
    g = torch.Generator().manual_seed(0)
    vals, vstat = [], []
    for _ in range(300):
        q, p = torch.randn(20, 3, generator=g), torch.randn(20, 3, generator=g)
        vals.append(float(mmd(q, p)))
    vals = np.array(vals)
    se = vals.std() / np.sqrt(len(vals))
    assert abs(vals.mean()) < 4 * se  # E[MMD_u^2] = 0 when P = Q
    assert vals.min() < 0  # the U-statistic takes negative values


def test_mmd_is_translation_invariant_and_symmetric():
    g = torch.Generator().manual_seed(1)
    q, p = torch.randn(15, 4, generator=g, dtype=torch.float64), torch.randn(
        12, 4, generator=g, dtype=torch.float64) + 1
    t = torch.tensor([3.0, -1.0, 0.5, 2.0], dtype=torch.float64)
    assert float(mmd(q + t, p + t)) == pytest.approx(float(mmd(q, p)), rel=1e-10)
    assert float(mmd(p, q)) == pytest.approx(float(mmd(q, p)), rel=1e-10)
    with pytest.raises(ValueError, match="at least 2"):
        mmd(q[:1], p)
    with pytest.raises(ValueError, match="kernel"):
        mmd(q, p, kernel="laplace")


@pytest.mark.parametrize("sigma_z", [1.0, 2.5])
def test_kl_gaussian_matches_torch_distributions(sigma_z):
    g = torch.Generator().manual_seed(2)
    mean = torch.randn(10, 3, generator=g, dtype=torch.float64)
    logvar = torch.randn(10, 3, generator=g, dtype=torch.float64)
    want = kl_divergence(Normal(mean, torch.exp(0.5 * logvar)),
                         Normal(torch.zeros_like(mean), sigma_z)).sum(1).mean()
    assert float(kl_gaussian(mean, logvar, sigma_z)) == pytest.approx(float(want), rel=1e-12)
    # closed form: KL(N(1, 1) || N(0, 1)) = 1/2 per coordinate
    assert float(kl_gaussian(torch.ones(1, 4), torch.zeros(1, 4))) == pytest.approx(2.0)


def test_sliced_w2_in_one_dimension_is_exact_w2():
    g = torch.Generator().manual_seed(3)
    q, p = torch.randn(50, 1, generator=g, dtype=torch.float64), torch.rand(
        50, 1, generator=g, dtype=torch.float64) * 3
    exact = wasserstein(q.numpy(), p.numpy(), p=2, method="exact").value
    assert float(sliced_w2(q, p, n_projections=7, generator=g)) == pytest.approx(exact, rel=1e-9)


def test_sliced_w2_is_below_exact_w2():
    g = torch.Generator().manual_seed(4)
    for _ in range(5):
        q = torch.randn(40, 3, generator=g, dtype=torch.float64)
        p = torch.randn(40, 3, generator=g, dtype=torch.float64) * 2 + 1
        exact = wasserstein(q.numpy(), p.numpy(), p=2, method="exact").value
        # each projection is 1-Lipschitz, so every slice's W_2^2 <= W_2^2
        assert float(sliced_w2(q, p, n_projections=1, generator=g)) <= exact * (1 + 1e-12)
    with pytest.raises(ValueError, match="equal-size"):
        sliced_w2(q, p[:10])


def test_sinkhorn_penalty_zero_on_itself_and_translation():
    g = torch.Generator().manual_seed(5)
    z = torch.randn(60, 2, generator=g, dtype=torch.float64)
    assert abs(float(sinkhorn_penalty(z, z, eps=0.01))) < 1e-6
    t = torch.tensor([2.0, 0.0], dtype=torch.float64)
    # W_2^2(P, P + t) = |t|^2 = 4; S_eps -> W_2^2 as eps -> 0
    assert float(sinkhorn_penalty(z, z + t, eps=0.001)) == pytest.approx(4.0, rel=0.02)


def test_gradient_penalty_of_a_linear_critic():
    w = torch.tensor([0.6, 0.8, 2.0])  # |w| = sqrt(0.36 + 0.64 + 4) = sqrt(5)
    lin = torch.nn.Linear(3, 1)
    with torch.no_grad():
        lin.weight.copy_(w[None])
    f = lambda x: lin(x).squeeze(1)  # noqa: E731
    x, y = torch.randn(9, 3), torch.randn(9, 3)
    want = (math.sqrt(5) - 1) ** 2
    assert float(gradient_penalty(f, x, y).detach()) == pytest.approx(want, rel=1e-5)
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(f, x, y[:3])


def test_js_bound_of_any_discriminator():
    torch.manual_seed(6)
    z = torch.randn(50, 2)
    for _ in range(5):
        adv = LatentAdversary(2, hidden=(8,))
        with torch.no_grad():
            # log D + log(1 - D) <= 2 log(1/2) pointwise, so the bound is <= 0 = JS(P, P)
            assert float(adv.js_lower_bound(z, z)) <= 1e-7
            assert float(adv.js_lower_bound(z, z + 5)) <= math.log(2)


def test_penalty_wrapper_errors():
    with pytest.raises(ValueError, match="unknown penalty"):
        Penalty("wasserstein", 2)
    pen = Penalty("kl", 2)
    with pytest.raises(ValueError, match="Gaussian encoder"):
        pen(torch.randn(4, 2), torch.randn(4, 2))
    assert Penalty("gan", 2).adversary is not None and Penalty("mmd", 2).adversary is None
