import numpy as np
from hypothesis import given, settings

from otgen.testing import encoder_problems, lipschitz_maps, weighted_point_clouds
from otgen.theory import encoder_ot, penalized_ot, wasserstein


def greedy_encoder(x, a, z, b, G):
    """The code under test: send each data point to its nearest decoded latent atoms,
    greedily, never exceeding the prior's mass on an atom (so that Q_Z = P_Z)."""
    plan, left = np.zeros((len(x), len(z))), b.copy()
    dist = np.linalg.norm(x[:, None, :] - G(z)[None, :, :], axis=-1)
    for i in range(len(x)):
        need = a[i]
        for j in np.argsort(dist[i]):
            take = min(need, left[j])
            plan[i, j] += take
            left[j] -= take
            need -= take
        plan[i, np.argmax(left)] += need  # rounding crumbs
    return plan


@settings(max_examples=200, deadline=None)
@given(encoder_problems())
def test_greedy_encoder_is_feasible_and_never_beats_the_optimum(problem):
    x, a, z, b, G = problem
    plan = greedy_encoder(x, a, z, b, G)
    # 1. a valid encoder: Q(Z|X) sums to one and its aggregate posterior is the prior
    np.testing.assert_allclose(plan.sum(axis=1), a, atol=1e-12)
    np.testing.assert_allclose(plan.sum(axis=0), b, atol=1e-12)
    # 2. Theorem A: no encoder with Q_Z = P_Z reconstructs better than the exact optimum
    cost = np.sum(plan * np.linalg.norm(x[:, None, :] - G(z)[None, :, :], axis=-1))
    best = encoder_ot(x, z, G, a, b, p=1).value
    assert cost >= best - 1e-9 * (1 + best)


@settings(max_examples=100, deadline=None)
@given(weighted_point_clouds(dim=2), weighted_point_clouds(dim=1, scale=3.0),
       lipschitz_maps(1, 2))
def test_w1_penalty_is_exact_once_lambda_reaches_the_lipschitz_constant(data, prior, G):
    (x, a), (z, b) = data, prior
    w1 = wasserstein(x, G(z), a, b, p=1, method="exact").value
    wae = penalized_ot(x, z, G, lam=G.constant, a=a, b=b).value
    assert abs(wae - w1) <= 1e-9 * (1 + w1)
