r"""Synthetic training data with known structure (for checks a real data set cannot give).

* :func:`gaussian_mixture` -- k Gaussian blobs on a circle (d = 2) or a sphere.
* :func:`manifold` -- a circle, sphere, torus or swiss roll embedded isometrically in R^D by a
  random orthonormal map ``Q`` (stored in ``info["embedding"]``: ``Q^T x`` recovers the
  intrinsic coordinates).

Both return a :class:`~otgen.models.data.DataSplit` (float32 tensors ``train``, ``test``).
"""
from __future__ import annotations

import numpy as np

from .._validate import check_int, check_positive
from .data import DataSplit

#: the synthetic data names :func:`otgen.models.data.get_data` knows
SYNTHETIC = ("mixture", "circle", "sphere", "torus", "swiss-roll")


def gaussian_mixture(n_train: int = 2000, n_test: int = 500, *, k: int = 8, dim: int = 2,
                     radius: float = 2.0, std: float = 0.05, seed: int = 0) -> DataSplit:
    r"""Equal-weight mixture of ``k`` isotropic Gaussians :math:`N(c_i, \mathrm{std}^2 I)`.

    .. math:: P = \frac1k \sum_{i=1}^k N(c_i, \mathrm{std}^2 I_{\mathrm{dim}}),
              \qquad \|c_i\| = \mathrm{radius}

    For ``dim == 2`` the centers are evenly spaced on the circle of radius ``radius`` (the
    classic 8-Gaussians ring); otherwise they are drawn uniformly on the sphere of that radius.
    ``info`` holds ``centers`` (k, dim) and ``std``.

    Parameters
    ----------
    n_train, n_test : int
        Sample sizes.
    k : int
        Number of components.
    dim : int
        Ambient dimension.
    radius, std : float
        Distance of the centers from the origin, and the component standard deviation (same
        units).
    seed : int
        Seed of the draws.

    Returns
    -------
    DataSplit
        ``train`` (n_train, dim), ``test`` (n_test, dim) float32, ``image_shape=None``.

    Examples
    --------
    >>> data = gaussian_mixture(100, 20, k=4, seed=0)
    >>> data.train.shape, np.linalg.norm(data.info["centers"], axis=1)
    (torch.Size([100, 2]), array([2., 2., 2., 2.]))

    References
    ----------
    L. Metz, B. Poole, D. Pfau, J. Sohl-Dickstein. Unrolled generative adversarial networks.
    ICLR 2017 (the ring of Gaussians).  I. Gulrajani et al. Improved training of Wasserstein
    GANs. NeurIPS 2017 (8 Gaussians).
    """
    n_train, n_test = check_int(n_train, "n_train", 2), check_int(n_test, "n_test", 1)
    k, dim = check_int(k, "k"), check_int(dim, "dim")
    radius, std = check_positive(radius, "radius"), check_positive(std, "std", strict=False)
    rng = np.random.default_rng(seed)
    if dim == 2:
        ang = 2 * np.pi * np.arange(k) / k
        centers = radius * np.stack([np.cos(ang), np.sin(ang)], 1)
    else:
        c = rng.standard_normal((k, dim))
        centers = radius * c / np.linalg.norm(c, axis=1, keepdims=True)
    n = n_train + n_test
    x = centers[rng.integers(0, k, n)] + std * rng.standard_normal((n, dim))
    return DataSplit.from_arrays(x[:n_train], x[n_train:], "mixture", None,
                     {"centers": centers, "std": std})


def _intrinsic(kind: str, n: int, rng) -> np.ndarray:
    if kind == "circle":
        t = rng.uniform(0, 2 * np.pi, n)
        return np.stack([np.cos(t), np.sin(t)], 1)
    if kind == "sphere":
        v = rng.standard_normal((n, 3))
        return v / np.linalg.norm(v, axis=1, keepdims=True)
    if kind == "torus":  # flat torus S^1 x S^1 in R^4: isometric, radii 1
        t, s = rng.uniform(0, 2 * np.pi, (2, n))
        return np.stack([np.cos(t), np.sin(t), np.cos(s), np.sin(s)], 1)
    t = 1.5 * np.pi * (1 + 2 * rng.uniform(0, 1, n))  # swiss roll, as in sklearn
    h = rng.uniform(0, 1, n) * 2 - 1
    return np.stack([t * np.cos(t) / 10, h, t * np.sin(t) / 10], 1)


def manifold(n_train: int = 2000, n_test: int = 500, *, kind: str = "circle",
             ambient_dim: int = 2, noise: float = 0.0, seed: int = 0) -> DataSplit:
    r"""A known low-dimensional manifold embedded isometrically in :math:`\mathbb{R}^D`.

    Intrinsic points ``u`` (circle: unit circle in R^2; sphere: unit sphere in R^3; torus: flat
    torus in R^4; swiss-roll: sklearn's roll in R^3, scaled by 1/10) are mapped by
    :math:`x = Q u + \mathrm{noise}\cdot\xi` with ``Q`` a random (D, k) matrix with orthonormal
    columns, so distances are preserved and :math:`Q^T x = u` when ``noise == 0``.
    ``info`` holds ``embedding`` (Q), ``kind`` and ``intrinsic_dim``.

    Parameters
    ----------
    n_train, n_test : int
        Sample sizes.
    kind : {"circle", "sphere", "torus", "swiss-roll"}
        The manifold.
    ambient_dim : int
        D, at least the embedding dimension k of ``kind`` (2, 3, 4, 3).
    noise : float >= 0
        Standard deviation of the isotropic ambient noise :math:`\xi \sim N(0, I_D)`.
    seed : int
        Seed of the draws and of ``Q``.

    Returns
    -------
    DataSplit
        ``train`` (n_train, D), ``test`` (n_test, D) float32.

    Examples
    --------
    >>> data = manifold(100, 20, kind="circle", ambient_dim=5, seed=0)
    >>> u = data.train.double().numpy() @ data.info["embedding"]    # intrinsic coordinates
    >>> data.dim, bool(np.allclose(np.linalg.norm(u, axis=1), 1, atol=1e-5))
    (5, True)

    References
    ----------
    I. Tolstikhin, O. Bousquet, S. Gelly, B. Schölkopf. Wasserstein Auto-Encoders. ICLR 2018
    (low-dimensional data manifolds).  S. Marsland. Machine Learning: An Algorithmic
    Perspective, 2009 (the swiss roll).
    """
    if kind not in ("circle", "sphere", "torus", "swiss-roll"):
        raise ValueError(f"unknown manifold kind={kind!r}; expected circle, sphere, torus or "
                         "swiss-roll")
    n_train, n_test = check_int(n_train, "n_train", 2), check_int(n_test, "n_test", 1)
    ambient_dim = check_int(ambient_dim, "ambient_dim")
    noise = check_positive(noise, "noise", strict=False)
    rng = np.random.default_rng(seed)
    u = _intrinsic(kind, n_train + n_test, rng)
    k = u.shape[1]
    if ambient_dim < k:
        raise ValueError(f"ambient_dim={ambient_dim} is smaller than the {kind}'s embedding "
                         f"dimension {k}")
    q, _ = np.linalg.qr(rng.standard_normal((ambient_dim, k)))
    x = u @ q.T + noise * rng.standard_normal((len(u), ambient_dim))
    return DataSplit.from_arrays(x[:n_train], x[n_train:], kind, None,
                     {"embedding": q, "kind": kind,
                      "intrinsic_dim": {"circle": 1, "sphere": 2, "torus": 2}.get(kind, 2)})
