"""Hostile but valid inputs: extreme scales, duplicates, tiny/huge eps -- a correct certified
answer (checked against scipy's assignment solver), never a silently wrong number."""
import warnings

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from otgen.theory import sliced_wasserstein, wasserstein


def assignment_truth(x, y, p=2):
    C = np.sqrt(((x[:, None, :].astype(np.float64) - y[None, :, :]) ** 2).sum(-1)) ** p
    r, c = linear_sum_assignment(C)
    return C[r, c].mean()


def inside(res, truth, rtol=1e-9):
    slack = rtol * max(abs(truth), 1e-300)
    return res.lower - slack <= truth <= res.upper + slack


@pytest.mark.parametrize("scale", [1e-12, 1e-6, 1e6, 1e12])
@pytest.mark.parametrize("method", ["exact", "sinkhorn", "gaussian", "sparse"])
def test_extreme_coordinate_scales(scale, method):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 2)) * scale, (rng.normal(size=(40, 2)) + 1) * scale
    truth = assignment_truth(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = wasserstein(x, y, method=method)
    assert np.isfinite(res.value) and inside(res, truth)
    if method == "exact":
        assert res.value == pytest.approx(truth, rel=1e-9)


@pytest.mark.parametrize("offset", [1e6, 1e9])
def test_small_distances_far_from_the_origin(offset):
    # costs ~1e-4 on coordinates ~1e9: the |x|^2 + |y|^2 - 2xy expansion would lose every digit
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 3)) + offset
    y = x + rng.normal(size=(30, 3)) * 1e-2
    truth = assignment_truth(x - offset, y - offset)
    res = wasserstein(x, y, method="exact")
    assert res.value == pytest.approx(truth, rel=1e-6)
    assert inside(res, truth, rtol=1e-6)


def test_duplicated_points_and_zero_cost():
    rng = np.random.default_rng(2)
    x = np.repeat(rng.normal(size=(5, 2)), 6, axis=0)  # every point 6 times
    for method in ("exact", "sparse", "sinkhorn"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = wasserstein(x, x.copy(), method=method)
        assert res.lower <= 1e-12 and res.upper >= -1e-12
        assert abs(res.value) <= (1e-9 if method != "sinkhorn" else res.upper + 1e-12)
    y = x + np.array([3.0, 4.0])
    assert wasserstein(x, y, method="sparse", tol=1e-9).distance == pytest.approx(5.0, rel=1e-9)


@pytest.mark.parametrize("backend", ["auto", "multiscale"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("eps_rel", [1e-4, 1e-2, 1e2])
def test_sinkhorn_tiny_and_huge_eps(dtype, eps_rel, backend):
    # KeOps calls cost milliseconds each even on 30 points: cap the sweeps of the unconverging
    # tiny-eps case (the check is finiteness and validity, not convergence)
    opts = {}
    if backend == "multiscale":
        pytest.importorskip("pykeops")
        opts["max_iter"] = 300
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 2)).astype(dtype), (rng.normal(size=(35, 2)) + 1).astype(dtype)
    diam2 = float(((np.concatenate([x, y]).max(0) - np.concatenate([x, y]).min(0)) ** 2).sum())
    truth = wasserstein(x.astype(np.float64), y.astype(np.float64), method="exact").value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # tiny eps may not converge: fine
        res = wasserstein(x, y, method="sinkhorn", eps=eps_rel * diam2, backend=backend,
                          **opts)
    assert np.isfinite(res.value) and np.isfinite(res.lower) and np.isfinite(res.upper)
    assert inside(res, truth, rtol=1e-7)


def test_single_point_measures():
    x, y = np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]])
    for method in ("exact", "sinkhorn", "gaussian", "sparse"):
        res = wasserstein(x, y, method=method)
        assert inside(res, 25.0)
    r = sliced_wasserstein(x, y, seed=0)
    assert r.lower <= 25.0 + 1e-9 <= r.upper + 2e-9


def test_integer_coordinates_are_accepted_as_floats():
    x = np.array([[0, 0], [1, 1]])
    y = np.array([[2, 2], [3, 3]])
    assert wasserstein(x, y, method="exact").value == pytest.approx(8.0)


def test_tensors_on_different_devices_are_rejected():
    torch = pytest.importorskip("torch")
    x = torch.zeros((3, 2))
    y = torch.zeros((3, 2), device="meta")  # a second device that exists without a GPU
    with pytest.raises(ValueError, match="different devices"):
        wasserstein(x, y)


@pytest.mark.parametrize("method", ["auto", "exact", "sinkhorn", "gaussian", "1d"])
def test_costs_that_overflow_float64_are_refused(method):
    # finite coordinates, but |x - y|^2 = 1e600 is not a float64: an error, never a NaN
    x, y = np.array([[0.0]]), np.array([[1e300]])
    with pytest.raises(ValueError, match="overflows float64"):
        wasserstein(x, y, method=method)
    with pytest.raises(ValueError, match="overflows float64"):
        sliced_wasserstein(x, y)
