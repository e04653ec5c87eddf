"""The one input boundary of otgen.

Every public function passes its arrays through here exactly once.  Points and weights come in as
numpy arrays or torch tensors; they leave as float arrays of a common dtype together with a
:class:`ArrayKind` that remembers how to hand results back in the caller's type.  Anything that
would make a number silently wrong (NaN, shape mismatch, negative or unbalanced weights, ...)
raises a ``ValueError`` or ``TypeError`` that names the argument and what was expected.
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

try:  # torch is a hard dependency, but keep import errors readable
    import torch
except ImportError:  # pragma: no cover
    torch = None

#: relative tolerance on the equality of total masses sum(a) == sum(b)
MASS_RTOL = 1e-6


def is_tensor(x: Any) -> bool:
    return torch is not None and isinstance(x, torch.Tensor)


@dataclass(frozen=True)
class ArrayKind:
    """How the caller gave us arrays, so that results go back in the same type.

    ``kind`` is ``"numpy"`` or ``"torch"``; for torch we also keep dtype and device.
    """

    kind: str
    dtype: Any = None
    device: Any = None

    def wrap(self, arr):
        """Return a numpy array (or None) in the caller's array type."""
        if arr is None or self.kind == "numpy":
            return arr
        if is_tensor(arr):
            return arr.to(device=self.device)
        return torch.as_tensor(np.asarray(arr), dtype=self.dtype, device=self.device)


def _to_numpy(arr, name: str) -> np.ndarray:
    if is_tensor(arr):
        if arr.is_complex():
            raise TypeError(f"{name} must be real-valued, got a complex tensor ({arr.dtype})")
        if arr.dtype in (torch.bfloat16, torch.float16):
            arr = arr.float()  # exact: every bfloat16/float16 value is a float32
        return arr.detach().cpu().numpy()
    if isinstance(arr, np.ma.MaskedArray):
        raise TypeError(f"{name} is a numpy masked array; otgen does not guess what masked "
                        f"entries mean: pass {name}.compressed() or {name}.filled(value)")
    if isinstance(arr, (list, tuple)) or np.isscalar(arr):
        arr = np.asarray(arr)
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(arr).__name__}")
    return arr


def _check_real_dtype(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.dtype == bool or np.issubdtype(arr.dtype, np.complexfloating) or arr.dtype == object:
        raise TypeError(f"{name} must hold real numbers (float or int), got dtype {arr.dtype}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers (float or int), got dtype {arr.dtype}")
    return arr


def array_kind_of(*arrays) -> ArrayKind:
    """Decide the output type from the inputs; mixing numpy and torch is an error."""
    present = [a for a in arrays if a is not None]
    kinds = {"torch" if is_tensor(a) else "numpy" for a in present}
    if len(kinds) > 1:
        raise TypeError(
            "inputs mix numpy arrays and torch tensors; pass all points and weights as the same "
            "type (convert with torch.as_tensor(...) or tensor.numpy())"
        )
    if kinds == {"torch"}:
        tensors = [a for a in present]
        devices = {a.device for a in tensors}
        if len(devices) > 1:
            raise ValueError(f"tensors live on different devices {sorted(map(str, devices))}; "
                             "move them to one device first")
        floats = [a.dtype for a in tensors if a.is_floating_point()]
        dtype = floats[0] if floats else torch.get_default_dtype()
        return ArrayKind("torch", dtype, tensors[0].device)
    return ArrayKind("numpy")


def check_points(x, name: str = "x", dim: int | None = None) -> np.ndarray:
    """Validate a point cloud: 2-D (n, d), n >= 1, d >= 1, finite, real.

    Returns a float numpy array (float32 stays float32, everything else becomes float64).
    """
    arr = _check_real_dtype(_to_numpy(x, name), name)
    if arr.ndim != 2:
        hint = (" (for 1-D data pass x[:, None])" if arr.ndim == 1 else "")
        raise ValueError(f"{name} must be a 2-D array of shape (n_points, dim), got shape "
                         f"{arr.shape}{hint}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: expected at least one point, got shape {arr.shape}")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has zero dimensions: expected shape (n_points, dim >= 1)")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name} has dimension {arr.shape[1]} but the other point cloud has "
                         f"dimension {dim}: both must live in the same space")
    arr = arr.astype(np.float32 if arr.dtype == np.float32 else np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); all coordinates must be "
                         "finite")
    return arr


def check_weights(w, n: int, name: str = "a") -> np.ndarray:
    """Validate a weight vector for ``n`` points (uniform 1/n when ``w`` is None)."""
    if w is None:
        return np.full(n, 1.0 / n)
    arr = _check_real_dtype(_to_numpy(w, name), name).astype(np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D weight vector of length {n}, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} weights but its point cloud has {n} points")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite weights; weights must be finite")
    if np.any(arr < 0):
        raise ValueError(f"{name} has negative weights (min {arr.min():.3g}); weights must be >= 0")
    with np.errstate(over="ignore"):
        total = arr.sum()
    if total <= 0:
        raise ValueError(f"{name} sums to zero; weights must have positive total mass")
    if not np.isfinite(total):
        raise ValueError(f"{name} sums to more than the largest float64 (max weight "
                         f"{arr.max():.3g}); rescale the weights, e.g. {name} / {name}.max()")
    return arr


def check_balanced(a: np.ndarray, b: np.ndarray, names=("a", "b")) -> None:
    sa, sb = float(a.sum()), float(b.sum())
    if abs(sa - sb) > MASS_RTOL * max(sa, sb):
        raise ValueError(f"{names[0]} and {names[1]} must have the same total mass (balanced OT): "
                         f"sum({names[0]})={sa:.9g}, sum({names[1]})={sb:.9g}; normalize both, e.g. "
                         f"a / a.sum()")


def check_positive(value, name: str, *, allow_none: bool = False, strict: bool = True):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (strict and value == 0):
        raise ValueError(f"{name} must be {'> 0' if strict else '>= 0'} and finite, got {value}")
    return value


def check_device(device):
    """A torch device that exists here (None stays None)."""
    if device is None:
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as e:
        raise ValueError(f"device={device!r} is not a torch device (expected 'cpu', 'cuda', "
                         f"'cuda:0', ...): {e}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} asks for CUDA, but this torch build has no CUDA "
                         "device available; use device='cpu' (or None)")
    return dev


def mass_matched(b, a):
    r"""``b`` rescaled to the total mass of ``a``: :math:`b \sum_i a_i / \sum_j b_j` (weights
    that agree up to rounding, made to agree exactly enough for an LP's equality constraints)."""
    return b * (a.sum() / b.sum())


def check_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_choice(value, name: str, choices) -> str:
    if value not in choices:
        raise ValueError(f"unknown {name}={value!r}; expected one of {sorted(choices)}")
    return value


@dataclass(frozen=True)
class Measures:
    """Two validated discrete measures sum_i a_i delta_{x_i} and sum_j b_j delta_{y_j}."""

    x: np.ndarray
    y: np.ndarray
    a: np.ndarray
    b: np.ndarray
    arrays: ArrayKind
    x_in: Any = None  # the caller's original objects (kept for autograd)
    y_in: Any = None

    @property
    def n(self) -> int:
        return self.x.shape[0]

    @property
    def m(self) -> int:
        return self.y.shape[0]

    @property
    def d(self) -> int:
        return self.x.shape[1]

    @property
    def mass(self) -> float:
        return float(self.a.sum())

    @property
    def requires_grad(self) -> bool:
        return any(is_tensor(t) and t.requires_grad for t in (self.x_in, self.y_in))


def check_measures(x, y, a=None, b=None) -> Measures:
    """Validate two weighted point clouds for a balanced OT problem."""
    arrays = array_kind_of(x, y, a, b)
    xv = check_points(x, "x")
    yv = check_points(y, "y", dim=xv.shape[1])
    av = check_weights(a, xv.shape[0], "a")
    bv = check_weights(b, yv.shape[0], "b")
    check_balanced(av, bv)
    return Measures(xv, yv, av, bv, arrays, x, y)


def check_cost_range(mu: Measures, p: float) -> None:
    """Refuse clouds whose costs |x - y|^p overflow float64 (finite coordinates can still give
    an infinite cost, and the solvers would return NaN)."""
    both = np.concatenate([mu.x, mu.y]).astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        width = both.max(0) / 2 - both.min(0) / 2  # no overflow for coordinates near 1e308
        top = float(width.max())
        # the norm of the widths, scaled by their maximum so that nothing squares to inf
        span = np.float64(2 * top * np.linalg.norm(width / top)) if top > 0 else np.float64(0)
        bound = span ** np.float64(p)
    if not np.isfinite(bound):
        raise ValueError(f"the cost |x - y|^p reaches {span:.3g}^{p:g}, which overflows float64; "
                         "rescale x and y by s (the OT cost scales by s^p)")
