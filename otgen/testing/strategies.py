r"""Hypothesis strategies for property tests of OT and of its encoder formulation.

Every strategy draws *valid* inputs (finite points, nonnegative weights summing to one,
row-stochastic encoders, maps whose Lipschitz constant is known exactly), so that a failing
property points at the code under test, not at the generator.  Sizes default to small values:
exact LPs on a handful of atoms are fast, and hypothesis shrinks failures to tiny instances.

Examples
--------
>>> from hypothesis import given, settings
>>> from otgen.testing import weighted_point_clouds
>>> @settings(max_examples=20, deadline=None)
... @given(weighted_point_clouds(dim=2))
... def test_mass(cloud):
...     x, a = cloud
...     assert abs(a.sum() - 1) < 1e-12 and x.shape == (a.shape[0], 2)
>>> test_mass()
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

#: integer resolution of drawn weights: w_i = k_i / sum(k), k_i in [1, WEIGHT_RESOLUTION]
WEIGHT_RESOLUTION = 100


def _size(draw, value, lo, hi, name):
    if value is not None:
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
        return int(value)
    if not 1 <= lo <= hi:
        raise ValueError(f"need 1 <= min_{name} <= max_{name}, got {lo} and {hi}")
    return draw(st.integers(lo, hi))


def coordinates(scale: float = 10.0) -> st.SearchStrategy[float]:
    """Finite floats in ``[-scale, scale]`` (no NaN, inf or subnormals).

    Parameters
    ----------
    scale : float > 0
        Bound on the absolute value, in the units of the points built from them.

    Returns
    -------
    hypothesis.strategies.SearchStrategy[float]
        Draws :math:`v \\in [-\\mathrm{scale}, \\mathrm{scale}]`.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=20, deadline=None, derandomize=True)
    ... @given(coordinates(scale=2.0))
    ... def check(v):
    ...     assert -2.0 <= v <= 2.0
    >>> check()
    """
    return st.floats(-scale, scale, allow_nan=False, allow_infinity=False,
                     allow_subnormal=False)


@st.composite
def probability_vectors(draw, n: int, *, allow_zero: bool = False) -> np.ndarray:
    r"""A probability vector of length ``n``: nonnegative, summing to 1 (to rounding).

    Weights are integer ratios ``k_i / sum(k)``, which keeps them well conditioned while still
    covering very uneven masses; with ``allow_zero`` some (never all) weights are exactly 0.

    .. math:: a_i = k_i / \textstyle\sum_l k_l, \qquad k_i \in \{0 \text{ or } 1, \dots, 100\}

    Parameters
    ----------
    n : int >= 1
        Length of the vector.
    allow_zero : bool
        Allow exact zeros (some atoms without mass).

    Returns
    -------
    hypothesis.strategies.SearchStrategy[numpy.ndarray]
        Draws float64 arrays (n,), nonnegative, summing to 1 up to rounding.

    Examples
    --------
    >>> from hypothesis import find
    >>> find(probability_vectors(3), lambda a: True)          # the simplest draw
    array([0.33333333, 0.33333333, 0.33333333])
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    k = draw(hnp.arrays(np.int64, n,
                        elements=st.integers(0 if allow_zero else 1, WEIGHT_RESOLUTION)))
    if k.sum() == 0:
        k[draw(st.integers(0, n - 1))] = 1
    return k / k.sum()


@st.composite
def point_clouds(draw, n: int | None = None, dim: int | None = None, *, min_points: int = 1,
                 max_points: int = 8, min_dim: int = 1, max_dim: int = 3,
                 scale: float = 10.0) -> np.ndarray:
    """A float64 array of shape (n, dim) with finite coordinates in ``[-scale, scale]``.

    ``n`` and ``dim`` are fixed when given, otherwise drawn from the ``min_``/``max_`` ranges.
    Duplicate points and exact ties are allowed (hypothesis likes to try them).

    Parameters
    ----------
    n, dim : int, optional
        Fixed number of points and dimension.
    min_points, max_points, min_dim, max_dim : int
        Ranges of n and dim when they are not fixed.
    scale : float
        Bound on every coordinate (see :func:`coordinates`).

    Returns
    -------
    hypothesis.strategies.SearchStrategy[numpy.ndarray]
        Draws float64 arrays (n, dim).

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=20, deadline=None, derandomize=True)
    ... @given(point_clouds(dim=2, max_points=5))
    ... def check(x):
    ...     assert x.ndim == 2 and x.shape[1] == 2 and 1 <= x.shape[0] <= 5
    >>> check()
    """
    n = _size(draw, n, min_points, max_points, "points")
    d = _size(draw, dim, min_dim, max_dim, "dim")
    return draw(hnp.arrays(np.float64, (n, d), elements=coordinates(scale)))


@st.composite
def weighted_point_clouds(draw, n: int | None = None, dim: int | None = None, *,
                          min_points: int = 1, max_points: int = 8, min_dim: int = 1,
                          max_dim: int = 3, scale: float = 10.0,
                          allow_zero_weights: bool = False) -> tuple[np.ndarray, np.ndarray]:
    r"""A discrete probability measure ``(x, a)``: points (n, dim) and weights (n,) summing to 1.

    The measure is :math:`\sum_i a_i \delta_{x_i}`, built from :func:`point_clouds` and
    :func:`probability_vectors`.

    Parameters
    ----------
    n, dim : int, optional
        Fixed number of points and dimension.
    min_points, max_points, min_dim, max_dim : int
        Ranges of n and dim when they are not fixed.
    scale : float
        Bound on every coordinate.
    allow_zero_weights : bool
        Allow atoms of zero mass.

    Returns
    -------
    hypothesis.strategies.SearchStrategy[tuple]
        Draws ``(x, a)``: float64 arrays (n, dim) and (n,).

    Examples
    --------
    >>> from hypothesis import find
    >>> x, a = find(weighted_point_clouds(n=2, dim=1), lambda c: True)
    >>> x.shape, a
    ((2, 1), array([0.5, 0.5]))
    """
    x = draw(point_clouds(n, dim, min_points=min_points, max_points=max_points,
                          min_dim=min_dim, max_dim=max_dim, scale=scale))
    return x, draw(probability_vectors(x.shape[0], allow_zero=allow_zero_weights))


def latent_samples(n: int | None = None, dim: int | None = None, *, min_points: int = 1,
                   max_points: int = 8, min_dim: int = 1, max_dim: int = 2,
                   scale: float = 3.0) -> st.SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    r"""Atoms of a latent prior ``(z, b)``: :func:`weighted_point_clouds` with latent defaults.

    The prior is :math:`P_Z = \sum_j b_j \delta_{z_j}` (defaults: at most 8 atoms in 1 or 2
    dimensions, coordinates in [-3, 3]).

    Parameters
    ----------
    n, dim : int, optional
        Fixed number of atoms and latent dimension :math:`d_z`.
    min_points, max_points, min_dim, max_dim : int
        Ranges when not fixed.
    scale : float
        Bound on every coordinate.

    Returns
    -------
    hypothesis.strategies.SearchStrategy[tuple]
        Draws ``(z, b)``: float64 arrays (m, d_z) and (m,).

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=20, deadline=None, derandomize=True)
    ... @given(latent_samples(dim=2))
    ... def check(prior):
    ...     z, b = prior
    ...     assert z.shape == (b.shape[0], 2) and np.all(np.abs(z) <= 3)
    >>> check()
    """
    return weighted_point_clouds(n, dim, min_points=min_points, max_points=max_points,
                                 min_dim=min_dim, max_dim=max_dim, scale=scale)


@dataclass(frozen=True)
class LipschitzMap:
    r"""A map :math:`\mathbb{R}^{d_z} \to \mathbb{R}^{d_x}` with an exactly known Lipschitz constant.

    Kinds (u, v unit vectors, c an offset, L = ``constant``):

    * ``"linear"``: :math:`z \mapsto c + A z`, :math:`A = L\, U \mathrm{diag}(s) V^T` with
      orthogonal U, V and :math:`1 = s_1 \ge s_2 \ge \dots \ge 0`, so :math:`\|A\|_2 = L`.
    * ``"fold"``: :math:`z \mapsto c + L\, |u \cdot z - t|\, v` (not injective).
    * ``"clamp"``: :math:`z \mapsto c + L\, \mathrm{clip}(u \cdot z, -r, r)\, v` (not injective).

    For every kind :math:`\|G(z) - G(z')\| \le L \|z - z'\|`, and L is the smallest such
    constant (the supremum of the ratio is attained or approached).  Calls take and return numpy
    arrays (m, dz) -> (m, dx).  Draw them with :func:`lipschitz_maps`.

    Attributes
    ----------
    kind : {"linear", "fold", "clamp"}
        The family.
    constant : float
        L, the exact Lipschitz constant.
    offset : numpy.ndarray (dx,)
        c.
    matrix : numpy.ndarray (dx, dz) or None
        A (``"linear"``).
    u, v : numpy.ndarray (dz,), (dx,) or None
        Unit vectors (``"fold"``, ``"clamp"``).
    threshold : float
        t (fold) or r (clamp).

    Examples
    --------
    >>> from otgen.theory import lipschitz_constant
    >>> G = LipschitzMap("linear", 2.0, np.zeros(2), matrix=np.diag([2.0, 1.0]))
    >>> G
    LipschitzMap(kind='linear', constant=2, dz=2, dx=2)
    >>> G(np.array([[1.0, 1.0]])), lipschitz_constant(G.matrix)
    (array([[2., 1.]]), 2.0)

    References
    ----------
    O. Bousquet et al. The VEGAN cookbook. arXiv:1705.07642, 2017 (Theorem 3 compares the
    penalty weight with the Lipschitz constant of the decoder).
    """

    kind: str
    constant: float
    offset: np.ndarray
    matrix: np.ndarray | None = None
    u: np.ndarray | None = None
    v: np.ndarray | None = None
    threshold: float = 0.0

    @property
    def dz(self) -> int:
        return self.matrix.shape[1] if self.matrix is not None else self.u.shape[0]

    @property
    def dx(self) -> int:
        return self.offset.shape[0]

    def __call__(self, z) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        if self.kind == "linear":
            return self.offset + z @ self.matrix.T
        t = z @ self.u
        if self.kind == "fold":
            s = self.constant * np.abs(t - self.threshold)
        else:
            s = self.constant * np.clip(t, -self.threshold, self.threshold)
        return self.offset + s[:, None] * self.v[None, :]

    def __repr__(self) -> str:
        return f"LipschitzMap(kind={self.kind!r}, constant={self.constant:.6g}, " \
               f"dz={self.dz}, dx={self.dx})"


def _unit_vectors(d: int):
    return hnp.arrays(np.float64, d, elements=st.floats(-1, 1, allow_subnormal=False)).filter(
        lambda w: np.linalg.norm(w) > 0.1).map(lambda w: w / np.linalg.norm(w))


def _orthogonal(d: int):
    # QR of any square matrix yields an orthogonal Q (Householder), singular input included
    return hnp.arrays(np.float64, (d, d), elements=st.floats(-1, 1, allow_subnormal=False)).map(
        lambda M: np.linalg.qr(M)[0])


@st.composite
def lipschitz_maps(draw, dz: int, dx: int, *, min_constant: float = 0.1,
                   max_constant: float = 5.0,
                   kinds: tuple[str, ...] = ("linear", "fold", "clamp")) -> LipschitzMap:
    r"""A :class:`LipschitzMap` from R^dz to R^dx with exactly known constant in the given range.

    Parameters
    ----------
    dz, dx : int
        Latent and data dimensions.
    min_constant, max_constant : float
        Range of the constant L (in units of data per latent unit).
    kinds : tuple of str
        Families to draw from: ``"linear"``, ``"fold"``, ``"clamp"``.

    Returns
    -------
    hypothesis.strategies.SearchStrategy[LipschitzMap]
        Draws maps with :math:`\|G(z) - G(z')\| \le L \|z - z'\|`, L tight.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=20, deadline=None, derandomize=True)
    ... @given(lipschitz_maps(2, 3, max_constant=4.0))
    ... def check(G):
    ...     z = np.random.default_rng(0).normal(size=(10, 2))
    ...     y = G(z)
    ...     ratio = np.linalg.norm(y[1:] - y[:-1], axis=1) / np.linalg.norm(z[1:] - z[:-1], axis=1)
    ...     assert y.shape == (10, 3) and G.constant <= 4.0
    ...     assert ratio.max() <= G.constant * (1 + 1e-9)
    >>> check()

    References
    ----------
    O. Bousquet et al. The VEGAN cookbook. arXiv:1705.07642, 2017 (Theorem 3).
    """
    if not 0 <= min_constant <= max_constant:
        raise ValueError(f"need 0 <= min_constant <= max_constant, got {min_constant}, "
                         f"{max_constant}")
    unknown = set(kinds) - {"linear", "fold", "clamp"}
    if not kinds or unknown:
        raise ValueError(f"kinds must be a non-empty subset of ('linear', 'fold', 'clamp'), got "
                         f"{kinds}")
    kind = draw(st.sampled_from(kinds))
    L = draw(st.floats(min_constant, max_constant, allow_subnormal=False))
    offset = draw(hnp.arrays(np.float64, dx, elements=coordinates(5.0)))
    if kind == "linear":
        r = min(dz, dx)
        s = np.sort(draw(hnp.arrays(np.float64, r, elements=st.floats(0, 1))))[::-1].copy()
        s[0] = 1.0
        U, V = draw(_orthogonal(dx)), draw(_orthogonal(dz))
        A = L * (U[:, :r] * s) @ V[:, :r].T
        return LipschitzMap(kind, L, offset, matrix=A)
    u, v = draw(_unit_vectors(dz)), draw(_unit_vectors(dx))
    thr = draw(st.floats(-2, 2) if kind == "fold" else st.floats(0.1, 3))
    return LipschitzMap(kind, L, offset, u=u, v=v, threshold=thr)


@st.composite
def discrete_encoders(draw, n: int, k: int, *, allow_zero: bool = True) -> np.ndarray:
    r"""A row-stochastic (n, k) matrix :math:`Q(z_k \mid x_i)` (a discrete encoder).

    With ``allow_zero`` rows may be sparse, down to deterministic one-hot encoders.  Together
    with data weights ``a`` it defines the coupling :math:`\pi_{ik} = a_i Q(z_k \mid x_i)` and
    the aggregate posterior :math:`Q_Z = a^T Q`.

    Parameters
    ----------
    n : int
        Number of data atoms (rows).
    k : int >= 1
        Number of latent codes (columns).
    allow_zero : bool
        Allow zero entries (sparse and one-hot rows).

    Returns
    -------
    hypothesis.strategies.SearchStrategy[numpy.ndarray]
        Draws float64 arrays (n, k) whose rows sum to 1.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=20, deadline=None, derandomize=True)
    ... @given(discrete_encoders(3, 4))
    ... def check(Q):
    ...     assert Q.shape == (3, 4) and np.allclose(Q.sum(1), 1) and (Q >= 0).all()
    >>> check()

    References
    ----------
    O. Bousquet et al. The VEGAN cookbook. arXiv:1705.07642, 2017 (encoders
    :math:`Q(Z \mid X)` and the aggregate posterior :math:`Q_Z`).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    rows = [draw(probability_vectors(k, allow_zero=allow_zero)) for _ in range(n)]
    return np.vstack(rows)


class EncoderProblem(NamedTuple):
    r"""Data ``(x, a)``, prior atoms ``(z, b)`` and a decoder ``G`` with known constant.

    An instance of the encoder formulation: :math:`P_X = \sum_i a_i \delta_{x_i}`,
    :math:`P_Z = \sum_j b_j \delta_{z_j}` and :math:`G: \mathbb{R}^{d_z} \to \mathbb{R}^{d_x}`.
    Unpacks as ``x, a, z, b, G = problem``.

    Attributes
    ----------
    x : numpy.ndarray (n, dx)
        Data atoms.
    a : numpy.ndarray (n,)
        Data weights, summing to 1.
    z : numpy.ndarray (m, dz)
        Prior atoms.
    b : numpy.ndarray (m,)
        Prior weights, summing to 1.
    G : LipschitzMap
        The decoder, with exactly known constant ``G.constant``.

    Examples
    --------
    >>> from hypothesis import find
    >>> x, a, z, b, G = find(encoder_problems(), lambda p: True)   # the simplest instance
    >>> x.shape, z.shape, G.kind
    ((1, 1), (1, 1), 'linear')

    References
    ----------
    O. Bousquet et al. The VEGAN cookbook. arXiv:1705.07642, 2017 (Theorems 1 and 3).
    """

    x: np.ndarray
    a: np.ndarray
    z: np.ndarray
    b: np.ndarray
    G: LipschitzMap


@st.composite
def encoder_problems(draw, *, max_points: int = 6, max_latent: int = 6, max_dim: int = 3,
                     max_latent_dim: int = 2, allow_zero_weights: bool = False) -> EncoderProblem:
    r"""A complete instance of the encoder formulation: data, prior atoms and a decoder.

    Every drawn instance satisfies the hypotheses of Theorem A: for the exact LP,
    ``encoder_ot(x, z, G, a, b, p=p).value`` equals :math:`W_p^p(P_X, G_\# P_Z)`.

    Parameters
    ----------
    max_points : int
        Most data atoms.
    max_latent : int
        Most prior atoms.
    max_dim, max_latent_dim : int
        Largest data and latent dimensions.
    allow_zero_weights : bool
        Allow data atoms of zero mass.

    Returns
    -------
    hypothesis.strategies.SearchStrategy[EncoderProblem]
        Draws ``(x, a, z, b, G)``.

    Examples
    --------
    Theorem A as a property test:

    >>> from hypothesis import given, settings
    >>> from otgen.theory import encoder_ot, wasserstein
    >>> @settings(max_examples=10, deadline=None, derandomize=True)
    ... @given(encoder_problems())
    ... def test_theorem_a(problem):
    ...     x, a, z, b, G = problem
    ...     w = wasserstein(x, G(z), a, b, p=1, method="exact").value
    ...     assert abs(encoder_ot(x, z, G, a, b, p=1).value - w) <= 1e-7 * (1 + w)
    >>> test_theorem_a()

    References
    ----------
    O. Bousquet, S. Gelly, I. Tolstikhin, C.-J. Simon-Gabriel, B. Schölkopf. From optimal
    transport to generative modeling: the VEGAN cookbook. arXiv:1705.07642, 2017 (Theorem 1).
    D. R. MacIver et al. Hypothesis: a new approach to property-based testing. JOSS 4(43), 2019.
    """
    dx = draw(st.integers(1, max_dim))
    dz = draw(st.integers(1, max_latent_dim))
    x, a = draw(weighted_point_clouds(dim=dx, max_points=max_points,
                                      allow_zero_weights=allow_zero_weights))
    z, b = draw(latent_samples(dim=dz, max_points=max_latent))
    return EncoderProblem(x, a, z, b, draw(lipschitz_maps(dz, dx)))
