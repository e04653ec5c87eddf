"""Every bad input raises ValueError/TypeError naming the argument: never a silent wrong number."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from otgen.theory import (gaussian_w2, sinkhorn_divergence, sliced_wasserstein, wasserstein,
                          wasserstein_1d)

RNG = np.random.default_rng(0)
X = RNG.standard_normal((6, 2))
Y = RNG.standard_normal((5, 2)) + 1.0
A = np.full(6, 1 / 6)
B = np.full(5, 1 / 5)


def with_nan(arr, value=np.nan):
    arr = np.array(arr, dtype=np.float64)
    arr.flat[1] = value
    return arr


# --- point-cloud functions: wasserstein, sliced_wasserstein, sinkhorn_divergence ---------------
POINT_FUNCS = {
    "wasserstein": lambda x, y, a=None, b=None, **kw: wasserstein(x, y, a, b, **kw),
    "wasserstein_exact": lambda x, y, a=None, b=None, **kw: wasserstein(x, y, a, b,
                                                                         method="exact", **kw),
    "sliced_wasserstein": lambda x, y, a=None, b=None, **kw: sliced_wasserstein(
        x, y, a, b, n_projections=5, seed=0, **kw),
    "sinkhorn_divergence": lambda x, y, a=None, b=None, **kw: sinkhorn_divergence(
        x, y, a, b, eps=0.5, **kw),
}

# (id, kwargs for f, exception type, regex that must name the argument and the expectation)
POINT_CASES = [
    ("nan in x", dict(x=with_nan(X), y=Y), ValueError, r"^x .*NaN or infinite"),
    ("inf in x", dict(x=with_nan(X, np.inf), y=Y), ValueError, r"^x .*NaN or infinite"),
    ("-inf in y", dict(x=X, y=with_nan(Y, -np.inf)), ValueError, r"^y .*NaN or infinite"),
    ("nan in a", dict(x=X, y=Y, a=with_nan(A)), ValueError, r"^a .*NaN or infinite"),
    ("inf in b", dict(x=X, y=Y, b=with_nan(B, np.inf)), ValueError, r"^b .*NaN or infinite"),
    ("x is 1-D", dict(x=X[:, 0], y=Y), ValueError, r"^x must be a 2-D array"),
    ("y is 1-D", dict(x=X, y=Y[:, 0]), ValueError, r"^y must be a 2-D array"),
    ("y is 3-D", dict(x=X, y=Y[None]), ValueError, r"^y must be a 2-D array"),
    ("x is a scalar", dict(x=np.float64(1.0), y=Y), ValueError, r"^x must be a 2-D array"),
    ("mismatched dims", dict(x=X, y=Y[:, :1]), ValueError,
     r"^y has dimension 1 .*dimension 2"),
    ("negative a", dict(x=X, y=Y, a=A * np.r_[-1, np.ones(5)]), ValueError,
     r"^a has negative weights"),
    ("negative b", dict(x=X, y=Y, b=B - 0.3), ValueError, r"^b has negative weights"),
    ("unequal mass", dict(x=X, y=Y, a=2 * A), ValueError,
     r"^a and b must have the same total mass"),
    ("mass off by 1e-4", dict(x=X, y=Y, b=B * (1 + 1e-4)), ValueError,
     r"^a and b must have the same total mass"),
    ("a sums to zero", dict(x=X, y=Y, a=np.zeros(6), b=np.zeros(5)), ValueError,
     r"^a sums to zero"),
    ("a wrong length", dict(x=X, y=Y, a=np.full(3, 1 / 3)), ValueError, r"^a has 3 weights"),
    ("b is 2-D", dict(x=X, y=Y, b=B[:, None]), ValueError, r"^b must be a 1-D weight vector"),
    ("empty x", dict(x=np.zeros((0, 2)), y=Y), ValueError, r"^x is empty"),
    ("empty y", dict(x=X, y=np.zeros((0, 2))), ValueError, r"^y is empty"),
    ("zero-dim points", dict(x=np.zeros((3, 0)), y=np.zeros((3, 0))), ValueError,
     r"^x has zero dimensions"),
    ("bool x", dict(x=X > 0, y=Y), TypeError, r"^x must hold real numbers.*bool"),
    ("complex y", dict(x=X, y=Y + 1j), TypeError, r"^y must hold real numbers.*complex"),
    ("object x", dict(x=np.array([[1.0, None]], dtype=object), y=Y[:1]), TypeError,
     r"^x must hold real numbers"),
    ("bool a", dict(x=X, y=Y, a=np.ones(6, dtype=bool)), TypeError, r"^a must hold real"),
    ("complex b", dict(x=X, y=Y, b=B + 0j), TypeError, r"^b must hold real"),
    ("string x", dict(x="points", y=Y), (TypeError, ValueError), r"^x must"),
    ("dict y", dict(x=X, y={"y": 1}), TypeError, r"^y must be a numpy array or a torch tensor"),
    ("torch x, numpy y", dict(x=torch.tensor(X), y=Y), TypeError, r"mix numpy arrays and torch"),
    ("numpy points, torch a", dict(x=X, y=Y, a=torch.tensor(A)), TypeError,
     r"mix numpy arrays and torch"),
    ("complex tensors", dict(x=torch.tensor(X + 0j), y=torch.tensor(Y + 0j)), TypeError,
     r"^x must be real-valued"),
    ("bool tensors", dict(x=torch.tensor(X > 0), y=torch.tensor(Y > 0)), TypeError,
     r"^x must hold real numbers.*bool"),
    ("nan tensor", dict(x=torch.tensor(with_nan(X)), y=torch.tensor(Y)), ValueError,
     r"^x .*NaN or infinite"),
    ("1-D tensor", dict(x=torch.tensor(X), y=torch.tensor(Y[:, 0])), ValueError,
     r"^y must be a 2-D array"),
    ("negative tensor weights", dict(x=torch.tensor(X), y=torch.tensor(Y),
                                     a=-torch.tensor(A), b=-torch.tensor(B)), ValueError,
     r"^a has negative weights"),
]

P_CASES = [
    (0, ValueError, r"^p must be > 0"),
    (-1.0, ValueError, r"^p must be > 0"),
    (float("nan"), ValueError, r"^p must be > 0 and finite"),
    (float("inf"), ValueError, r"^p must be > 0 and finite"),
    ("2", TypeError, r"^p must be a real number"),
    (None, TypeError, r"^p must be a real number"),
    (True, TypeError, r"^p must be a real number"),
]


@pytest.mark.parametrize("func", list(POINT_FUNCS))
@pytest.mark.parametrize("case", POINT_CASES, ids=[c[0] for c in POINT_CASES])
def test_point_cloud_inputs(func, case):
    _, kwargs, exc, match = case
    with pytest.raises(exc, match=match):
        POINT_FUNCS[func](**kwargs)


@pytest.mark.parametrize("func", ["wasserstein", "wasserstein_exact", "sliced_wasserstein"])
@pytest.mark.parametrize("p,exc,match", P_CASES)
def test_bad_p(func, p, exc, match):
    if p is None and func.startswith("wasserstein"):
        # p=None is wasserstein's default (2 for cost=None): the same value as p=2
        assert POINT_FUNCS[func](X, Y, p=None).value == POINT_FUNCS[func](X, Y, p=2).value
        return
    with pytest.raises(exc, match=match):
        POINT_FUNCS[func](X, Y, p=p)


@pytest.mark.parametrize("p", [0, -1, 3, 1.5, float("nan")])
def test_sinkhorn_divergence_p(p):
    with pytest.raises(ValueError, match=r"p must be"):
        sinkhorn_divergence(X, Y, p=p, eps=0.5)


@pytest.mark.parametrize("func", list(POINT_FUNCS))
def test_valid_inputs_accepted(func):
    """The positive control: the inputs the cases above corrupt are fine as given (also ints,
    lists and float32)."""
    for x, y in [(X, Y), (X.astype(np.float32), Y.astype(np.float32)),
                 (np.arange(6).reshape(3, 2), np.arange(6).reshape(3, 2) + 1),
                 (X.tolist(), Y.tolist())]:
        out = POINT_FUNCS[func](x, y)
        v = out if isinstance(out, float) else float(out.value)
        assert np.isfinite(v) and v >= -1e-6
    POINT_FUNCS[func](X, Y, A * 3, B * 3)  # any common total mass


# --- wasserstein-specific options -----------------------------------------------------------
@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(method="emd"), ValueError, r"^unknown method='emd'; expected one of"),
    (dict(method=None), ValueError, r"^unknown method=None"),
    (dict(method="sinkhorn", eps=0), ValueError, r"^eps must be > 0"),
    (dict(method="sinkhorn", eps=-0.1), ValueError, r"^eps must be > 0"),
    (dict(method="sinkhorn", eps=float("nan")), ValueError, r"^eps must be > 0 and finite"),
    (dict(method="sinkhorn", eps=float("inf")), ValueError, r"^eps must be > 0 and finite"),
    (dict(method="sinkhorn", eps="0.1"), TypeError, r"^eps must be a real number"),
    (dict(method="exact", eps=0.1), ValueError, r"eps is only used by method='sinkhorn'"),
    (dict(method="sparse", eps=0.1), ValueError, r"eps is only used by method='sinkhorn'"),
    (dict(method="gaussian", eps=0.1), ValueError, r"eps is only used by method='sinkhorn'"),
    (dict(method="1d"), ValueError, r"method='1d' needs 1-D points.*dimension 2"),
    (dict(method="gaussian", p=1), ValueError, r"method='gaussian'.*p=2"),
    (dict(method="gaussian", p=3), ValueError, r"method='gaussian'.*p=2"),
    (dict(tol=1.0), ValueError, r"^tol .*must be < 1"),
    (dict(tol=-0.01), ValueError, r"^tol must be >= 0"),
    (dict(tol=float("nan")), ValueError, r"^tol must be"),
    (dict(method="sinkhorn", backend="gpu"), ValueError, r"^unknown backend='gpu'"),
])
def test_wasserstein_options(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        wasserstein(X, Y, **kwargs)


def test_1d_method_needs_p_at_least_1():
    with pytest.raises(ValueError, match=r"method='1d' needs p >= 1"):
        wasserstein(X[:, :1], Y[:, :1], p=0.5, method="1d")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sinkhorn_eps_below_resolution(dtype):
    with pytest.raises(ValueError, match=r"^eps=.* is below"):
        wasserstein(X.astype(dtype), Y.astype(dtype), method="sinkhorn", eps=1e-14)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(n_projections=0), ValueError, r"^n_projections must be >= 1"),
    (dict(n_projections=2.5), TypeError, r"^n_projections must be an integer"),
    (dict(p=0.5), ValueError, r"^p must be >= 1"),
])
def test_sliced_options(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        sliced_wasserstein(X, Y, **kwargs)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(eps=0), ValueError, r"^eps must be > 0"),
    (dict(eps=-1.0), ValueError, r"^eps must be > 0"),
    (dict(eps=float("inf")), ValueError, r"^eps must be > 0 and finite"),
    (dict(eps=None), TypeError, r"^eps must be a real number"),
    (dict(eps=0.5, scaling=1.0), ValueError, r"^scaling must lie in"),
    (dict(eps=0.5, backend="dense"), ValueError, r"^unknown backend='dense'"),
])
def test_sinkhorn_divergence_options(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        sinkhorn_divergence(X, Y, **kwargs)


def test_sinkhorn_divergence_eps_is_required():
    with pytest.raises(TypeError, match=r"eps"):
        sinkhorn_divergence(X, Y)


# --- gaussian_w2 ----------------------------------------------------------------------------
M, S = np.zeros(2), np.array([[2.0, 0.5], [0.5, 1.0]])
GOOD = dict(m1=M, S1=S, m2=M + 1, S2=np.eye(2))


def _g(**over):
    kw = {**GOOD, **over}
    return gaussian_w2(kw["m1"], kw["S1"], kw["m2"], kw["S2"])


@pytest.mark.parametrize("over,exc,match", [
    (dict(m1=np.array([np.nan, 0.0])), ValueError, r"^m1 .*NaN or infinite"),
    (dict(m2=np.array([np.inf, 0.0])), ValueError, r"^m2 .*NaN or infinite"),
    (dict(S1=with_nan(S)), ValueError, r"^S1 .*NaN or infinite"),
    (dict(S2=with_nan(np.eye(2), np.inf)), ValueError, r"^S2 .*NaN or infinite"),
    (dict(m1=M[:, None]), ValueError, r"^m1 must be a mean vector of shape \(d,\)"),
    (dict(m1=np.float64(0.0)), ValueError, r"^m1 must be a mean vector"),
    (dict(S1=np.eye(3)), ValueError, r"^S1 must be a \(2, 2\) covariance matrix"),
    (dict(S2=np.ones(2)), ValueError, r"^S2 must be a \(2, 2\) covariance matrix"),
    (dict(m2=np.zeros(3), S2=np.eye(3)), ValueError, r"^m2 has dimension 3, expected 2"),
    (dict(S1=np.array([[1.0, 0.5], [0.0, 1.0]])), ValueError, r"^S1 must be symmetric"),
    (dict(S2=np.diag([1.0, -0.5])), ValueError, r"^S2 must be positive semi-definite"),
    (dict(m1=np.zeros(0), S1=np.zeros((0, 0)), m2=np.zeros(0), S2=np.zeros((0, 0))),
     ValueError, r"^m1 is empty"),
    (dict(m1=np.zeros(2, dtype=bool)), TypeError, r"^m1 must hold real numbers"),
    (dict(S2=np.eye(2) + 0j), TypeError, r"^S2 must hold real numbers"),
    (dict(S1=np.eye(2, dtype=bool)), TypeError, r"^S1 must hold real numbers"),
    (dict(m1=torch.zeros(2)), TypeError, r"mix numpy arrays and torch"),
    (dict(S1="cov"), (TypeError, ValueError), r"^S1 must"),
])
def test_gaussian_w2_inputs(over, exc, match):
    with pytest.raises(exc, match=match):
        _g(**over)


def test_gaussian_w2_torch_complex():
    t = {k: torch.as_tensor(v) for k, v in GOOD.items()}
    t["S2"] = t["S2"].to(torch.complex128)
    with pytest.raises(TypeError, match=r"^S2 must hold real numbers"):
        gaussian_w2(t["m1"], t["S1"], t["m2"], t["S2"])


def test_gaussian_w2_valid_control():
    assert np.isfinite(_g())
    assert np.isfinite(_g(m1=[0, 0], S1=[[1, 0], [0, 1]]))  # lists and ints are real numbers


# --- wasserstein_1d ---------------------------------------------------------------------------
U, V = RNG.standard_normal(7), RNG.standard_normal(4) + 2
AU, BV = np.full(7, 1 / 7), np.full(4, 1 / 4)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(u=with_nan(U)), ValueError, r"^u .*NaN or infinite"),
    (dict(v=with_nan(V, np.inf)), ValueError, r"^v .*NaN or infinite"),
    (dict(a=with_nan(AU)), ValueError, r"^a .*NaN or infinite"),
    (dict(b=with_nan(BV, -np.inf)), ValueError, r"^b .*NaN or infinite"),
    (dict(u=np.c_[U, U]), ValueError, r"^u must be a 1-D array of values"),
    (dict(v=V[None, None]), ValueError, r"^v must be a 1-D array of values"),
    (dict(u=np.zeros(0)), ValueError, r"^u is empty"),
    (dict(v=np.zeros((0, 1))), ValueError, r"^v is empty"),
    (dict(a=-AU), ValueError, r"^a has negative weights"),
    (dict(b=2 * BV), ValueError, r"^a and b must have the same total mass"),
    (dict(a=AU[:3]), ValueError, r"^a has 3 weights"),
    (dict(p=0), ValueError, r"^p must be > 0"),
    (dict(p=-2.0), ValueError, r"^p must be > 0"),
    (dict(p=0.5), ValueError, r"^p must be >= 1"),
    (dict(p=float("nan")), ValueError, r"^p must be > 0 and finite"),
    (dict(p="1"), TypeError, r"^p must be a real number"),
    (dict(u=U > 0), TypeError, r"^u must hold real numbers.*bool"),
    (dict(v=V + 1j), TypeError, r"^v must hold real numbers.*complex"),
    (dict(a=np.ones(7, dtype=bool)), TypeError, r"^a must hold real"),
    (dict(u=torch.tensor(U)), TypeError, r"mix numpy arrays and torch"),
    (dict(u=torch.tensor(U) + 0j, v=torch.tensor(V) + 0j, a=None, b=None), TypeError,
     r"^u must (hold real numbers|be real-valued)"),
    (dict(u="abc"), (TypeError, ValueError), r"^u must"),
])
def test_wasserstein_1d_inputs(kwargs, exc, match):
    args = dict(u=U, v=V, a=AU, b=BV, p=1.0)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        wasserstein_1d(args["u"], args["v"], args["a"], args["b"], p=args["p"])


def test_wasserstein_1d_valid_control():
    assert np.isfinite(wasserstein_1d(U, V, AU, BV, p=1.0))
    assert np.isfinite(wasserstein_1d(U[:, None], V[:, None], p=2))
    assert np.isfinite(wasserstein_1d([1, 2, 3], [0, 5, 7], p=3))
